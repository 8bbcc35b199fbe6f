// The framework's operators and grids: the contract E[T(z)] = z, |T(z) - z| <= D, and the L1/L0 quantizers.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <pathq/core/result.hpp>
#include <pathq/core/rounding.hpp>
#include <pathq/core/stochastic_operators.hpp>

#include "reference/spfq_reference.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_stochastic_operators {

namespace {

// T(z) on `grid` for operator `op`, weight (t, j) = (k, 0): u on the grid's code axis, then the level.
template <class Op>
double apply(const pathq::Grid<double>& grid, const Op& op, double z, Eigen::Index k) {
  const double step = grid.step(0, 0);
  const double u = grid.position(z / step, grid.zero(0, 0));
  return grid.value(op(u, grid.code_lo, grid.code_hi, k, 0), 0, 0);
}

struct MonteCarlo {
  double mean = 0, max_dev = 0, nonzero = 0;
};

template <class Op>
MonteCarlo sample(const pathq::Grid<double>& grid, const Op& op, double z, int n) {
  MonteCarlo mc;
  for (int k = 0; k < n; ++k) {
    const double v = apply(grid, op, z, k);
    mc.mean += v / n;
    mc.max_dev = std::max(mc.max_dev, std::abs(v - z));
    mc.nonzero += (v != 0.0) / double(n);
  }
  return mc;
}

}  // namespace

TEST_CASE("dead-zone grid: levels, code axis and level counts", "[operators][grid]") {
  const auto g = pathq::dead_zone_grid<double>(2, 3, 0.35, 0.1);  // {0, +-0.35, +-0.45, +-0.55}
  REQUIRE(g.kind == pathq::GridKind::DeadZone);
  REQUIRE(std::string(pathq::to_string(g.kind)) == "dead_zone");
  REQUIRE(g.levels() == 7);
  REQUIRE(g.bits() == 3);
  const std::vector<double> expected = pathq_reference::dead_zone_levels(3, 0.35, 0.1);
  for (int c = -3; c <= 3; ++c) {
    INFO("code " << c);
    REQUIRE(g.value(c, 0, 1) == Approx(expected[std::size_t(c + 3)]).margin(1e-15));
    // The code axis puts level c at c.
    REQUIRE(g.position(g.level(c, 0), 0) == Approx(double(c)).margin(1e-12));
  }
  // Monotone and affine between neighbouring levels.
  for (double v = -7; v < 7; v += 0.013) REQUIRE(g.position(v + 0.013, 0) > g.position(v, 0));
  REQUIRE(g.position(0.35 / 0.1 / 2, 0) == Approx(0.5));  // half way to the first level
  // Threshold 1 is the symmetric grid.
  auto sym = pathq::dead_zone_grid<double>(1, 4, 0.2, 0.2);
  for (int c = -4; c <= 4; ++c) REQUIRE(sym.value(c, 0, 0) == Approx(0.2 * c).margin(1e-15));
  // Sparsity counts zero levels.
  pathq::Result<double> r;
  r.grid = g;
  r.codes = pathq::Codes(2, 2);
  r.codes << 0, 1, -2, 0;
  REQUIRE(r.sparsity() == 0.5);
  REQUIRE(r.values()(0, 1) == Approx(0.35));
  REQUIRE(r.values()(1, 0) == Approx(-0.45));
}

TEST_CASE("stochastic rounding on the dead-zone grid: quantization + pruning meets the contract", "[operators][statistical]") {
  const double lambda = 0.35, delta = 0.1;
  const auto g = pathq::dead_zone_grid<double>(1, 4, lambda, delta);
  const pathq::StochasticRounding sr(11);
  const double D = pathq::contract_deviation(g);
  REQUIRE(D == Approx(lambda));
  const int n = 40000;
  for (double z : {0.0, 0.02, -0.2, 0.34, 0.351, -0.41, 0.62}) {
    const MonteCarlo mc = sample(g, sr, z, n);
    INFO("z = " << z << " mean " << mc.mean << " max |T(z) - z| " << mc.max_dev);
    REQUIRE(std::abs(mc.mean - z) < 5 * D / std::sqrt(double(n)) + 1e-12);
    REQUIRE(mc.max_dev <= D + 1e-12);
    if (std::abs(z) < lambda) REQUIRE(mc.nonzero == Approx(std::abs(z) / lambda).margin(0.01));
  }
  // Neighbours only.
  for (int k = 0; k < 1000; ++k) {
    const double v = apply(g, sr, 0.47, k);
    REQUIRE((std::abs(v - 0.45) < 1e-12 || std::abs(v - 0.55) < 1e-12));
  }
}

TEST_CASE("stochastic pruning: kept values untouched beyond lambda, P(0) = 1 - |z|/lambda inside", "[operators][statistical]") {
  const double lambda = 0.2;
  const auto g = pathq::pruning_grid<double>(1, lambda, 3.0);
  REQUIRE(pathq::contract_deviation(g) == Approx(lambda));
  REQUIRE(g.step(0, 0) < 1e-6 * lambda);
  const auto gf = pathq::pruning_grid<float>(1, 0.2f, 3.0f);
  REQUIRE(double(gf.step(0, 0)) <= 3.0 * std::ldexp(1.0, -21));
  const pathq::StochasticRounding sr(5);
  for (double z : {1.234567, -0.2000001, 2.9}) {
    for (int k = 0; k < 200; ++k) REQUIRE(std::abs(apply(g, sr, z, k) - z) <= g.step(0, 0));
  }
  const int n = 40000;
  for (double z : {0.05, -0.15, 0.0}) {
    const MonteCarlo mc = sample(g, sr, z, n);
    INFO("z = " << z);
    REQUIRE(mc.nonzero == Approx(std::abs(z) / lambda).margin(0.01));
    REQUIRE(std::abs(mc.mean - z) < 5 * lambda / std::sqrt(double(n)) + 1e-12);
    REQUIRE(mc.max_dev <= lambda);
    for (int k = 0; k < 100; ++k) {
      const double v = apply(g, sr, z, k);
      REQUIRE((v == 0.0 || std::abs(std::abs(v) - lambda) < 1e-12));
      REQUIRE(v * z >= 0);
    }
  }
  // Against the literal operator, draw for draw.
  for (int k = 0; k < 2000; ++k) {
    const double z = -0.3 + 0.0003 * k;
    REQUIRE(apply(g, sr, z, k) ==
            Approx(pathq_reference::stochastic_prune(z, lambda, pathq::RandomStream(5, 0).uniform(std::uint64_t(k))))
                .margin(g.step(0, 0)));
  }
}

TEST_CASE("the 1-bit operator: +alpha with probability (1 + z/alpha)/2, D = 2 alpha", "[operators][statistical]") {
  const double alpha = 0.7;
  const auto g = pathq::one_bit_grid<double>(1, alpha);
  REQUIRE(g.levels() == 2);
  REQUIRE(g.bits() == 1);
  REQUIRE(g.value(-1, 0, 0) == -alpha);
  REQUIRE(g.value(0, 0, 0) == alpha);
  REQUIRE(pathq::contract_deviation(g) == Approx(2 * alpha));
  const pathq::StochasticRounding sr(9);
  const int n = 40000;
  for (double z : {0.0, 0.3, -0.69, 0.7}) {
    const MonteCarlo mc = sample(g, sr, z, n);
    double plus = 0;
    for (int k = 0; k < n; ++k) plus += apply(g, sr, z, k) > 0;
    INFO("z = " << z);
    REQUIRE(plus / n == Approx((1 + z / alpha) / 2).margin(0.01));
    REQUIRE(std::abs(mc.mean - z) < 5 * alpha / std::sqrt(double(n)) + 1e-12);
    REQUIRE(mc.max_dev <= 2 * alpha);
  }
  // Beyond alpha it must clip: the contract fails there, which is why quantizers count it.
  REQUIRE(sample(g, sr, 1.0, 1000).mean == Approx(alpha));
}

// docs/algorithms.md#alphabets-rounding-operators (thresholded rounding).
TEST_CASE("L1 and L0: the sparse-GPFQ thresholded quantizers, literally", "[operators]") {
  const double lambda = 0.13, delta = 0.1;
  const int K = 4;
  // L1 on the symmetric grid {k delta : |k| <= K}.
  pathq::Grid<double> sym = pathq::dead_zone_grid<double>(1, K, delta, delta);
  sym.kind = pathq::GridKind::Symmetric;
  sym.threshold = 0;
  const pathq::SoftThresholdNearest l1(lambda / delta);
  // L0 on {0} U {+-(lambda + k delta) : 0 <= k < K}.
  const auto dz = pathq::dead_zone_grid<double>(1, K, lambda, delta);
  const pathq::DeadZoneNearest l0;
  for (int k = -3000; k <= 3000; ++k) {
    const double z = k * 0.00021 + 1e-7;  // away from exact ties
    INFO("z = " << z);
    REQUIRE(apply(sym, l1, z, 0) == Approx(pathq_reference::l1_quantizer(z, lambda, delta, K)).margin(1e-14));
    REQUIRE(apply(dz, l0, z, 0) == Approx(pathq_reference::l0_quantizer(z, lambda, delta, K)).margin(1e-14));
  }
  // The threshold itself and the tie rule.
  REQUIRE(apply(dz, l0, lambda, 0) == 0.0);
  REQUIRE(apply(dz, l0, -lambda, 0) == 0.0);
  REQUIRE(pathq::SoftThresholdNearest(0.5)(1.0, -4, 4, 0, 0) == 1);  // s = +0.5: a tie goes up
  REQUIRE(pathq::SoftThresholdNearest(0.5)(-1.0, -4, 4, 0, 0) == 0);  // s = -0.5: up is toward 0
  REQUIRE(!pathq::is_stochastic_operator<pathq::DeadZoneNearest>::value);
  REQUIRE(!pathq::is_stochastic_operator<pathq::SoftThresholdNearest>::value);
  REQUIRE(pathq::is_stochastic_operator<pathq::StochasticRounding>::value);
  REQUIRE(!pathq::is_stochastic_operator<int>::value);
}

TEST_CASE("operators and grids: bad input throws pathq::invalid_argument naming it", "[operators][contract]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(pathq::dead_zone_grid<double>(2, 0, 0.1, 0.1), Contains("dead_zone_grid: levels per side K"));
  REQUIRE_THROWS_WITH(pathq::dead_zone_grid<double>(2, 2, 0, 0.1), Contains("threshold lambda must be finite and positive"));
  REQUIRE_THROWS_WITH(pathq::dead_zone_grid<double>(2, 2, 0.1, NAN), Contains("step delta"));
  REQUIRE_THROWS_WITH(pathq::dead_zone_grid<double>(0, 2, 0.1, 0.1), Contains("N_out must be >= 1"));
  REQUIRE_THROWS_WITH(pathq::pruning_grid<double>(2, -1, 1), Contains("pruning_grid: threshold lambda"));
  REQUIRE_THROWS_WITH(pathq::pruning_grid<double>(2, 1, INFINITY), Contains("max_abs"));
  REQUIRE_THROWS_WITH(pathq::one_bit_grid<float>(2, 0.0f), Contains("one_bit_grid: alpha"));
  REQUIRE_THROWS_WITH(pathq::SoftThresholdNearest(-0.5), Contains("SoftThresholdNearest: threshold"));
  pathq::Grid<double> empty;
  REQUIRE_THROWS_WITH(pathq::contract_deviation(empty), Contains("no steps"));
}

}  // namespace pathq_test_stochastic_operators
