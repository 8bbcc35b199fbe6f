// Naive reference: a literal per-neuron transcription of the GPFQ loop in the data domain.
#ifndef PATHQ_TESTS_REFERENCE_GPFQ_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_GPFQ_REFERENCE_HPP

#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Dense>

namespace pathq_reference {

/// The nearest element of `levels` to z (brute force; the first of equals wins).
inline double nearest_level(double z, const std::vector<double>& levels) {
  double best = levels.front();
  for (double a : levels)
    if (std::abs(z - a) < std::abs(z - best)) best = a;
  return best;
}

struct GpfqTrace {
  Eigen::MatrixXd Q;  ///< N_in x N_out quantized weights
  Eigen::MatrixXd C;  ///< N_in x N_out values c_t before rounding
  Eigen::MatrixXd U;  ///< m x N_out final residuals
};

/// docs/algorithms.md#gpfq-per-neuron-loop, written as the papers state it, one neuron at a time:
///   u <- 0; for t: c_t = <Xq_t, u + w_t X_t> / ||Xq_t||^2 (0 if Xq_t is dead);
///                  q_t = Q_A(c_t); u <- u + w_t X_t - q_t Xq_t.
/// `levels[j]` is the alphabet of neuron j; `dead_tol` marks ||Xq_t||^2 <= tol * max_s ||Xq_s||^2.
inline GpfqTrace gpfq_reference(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X,
                                const Eigen::MatrixXd& Xq,
                                const std::vector<std::vector<double>>& levels,
                                double dead_tol = 1e-12) {
  const Eigen::Index n_in = W.rows(), n_out = W.cols(), m = X.rows();
  double max_norm = 0;
  for (Eigen::Index t = 0; t < n_in; ++t) max_norm = std::max(max_norm, Xq.col(t).squaredNorm());
  GpfqTrace tr{Eigen::MatrixXd::Zero(n_in, n_out), Eigen::MatrixXd::Zero(n_in, n_out),
               Eigen::MatrixXd::Zero(m, n_out)};
  for (Eigen::Index j = 0; j < n_out; ++j) {
    Eigen::VectorXd u = Eigen::VectorXd::Zero(m);
    for (Eigen::Index t = 0; t < n_in; ++t) {
      const double nt = Xq.col(t).squaredNorm();
      const double c = nt > dead_tol * max_norm ? Xq.col(t).dot(u + W(t, j) * X.col(t)) / nt : 0.0;
      const double q = nearest_level(c, levels[std::size_t(j)]);
      u += W(t, j) * X.col(t) - q * Xq.col(t);
      tr.C(t, j) = c;
      tr.Q(t, j) = q;
    }
    tr.U.col(j) = u;
  }
  return tr;
}

/// The levels {k * step : |k| <= K}.
inline std::vector<double> symmetric_levels(int K, double step) {
  std::vector<double> v;
  for (int k = -K; k <= K; ++k) v.push_back(k * step);
  return v;
}

/// Smallest distance of c/step from a rounding tie (a half-integer), over all entries.
inline double tie_margin(const Eigen::MatrixXd& C, const Eigen::VectorXd& step) {
  double margin = std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < C.cols(); ++j)
    for (Eigen::Index t = 0; t < C.rows(); ++t) {
      const double u = C(t, j) / step(j);
      margin = std::min(margin, std::abs(u - std::floor(u) - 0.5));
    }
  return margin;
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_GPFQ_REFERENCE_HPP
