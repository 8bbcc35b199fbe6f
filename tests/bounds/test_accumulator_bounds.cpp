// A2Q and A2Q+ l1 bounds: the quoted numbers, sufficiency on random codes, tightness, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include <pathq/pathq.hpp>

#include "support/datapath.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_accumulator_bounds {

using pathq_test::datapath;

namespace {

// A column of n integer weights whose positive entries sum to `positive` and negative ones to
// `-negative`, placed at random (positives in the first half, negatives in the second).
pathq::Codes column(std::int64_t positive, std::int64_t negative, Eigen::Index n, std::uint64_t seed) {
  pathq::Codes q = pathq::Codes::Zero(n, 1);
  const pathq::RandomStream s(seed, 1);
  const Eigen::Index half = n / 2;
  std::uint64_t k = 0;
  for (std::int64_t r = positive; r > 0; --r) q(Eigen::Index(s.uniform(k++) * double(half)), 0) += 1;
  for (std::int64_t r = negative; r > 0; --r) q(half + Eigen::Index(s.uniform(k++) * double(n - half)), 0) -= 1;
  return q;
}

}  // namespace

TEST_CASE("accumulator bounds: the quoted values", "[bounds][axe]") {
  CHECK(pathq::bounds::a2q_l1_bound(12, 4, false) == Approx(2047.0 / 16.0));   // 127.9
  CHECK(pathq::bounds::a2q_l1_bound(12, 4, true) == Approx(2047.0 / 8.0));
  CHECK(pathq::bounds::a2q_plus_l1_bound(12, 4) == Approx(4094.0 / 15.0));     // 272.9
  CHECK(pathq::bounds::accumulator_limit(16) == 32767);
  CHECK(pathq::bounds::accumulator_limit(2) == 1);
  CHECK(pathq::bounds::accumulator_bits_needed(0) == 1);
  CHECK(pathq::bounds::accumulator_bits_needed(1) == 2);
  CHECK(pathq::bounds::accumulator_bits_needed(2) == 3);
  CHECK(pathq::bounds::accumulator_bits_needed(3) == 3);
  CHECK(pathq::bounds::accumulator_bits_needed(-3) == 3);
  CHECK(pathq::bounds::accumulator_bits_needed(32767) == 16);
  CHECK(pathq::bounds::accumulator_bits_needed(32768) == 17);
  CHECK(pathq::bounds::outer_accumulator_bits(16, 1) == 16);
  CHECK(pathq::bounds::outer_accumulator_bits(16, 2) == 17);
  CHECK(pathq::bounds::outer_accumulator_bits(16, 8) == 19);
  CHECK(pathq::bounds::outer_accumulator_bits(16, 9) == 20);
  // The AXE soft-threshold radius (signed and unsigned inputs alike span 2^N - 1).
  for (bool s : {false, true}) {
    const auto o = datapath(12, 4, s);
    CHECK(double(2 * o.limit()) / double(o.input_max() - o.input_min()) == Approx(pathq::bounds::a2q_plus_l1_bound(12, 4)));
  }
}

TEST_CASE("accumulator bounds: codes within a bound never overflow; just beyond, some do", "[bounds][axe][theory]") {
  for (int P : {8, 12, 16}) {
    for (int N : {2, 4, 8}) {
      if (N + 3 > P) continue;
      for (bool is_signed : {false, true}) {
        const auto o = datapath(P, N, is_signed);
        const std::int64_t M = o.limit();
        INFO("P " << P << " N " << N << " signed " << is_signed);
        // A2Q: any split of an l1 budget within the bound fits.
        const auto a2q = std::int64_t(std::floor(pathq::bounds::a2q_l1_bound(P, N, is_signed)));
        for (std::uint64_t seed = 0; seed < 20; ++seed) {
          const std::int64_t pos = std::int64_t(seed) * a2q / 19;
          const auto q = column(pos, a2q - pos, 37, seed);
          REQUIRE(pathq::accumulator_worst_case(q, o).fits());
        }
        // A2Q+: zero-sum codes within the bound fit.
        const auto plus = std::int64_t(std::floor(pathq::bounds::a2q_plus_l1_bound(P, N)));
        const auto qz = column(plus / 2, plus / 2, 41, 7);
        REQUIRE(qz.sum() == 0);
        REQUIRE(qz.cwiseAbs().sum() == 2 * (plus / 2));
        REQUIRE(pathq::accumulator_worst_case(qz, o).fits());
        // A2Q+ is tight: one more unit on each side overflows.
        const auto qz1 = column(plus / 2 + 1, plus / 2 + 1, 41, 8);
        REQUIRE(!pathq::accumulator_worst_case(qz1, o).fits());
        REQUIRE(pathq::accumulator_worst_case(qz1, o).worst == (plus / 2 + 1) * (o.input_max() - o.input_min()));
        // A2Q is tight for signed inputs (all-negative codes meet x_min); for unsigned ones the
        // true limit is M / (2^N - 1), a little above it.
        const auto q1 = column(0, a2q + 1, 23, 9);
        REQUIRE(pathq::accumulator_worst_case(q1, o).fits() == !is_signed);
        const auto exact = M / std::max(o.input_max(), -o.input_min());  // all-positive codes
        REQUIRE(pathq::accumulator_worst_case(column(exact, 0, 23, 10), o).fits());
        REQUIRE(!pathq::accumulator_worst_case(column(exact + 1, 0, 23, 11), o).fits());
      }
    }
  }
}

TEST_CASE("accumulator bounds: bad input", "[bounds][axe][contract]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(pathq::bounds::a2q_l1_bound(1, 4, false), Contains("pathq::bounds::a2q_l1_bound: accumulator_bits must be in [2, 62], got 1"));
  REQUIRE_THROWS_WITH(pathq::bounds::a2q_l1_bound(16, 1, true), Contains("input_bits must be in [2, 30] for signed inputs, got 1"));
  REQUIRE_THROWS_WITH(pathq::bounds::a2q_plus_l1_bound(63, 4), Contains("accumulator_bits must be in [2, 62], got 63"));
  REQUIRE_THROWS_WITH(pathq::bounds::a2q_plus_l1_bound(16, 0), Contains("input_bits must be in [1, 30]"));
  REQUIRE_THROWS_WITH(pathq::bounds::accumulator_limit(0), Contains("pathq::bounds::accumulator_limit"));
  REQUIRE_THROWS_WITH(pathq::bounds::outer_accumulator_bits(16, 0), Contains("tiles must be >= 1, got 0"));
  REQUIRE_THROWS_AS(pathq::bounds::outer_accumulator_bits(70, 1), pathq::invalid_argument);
}

}  // namespace pathq_test_accumulator_bounds
