// Input checks shared by the quantizers: weights, grids and statistics.
#ifndef PATHQ_DETAIL_CHECKS_HPP
#define PATHQ_DETAIL_CHECKS_HPP

#include <cmath>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {
namespace detail {

/// W must be non-empty and finite.
template <class D>
void check_weights(const char* where, const Eigen::MatrixBase<D>& W) {
  check_nonempty(where, "W", W);
  check_finite(where, "W", W);
}

/// The grid must match W's shape and have positive finite steps and finite zero points.
template <class Scalar, class D>
void check_grid(const char* where, const Grid<Scalar>& grid, const Eigen::MatrixBase<D>& W) {
  PATHQ_CHECK(grid.step.cols() == W.cols() && grid.zero.cols() == W.cols(), where, "the grid has ",
              grid.step.cols(), " columns but W has ", W.cols());
  PATHQ_CHECK(grid.step.rows() == grid.zero.rows() && grid.step.rows() >= 1, where,
              "the grid's step and zero point have ", grid.step.rows(), " and ", grid.zero.rows(),
              " group rows");
  const Eigen::Index groups =
      grid.group_size > 0 ? (W.rows() + grid.group_size - 1) / grid.group_size : 1;
  PATHQ_CHECK(grid.step.rows() == groups, where, "the grid has ", grid.step.rows(),
              " group rows but W needs ", groups, " (group size ", grid.group_size, ")");
  PATHQ_CHECK(grid.code_lo <= grid.code_hi, where, "the grid's code range [", grid.code_lo, ", ",
              grid.code_hi, "] is empty");
  for (Eigen::Index j = 0; j < grid.step.cols(); ++j)
    for (Eigen::Index g = 0; g < grid.step.rows(); ++g) {
      const double s = double(grid.step(g, j));
      PATHQ_CHECK(std::isfinite(s) && s > 0, where, "step must be finite and positive, got ", s,
                  " for group ", g, " of column ", j);
      PATHQ_CHECK(std::isfinite(double(grid.zero(g, j))), where, "zero point of column ", j,
                  " is not finite");
    }
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_CHECKS_HPP
