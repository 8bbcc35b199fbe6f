// The result of quantizing a layer: integer codes, the grid they live on, and what happened.
#ifndef PATHQ_CORE_RESULT_HPP
#define PATHQ_CORE_RESULT_HPP

#include <map>
#include <string>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {

/// What a quantizer reports besides the codes.
struct QuantInfo {
  Info status = Info::Success;
  std::string message;             ///< empty on plain success; names any numerical repair
  Eigen::Index saturated = 0;      ///< steps whose value lay beyond the grid by more than half a step
  Eigen::Index dead_inputs = 0;    ///< input features with (relatively) zero energy in Xq
  double seconds = 0;              ///< wall time of the quantization itself (statistics excluded)
  std::map<std::string, double> extra;  ///< method-specific figures, e.g. "sparsity"
  /// The layer error `||X w_j - Xq q_j||^2` and the reference `||X w_j||^2` per neuron of exactly
  /// these codes and steps, for the W and statistics the method was given, when the method had
  /// them from its own pass at no extra cost (a trace identity: GPFQ and OPTQ while `Xq = X`);
  /// empty otherwise. `layer_error(stats, W, result)` uses them. Functions that change a
  /// result's codes or steps (`refine_codes`, `refit_steps`) clear them.
  Eigen::VectorXd column_error, column_reference;
  /// Forgets the error figures above (the codes or steps are about to change).
  void forget_layer_error() {
    column_error.resize(0);
    column_reference.resize(0);
  }
};

/// Quantized weights of one layer. `values()` gives `Q` (`N_in x N_out`); the codes and the grid
/// are what ship to hardware.
template <class Scalar>
struct Result {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  Codes codes;        ///< N_in x N_out integer codes
  Grid<Scalar> grid;  ///< levels, step(s) and zero point(s)
  QuantInfo info;

  /// The quantized weights `Q = (codes - zero) .* step`.
  Matrix values() const { return grid.values(codes); }
  /// The step(s), `n_groups x N_out`.
  const Matrix& step() const { return grid.step; }
  /// Fraction of zero weights (codes whose value is 0).
  double sparsity() const {
    if (codes.size() == 0) return 0;
    Eigen::Index zeros = 0;
    for (Eigen::Index j = 0; j < codes.cols(); ++j)
      for (Eigen::Index t = 0; t < codes.rows(); ++t)
        zeros += (grid.value(codes(t, j), t, j) == Scalar(0));
    return double(zeros) / double(codes.size());
  }
};

/// Throws `numerical_error` with the result's message unless its status is `Success`.
template <class Scalar>
const Result<Scalar>& require_success(const Result<Scalar>& r, const char* where) {
  if (r.info.status != Info::Success)
    throw numerical_error(detail::concat("pathq::", where, ": ", to_string(r.info.status),
                                         r.info.message.empty() ? "" : ": ", r.info.message));
  return r;
}

}  // namespace pathq

#endif  // PATHQ_CORE_RESULT_HPP
