// libFuzzer harness: pathq::io::parse_npz (zip, deflate, zip64, .npy members) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <pathq/io/npz.hpp>

#include "fuzz_support.hpp"

namespace {

void same_archive(const pathq::io::NpzFile& a, const pathq::io::NpzFile& b) {
  if (a.names() != b.names()) pathq_fuzz::violation("the .npz round trip changed the keys");
  for (const std::string& key : a.names()) {
    const auto& x = a.array(key);
    const auto& y = b.array(key);
    if (x.dtype != y.dtype || x.shape != y.shape || x.data != y.data || x.fortran_order != y.fortran_order)
      pathq_fuzz::violation("the .npz round trip changed array '" + key + "'");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  pathq_fuzz::expect_contract([&] {
    const pathq::io::NpzFile file = pathq::io::parse_npz(bytes, "fuzz.npz");
    for (const std::string& key : file.names())
      pathq_fuzz::allow_invalid([&] { (void)file.matrix<double>(key); });
    pathq::io::NpzOptions stored;
    same_archive(file, pathq::io::parse_npz(pathq::io::to_npz_bytes(file, stored), "stored.npz"));
    pathq::io::NpzOptions deflated;
    deflated.compress = true;
    deflated.level = 1;
    deflated.zip64 = size % 2 == 1;
    same_archive(file, pathq::io::parse_npz(pathq::io::to_npz_bytes(file, deflated), "deflated.npz"));
  });
  return 0;
}
