// Grid kinds (symmetric, even, midrise, asymmetric), per-group steps and bits-per-weight accounting.
#include <catch2/catch.hpp>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/grid_accounting.hpp>
#include <pathq/methods/msq.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_grids {

using pathq::Alphabet;
using pathq::StepRule;
using pathq_test::gaussian;

TEST_CASE("grids: every kind has the stated levels, code range and name", "[grid]") {
  const Eigen::MatrixXd W = gaussian(20, 3, 1);
  struct Case {
    Alphabet<double> a;
    std::int64_t levels;
    int lo, hi, bits;
    const char* name;
  };
  const std::vector<Case> cases = {
      {Alphabet<double>::symmetric(7, StepRule::column_radius(1)), 15, -7, 7, 4, "symmetric"},
      {Alphabet<double>::even(4, StepRule::column_radius(1)), 16, -8, 7, 4, "even"},
      {Alphabet<double>::even(2, 0.5), 4, -2, 1, 2, "even"},
      {Alphabet<double>::midrise(8, StepRule::column_radius(1)), 16, -8, 7, 4, "midrise"},
      {Alphabet<double>::asymmetric(4), 16, 0, 15, 4, "asymmetric"},
      {Alphabet<double>::asymmetric(1), 2, 0, 1, 1, "asymmetric"},
      {Alphabet<double>::asymmetric(3).with_group_size(8), 8, 0, 7, 3, "asymmetric"},
  };
  for (const auto& c : cases) {
    INFO("grid " << c.name << " levels " << c.levels);
    REQUIRE(c.a.levels() == c.levels);
    REQUIRE(c.a.bits() == c.bits);
    REQUIRE(c.a.code_min() == c.lo);
    REQUIRE(c.a.code_max() == c.hi);
    const auto g = c.a.resolve(W);
    REQUIRE(g.levels() == c.levels);
    REQUIRE(g.bits() == c.bits);
    REQUIRE(std::string(pathq::grid_name(g)) == c.name);
    // Round to nearest: every code in range, and within half a step unless saturated.
    const auto r = pathq::msq(W, g);
    REQUIRE(r.codes.minCoeff() >= c.lo);
    REQUIRE(r.codes.maxCoeff() <= c.hi);
    const Eigen::MatrixXd Q = r.values();
    for (Eigen::Index j = 0; j < W.cols(); ++j)
      for (Eigen::Index t = 0; t < W.rows(); ++t) {
        const double s = g.step(g.group_of(t), j);
        const double u = W(t, j) / s + g.zero(g.group_of(t), j);
        if (u >= c.lo - 0.5 && u <= c.hi + 0.5) REQUIRE(std::abs(W(t, j) - Q(t, j)) <= s / 2 * (1 + 1e-12));
      }
  }
  REQUIRE(std::string(pathq::grid_name(pathq::GridKind::Symmetric, -3, 5)) == "symmetric_range");
}

TEST_CASE("grids: the even grid's radius rule is GPTQ's symmetric rule", "[grid]") {
  Eigen::MatrixXd W(3, 2);
  W << 1, -4,  //
      -2, 1,   //
      0.5, 3;
  // delta = 2 max|w| / (2^b - 1) = max|w| / (2^(b-1) - 1/2), per column.
  const auto g = Alphabet<double>::even(3, StepRule::column_radius(1.0)).resolve(W);
  REQUIRE(g.step(0, 0) == Approx(2.0 * 2 / 7));
  REQUIRE(g.step(0, 1) == Approx(2.0 * 4 / 7));
  REQUIRE(g.zero.cwiseAbs().maxCoeff() == 0.0);
  // The extra level is negative: codes -4..3 reach -4 delta but only +3 delta.
  REQUIRE(g.value(-4, 0, 0) == Approx(-4 * g.step(0, 0)));
  REQUIRE(g.value(3, 0, 0) == Approx(3 * g.step(0, 0)));
}

TEST_CASE("grids: asymmetric min-max puts 0 exactly on a level and round-trips codes exactly", "[grid]") {
  for (std::uint64_t seed : {1, 2, 3}) {
    Eigen::MatrixXd W = gaussian(40, 6, seed);
    W.col(1) = W.col(1).cwiseAbs() + Eigen::VectorXd::Constant(40, 0.5);  // all positive
    W.col(2) = -W.col(2).cwiseAbs();                                       // all non-positive
    W.col(3).setZero();
    for (int bits : {2, 3, 4, 8}) {
      for (Eigen::Index group : {0, 7}) {
        const auto g = Alphabet<double>::asymmetric(bits).with_group_size(group).resolve(W);
        INFO("seed " << seed << " bits " << bits << " group " << group);
        REQUIRE(g.code_lo == 0);
        REQUIRE(g.code_hi == (1 << bits) - 1);
        for (Eigen::Index k = 0; k < g.zero.size(); ++k) {
          const double z = g.zero.data()[k];
          REQUIRE(z == std::floor(z));  // an integer zero point
          REQUIRE(z >= 0);
          REQUIRE(z <= g.code_hi);
        }
        for (Eigen::Index j = 0; j < W.cols(); ++j)
          for (Eigen::Index gi = 0; gi < g.step.rows(); ++gi)
            REQUIRE(g.value(std::int32_t(g.zero(gi, j)), gi * std::max<Eigen::Index>(group, 1), j) == 0.0);
        REQUIRE(g.step(0, 3) == 1.0);  // an all-zero column
        REQUIRE(g.zero(0, 3) == 0.0);
        // Codes -> values -> codes is the identity, and the min-max span is covered.
        const auto r = pathq::msq(W, g);
        REQUIRE(r.info.saturated == 0);
        REQUIRE(pathq::msq(r.values(), g).codes == r.codes);
      }
    }
    // The positive column's zero point is 0 (its minimum is clipped up to 0).
    REQUIRE(Alphabet<double>::asymmetric(4).resolve(W).zero(0, 1) == 0.0);
    REQUIRE(Alphabet<double>::asymmetric(4).resolve(W).zero(0, 2) == 15.0);
  }
  // The span: step = C (max - min) / (2^b - 1), z = round(-min / step).
  Eigen::MatrixXd V(3, 1);
  V << -1.0, 2.0, 0.5;
  const auto g = Alphabet<double>::asymmetric(2, 0.9).resolve(V);
  REQUIRE(g.step(0, 0) == Approx(0.9 * 3.0 / 3));
  REQUIRE(g.zero(0, 0) == 1.0);
}

TEST_CASE("grids: per-group steps fit each group of features on its own", "[grid][groups]") {
  Eigen::MatrixXd W = gaussian(23, 4, 9);
  W.block(8, 2, 8, 1) *= 10;  // one loud group in column 2
  for (const auto& a : {Alphabet<double>::symmetric(7, StepRule::column_radius(1.0)),
                        Alphabet<double>::even(4, StepRule::column_radius(0.9)), Alphabet<double>::asymmetric(3),
                        Alphabet<double>::midrise(4, StepRule::column_radius(1.0))}) {
    const auto g = a.with_group_size(8).resolve(W);
    REQUIRE(g.group_size == 8);
    REQUIRE(g.step.rows() == 3);  // 8 + 8 + 7 features
    REQUIRE(g.group_of(22) == 2);
    for (Eigen::Index k = 0; k < 3; ++k) {
      const auto f = a.fit(W.middleRows(8 * k, std::min<Eigen::Index>(8, 23 - 8 * k)));
      REQUIRE(g.step.row(k) == f.step);
      REQUIRE(g.zero.row(k) == f.zero);
    }
    REQUIRE(g.step(1, 2) > 2 * g.step(0, 2));
    // Group size 0 is the per-column grid.
    const auto per_column = a.with_group_size(0).resolve(W);
    REQUIRE(per_column.step.rows() == 1);
    REQUIRE(per_column.step == a.resolve(W).step);
  }
  // The layer rule with groups: one step per group, shared by the columns.
  const auto layer = Alphabet<double>::symmetric(3, StepRule::layer_radius(1.0)).with_group_size(10).resolve(W);
  REQUIRE(layer.step.rows() == 3);
  REQUIRE(layer.step(1, 0) == layer.step(1, 3));
}

TEST_CASE("grids: bits per weight count codes, scales and zero points", "[grid][accounting]") {
  const Eigen::MatrixXd W = gaussian(256, 8, 3);
  // Per-column symmetric 4-bit codes (15 levels), one fp16 step per column.
  auto b = pathq::bits_per_weight(Alphabet<double>::from_bits(4, StepRule::column_radius(1)).resolve(W), 256);
  REQUIRE(b.code_bits == 4);
  REQUIRE(b.scales == 8);
  REQUIRE(b.zero_points == 0);
  REQUIRE(b.total == Approx(4 + 16.0 / 256));
  // One step for the whole layer.
  b = pathq::bits_per_weight(Alphabet<double>::from_bits(4, StepRule::layer_radius(1)).resolve(W), 256);
  REQUIRE(b.scales == 1);
  REQUIRE(b.total == Approx(4 + 16.0 / (256 * 8)));
  // 2K+1 levels cost ceil(log2(2K+1)) bits: K = 8 gives 17 levels, 5 bits.
  b = pathq::bits_per_weight(Alphabet<double>::symmetric(8, 0.1).resolve(W), 256);
  REQUIRE(b.code_bits == 5);
  // Groups of 32 with 4-bit even codes: 4 + 16/32 = 4.5 bits (llama.cpp's q4_K budget).
  b = pathq::bits_per_weight(Alphabet<double>::even(4, StepRule::column_radius(1)).with_group_size(32).resolve(W), 256);
  REQUIRE(b.scales == 8 * 8);
  REQUIRE(b.total == Approx(4.5));
  // Asymmetric groups of 128: a step and a 4-bit zero point per group and column.
  const auto ga = Alphabet<double>::asymmetric(4).with_group_size(128).resolve(W);
  b = pathq::bits_per_weight(ga, 256);
  REQUIRE(b.zero_points == 2 * 8);
  REQUIRE(b.total == Approx(4 + (16.0 + 4.0) / 128));
  // Other storage: bf16 scales are 16 bits too; fp32 scales and 8-bit zero points.
  pathq::ScaleStorage s;
  s.scale_bits = 32;
  s.zero_point_bits = 8;
  REQUIRE(pathq::bits_per_weight(ga, 256, s).total == Approx(4 + (32.0 + 8.0) / 128));
  // Contracts.
  using Catch::Contains;
  REQUIRE_THROWS_WITH(pathq::bits_per_weight(ga, 0), Contains("N_in must be at least 1"));
  s.scale_bits = 65;
  REQUIRE_THROWS_WITH(pathq::bits_per_weight(ga, 256, s), Contains("scale_bits must be in [0, 64]"));
}

TEST_CASE("grids: bad parameters throw naming the problem", "[grid][contract]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(Alphabet<double>::even(1, 1.0), Contains("bits must be in [2, 24]"));
  REQUIRE_THROWS_WITH(Alphabet<double>::even(25, StepRule::column_radius(1)), Contains("bits must be in [2, 24]"));
  REQUIRE_THROWS_WITH(Alphabet<double>::even(4, StepRule::column_radius(0)), Contains("radius scale C"));
  REQUIRE_THROWS_WITH(Alphabet<double>::asymmetric(0), Contains("bits must be in [1, 24]"));
  REQUIRE_THROWS_WITH(Alphabet<double>::asymmetric(4, 0.0), Contains("clipping ratio must be finite and positive"));
  REQUIRE_THROWS_WITH(Alphabet<double>::asymmetric(4).with_group_size(-1), Contains("group size must be >= 0"));
  const Eigen::MatrixXd bad = Eigen::MatrixXd::Constant(4, 2, std::numeric_limits<double>::infinity());
  REQUIRE_THROWS_WITH(Alphabet<double>::asymmetric(4).resolve(bad), Contains("non-finite"));
  REQUIRE_THROWS_WITH(Alphabet<double>::asymmetric(4).with_group_size(2).resolve(bad), Contains("non-finite"));
}

}  // namespace pathq_test_grids
