// Error bound of OPTQ/GPTQ without saturation (docs/algorithms.md#optq-error-bounds).
#ifndef PATHQ_BOUNDS_OPTQ_HPP
#define PATHQ_BOUNDS_OPTQ_HPP

#include <cmath>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {
namespace bounds {

/// Deterministic OPTQ bound for `Xq = X`, round-to-nearest and no saturated step [derived].
/// With `H' + lambda I = L^T L` (L lower triangular; `H'` is H with each dead feature's row and
/// column replaced by a unit diagonal) and the values rounded `x_t`, OPTQ's error feedback
/// satisfies `L (w' - q) = diag(L) (x - q)` (w' = w with dead rows zeroed), hence per neuron
///
///     ||X (w - q)||^2 <= (w' - q)^T (H' + lambda I) (w' - q) = sum_t L_tt^2 (x_t - q_t)^2
///                     <= (1/4) sum_t delta_{g(t)}^2 (H'_tt + lambda),
///
/// because `|x_t - q_t| <= delta/2` and a pivot `L_tt^2` (a Schur complement) is at most its
/// diagonal entry. Dead features must have exactly zero inputs for the first inequality.
/// \param grid the grid used (per column or per group; a feature's group is `grid.group_of(t)`).
/// \param diag_H `diag(H)`, `N_in` entries, finite and >= 0.
/// \param lambda the absolute damping used, >= 0 (`result.info.extra["damping_lambda"]`).
/// \param dead_tolerance as `OptqOptions::dead_tolerance`, in [0, 1).
/// \returns the bound on `||XW - XQ||_F^2` (absolute, summed over neurons).
/// Complexity `O(N_in N_out)`.
template <class Scalar, class D>
double optq_unsaturated(const Grid<Scalar>& grid, const Eigen::MatrixBase<D>& diag_H, double lambda,
                        double dead_tolerance = 1e-12) {
  const char* where = "bounds::optq_unsaturated";
  PATHQ_CHECK(std::isfinite(lambda) && lambda >= 0, where, "lambda must be finite and >= 0, got ", lambda);
  PATHQ_CHECK(dead_tolerance >= 0 && dead_tolerance < 1, where, "dead_tolerance must be in [0, 1), got ",
              dead_tolerance);
  const Eigen::Index n = diag_H.size();
  PATHQ_CHECK(n >= 1, where, "diag_H is empty");
  ::pathq::detail::check_finite(where, "diag_H", diag_H);
  const double cut = dead_tolerance * double(diag_H.maxCoeff());
  double sum = 0;
  for (Eigen::Index t = 0; t < n; ++t) {
    const double h = double(diag_H(t));
    PATHQ_CHECK(h >= 0, where, "diag_H must be >= 0, got ", h, " at ", t);
    const double d = (h > cut ? h : 1.0) + lambda;
    const Eigen::Index g = grid.group_of(t);
    PATHQ_CHECK(g < grid.step.rows(), where, "the grid has ", grid.step.rows(), " group rows but feature ", t,
                " is in group ", g);
    for (Eigen::Index j = 0; j < grid.step.cols(); ++j) {
      const double s = double(grid.step(g, j));
      sum += s * s / 4.0 * d;
    }
  }
  return sum;
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_OPTQ_HPP
