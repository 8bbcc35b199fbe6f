// Noise shaping: r-th order Sigma-Delta, 1-bit filter schemes, beta noise shaping, condensation; identities and stability.
#include <cmath>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <pathq/methods/noise_shaping.hpp>

#include "reference/sigma_delta_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_noise_shaping {

namespace {

// m entries in (-bound, bound), smooth in distribution: bound * tanh(N(0, 1)).
Eigen::VectorXd bounded(Eigen::Index m, double bound, std::uint64_t seed) {
  return bound * pathq_test::gaussian(m, 1, seed).array().tanh().matrix();
}

double binomial(int r, int k) {
  double b = 1;
  for (int i = 1; i <= k; ++i) b = b * (r - k + i) / i;
  return b;
}

// (D^r u)_i = sum_k (-1)^k C(r, k) u_{i-k}, u_{<0} = 0.
Eigen::VectorXd backward_difference(const Eigen::VectorXd& u, int r) {
  Eigen::VectorXd d = Eigen::VectorXd::Zero(u.size());
  for (Eigen::Index i = 0; i < u.size(); ++i)
    for (int k = 0; k <= r && k <= i; ++k) d(i) += (k % 2 ? -1 : 1) * binomial(r, k) * u(i - k);
  return d;
}

// The dense filter h[0..max lag] of a tap list (h[0] = 0).
std::vector<double> dense(const std::vector<pathq::FilterTap>& taps) {
  int top = 0;
  for (const auto& t : taps) top = std::max(top, t.lag);
  std::vector<double> h(std::size_t(top) + 1, 0.0);
  for (const auto& t : taps) h[std::size_t(t.lag)] += t.weight;
  return h;
}

}  // namespace

TEST_CASE("noise shaping matches the loops of the RFF and binary-embedding code", "[noise_shaping][reference]") {
  // First order, by hand: q = MSQ(u + y), u <- u + y - q.
  const int K = 3;
  const double delta = pathq::noise_shaping_default_step(K);
  REQUIRE(delta == Approx(0.4));
  const Eigen::VectorXd y1 = bounded(300, 0.95, 1);
  const auto s1 = pathq::sigma_delta_greedy(y1, 1, K);
  double u = 0;
  for (Eigen::Index i = 0; i < y1.size(); ++i) {
    const double q = pathq_reference::midrise_msq(u + y1(i), K, delta);
    u = u + y1(i) - q;
    REQUIRE(s1.q(i) == Approx(q).margin(1e-12));
    REQUIRE(s1.state(i) == Approx(u).margin(1e-12));
    REQUIRE(s1.q(i) == Approx((s1.codes(i) + 0.5) * delta).margin(1e-15));
  }
  // Second order, multi-bit (SDQ, r = 2).
  const Eigen::VectorXd y2 = bounded(400, 0.6, 2);
  Eigen::VectorXd u2;
  const Eigen::VectorXd q2 = pathq_reference::second_order_msq(y2, 4, pathq::noise_shaping_default_step(4), &u2);
  const auto s2 = pathq::sigma_delta_greedy(y2, 2, 4);
  REQUIRE((s2.q - q2).cwiseAbs().maxCoeff() < 1e-12);
  REQUIRE((s2.state - u2).cwiseAbs().maxCoeff() < 1e-9);
  // The 1-bit filter schemes with levels ±1 (step 2).
  for (int r : {1, 2, 3}) {
    INFO("filter order " << r);
    const Eigen::VectorXd y = bounded(500, 0.5, 10 + std::uint64_t(r));
    Eigen::VectorXd v;
    const Eigen::VectorXd q = pathq_reference::filter_sign(y, dense(pathq::one_bit_filter(r)), 1.0, &v);
    const auto s = pathq::sigma_delta_filter(y, pathq::one_bit_filter(r));
    REQUIRE(s.q == q);
    REQUIRE((s.state - v).cwiseAbs().maxCoeff() < 1e-10);
  }
  // Beta noise shaping (BetaQ without its input pre-scaling).
  const Eigen::VectorXd yb = bounded(96, 0.8, 20);
  Eigen::VectorXd ub;
  const Eigen::VectorXd qb = pathq_reference::beta_msq(yb, 1.5, 12, 2, pathq::noise_shaping_default_step(2), &ub);
  const auto sb = pathq::beta_noise_shaping(yb, 2, 1.5, 12);
  REQUIRE((sb.q - qb).cwiseAbs().maxCoeff() < 1e-12);
  REQUIRE((sb.state - ub).cwiseAbs().maxCoeff() < 1e-12);
}

// docs/algorithms.md#noise-shaping-condensation (the exact error identities per block).
TEST_CASE("noise shaping: the exact error identities of the schemes", "[noise_shaping][theory]") {
  // Greedy r-th order: y - q = D^r u.
  for (int r : {1, 2, 3, 4}) {
    const Eigen::VectorXd y = bounded(210, 0.5, 30 + std::uint64_t(r));
    const auto s = pathq::sigma_delta_greedy(y, r, 16);
    INFO("order " << r);
    REQUIRE(((y - s.q) - backward_difference(s.state, r)).cwiseAbs().maxCoeff() < 1e-12);
  }
  // Block identity with the condensation vector of (1 + ... + x^{lambda'-1})^r.
  for (int r : {1, 2, 3}) {
    for (Eigen::Index lambda : {7, 13}) {
      const Eigen::Index box = (lambda - 1) / r + 1;
      const Eigen::VectorXd v = pathq::condensation_sigma_delta(r, lambda);
      const Eigen::VectorXd y = bounded(lambda * 9, 0.5, 40 + std::uint64_t(r));
      const auto s = pathq::sigma_delta_greedy(y, r, 16);
      const Eigen::VectorXd e = y - s.q;
      for (Eigen::Index b = 0; b < 9; ++b) {
        double rhs = 0;
        for (int j = 0; j <= r; ++j) {
          const Eigen::Index idx = b * lambda + j * box - r;
          if (idx >= 0) rhs += (r % 2 ? -1 : 1) * (j % 2 ? -1 : 1) * binomial(r, j) * s.state(idx);
        }
        INFO("order " << r << " lambda " << lambda << " block " << b);
        REQUIRE(v.dot(e.segment(b * lambda, lambda)) == Approx(rhs).margin(1e-10));
        REQUIRE(std::abs(rhs) <= std::ldexp(1.0, r) * s.step / 2 * (1 + 1e-12));
      }
    }
  }
  // Beta: over each block, v^T (y - q) = (beta - 1) beta^-lambda u_last.
  const double beta = 1.7;
  const Eigen::Index lambda = 10;
  const Eigen::VectorXd yb = bounded(lambda * 6, 0.9, 50);
  const auto sb = pathq::beta_noise_shaping(yb, 2, beta, lambda);
  const Eigen::VectorXd vb = pathq::condensation_beta(beta, lambda);
  for (Eigen::Index b = 0; b < 6; ++b) {
    const double lhs = vb.dot((yb - sb.q).segment(b * lambda, lambda));
    const double rhs = (beta - 1) * std::pow(beta, -double(lambda)) * sb.state(b * lambda + lambda - 1);
    REQUIRE(lhs == Approx(rhs).margin(1e-14));
  }
  // Filter schemes: y - q = v - h * v, and 1 - H(z) = (1 - z)^r G(z), so y - q = D^r (g * v).
  for (int r : {2, 3}) {
    const auto taps = pathq::one_bit_filter(r);
    const std::vector<double> h = dense(taps);
    const Eigen::VectorXd y = bounded(400, 0.4, 60 + std::uint64_t(r));
    const auto s = pathq::sigma_delta_filter(y, taps);
    const Eigen::Index m = y.size();
    Eigen::VectorXd hv = Eigen::VectorXd::Zero(m);
    for (Eigen::Index i = 0; i < m; ++i)
      for (Eigen::Index k = 1; k < Eigen::Index(h.size()) && k <= i; ++k) hv(i) += h[std::size_t(k)] * s.state(i - k);
    INFO("filter order " << r);
    REQUIRE(((y - s.q) - (s.state - hv)).cwiseAbs().maxCoeff() < 1e-12);
    // Divide 1 - H(z) by (1 - z) r times (synthetic division: the remainder must vanish).
    std::vector<double> g(h.size());
    for (std::size_t k = 0; k < h.size(); ++k) g[k] = (k == 0 ? 1.0 : 0.0) - h[k];
    for (int t = 0; t < r; ++t) {
      std::vector<double> quotient(g.size() - 1);
      double carry = 0;
      for (std::size_t k = 0; k + 1 < g.size(); ++k) quotient[k] = carry = carry + g[k];
      REQUIRE(std::abs(carry + g.back()) < 1e-12);  // (1 - z) divides: the coefficients sum to 0
      g = quotient;
    }
    Eigen::VectorXd gv = Eigen::VectorXd::Zero(m);
    for (Eigen::Index i = 0; i < m; ++i)
      for (Eigen::Index k = 0; k < Eigen::Index(g.size()) && k <= i; ++k) gv(i) += g[std::size_t(k)] * s.state(i - k);
    REQUIRE(((y - s.q) - backward_difference(gv, r)).cwiseAbs().maxCoeff() < 1e-11);
  }
}

TEST_CASE("noise shaping: states stay within step/2 under the input bounds, and grow otherwise",
          "[noise_shaping][theory]") {
  for (int r : {1, 2, 3}) {
    const int K = 8;
    const double step = pathq::noise_shaping_default_step(K);
    const double mu = pathq::greedy_stable_input_bound(r, K, step);
    REQUIRE(mu > 0);
    const auto s = pathq::sigma_delta_greedy(bounded(3000, mu, 70 + std::uint64_t(r)), r, K);
    INFO("greedy order " << r << " max|u| " << s.max_state());
    REQUIRE(s.max_state() <= step / 2 * (1 + 1e-12));
    REQUIRE(s.saturated == 0);
  }
  for (int r : {1, 2, 3}) {
    const auto taps = pathq::one_bit_filter(r);
    const double mu = pathq::filter_stable_input_bound(taps, 2.0);
    const auto s = pathq::sigma_delta_filter(bounded(3000, mu, 80 + std::uint64_t(r)), taps);
    INFO("filter order " << r << " bound " << mu << " max|v| " << s.max_state());
    REQUIRE(s.max_state() <= 1.0 + 1e-12);
  }
  REQUIRE(pathq::filter_stable_input_bound(pathq::one_bit_filter(2), 2.0) == Approx(2.0 / 3.0));
  for (double beta : {1.2, 1.9, 3.5}) {
    const int K = 2;
    const double step = pathq::noise_shaping_default_step(K);
    const double mu = pathq::beta_stable_input_bound(K, beta, step);
    const auto s = pathq::beta_noise_shaping(bounded(1200, mu, 90), K, beta, 40);
    INFO("beta " << beta << " max|u| " << s.max_state());
    REQUIRE(s.max_state() <= step / 2 * (1 + 1e-12));
  }
  // Greedy second order with one bit is not stable: the state leaves [-1, 1] and keeps growing.
  const auto short_run = pathq::sigma_delta_greedy(bounded(100, 0.5, 3), 2, 1);
  const auto long_run = pathq::sigma_delta_greedy(bounded(10000, 0.5, 3), 2, 1);
  INFO("max|u| over 100 steps " << short_run.max_state() << ", over 10000 steps " << long_run.max_state());
  REQUIRE(short_run.max_state() > 1.5);
  REQUIRE(long_run.max_state() > 1.3 * short_run.max_state());
}

TEST_CASE("condensation vectors and operators", "[noise_shaping]") {
  REQUIRE(pathq::condensation_sigma_delta(1, 4) == Eigen::VectorXd::Ones(4));
  Eigen::VectorXd tri(7), cube(7);
  tri << 1, 2, 3, 4, 3, 2, 1;
  cube << 1, 3, 6, 7, 6, 3, 1;
  REQUIRE(pathq::condensation_sigma_delta(2, 7) == tri);
  REQUIRE(pathq::condensation_sigma_delta(3, 7) == cube);
  const Eigen::VectorXd vb = pathq::condensation_beta(2.0, 3);
  REQUIRE(vb(0) == 0.5);
  REQUIRE(vb(2) == 0.125);
  const Eigen::VectorXd x = pathq_test::gaussian(21, 1, 5);
  const double c = std::sqrt(2.0 / 3.0);
  REQUIRE((pathq::condense(x, tri, c) - pathq::condensation_matrix(tri, 3, c) * x).norm() < 1e-14);
  // Decoding: the condensed error of the beta scheme is exponentially small in lambda.
  const Eigen::Index lambda = 24;
  const Eigen::VectorXd y = bounded(lambda * 5, 0.39, 7);  // stable: |y| <= (K - beta/2) step = 0.4
  const auto s = pathq::beta_noise_shaping(y, 1, 1.6, lambda, 2.0);
  const Eigen::VectorXd v = pathq::condensation_beta(1.6, lambda);
  const Eigen::VectorXd err = pathq::condense(y - s.q, v, 1.0);
  REQUIRE(err.cwiseAbs().maxCoeff() <= 0.6 * std::pow(1.6, -double(lambda)) * 1.0 / v.norm() * (1 + 1e-9));
}

TEST_CASE("noise shaping: bad input throws naming it", "[noise_shaping][contract]") {
  using Catch::Contains;
  const Eigen::VectorXd y = Eigen::VectorXd::Constant(12, 0.1);
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(y, 0, 2), Contains("order r must be in [1, 30], got 0"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(y, 1, 0), Contains("levels K must be in [1, 2^30), got 0"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(y, 1, 2, -1.0), Contains("step must be finite and >= 0"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(Eigen::VectorXd(0), 1, 2), Contains("y is empty"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(Eigen::MatrixXd::Ones(2, 3), 1, 2), Contains("y must be a vector"));
  Eigen::VectorXd yn = y;
  yn(3) = std::nan("");
  REQUIRE_THROWS_WITH(pathq::sigma_delta_greedy(yn, 1, 2), Contains("y has a non-finite entry"));
  REQUIRE_THROWS_WITH(pathq::one_bit_filter(4), Contains("order r must be 1, 2 or 3, got 4"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_filter(y, {}), Contains("the filter h is empty"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_filter(y, {{0, 1.0}}), Contains("lag >= 1"));
  REQUIRE_THROWS_WITH(pathq::sigma_delta_filter(y, pathq::one_bit_filter(2), 0.0), Contains("step must be finite and > 0"));
  REQUIRE_THROWS_WITH(pathq::beta_noise_shaping(y, 2, 1.0, 4), Contains("beta must be in (1, 2K) = (1, 4), got 1"));
  REQUIRE_THROWS_WITH(pathq::beta_noise_shaping(y, 2, 1.5, 5), Contains("divide m = 12, got 5"));
  REQUIRE_THROWS_WITH(pathq::condensation_sigma_delta(2, 6), Contains("lambda - 1 divisible by r = 2, got 6"));
  REQUIRE_THROWS_WITH(pathq::condensation_beta(0.5, 4), Contains("beta must be finite and > 1"));
  REQUIRE_THROWS_WITH(pathq::condense(y, Eigen::VectorXd::Ones(5), 1.0), Contains("not a positive multiple of lambda = 5"));
  REQUIRE_THROWS_WITH(pathq::condense(y, Eigen::VectorXd::Zero(4), 1.0), Contains("must be nonzero"));
  REQUIRE_THROWS_WITH(pathq::greedy_stable_input_bound(0, 1, 1.0), Contains("needs 1 <= r <= 30"));
}

}  // namespace pathq_test_noise_shaping
