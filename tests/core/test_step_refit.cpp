// Step refit: for fixed codes, the least-squares steps never raise the layer error, match a naive
// scan over each column's step, keep codes and zero points, and handle groups and zero levels.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/step_refit.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/methods/optq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_step_refit {

using pathq::Alphabet;
using pathq_test::gaussian;

TEST_CASE("step refit: per-column steps reach the least-squares minimum and never raise the error", "[refit]") {
  const Eigen::MatrixXd W = gaussian(30, 7, 61);
  const Eigen::MatrixXd X = gaussian(90, 30, 62);
  const Eigen::MatrixXd Xq = X + 0.05 * gaussian(90, 30, 63);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const auto r0 = pathq::Gpfq<double>().quantize(W, stats, Alphabet<double>::asymmetric(3));
  pathq::StepRefit report;
  const auto r1 = pathq::refit_steps(W, stats, r0, &report);
  REQUIRE(r1.codes == r0.codes);
  REQUIRE(r1.grid.zero == r0.grid.zero);
  const auto e0 = pathq::layer_error(stats, W, r0.values());
  const auto e1 = pathq::layer_error(stats, W, r1.values());
  REQUIRE(report.error_before == Approx(e0.error()).epsilon(1e-9));
  REQUIRE(report.error_after == Approx(e1.error()).epsilon(1e-9));
  REQUIRE(e1.error() < e0.error());
  REQUIRE(report.columns_changed > 0);
  // Naive reference per column: the error as a function of the step alone, scanned finely
  // around the refit step and around the old one: nothing beats the refit step.
  for (Eigen::Index j = 0; j < W.cols(); ++j) {
    INFO("column " << j);
    REQUIRE(e1.column_error(j) <= e0.column_error(j) * (1 + 1e-12));
    const double s1 = r1.grid.step(0, j);
    for (double f = 0.8; f <= 1.2001; f += 0.01) {
      pathq::Result<double> probe = r1;
      probe.grid.step(0, j) = s1 * f;
      REQUIRE(pathq::layer_error(stats, W, probe.values()).column_error(j) >= e1.column_error(j) * (1 - 1e-9));
    }
    // The closed form: s = l^T G w / l^T H l with l the levels.
    Eigen::VectorXd l(W.rows());
    for (Eigen::Index t = 0; t < W.rows(); ++t) l(t) = r0.codes(t, j) - r0.grid.zero(0, j);
    const double s = l.dot(stats.G() * W.col(j)) / l.dot(stats.H() * l);
    if (s > 0 && e1.column_error(j) < e0.column_error(j)) REQUIRE(s1 == Approx(s).epsilon(1e-9));
  }
}

TEST_CASE("step refit: groups solve their coupled steps, and an all-zero group keeps its step", "[refit]") {
  const Eigen::MatrixXd W = gaussian(24, 5, 71);
  const auto stats = pathq::LayerStats<double>::from(gaussian(60, 24, 72));
  pathq::OptqOptions o;
  o.static_groups = true;
  auto r0 = pathq::Optq<double>(o).quantize(W, stats, Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0))
                                                         .with_group_size(8));
  // Column 2's middle group: every level zero.
  for (Eigen::Index t = 8; t < 16; ++t) r0.codes(t, 2) = std::int32_t(r0.grid.zero(1, 2));
  const auto r1 = pathq::refit_steps(W, stats, r0);
  REQUIRE(r1.grid.step(1, 2) == r0.grid.step(1, 2));
  const auto e0 = pathq::layer_error(stats, W, r0.values());
  const auto e1 = pathq::layer_error(stats, W, r1.values());
  REQUIRE(e1.error() < e0.error());
  // Naive reference: coordinate descent over the group steps of each column, from the old ones,
  // converges to no lower error than the refit (the exact minimum).
  for (Eigen::Index j = 0; j < W.cols(); ++j) {
    pathq::Result<double> cd = r0;
    for (int sweep = 0; sweep < 200; ++sweep)
      for (Eigen::Index g = 0; g < 3; ++g) {
        // One-dimensional least squares in s_g with the other groups fixed.
        Eigen::VectorXd a = Eigen::VectorXd::Zero(W.rows()), rest = Eigen::VectorXd::Zero(W.rows());
        for (Eigen::Index t = 0; t < W.rows(); ++t) {
          const double level = cd.codes(t, j) - cd.grid.zero(t / 8, j);
          if (t / 8 == g) a(t) = level;
          else rest(t) = level * cd.grid.step(t / 8, j);
        }
        const double den = a.dot(stats.H() * a);
        if (den <= 0) continue;
        const double s = (a.dot(stats.G() * W.col(j)) - a.dot(stats.H() * rest)) / den;
        if (s > 0) cd.grid.step(g, j) = s;
      }
    INFO("column " << j);
    REQUIRE(e1.column_error(j) <= pathq::layer_error(stats, W, cd.values()).column_error(j) * (1 + 1e-7));
  }
}

TEST_CASE("step refit: bad input throws naming the problem", "[refit]") {
  const Eigen::MatrixXd W = gaussian(6, 3, 81);
  const auto stats = pathq::LayerStats<double>::from(gaussian(10, 6, 82));
  const auto r = pathq::msq(W, Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0)));
  REQUIRE_THROWS_WITH(pathq::refit_steps(Eigen::MatrixXd(W.topRows(5)), stats, r),
                      Catch::StartsWith("pathq::refit_steps: W has 5 rows but the statistics have N_in = 6"));
  REQUIRE_THROWS_WITH(pathq::refit_steps(Eigen::MatrixXd(W.leftCols(2)), stats, r),
                      Catch::StartsWith("pathq::refit_steps: the codes are 6 x 3 but W is 6 x 2"));
  Eigen::MatrixXd bad = W;
  bad(1, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(pathq::refit_steps(bad, stats, r), Catch::Contains("non-finite"));
}

}  // namespace pathq_test_step_refit
