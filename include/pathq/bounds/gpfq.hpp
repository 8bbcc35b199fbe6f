// Error bounds and scaling laws of GPFQ (docs/algorithms.md#gpfq-error-bounds).
#ifndef PATHQ_BOUNDS_GPFQ_HPP
#define PATHQ_BOUNDS_GPFQ_HPP

#include <cmath>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {
namespace bounds {

/// Deterministic GPFQ bound for any data when `Xq = X` and no step saturates
/// (docs/algorithms.md#gpfq-error-bounds, fact 3): the one-step energy identity
/// `||u_t||^2 = ||(I - P_t) u_{t-1}||^2 + (c_t - q_t)^2 ||X_t||^2` with `|c_t - q_t| <= delta/2`
/// sums to `||X w - X q||^2 <= (delta^2 / 4) ||X||_F^2` per neuron.
/// \param grid the grid used (per-column steps; per-group steps use their largest step).
/// \param trace_K `||X||_F^2 = tr(X^T X)`, >= 0.
/// \returns the bound on `||XW - XQ||_F^2` (absolute, summed over neurons).
template <class Scalar>
double gpfq_unsaturated(const Grid<Scalar>& grid, double trace_K) {
  PATHQ_CHECK(trace_K >= 0 && std::isfinite(trace_K), "bounds::gpfq_unsaturated",
              "trace_K must be finite and >= 0, got ", trace_K);
  double sum = 0;
  for (Eigen::Index j = 0; j < grid.step.cols(); ++j) {
    const double d = double(grid.step.col(j).maxCoeff());
    sum += d * d / 4.0;
  }
  return sum * trace_K;
}

/// The Gaussian-data scaling law (docs/algorithms.md#gpfq-error-bounds, "Gaussian scaling"): with
/// `X = Xq` iid N(0,1), `m` samples, `N_in >> m`, weights of mean square `mean_sq_w` and no
/// clipping, `E_rel(GPFQ) ~ delta^2 m / (12 N_in E[w^2])` (squared relative error). A benchmark
/// prediction, not a bound.
inline double gpfq_gaussian_scaling(double delta, double m, double n_in, double mean_sq_w) {
  PATHQ_CHECK(delta > 0 && m > 0 && n_in > 0 && mean_sq_w > 0, "bounds::gpfq_gaussian_scaling",
              "delta, m, N_in and E[w^2] must be positive");
  return delta * delta * m / (12.0 * n_in * mean_sq_w);
}

/// The rate of the SIMODS theorem, `m log(N_in) / N_in`, up to its constant
/// (docs/algorithms.md#gpfq-error-bounds): GPFQ's relative square error on Gaussian data decays
/// like this.
inline double gpfq_simods_rate(double m, double n_in) {
  PATHQ_CHECK(m > 0 && n_in > 1, "bounds::gpfq_simods_rate", "m must be > 0 and N_in > 1");
  return m * std::log(n_in) / n_in;
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_GPFQ_HPP
