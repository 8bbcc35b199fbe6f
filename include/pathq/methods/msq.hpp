// MSQ: memoryless scalar quantization, each weight rounded on its own (no data).
#ifndef PATHQ_METHODS_MSQ_HPP
#define PATHQ_METHODS_MSQ_HPP

#include <chrono>

#include <Eigen/Core>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/detail/checks.hpp"

namespace pathq {

/// Memoryless scalar quantization: `q_tj = R(W_tj)` entrywise, the data-free baseline of every
/// paper here (docs/algorithms.md#msq). With `Nearest`, each `|W_tj - q_tj| <= step/2` unless the
/// weight lies beyond the grid (counted in `info.saturated`).
/// \tparam Rounding `Nearest` or `StochasticRounding` (any rounding operator).
/// \param W `N_in x N_out`, finite, non-empty. \param grid a grid resolved for W.
/// \throws invalid_argument on empty/non-finite W or a grid that does not fit W.
/// Complexity: `O(N_in N_out)`.
template <class Scalar, class Rounding = Nearest, class D>
Result<Scalar> msq(const Eigen::MatrixBase<D>& W, const Grid<Scalar>& grid, const Rounding& round = {}) {
  detail::check_weights("msq", W);
  detail::check_grid("msq", grid, W);
  const auto start = std::chrono::steady_clock::now();
  Result<Scalar> r;
  r.grid = grid;
  r.codes.resize(W.rows(), W.cols());
  for (Eigen::Index j = 0; j < W.cols(); ++j)
    for (Eigen::Index t = 0; t < W.rows(); ++t) {
      const Eigen::Index g = grid.group_of(t);
      const Scalar u = grid.position(Scalar(W(t, j)) / grid.step(g, j), grid.zero(g, j));
      r.info.saturated += (u < Scalar(grid.code_lo) - Scalar(0.5)) || (u > Scalar(grid.code_hi) + Scalar(0.5));
      r.codes(t, j) = round(u, grid.code_lo, grid.code_hi, t, j);
    }
  r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

/// MSQ onto `alphabet`, its step(s) picked from W by the alphabet's rule.
template <class Scalar, class Rounding = Nearest, class D>
Result<Scalar> msq(const Eigen::MatrixBase<D>& W, const Alphabet<Scalar>& alphabet, const Rounding& round = {}) {
  detail::check_weights("msq", W);
  return msq(W, alphabet.resolve(W), round);
}

}  // namespace pathq

#endif  // PATHQ_METHODS_MSQ_HPP
