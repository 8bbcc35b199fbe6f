// libFuzzer harness: pathq::io::parse_npy on arbitrary bytes, then conversion and a round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include <pathq/io/npy.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  pathq_fuzz::expect_contract([&] {
    const pathq::io::NpyArray array = pathq::io::parse_npy(bytes, "fuzz.npy");
    if (array.size() < 0) pathq_fuzz::violation("parse_npy accepted a shape whose size overflows");
    // Writing what was read and reading it again gives the same array.
    const pathq::io::NpyArray again = pathq::io::parse_npy(pathq::io::to_npy_bytes(array), "again.npy");
    if (again.dtype != array.dtype || again.shape != array.shape || again.data != array.data ||
        again.fortran_order != array.fortran_order)
      pathq_fuzz::violation("the .npy round trip changed the array");
    if (array.shape.size() == 1 || array.shape.size() == 2) {
      pathq_fuzz::allow_invalid([&] {
        const auto M = pathq::io::to_matrix<double>(array, "fuzz.npy");
        if (M.size() != array.size()) pathq_fuzz::violation("to_matrix<double> lost elements");
      });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_matrix<float>(array, "fuzz.npy"); });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_matrix<std::int32_t>(array, "fuzz.npy"); });
      pathq_fuzz::allow_invalid([&] { (void)pathq::io::to_matrix<std::uint8_t>(array, "fuzz.npy"); });
    } else {
      try {
        (void)pathq::io::to_matrix<double>(array, "fuzz.npy");
        pathq_fuzz::violation("to_matrix accepted a rank other than 1 or 2");
      } catch (const pathq::invalid_argument&) {
      }
    }
  });
  return 0;
}
