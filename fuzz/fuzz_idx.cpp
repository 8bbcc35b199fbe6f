// libFuzzer harness: pathq::io::parse_idx (IDX files of (Fashion-)MNIST, plain or gzip) on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include <pathq/io/idx.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  pathq_fuzz::expect_contract([&] {
    const pathq::io::IdxArray array = pathq::io::parse_idx(bytes, "fuzz.idx");
    if (array.shape.empty()) pathq_fuzz::violation("parse_idx accepted zero dimensions");
    const auto M = pathq::io::idx_to_matrix<double>(array, 1.0 / 255);
    if (M.size() != array.size()) pathq_fuzz::violation("idx_to_matrix lost elements");
  });
  return 0;
}
