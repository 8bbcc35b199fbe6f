// A resolved grid: integer codes in [code_lo, code_hi] and value = (code - zero) * step.
#ifndef PATHQ_CORE_GRID_HPP
#define PATHQ_CORE_GRID_HPP

#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#include "pathq/core/error.hpp"

namespace pathq {

/// Integer codes, `N_in x N_out`, as they ship to hardware.
using Codes = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic>;

/// The family of a grid.
enum class GridKind {
  Symmetric,   ///< `{k*step : |k| <= K}`, zero included
  Midrise,     ///< `{(j + 1/2)*step : -L <= j < L}`, no zero
  Asymmetric,  ///< `{(k - z)*step : 0 <= k < levels}`, min-max with an integer zero point z
  DeadZone     ///< `{0} U {+-(lambda + k*step) : 0 <= k < K}`, `lambda = threshold*step` (pruning)
};

inline const char* to_string(GridKind k) {
  switch (k) {
    case GridKind::Symmetric: return "symmetric";
    case GridKind::Midrise: return "midrise";
    case GridKind::Asymmetric: return "asymmetric";
    case GridKind::DeadZone: return "dead_zone";
  }
  return "unknown";
}

/// ceil(log2(levels)) for levels >= 1.
inline int bits_for_levels(std::int64_t levels) {
  int b = 0;
  while ((std::int64_t(1) << b) < levels) ++b;
  return b;
}

/// A grid resolved for a given layer: every weight `(t, j)` takes a value
/// `(code - zero(g, j)) * step(g, j)` with `code` in `[code_lo, code_hi]` and `g` the group of
/// feature `t` (`g = t / group_size`, or 0 when `group_size == 0`: one group per column).
/// `step` and `zero` are `n_groups x N_out`.
template <class Scalar>
struct Grid {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  GridKind kind = GridKind::Symmetric;
  int code_lo = 0;
  int code_hi = 0;
  bool bounded = true;   ///< false for the "infinite alphabet" (codes clipped only at ±2^30)
  Matrix step;           ///< n_groups x N_out, positive
  Matrix zero;           ///< n_groups x N_out: 0 (symmetric), -1/2 (midrise), integer z (asymmetric)
  Eigen::Index group_size = 0;
  /// DeadZone grids only: the smallest nonzero level in units of the step, `lambda / step` (> 0).
  Scalar threshold = 0;

  Eigen::Index n_out() const { return step.cols(); }
  Eigen::Index group_of(Eigen::Index t) const { return group_size > 0 ? t / group_size : 0; }
  /// Number of levels of the grid.
  std::int64_t levels() const { return std::int64_t(code_hi) - code_lo + 1; }
  /// Bits per code: ceil(log2(levels)).
  int bits() const { return bits_for_levels(levels()); }

  /// The level of `code` in units of the step: `code - zero`. On a DeadZone grid (zero point 0)
  /// the levels are not evenly spaced: 0 for code 0, `sign(code) (threshold + |code| - 1)` else.
  Scalar level(std::int32_t code, Scalar zero_point) const {
    if (kind != GridKind::DeadZone) return Scalar(code) - zero_point;
    if (code == 0) return Scalar(0);
    const Scalar mag = threshold + Scalar(code > 0 ? code - 1 : -code - 1);
    return code > 0 ? mag : -mag;
  }

  /// Where a value `v` (in units of the step) lies on the code axis, the `u` a rounding operator
  /// receives: `v + zero`. On a DeadZone grid it is the piecewise-linear map that puts each level
  /// `level(k)` at `k`: `v / threshold` for `|v| <= threshold`, `sign(v) (|v| - threshold + 1)`
  /// beyond. Being affine between neighbouring levels, it keeps stochastic rounding unbiased.
  Scalar position(Scalar v, Scalar zero_point) const {
    if (kind != GridKind::DeadZone) return v + zero_point;
    if (v > threshold) return v - threshold + Scalar(1);
    if (v < -threshold) return v + threshold - Scalar(1);
    return v / threshold;
  }

  /// The value of `code` at weight `(t, j)`.
  Scalar value(std::int32_t code, Eigen::Index t, Eigen::Index j) const {
    const Eigen::Index g = group_of(t);
    return level(code, zero(g, j)) * step(g, j);
  }

  /// All values: `(codes - zero) .* step`, `N_in x N_out`.
  Matrix values(const Codes& codes) const {
    PATHQ_CHECK(codes.cols() == step.cols(), "Grid::values", "codes have ", codes.cols(),
                " columns but the grid has ", step.cols());
    Matrix V(codes.rows(), codes.cols());
    for (Eigen::Index j = 0; j < codes.cols(); ++j)
      for (Eigen::Index t = 0; t < codes.rows(); ++t) V(t, j) = value(codes(t, j), t, j);
    return V;
  }
};

}  // namespace pathq

#endif  // PATHQ_CORE_GRID_HPP
