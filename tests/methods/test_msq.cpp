// MSQ: entrywise nearest level (brute force), the bound, and bad input.
#include <catch2/catch.hpp>

#include <pathq/pathq.hpp>

#include "reference/gpfq_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_msq {

using pathq_test::gaussian;

TEST_CASE("msq: every weight goes to its nearest level (brute force)", "[msq][reference]") {
  const Eigen::MatrixXd W = gaussian(40, 9, 1);
  const auto A = pathq::Alphabet<double>::symmetric(3, pathq::StepRule::column_radius(0.7));
  const auto r = pathq::msq(W, A);
  const Eigen::MatrixXd Q = r.values();
  for (Eigen::Index j = 0; j < 9; ++j) {
    const auto levels = pathq_reference::symmetric_levels(3, r.grid.step(0, j));
    for (Eigen::Index t = 0; t < 40; ++t) REQUIRE(Q(t, j) == pathq_reference::nearest_level(W(t, j), levels));
  }
  // C = 0.7: the largest weight of each column lies beyond the grid by more than half a step.
  REQUIRE(r.info.saturated >= 9);
}

TEST_CASE("msq: measured error <= the deterministic bound; midrise has no zero", "[msq][bounds]") {
  const Eigen::MatrixXd W = gaussian(50, 6, 2), X = gaussian(70, 50, 3);
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto r = pathq::msq(W, pathq::Alphabet<double>::symmetric(7, pathq::StepRule::column_radius(1.0)));
  REQUIRE(r.info.saturated == 0);
  const double E = pathq::layer_error(stats, W, r.values()).error();
  REQUIRE(E <= pathq::bounds::msq_unsaturated(r.grid, stats.K().diagonal()));
  const auto m = pathq::msq(W, pathq::Alphabet<double>::midrise(2, 0.5));
  REQUIRE((m.values().array().abs() >= 0.25).all());
  REQUIRE((m.values().array().abs() <= 0.75).all());
}

TEST_CASE("msq: bad input throws naming it", "[msq][contract]") {
  using Catch::Contains;
  const auto A = pathq::Alphabet<double>::symmetric(3, 0.5);
  REQUIRE_THROWS_WITH(pathq::msq(Eigen::MatrixXd(0, 3), A), Contains("W is empty"));
  Eigen::MatrixXd W = Eigen::MatrixXd::Ones(2, 2);
  W(0, 0) = std::nan("");
  REQUIRE_THROWS_WITH(pathq::msq(W, A), Contains("non-finite"));
  const auto grid = A.resolve(Eigen::MatrixXd::Ones(2, 3));
  REQUIRE_THROWS_WITH(pathq::msq(Eigen::MatrixXd::Ones(2, 2), grid), Contains("the grid has 3 columns but W has 2"));
}

}  // namespace pathq_test_msq
