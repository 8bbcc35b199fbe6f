// Naive reference: literal per-neuron transcriptions of SPFQ's two phases and the framework's operators.
#ifndef PATHQ_TESTS_REFERENCE_SPFQ_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_SPFQ_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include <Eigen/Core>

#include <pathq/core/random.hpp>

namespace pathq_reference {

/// The uniform draw for weight (t, j): stream j of `seed`, counter t (pathq's stream convention).
inline double draw(std::uint64_t seed, Eigen::Index t, Eigen::Index j) {
  return pathq::RandomStream(seed, std::uint64_t(j)).uniform(std::uint64_t(t));
}

/// Stochastic rounding onto a sorted level set (docs/algorithms.md#alphabets-rounding-operators):
/// with a <= z <= b the neighbouring levels, b with probability (z - a) / (b - a), decided by the
/// uniform `r`; values beyond the ends are clipped.
inline double stochastic_level(double z, const std::vector<double>& levels, double r) {
  if (z <= levels.front()) return levels.front();
  if (z >= levels.back()) return levels.back();
  const auto it = std::upper_bound(levels.begin(), levels.end(), z);  // first level > z
  const double b = *it, a = *(it - 1);
  if (a == z) return a;
  return r < (z - a) / (b - a) ? b : a;
}

/// `{0} U {+-(lambda + k delta) : 0 <= k < K}`, sorted.
inline std::vector<double> dead_zone_levels(int K, double lambda, double delta) {
  std::vector<double> v;
  for (int k = K - 1; k >= 0; --k) v.push_back(-(lambda + k * delta));
  v.push_back(0.0);
  for (int k = 0; k < K; ++k) v.push_back(lambda + k * delta);
  return v;
}

/// Stochastic pruning (docs/algorithms.md#stochastic-framework-operators): z if |z| > lambda, else
/// sign(z) lambda with probability |z| / lambda and 0 otherwise. The draw decides as stochastic
/// rounding between the neighbouring levels of {-lambda, 0, lambda} does (the upper one when
/// r < (z - a)/(b - a)), which has that law.
inline double stochastic_prune(double z, double lambda, double r) {
  if (std::abs(z) > lambda) return z;
  return stochastic_level(z, {-lambda, 0.0, lambda}, r);
}

/// Soft threshold s_lambda(z) = sign(z) max(|z| - lambda, 0).
inline double soft(double z, double lambda) {
  const double s = z > 0 ? 1.0 : (z < 0 ? -1.0 : 0.0);
  return s * std::max(std::abs(z) - lambda, 0.0);
}

/// The SIMODS "L1" quantizer: sign(z) delta min(|floor(s_lambda(z)/delta + 1/2)|, K).
inline double l1_quantizer(double z, double lambda, double delta, int K) {
  const double s = z > 0 ? 1.0 : (z < 0 ? -1.0 : 0.0);
  return s * delta * std::min(std::abs(std::floor(soft(z, lambda) / delta + 0.5)), double(K));
}

/// The SIMODS "L0" quantizer on `{0} U {+-(lambda + k delta) : 0 <= k < K}`:
/// 0 if |z| <= lambda, else sign(z) (lambda + delta min(|floor(s_lambda(z)/delta + 1/2)|, K - 1)).
inline double l0_quantizer(double z, double lambda, double delta, int K) {
  if (std::abs(z) <= lambda) return 0.0;
  const double s = z > 0 ? 1.0 : -1.0;
  return s * (lambda + delta * std::min(std::abs(std::floor(soft(z, lambda) / delta + 0.5)), double(K - 1)));
}

/// Phase 1 of SPFQ (docs/algorithms.md#spfq-two-phases), in the data domain, one neuron at a time:
///   pass 1:      U <- 0; for t: U += w_t X_t;   w~_t <- <U, Xq_t>/||Xq_t||^2 (0 if dead); U -= w~_t Xq_t
///   passes 2..r:         for t: U += w~_t Xq_t; w~_t <- <U, Xq_t>/||Xq_t||^2 (0 if dead); U -= w~_t Xq_t
/// `dead_tol` marks ||Xq_t||^2 <= tol * max_s ||Xq_s||^2. Returns W~; `U_align` gets XW - Xq W~.
inline Eigen::MatrixXd data_alignment(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X, const Eigen::MatrixXd& Xq,
                                      int order, Eigen::MatrixXd* U_align = nullptr, double dead_tol = 1e-12) {
  const Eigen::Index n_in = W.rows(), n_out = W.cols(), m = X.rows();
  double max_norm = 0;
  for (Eigen::Index t = 0; t < n_in; ++t) max_norm = std::max(max_norm, Xq.col(t).squaredNorm());
  Eigen::MatrixXd Wt = Eigen::MatrixXd::Zero(n_in, n_out);
  if (U_align) U_align->resize(m, n_out);
  for (Eigen::Index j = 0; j < n_out; ++j) {
    Eigen::VectorXd U = Eigen::VectorXd::Zero(m);
    for (int pass = 1; pass <= order; ++pass)
      for (Eigen::Index t = 0; t < n_in; ++t) {
        U += pass == 1 ? Eigen::VectorXd(W(t, j) * X.col(t)) : Eigen::VectorXd(Wt(t, j) * Xq.col(t));
        const double nt = Xq.col(t).squaredNorm();
        Wt(t, j) = nt > dead_tol * max_norm ? U.dot(Xq.col(t)) / nt : 0.0;
        U -= Wt(t, j) * Xq.col(t);
      }
    if (U_align) U_align->col(j) = U;
  }
  return Wt;
}

struct PhaseTwoTrace {
  Eigen::MatrixXd Q;  ///< N_in x N_out chosen levels
  Eigen::MatrixXd C;  ///< N_in x N_out values c_t handed to the operator
  Eigen::MatrixXd U;  ///< m x N_out final residuals Xq (W~ - Q)
};

/// Phase 2 of SPFQ / the framework (docs/algorithms.md#spfq-two-phases,
/// docs/algorithms.md#stochastic-framework-operator-contract), one neuron at a time:
///   u <- 0; for t: c_t = w~_t + kappa <Xq_t, u>/||Xq_t||^2 (w~_t if dead); q_t = T(c_t, t, j);
///                  u += (w~_t - q_t) Xq_t
inline PhaseTwoTrace stochastic_path(const Eigen::MatrixXd& Wt, const Eigen::MatrixXd& Xq,
                                     const std::function<double(double, Eigen::Index, Eigen::Index)>& T,
                                     double kappa = 1.0, double dead_tol = 1e-12) {
  const Eigen::Index n_in = Wt.rows(), n_out = Wt.cols(), m = Xq.rows();
  double max_norm = 0;
  for (Eigen::Index t = 0; t < n_in; ++t) max_norm = std::max(max_norm, Xq.col(t).squaredNorm());
  PhaseTwoTrace tr{Eigen::MatrixXd::Zero(n_in, n_out), Eigen::MatrixXd::Zero(n_in, n_out),
                   Eigen::MatrixXd::Zero(m, n_out)};
  for (Eigen::Index j = 0; j < n_out; ++j) {
    Eigen::VectorXd u = Eigen::VectorXd::Zero(m);
    for (Eigen::Index t = 0; t < n_in; ++t) {
      const double nt = Xq.col(t).squaredNorm();
      const double c = nt > dead_tol * max_norm ? Wt(t, j) + kappa * Xq.col(t).dot(u) / nt : Wt(t, j);
      const double q = T(c, t, j);
      u += (Wt(t, j) - q) * Xq.col(t);
      tr.C(t, j) = c;
      tr.Q(t, j) = q;
    }
    tr.U.col(j) = u;
  }
  return tr;
}

/// SPFQ with stochastic rounding on `levels` (sorted), draws keyed by (seed, neuron, feature).
inline PhaseTwoTrace spfq_reference(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X, const Eigen::MatrixXd& Xq,
                                    int order, const std::vector<double>& levels, std::uint64_t seed,
                                    double kappa = 1.0) {
  const Eigen::MatrixXd Wt = data_alignment(W, X, Xq, order);
  return stochastic_path(
      Wt, Xq, [&](double c, Eigen::Index t, Eigen::Index j) { return stochastic_level(c, levels, draw(seed, t, j)); },
      kappa);
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_SPFQ_REFERENCE_HPP
