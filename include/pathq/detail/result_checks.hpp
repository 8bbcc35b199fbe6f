// Checks shared by the steps that take a finished result back with its layer (refit, refinement).
#ifndef PATHQ_DETAIL_RESULT_CHECKS_HPP
#define PATHQ_DETAIL_RESULT_CHECKS_HPP

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/result.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {
namespace detail {

/// Checks that `W` is finite and that the statistics, codes and grid of `result` all fit it.
/// \returns the number of groups (steps per column) of the grid.
/// \throws invalid_argument naming `where` and the mismatch.
template <class Scalar, class D, class Acc>
Eigen::Index check_result_for(const char* where, const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                              const Result<Scalar>& result) {
  check_weights(where, W);
  const Eigen::Index n = W.rows(), n_out = W.cols();
  PATHQ_CHECK(n == stats.n_in(), where, "W has ", n, " rows but the statistics have N_in = ", stats.n_in());
  PATHQ_CHECK(result.codes.rows() == n && result.codes.cols() == n_out, where, "the codes are ", result.codes.rows(),
              " x ", result.codes.cols(), " but W is ", n, " x ", n_out);
  const Grid<Scalar>& grid = result.grid;
  const Eigen::Index groups = grid.group_size > 0 ? (n + grid.group_size - 1) / grid.group_size : 1;
  PATHQ_CHECK(grid.step.rows() == groups && grid.step.cols() == n_out && grid.zero.rows() == groups &&
                  grid.zero.cols() == n_out,
              where, "the grid has ", grid.step.rows(), " x ", grid.step.cols(), " steps but W needs ", groups, " x ",
              n_out);
  return groups;
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_RESULT_CHECKS_HPP
