// The memory limit of `pathq layer` (--max-memory-mb, PATHQ_MAX_MEMORY_MB): the estimate from
// the shapes, the header-only shape reader, and the refusal, through their C++ functions.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <pathq/io/npy.hpp>

#include "../../tools/cli/memory_limit.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_memory_limit {

using Catch::Contains;

namespace {

pathq_tool::Args args(const std::vector<const char*>& words) {
  return pathq_tool::Args(int(words.size()), words.data(), 0, {"max-memory-mb", "frame-size", "weights", "inputs"},
                          {"rows"});
}

}  // namespace

TEST_CASE("memory limit: the estimate grows as N_in^2 + N_in N_out and is exact in double", "[bad-input]") {
  const double small = pathq_tool::layer_memory_estimate(true, 10, 100, 50, false, 4);
  const double twice = pathq_tool::layer_memory_estimate(true, 10, 200, 50, false, 4);
  INFO("estimates " << small << " and " << twice);
  REQUIRE(twice > 3 * small);  // dominated by the N_in^2 statistics
  // Statistics 3 N_in^2 doubles and engine 3 N_in^2 floats are a lower bound.
  REQUIRE(small >= 3 * 8 * 100.0 * 100 + 3 * 4 * 100.0 * 100);
  // Without inputs only the weights count.
  REQUIRE(pathq_tool::layer_memory_estimate(false, 0, 100, 50, false, 8) == 100.0 * 50 * (4 * 8 + 8));
  // Shapes whose byte size overflows 64-bit integers are estimated without overflow.
  REQUIRE(pathq_tool::layer_memory_estimate(true, 1e12, 4e9, 4e9, true, 8) > 1e20);
}

TEST_CASE("memory limit: a job beyond the limit is refused, naming its size and the limit", "[bad-input]") {
  const auto a = args({"--max-memory-mb", "100"});
  REQUIRE(pathq_tool::memory_limit_mb(a) == 100);
  REQUIRE_NOTHROW(pathq_tool::check_memory_for_shapes(a, 100, true, 10, 100, 100, 4));
  REQUIRE_THROWS_WITH(pathq_tool::check_memory_for_shapes(a, 100, true, 10, 3000, 3000, 4),
                      Contains("the job needs about 515.7 MiB (N_in = 3000, N_out = 3000, m = 10") &&
                          Contains("but the memory limit is 100.0 MiB"));
  // 0: no limit.
  REQUIRE_NOTHROW(pathq_tool::check_memory_for_shapes(a, 0, true, 10, 100000, 100000, 8));
  // A method option that sizes a buffer: Sigma-Delta's frame.
  const auto sd = args({"--frame-size", "100000000000"});
  REQUIRE_THROWS_AS(pathq_tool::check_memory_for_shapes(sd, 1024, false, 0, 8, 3, 4), std::runtime_error);
  REQUIRE(pathq_tool::job_memory_estimate(sd, false, 0, 8, 3, 4) > 1e12);
}

TEST_CASE("memory limit: bad limits are usage errors", "[bad-input]") {
  try {
    (void)pathq_tool::memory_limit_mb(args({"--max-memory-mb", "-3"}));
    FAIL("a negative limit was accepted");
  } catch (const pathq_tool::UsageError& e) {
    REQUIRE_THAT(e.message, Contains("--max-memory-mb must be in [0, 1099511627776], got -3"));
  }
  ::setenv("PATHQ_MAX_MEMORY_MB", "lots", 1);
  try {
    (void)pathq_tool::memory_limit_mb(args({}));
    FAIL("PATHQ_MAX_MEMORY_MB=lots was accepted");
  } catch (const pathq_tool::UsageError& e) {
    REQUIRE_THAT(e.message, Contains("PATHQ_MAX_MEMORY_MB must be an integer in [0, 1099511627776], got 'lots'"));
  }
  ::setenv("PATHQ_MAX_MEMORY_MB", "64", 1);
  REQUIRE(pathq_tool::memory_limit_mb(args({})) == 64);
  REQUIRE(pathq_tool::memory_limit_mb(args({"--max-memory-mb", "7"})) == 7);  // the flag wins
  ::unsetenv("PATHQ_MAX_MEMORY_MB");
  REQUIRE(pathq_tool::memory_limit_mb(args({})) > 0);  // the machine's memory
}

TEST_CASE("memory limit: shapes come from the .npy header alone", "[bad-input]") {
  const std::string file = (std::filesystem::temp_directory_path() /
                            ("pathq_memory_limit_" + std::to_string(::getpid()) + ".npy")).string();
  // A header that claims 2^40 x 4 doubles, with no data: the reader would refuse the file,
  // but the limit check sees the shape without reading (or allocating) anything.
  pathq::io::write_file_atomically(file, pathq::detail::npy_preamble("<f8", false, {std::int64_t{1} << 40, 4}));
  const auto shape = pathq_tool::peek_npy_shape(file);
  REQUIRE(shape);
  REQUIRE(*shape == std::vector<std::int64_t>{std::int64_t{1} << 40, 4});
  pathq::io::write_file_atomically(file, "not an npy file");
  REQUIRE_FALSE(pathq_tool::peek_npy_shape(file));  // left for the reader to report
  std::remove(file.c_str());
  REQUIRE_FALSE(pathq_tool::peek_npy_shape(file));
}

}  // namespace pathq_test_memory_limit
