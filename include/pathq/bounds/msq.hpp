// Error bounds and scaling laws of memoryless scalar quantization.
#ifndef PATHQ_BOUNDS_MSQ_HPP
#define PATHQ_BOUNDS_MSQ_HPP

#include <cmath>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {
namespace bounds {

/// Deterministic MSQ bound when no weight saturates: `|w_t - q_t| <= delta/2`, so by the
/// triangle inequality `||X(w - q)|| <= sum_t |w_t - q_t| ||X_t|| <= (delta/2) sum_t ||X_t||`.
/// Squared and summed over neurons: `sum_j (delta_j^2 / 4) (sum_t sqrt(K_tt))^2`.
/// \param diag_K the diagonal of `K = X^T X` (`||X_t||^2`), entries >= 0.
/// \returns the bound on `||XW - XQ||_F^2` (absolute, summed over neurons).
template <class Scalar, class D>
double msq_unsaturated(const Grid<Scalar>& grid, const Eigen::MatrixBase<D>& diag_K) {
  double root_sum = 0;
  for (Eigen::Index t = 0; t < diag_K.size(); ++t) {
    const double k = double(diag_K(t));
    PATHQ_CHECK(k >= 0 && std::isfinite(k), "bounds::msq_unsaturated",
                "diag_K must be finite and >= 0, got ", k, " at ", t);
    root_sum += std::sqrt(k);
  }
  double sum = 0;
  for (Eigen::Index j = 0; j < grid.step.cols(); ++j) {
    const double d = double(grid.step.col(j).maxCoeff());
    sum += d * d / 4.0;
  }
  return sum * root_sum * root_sum;
}

/// Uniform-noise model of MSQ: each weight's error is uniform on `[-delta/2, delta/2]`, so with
/// iid inputs `E_rel(MSQ) ~ delta^2 / (12 E[w^2])`, flat in N_in. A benchmark prediction.
inline double msq_uniform_noise(double delta, double mean_sq_w) {
  PATHQ_CHECK(delta > 0 && mean_sq_w > 0, "bounds::msq_uniform_noise", "delta and E[w^2] must be positive");
  return delta * delta / (12.0 * mean_sq_w);
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_MSQ_HPP
