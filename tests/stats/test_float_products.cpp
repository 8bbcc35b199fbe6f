// LayerStats with float products over chunks of rows: within the stated bound of the double
// statistics, for every entry of H, G and K.
#include <catch2/catch.hpp>

#include <cmath>

#include <pathq/pathq.hpp>

#include "support/random_data.hpp"

namespace pathq_test_float_products {

using pathq_test::gaussian;

namespace {

// Every entry of `got` within gamma_k |A|^T |B| + 2u |A|^T |B| of `exact` (k = the chunk, u = 2^-24;
// the 2u for rounding double inputs to float), with a double-rounding allowance on top.
void require_within_bound(const Eigen::MatrixXd& got, const Eigen::MatrixXd& exact, const Eigen::MatrixXd& A,
                          const Eigen::MatrixXd& B) {
  const double u = std::ldexp(1.0, -24);
  const double k = double(pathq::LayerStats<double>::float_chunk);
  const double gamma = k * u / (1 - k * u);
  const Eigen::MatrixXd abs_product = A.cwiseAbs().transpose() * B.cwiseAbs();
  const Eigen::MatrixXd bound = (gamma + 2 * u + 1e-12) * abs_product;
  REQUIRE(((got - exact).cwiseAbs().array() <= bound.array()).all());
}

}  // namespace

TEST_CASE("LayerStats: float products over chunks stay within their error bound", "[stats][float]") {
  const Eigen::Index m = 700, n = 300;  // several chunks, and more than one 256-square tile
  const Eigen::MatrixXd X = 3.0 * gaussian(m, n, 41) + gaussian(m, 1, 42).replicate(1, n);
  const Eigen::MatrixXd Xq = X + 0.1 * gaussian(m, n, 43);

  SECTION("Xq = X, in two batches") {
    pathq::LayerStats<double> f(n, pathq::StatsProducts::FloatChunks), d(n);
    f.add(X.topRows(333));
    f.add(X.bottomRows(m - 333));
    d.add(X);
    REQUIRE(f.products() == pathq::StatsProducts::FloatChunks);
    REQUIRE(f.same_inputs());
    require_within_bound(f.K(), d.K(), X, X);
    REQUIRE(f.K() != d.K());  // the float path ran
    REQUIRE(f.K() == f.K().transpose());
    REQUIRE(f.sum_x().isApprox(d.sum_x(), 1e-14));
    REQUIRE(f.samples() == m);
  }
  SECTION("Xq given apart") {
    pathq::LayerStats<double> f(n, pathq::StatsProducts::FloatChunks), d(n);
    f.add(X, Xq);
    d.add(X, Xq);
    require_within_bound(f.K(), d.K(), X, X);
    require_within_bound(f.H(), d.H(), Xq, Xq);
    require_within_bound(f.G(), d.G(), Xq, X);
    REQUIRE(f.sum_xq().isApprox(d.sum_xq(), 1e-14));
  }
  SECTION("a first batch without Xq, then one with it") {
    pathq::LayerStats<double> f(n, pathq::StatsProducts::FloatChunks), d(n);
    f.add(X.topRows(200));
    f.add(X.bottomRows(m - 200), Xq.bottomRows(m - 200));
    d.add(X.topRows(200));
    d.add(X.bottomRows(m - 200), Xq.bottomRows(m - 200));
    Eigen::MatrixXd Xq_all = X;
    Xq_all.bottomRows(m - 200) = Xq.bottomRows(m - 200);
    require_within_bound(f.H(), d.H(), Xq_all, Xq_all);
    require_within_bound(f.G(), d.G(), Xq_all, X);
  }
}

}  // namespace pathq_test_float_products
