// The layer error ||X W - Xq Q||_F^2 of any Q, computed from the statistics H, G, K alone.
#ifndef PATHQ_STATS_LAYER_ERROR_HPP
#define PATHQ_STATS_LAYER_ERROR_HPP

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/result.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// A layer's error split by neuron. Two error measures are in use, both named explicitly:
/// - `squared_relative()` = `||XW - XqQ||_F^2 / ||XW||_F^2` (the quantity the papers bound);
/// - `norm_ratio()`       = `||XW - XqQ||_F / ||XW||_F` (its square root).
struct LayerError {
  Eigen::VectorXd column_error;      ///< `||X w_j - Xq q_j||^2` per neuron
  Eigen::VectorXd column_reference;  ///< `||X w_j||^2` per neuron
  double error() const { return column_error.sum(); }
  double reference() const { return column_reference.sum(); }
  double squared_relative() const {
    const double r = reference();
    return r > 0 ? error() / r : (error() > 0 ? HUGE_VAL : 0.0);
  }
  double norm_ratio() const { return std::sqrt(squared_relative()); }
};

/// `E(Q) = tr(W^T K W) - 2 tr(Q^T G W) + tr(Q^T H Q)` per column (docs/design.md#conventions),
/// evaluated in the statistics' precision. When `Xq = X` it is computed as `D^T K D` with
/// `D = W - Q`, which avoids cancellation. Rounding can leave a tiny negative value; errors are
/// clamped at 0.
/// \param W, Q `N_in x N_out`. \throws invalid_argument on a shape mismatch.
/// Complexity: `O(N_in^2 N_out)`.
template <class Acc, class D1, class D2>
LayerError layer_error(const LayerStats<Acc>& stats, const Eigen::MatrixBase<D1>& W,
                       const Eigen::MatrixBase<D2>& Q) {
  using M = Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>;
  PATHQ_CHECK(W.rows() == stats.n_in(), "layer_error", "W has ", W.rows(),
              " rows but the statistics have N_in = ", stats.n_in());
  PATHQ_CHECK(Q.rows() == W.rows() && Q.cols() == W.cols(), "layer_error", "Q is ", Q.rows(),
              " x ", Q.cols(), " but W is ", W.rows(), " x ", W.cols());
  const M Wd = W.template cast<Acc>();
  const M Qd = Q.template cast<Acc>();
  const M KW = stats.K().template selfadjointView<Eigen::Lower>() * Wd;
  LayerError e;
  e.column_reference = (Wd.cwiseProduct(KW)).colwise().sum().transpose().template cast<double>();
  if (stats.same_inputs()) {
    const M D = Wd - Qd;
    const M KD = stats.K().template selfadjointView<Eigen::Lower>() * D;
    e.column_error = D.cwiseProduct(KD).colwise().sum().transpose().template cast<double>();
  } else {
    const M GW = stats.G() * Wd;
    const M HQ = stats.H().template selfadjointView<Eigen::Lower>() * Qd;
    e.column_error = (e.column_reference.template cast<Acc>() +
                      (Qd.cwiseProduct(HQ - Acc(2) * GW)).colwise().sum().transpose())
                         .template cast<double>();
  }
  e.column_error = e.column_error.cwiseMax(0.0);
  return e;
}

/// The layer error of a method's result for the `W` and statistics it was computed from: the
/// figures the method had from its own pass (`QuantInfo::column_error`, `O(N_out)`) when it
/// left them, else `layer_error(stats, W, result.values())` (`O(N_in^2 N_out)`).
/// \throws invalid_argument on a shape mismatch.
template <class Acc, class D, class Scalar>
LayerError layer_error(const LayerStats<Acc>& stats, const Eigen::MatrixBase<D>& W, const Result<Scalar>& result) {
  const auto& info = result.info;
  if (info.column_error.size() == W.cols() && info.column_reference.size() == W.cols() &&
      result.codes.rows() == W.rows() && result.codes.cols() == W.cols() && W.rows() == stats.n_in())
    return LayerError{info.column_error, info.column_reference};
  return layer_error(stats, W, result.values());
}

/// Squared relative error `||XW - XqQ||_F^2 / ||XW||_F^2` of a result.
template <class Acc, class D, class Scalar>
double relative_error(const Eigen::MatrixBase<D>& W, const Result<Scalar>& result,
                      const LayerStats<Acc>& stats) {
  return layer_error(stats, W, result).squared_relative();
}

}  // namespace pathq

#endif  // PATHQ_STATS_LAYER_ERROR_HPP
