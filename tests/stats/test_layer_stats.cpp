// LayerStats and layer_error: streamed statistics equal the direct products; errors from them.
#include <catch2/catch.hpp>

#include <pathq/stats/layer_error.hpp>
#include <pathq/stats/layer_stats.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_layer_stats {

using pathq_test::gaussian;

TEST_CASE("layer stats: batches give the same H, G, K as one pass", "[stats]") {
  const Eigen::MatrixXd X = gaussian(103, 17, 1);
  const Eigen::MatrixXd Xq = X + 0.3 * gaussian(103, 17, 2);
  pathq::LayerStats<double> s(17);
  for (Eigen::Index r0 = 0; r0 < 103; r0 += 20) {
    const Eigen::Index n = std::min<Eigen::Index>(20, 103 - r0);
    s.add(X.middleRows(r0, n), Xq.middleRows(r0, n));
  }
  REQUIRE(s.samples() == 103);
  REQUIRE_FALSE(s.same_inputs());
  REQUIRE((s.H() - Xq.transpose() * Xq).norm() < 1e-10 * s.H().norm());
  REQUIRE((s.G() - Xq.transpose() * X).norm() < 1e-10 * s.G().norm());
  REQUIRE((s.K() - X.transpose() * X).norm() < 1e-10 * s.K().norm());
  REQUIRE((s.sum_x() - X.colwise().sum().transpose()).norm() < 1e-10);
  REQUIRE((s.sum_xq() - Xq.colwise().sum().transpose()).norm() < 1e-10);
}

TEST_CASE("layer stats: Xq = X keeps one matrix until a distinct Xq arrives", "[stats]") {
  const Eigen::MatrixXd X1 = gaussian(30, 5, 3), X2 = gaussian(20, 5, 4), Xq2 = gaussian(20, 5, 5);
  pathq::LayerStats<double> s(5);
  s.add(X1);
  REQUIRE(s.same_inputs());
  REQUIRE(&s.H() == &s.K());
  s.add(X2, Xq2);
  REQUIRE_FALSE(s.same_inputs());
  REQUIRE((s.H() - (X1.transpose() * X1 + Xq2.transpose() * Xq2)).norm() < 1e-10);
  REQUIRE((s.G() - (X1.transpose() * X1 + Xq2.transpose() * X2)).norm() < 1e-10);
  REQUIRE((s.K() - (X1.transpose() * X1 + X2.transpose() * X2)).norm() < 1e-10);
}

TEST_CASE("layer stats: dead inputs with a relative tolerance", "[stats]") {
  Eigen::MatrixXd X = gaussian(40, 6, 6);
  X.col(2).setZero();
  X.col(4) *= 1e-9;  // energy 1e-18 relative: dead at the default 1e-12
  const auto s = pathq::LayerStats<double>::from(X);
  const auto dead = s.dead_inputs();
  REQUIRE(dead == std::vector<bool>{false, false, true, false, true, false});
  REQUIRE(s.dead_inputs(0.0) == std::vector<bool>{false, false, true, false, false, false});
  REQUIRE(pathq::LayerStats<double>(3).dead_inputs() == std::vector<bool>{true, true, true});
}

TEST_CASE("layer error: from the statistics equals the direct norm", "[stats][error]") {
  const Eigen::MatrixXd X = gaussian(50, 12, 7), Xq = X + 0.1 * gaussian(50, 12, 8);
  const Eigen::MatrixXd W = gaussian(12, 4, 9), Q = W + 0.05 * gaussian(12, 4, 10);
  for (bool same : {true, false}) {
    const auto s = same ? pathq::LayerStats<double>::from(X) : pathq::LayerStats<double>::from(X, Xq);
    const Eigen::MatrixXd D = X * W - (same ? X : Xq) * Q;
    const auto e = pathq::layer_error(s, W, Q);
    REQUIRE(e.error() == Approx(D.squaredNorm()).epsilon(1e-10));
    REQUIRE(e.reference() == Approx((X * W).squaredNorm()).epsilon(1e-12));
    REQUIRE(e.squared_relative() == Approx(D.squaredNorm() / (X * W).squaredNorm()).epsilon(1e-10));
    REQUIRE(e.norm_ratio() == Approx(D.norm() / (X * W).norm()).epsilon(1e-10));
    for (Eigen::Index j = 0; j < 4; ++j) REQUIRE(e.column_error(j) == Approx(D.col(j).squaredNorm()).epsilon(1e-9));
  }
}

TEST_CASE("layer stats: bad input throws naming it", "[stats][contract]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(pathq::LayerStats<double>(0), Contains("N_in must be at least 1"));
  pathq::LayerStats<double> s(4);
  REQUIRE_THROWS_WITH(s.add(Eigen::MatrixXd::Ones(3, 5)), Contains("X has 5 columns but the layer has N_in = 4"));
  REQUIRE_THROWS_WITH(s.add(Eigen::MatrixXd::Ones(3, 4), Eigen::MatrixXd::Ones(2, 4)),
                      Contains("X has 3 rows but Xq has 2"));
  Eigen::MatrixXd bad = Eigen::MatrixXd::Ones(3, 4);
  bad(1, 2) = std::nan("");
  REQUIRE_THROWS_WITH(s.add(bad), Contains("X has a non-finite entry"));
  REQUIRE_THROWS_WITH(s.add(Eigen::MatrixXd::Ones(3, 4), bad), Contains("Xq has a non-finite entry"));
  REQUIRE_THROWS_WITH(pathq::layer_error(s, Eigen::MatrixXd::Ones(3, 2), Eigen::MatrixXd::Ones(3, 2)),
                      Contains("W has 3 rows"));
  REQUIRE(s.samples() == 0);  // failed adds change nothing
}

}  // namespace pathq_test_layer_stats
