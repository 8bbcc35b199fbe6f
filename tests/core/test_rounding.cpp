// Rounding operators and random streams: nearest element, the tie rule, clipping, unbiasedness.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include <pathq/core/random.hpp>
#include <pathq/core/rounding.hpp>

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_rounding {

TEST_CASE("nearest: the code of the nearest level, ties upward, clipped", "[rounding]") {
  const pathq::Nearest r;
  // Brute force against the level set {-3..3} on a dense grid of values away from ties.
  for (int k = -500; k <= 500; ++k) {
    const double u = k * 0.01 + 0.003;
    int best = -3;
    for (int c = -3; c <= 3; ++c)
      if (std::abs(u - c) < std::abs(u - best)) best = c;
    INFO("u = " << u);
    REQUIRE(r(u, -3, 3, 0, 0) == best);
  }
  // The tie rule: an exact half goes toward +infinity.
  REQUIRE(r(0.5, -3, 3, 0, 0) == 1);
  REQUIRE(r(-0.5, -3, 3, 0, 0) == 0);
  REQUIRE(r(-2.5, -3, 3, 0, 0) == -2);
  REQUIRE(r(2.5, -3, 3, 0, 0) == 3);
  // Clipping, also for values far beyond the int range.
  REQUIRE(r(1e30, -3, 3, 0, 0) == 3);
  REQUIRE(r(-1e30f, -3, 3, 0, 0) == -3);
}

TEST_CASE("stochastic rounding: neighbours only, mean z, variance (z-a)(b-z)", "[rounding][statistical]") {
  const pathq::StochasticRounding r(42);
  for (double u : {0.37, -1.25, 2.9, 0.0}) {
    const int n = 200000;
    double sum = 0, sq = 0;
    for (int t = 0; t < n; ++t) {
      const int c = r(u, -10, 10, t, 3);
      REQUIRE((c == std::floor(u) || c == std::floor(u) + 1));
      sum += c;
      sq += (c - u) * (c - u);
    }
    const double a = std::floor(u), b = a + 1;
    const double var = (u - a) * (b - u);
    INFO("u = " << u);
    REQUIRE(std::abs(sum / n - u) < 5 * std::sqrt(std::max(var, 1e-12) / n) + 1e-12);
    REQUIRE(std::abs(sq / n - var) < 0.01);
  }
  // Clipped at the ends.
  REQUIRE(r(10.7, -10, 10, 1, 1) == 10);
  REQUIRE(r(-11.2, -10, 10, 1, 1) == -10);
}

TEST_CASE("random streams: pure functions of (seed, stream, counter)", "[random]") {
  const pathq::RandomStream a(7, 3), b(7, 3), c(8, 3), d(7, 4);
  std::set<std::uint64_t> seen;
  for (std::uint64_t k = 0; k < 1000; ++k) {
    REQUIRE(a.bits(k) == b.bits(k));
    REQUIRE(a.bits(k) != c.bits(k));
    REQUIRE(a.bits(k) != d.bits(k));
    const double u = a.uniform(k);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    seen.insert(a.bits(k));
  }
  REQUIRE(seen.size() == 1000);
  // Uniformity: the mean of many draws is 1/2 within 5 standard errors.
  double sum = 0;
  const int n = 100000;
  for (int k = 0; k < n; ++k) sum += a.uniform(std::uint64_t(k));
  REQUIRE(std::abs(sum / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
}

}  // namespace pathq_test_rounding
