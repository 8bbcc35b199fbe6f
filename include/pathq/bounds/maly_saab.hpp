// Error bounds of Maly-Saab pre-processing + MSQ (docs/algorithms.md#maly-saab-error-bounds):
// deterministic and Gaussian.
#ifndef PATHQ_BOUNDS_MALY_SAAB_HPP
#define PATHQ_BOUNDS_MALY_SAAB_HPP

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {
namespace detail {

// lambda_max(K[S, S]) = sigma_max(X_S)^2, after checking K and S.
template <class D>
double maly_saab_lambda_max(const char* where, const Eigen::MatrixBase<D>& K, const std::vector<Eigen::Index>& S) {
  PATHQ_CHECK(K.rows() == K.cols(), where, "K must be square, got ", K.rows(), " x ", K.cols());
  if (S.empty()) return 0;
  const Eigen::Index s = Eigen::Index(S.size());
  Eigen::MatrixXd KS(s, s);
  for (const Eigen::Index t : S)
    PATHQ_CHECK(t >= 0 && t < K.rows(), where, "feature ", t, " of the off-grid set is outside [0, ", K.rows(), ")");
  for (Eigen::Index b = 0; b < s; ++b)
    for (Eigen::Index a = 0; a < s; ++a) KS(a, b) = double(K(S[std::size_t(a)], S[std::size_t(b)]));
  check_finite(where, "K", KS);
  if (s == 1) return std::max(0.0, KS(0, 0));
  // K[S, S] is symmetric positive semidefinite: its largest singular value is its largest eigenvalue.
  const Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::NoQRPreconditioner> svd(KS);
  return svd.singularValues()(0);
}

}  // namespace detail

namespace bounds {

/// The deterministic bound for one neuron (docs/algorithms.md#maly-saab-error-bounds): after the
/// walk, `w - q` is supported on the off-grid set `S` (`|S| <= rank(X)`) with
/// `|w~_i - q_i| <= delta/2` (round to nearest, no saturation), and `X w~ = X w`, so
///
///     ||X(w - q)|| = ||X_S (w~ - q)_S|| <= sigma_max(X_S) sqrt(|S|) delta / 2,
///
/// with `sigma_max(X_S)^2 = lambda_max(K[S, S])`, `K = X^T X`.
/// \param K `N_in x N_in`, the statistics of the rows the walk used. \param S the off-grid features.
/// \param delta the step, > 0. \returns the bound on `||X(w - q)||` (not squared).
/// \throws invalid_argument on a non-square K, a feature outside K, or delta <= 0.
/// Complexity: `O(|S|^3)`.
template <class D>
double maly_saab_neuron(const Eigen::MatrixBase<D>& K, const std::vector<Eigen::Index>& S, double delta) {
  PATHQ_CHECK(delta > 0 && std::isfinite(delta), "bounds::maly_saab_neuron", "delta must be finite and positive, got ",
              delta);
  return std::sqrt(pathq::detail::maly_saab_lambda_max("bounds::maly_saab_neuron", K, S) * double(S.size())) * delta / 2;
}

/// The deterministic bound for a layer: the sum over neurons `j` of
/// `lambda_max(K[S_j, S_j]) * sum_{i in S_j} step_ij^2 / 4` (for one step per neuron this is the
/// square of `maly_saab_neuron`; per-group steps use each feature's own step, which the same
/// argument allows: `||e_S|| <= sqrt(sum_i step_i^2) / 2`).
/// \param K the statistics of the rows the walk used. \param off_grid per neuron, as
/// `MalySaabWalk::off_grid`. \param grid the grid rounded onto.
/// \returns the bound on `||XW - XQ||_F^2` (absolute, summed over neurons); it holds with round to
/// nearest when nothing saturates.
/// \throws invalid_argument if the sizes do not match.
template <class Scalar, class D>
double maly_saab_deterministic(const Eigen::MatrixBase<D>& K, const std::vector<std::vector<Eigen::Index>>& off_grid,
                               const Grid<Scalar>& grid) {
  const char* where = "bounds::maly_saab_deterministic";
  PATHQ_CHECK(Eigen::Index(off_grid.size()) == grid.step.cols(), where, "there are ", off_grid.size(),
              " off-grid sets for ", grid.step.cols(), " neurons");
  double sum = 0;
  for (Eigen::Index j = 0; j < grid.step.cols(); ++j) {
    const auto& S = off_grid[std::size_t(j)];
    if (S.empty()) continue;
    double steps = 0;
    for (Eigen::Index t : S) {
      PATHQ_CHECK(grid.group_of(t) < grid.step.rows(), where, "feature ", t, " has no group in the grid");
      const double d = double(grid.step(grid.group_of(t), j));
      steps += d * d;
    }
    sum += pathq::detail::maly_saab_lambda_max(where, K, S) * steps / 4;
  }
  return sum;
}

/// Gaussian data (docs/algorithms.md#maly-saab-error-bounds): X `m x N_in` iid N(0, 1). With
/// `s = min(m, N_in)`, every `m x s` submatrix satisfies `sigma_max <= sqrt(m) + sqrt(s) + t_0`
/// except with probability `e^{-t_0^2/2}` (Gaussian concentration), and a union bound over the
/// `C(N_in, s) <= (e N_in / s)^s` subsets gives, with probability >= `1 - e^{-t^2/2}`,
///
///     max_{|S| <= s} sigma_max(X_S) <= sqrt(m) + sqrt(s) + sqrt(2 s log(e N_in / s)) + t,
///
/// hence for every neuron `||X(w - q)||^2 <= (that)^2 s delta^2 / 4` (no saturation, nearest).
/// \param delta > 0; \param m, n_in >= 1; \param t >= 0.
/// \returns the bound on `||X(w - q)||^2` for one neuron.
inline double maly_saab_gaussian(double delta, double m, double n_in, double t = 0) {
  PATHQ_CHECK(delta > 0 && m >= 1 && n_in >= 1 && t >= 0, "bounds::maly_saab_gaussian",
              "delta must be > 0, m and N_in >= 1 and t >= 0");
  const double s = std::min(m, n_in);
  const double sigma = std::sqrt(m) + std::sqrt(s) + std::sqrt(2 * s * (1 + std::log(n_in / s))) + t;
  return sigma * sigma * s * delta * delta / 4;
}

/// The rate it implies for the squared relative error, with `||X w||^2 ~ m N_in E[w^2]`:
/// `E_rel <~ (2 + sqrt(2 log(e N_in / m)))^2 m delta^2 / (4 N_in E[w^2])`, i.e.
/// `~ m log(N_in / m) / N_in`: it decays with the number of inputs at fixed m, where MSQ's
/// `delta^2 / (12 E[w^2])` stays flat. A benchmark prediction (the `||Xw||` concentration is not
/// part of it).
inline double maly_saab_gaussian_rate(double delta, double m, double n_in, double mean_sq_w) {
  PATHQ_CHECK(delta > 0 && m >= 1 && n_in >= 1 && mean_sq_w > 0, "bounds::maly_saab_gaussian_rate",
              "delta and E[w^2] must be > 0, m and N_in >= 1");
  return maly_saab_gaussian(delta, m, n_in, 0) / (m * n_in * mean_sq_w);
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_MALY_SAAB_HPP
