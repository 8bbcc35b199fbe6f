// libFuzzer harness: the network description of `pathq model --network` (JSON) on arbitrary
// bytes, against a fixed set of weight tensors; a network that loads runs a small forward pass.
// The description is handed over through an anonymous in-memory file (memfd), as the reader
// takes a path.
#include <cstddef>
#include <cstdint>
#include <optional>  // network_json.hpp uses std::optional
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include <Eigen/Core>

#include "fuzz_support.hpp"
#include "network_json.hpp"

namespace {

pathq::io::SafetensorsFile make_weights() {
  pathq::io::SafetensorsFile f;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    Eigen::MatrixXf v(n, 1);
    for (std::int64_t k = 0; k < n; ++k) v(k, 0) = float((k * 7) % 11 - 5) / 8.0f;
    pathq::io::SafetensorsTensor t = pathq::io::SafetensorsTensor::from_matrix(v);
    t.shape = std::move(shape);
    f.add(name, t);
  };
  add("0.weight", {4, 6});
  add("0.bias", {4});
  add("fc.weight", {3, 4});
  add("fc.bias", {3});
  add("conv.weight", {2, 1, 3, 3});
  add("conv.bias", {2});
  for (const char* p : {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}) add(p, {2});
  add("head.weight", {3, 2});
  add("sq.weight", {4, 4});
  add("proj.weight", {4, 4});
  add("proj.bias", {4});
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pathq::io::SafetensorsFile weights = make_weights();
  static const int fd = ::memfd_create("pathq-fuzz-network", 0);
  if (fd < 0) pathq_fuzz::violation("memfd_create failed");
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<::ssize_t>(size))
    pathq_fuzz::violation("cannot write the description to the memfd");
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  pathq_fuzz::expect_contract([&] {
    const pathq_tool::LoadedNetwork loaded = pathq_tool::load_network(path, weights);
    const pathq::Sequential<float>& net = loaded.net;
    // A forward pass on two samples when every activation is small.
    for (Eigen::Index i = 0; i <= net.size(); ++i)
      if (net.shape_before(i).size() > 4096) return;
    Eigen::MatrixXf X(2, net.input_shape().size());
    for (Eigen::Index k = 0; k < X.size(); ++k) X.data()[k] = float(k % 5) - 2.0f;
    pathq_fuzz::allow_invalid([&] { (void)net.forward(X); });
  });
  return 0;
}
