// Code refinement (coordinate descent on the codes): never raises the error, ends where no single
// code change helps (checked by brute force over every code of every weight), keeps the grid and
// dead features, and gives the same codes for every thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/step_refit.hpp>
#include <pathq/methods/code_refinement.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/methods/optq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "support/random_data.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_code_refinement {

using pathq::Alphabet;
using pathq_test::gaussian;

TEST_CASE("code refinement: lowers the error to a point no single code change improves", "[refine]") {
  const Eigen::MatrixXd W = gaussian(20, 6, 91);
  const Eigen::MatrixXd X = gaussian(50, 20, 92) * (Eigen::MatrixXd::Identity(20, 20) + 0.3 * gaussian(20, 20, 93));
  const Eigen::MatrixXd Xq = X + 0.05 * gaussian(50, 20, 94);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const auto alphabet = Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0)).with_group_size(8);
  const auto start = pathq::msq(W, alphabet);
  pathq::CodeRefinementOptions o;
  o.passes = 100;
  const auto refined = pathq::refine_codes(W, stats, start, o);
  REQUIRE(refined.grid.step == start.grid.step);
  REQUIRE(refined.grid.zero == start.grid.zero);
  REQUIRE(refined.info.extra.at("refine_changes") > 0);
  REQUIRE(refined.info.extra.at("refine_passes") < 100);  // it stopped at a fixed point
  const auto e0 = pathq::layer_error(stats, W, start.values());
  const auto e1 = pathq::layer_error(stats, W, refined.values());
  REQUIRE(e1.error() < e0.error());
  // Brute force: from the refined codes, every other code of every single weight is no better.
  for (Eigen::Index j = 0; j < W.cols(); ++j)
    for (Eigen::Index t = 0; t < W.rows(); ++t)
      for (int c = refined.grid.code_lo; c <= refined.grid.code_hi; ++c) {
        pathq::Result<double> probe = refined;
        probe.codes(t, j) = c;
        INFO("column " << j << ", feature " << t << ", code " << c);
        REQUIRE(pathq::layer_error(stats, W, probe.values()).column_error(j) >=
                e1.column_error(j) * (1 - 1e-12) - 1e-12);
      }
}

TEST_CASE("code refinement: each sweep lowers every column's error; dead features keep their codes", "[refine]") {
  const Eigen::MatrixXd W = gaussian(16, 5, 101);
  Eigen::MatrixXd X = gaussian(40, 16, 102);
  X.col(3).setZero();  // a dead feature
  const auto stats = pathq::LayerStats<double>::from(X);
  auto r = pathq::Optq<double>().quantize(W, stats, Alphabet<double>::asymmetric(2));
  r.codes(3, 2) = r.grid.code_hi;  // whatever code a dead feature has, it stays
  Eigen::VectorXd previous = pathq::layer_error(stats, W, r.values()).column_error;
  for (int sweep = 0; sweep < 4; ++sweep) {
    pathq::CodeRefinementOptions one;
    one.passes = 1;
    r = pathq::refine_codes(W, stats, r, one);
    const Eigen::VectorXd now = pathq::layer_error(stats, W, r.values()).column_error;
    for (Eigen::Index j = 0; j < W.cols(); ++j) REQUIRE(now(j) <= previous(j) * (1 + 1e-12) + 1e-12);
    previous = now;
  }
  REQUIRE(r.codes(3, 2) == r.grid.code_hi);
}

TEST_CASE("code refinement and step refit: the same codes and steps for every thread count", "[refine]") {
  const Eigen::MatrixXd W = gaussian(40, 23, 111);
  const auto stats = pathq::LayerStats<double>::from(gaussian(90, 40, 112));
  const auto start = pathq::Gpfq<double>().quantize(W, stats, Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(0.8)));
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  const auto a = pathq::refine_codes(W, stats, start);
  const auto a_refit = pathq::refit_steps(W, stats, a);
#if defined(_OPENMP)
  omp_set_num_threads(2);
#endif
  const auto b = pathq::refine_codes(W, stats, start);
  const auto b_refit = pathq::refit_steps(W, stats, b);
#if defined(_OPENMP)
  omp_set_num_threads(saved);
#endif
  REQUIRE(a.codes == b.codes);
  REQUIRE(a_refit.grid.step == b_refit.grid.step);
}

TEST_CASE("code refinement: bad input throws naming the problem", "[refine]") {
  const Eigen::MatrixXd W = gaussian(6, 3, 121);
  const auto stats = pathq::LayerStats<double>::from(gaussian(10, 6, 122));
  const auto r = pathq::msq(W, Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0)));
  REQUIRE_THROWS_WITH(pathq::refine_codes(Eigen::MatrixXd(W.topRows(5)), stats, r),
                      Catch::StartsWith("pathq::refine_codes: W has 5 rows but the statistics have N_in = 6"));
  REQUIRE_THROWS_WITH(pathq::refine_codes(Eigen::MatrixXd(W.leftCols(2)), stats, r),
                      Catch::StartsWith("pathq::refine_codes: the codes are 6 x 3 but W is 6 x 2"));
  pathq::CodeRefinementOptions o;
  o.passes = 0;
  REQUIRE_THROWS_WITH(pathq::refine_codes(W, stats, r, o),
                      Catch::StartsWith("pathq::CodeRefinementOptions: passes must be in [1, 1000], got 0"));
  Eigen::MatrixXd bad = W;
  bad(0, 2) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(pathq::refine_codes(bad, stats, r), Catch::Contains("non-finite"));
}

}  // namespace pathq_test_code_refinement
