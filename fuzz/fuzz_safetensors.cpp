// libFuzzer harness: pathq::io::parse_safetensors (JSON header, dtypes, offsets) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <pathq/io/safetensors.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  pathq_fuzz::expect_contract([&] {
    const pathq::io::SafetensorsFile file = pathq::io::parse_safetensors(bytes, "fuzz.safetensors");
    for (const auto& entry : file.tensors()) {
      const std::string& name = entry.first;
      const pathq::io::SafetensorsTensor& t = entry.second;
      if (t.size() < 0) pathq_fuzz::violation("a tensor's size overflows");
      pathq_fuzz::allow_invalid([&] {
        const auto v = pathq::io::to_vector<double>(t, name);
        if (v.size() != t.size()) pathq_fuzz::violation("to_vector<double> lost elements");
      });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_vector<std::int64_t>(t, name); });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_vector<std::uint8_t>(t, name); });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_matrix<float>(t, name); });
    }
    // Writing what was read and reading it again gives the same tensors and metadata.
    const pathq::io::SafetensorsFile again =
        pathq::io::parse_safetensors(pathq::io::to_safetensors_bytes(file), "again.safetensors");
    if (again.metadata() != file.metadata()) pathq_fuzz::violation("the round trip changed the metadata");
    if (again.names() != file.names()) pathq_fuzz::violation("the round trip changed the names");
    for (const auto& [name, tensor] : file.tensors()) {
      const auto& other = again.tensor(name);
      if (other.dtype != tensor.dtype || other.shape != tensor.shape || other.data != tensor.data)
        pathq_fuzz::violation("the round trip changed tensor '" + name + "'");
    }
  });
  return 0;
}
