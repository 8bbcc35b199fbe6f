// Error bounds of SPFQ and the stochastic framework: tail bounds, the K rule, the network bound.
#ifndef PATHQ_BOUNDS_SPFQ_HPP
#define PATHQ_BOUNDS_SPFQ_HPP

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/stochastic_operators.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {
namespace bounds {

// The constants below follow docs/algorithms.md#spfq-error-bounds, where the theorems of Zhang & Saab
// (arXiv 2309.10975) are re-derived up to constants: a mean-zero step of magnitude <= D is
// dominated in convex order by N(0, pi D^2 / 2), so SPFQ's phase-2 residual satisfies
// u_N <=_cx N(0, sigma^2 I) with sigma^2 = (pi D^2 / 2) max_t ||Xq_t||^2, and the convex test
// function e^{y^2 / (4 sigma^2)} gives P(|y| >= s) <= sqrt(2) e^{-s^2 / (4 sigma^2)}.

namespace detail {
inline void check_tail_args(const char* where, double D, double p, double m, double n_in, double max_norm) {
  PATHQ_CHECK(std::isfinite(D) && D >= 0, where, "D must be finite and >= 0, got ", D);
  PATHQ_CHECK(std::isfinite(p) && p > 0, where, "p must be finite and positive, got ", p);
  PATHQ_CHECK(std::isfinite(m) && m >= 1, where, "m must be >= 1, got ", m);
  PATHQ_CHECK(std::isfinite(n_in) && n_in >= 1, where, "N_in must be >= 1, got ", n_in);
  PATHQ_CHECK(std::isfinite(max_norm) && max_norm >= 0, where,
              "max ||Xq_t|| must be finite and >= 0, got ", max_norm);
}
constexpr double pi = 3.14159265358979323846;
}  // namespace detail

/// Operator-contract tail bound for one layer (docs/algorithms.md#spfq-error-bounds and
/// docs/algorithms.md#stochastic-framework-operator-contract): if phase 2 runs
/// an operator with `E[T(z)] = z` and `|T(z) - z| <= D` and nothing is clipped, then with
/// probability at least `spfq_tail_probability(p, m, N_in, N_out)`, for every neuron j,
///
///     ||Xq (W~_j - Q_j)||_2 <= D sqrt(2 pi p m log N_in) max_t ||Xq_t||_2.
///
/// \param D the operator's deviation bound (`contract_deviation(grid)`), >= 0.
/// \param p the exponent of the failure probability, > 0. \param m samples, >= 1.
/// \param n_in N_in (`N_{i-1}`), >= 1. \param max_column_norm `max_t ||Xq_t||_2`, >= 0.
/// \returns the per-neuron l2 bound. \throws invalid_argument on values outside these ranges.
inline double spfq_operator_tail(double D, double p, double m, double n_in, double max_column_norm) {
  detail::check_tail_args("bounds::spfq_operator_tail", D, p, m, n_in, max_column_norm);
  return D * std::sqrt(2.0 * detail::pi * p * m * std::log(n_in)) * max_column_norm;
}

/// SPFQ's single-layer tail bound with the infinite alphabet (stochastic rounding on
/// `delta Z`, so D = delta): `max_j ||Xq (W~_j - Q_j)||_2 <= delta sqrt(2 pi p m log N_in) max_t ||Xq_t||`,
/// with probability at least `spfq_tail_probability(p, m, N_in, N_out)`. For r < infinity the
/// total error adds the deterministic alignment residual `XW - Xq W~`.
/// \see Zhang & Saab, arXiv 2309.10975, the single-layer theorem (constants as re-derived in
///      docs/algorithms.md#spfq-error-bounds).
inline double spfq_tail(double delta, double p, double m, double n_in, double max_column_norm) {
  detail::check_tail_args("bounds::spfq_tail", delta, p, m, n_in, max_column_norm);
  return spfq_operator_tail(delta, p, m, n_in, max_column_norm);
}

/// The same event's per-coordinate form: `max_j ||Xq (W~_j - Q_j)||_inf <= D sqrt(2 pi p log N_in) max_t ||Xq_t||`.
inline double spfq_operator_tail_linf(double D, double p, double n_in, double max_column_norm) {
  detail::check_tail_args("bounds::spfq_operator_tail_linf", D, p, 1.0, n_in, max_column_norm);
  return D * std::sqrt(2.0 * detail::pi * p * std::log(n_in)) * max_column_norm;
}

/// The probability of the tail bounds: `1 - sqrt(2) m N_out N_in^-p` (a union bound over the m
/// coordinates of every neuron's residual), clamped at 0, where the bound says nothing.
inline double spfq_tail_probability(double p, double m, double n_in, double n_out) {
  PATHQ_CHECK(std::isfinite(p) && p > 0, "bounds::spfq_tail_probability", "p must be finite and positive, got ", p);
  PATHQ_CHECK(m >= 1 && n_in >= 1 && n_out >= 1, "bounds::spfq_tail_probability",
              "m, N_in and N_out must be >= 1, got ", m, ", ", n_in, ", ", n_out);
  return std::max(0.0, 1.0 - std::sqrt(2.0) * m * n_out * std::pow(n_in, -p));
}

/// A layer's tail bound, ready to compare with a result.
struct TailBound {
  double per_neuron = 0;   ///< bound on `max_j ||Xq (W~_j - Q_j)||_2`
  double layer = 0;        ///< bound on `||Xq (W~ - Q)||_F^2 = sum_j (...)^2`: `N_out per_neuron^2`
  double probability = 0;  ///< the bound holds with at least this probability
  double deviation = 0;    ///< the D it used
};

/// `spfq_operator_tail` for a grid and the statistics it was run on: D is
/// `contract_deviation(grid)` (the step for stochastic rounding on a uniform grid), m the number
/// of samples, `max_t ||Xq_t|| = sqrt(max diag H)`.
/// \param p the exponent of the failure probability, > 0.
template <class Scalar, class Acc>
TailBound spfq_layer_tail(const Grid<Scalar>& grid, const LayerStats<Acc>& stats, double p) {
  PATHQ_CHECK(stats.samples() > 0, "bounds::spfq_layer_tail", "the statistics hold no samples");
  TailBound b;
  b.deviation = contract_deviation(grid);
  const double max_norm = std::sqrt(std::max(0.0, double(stats.H().diagonal().maxCoeff())));
  const double n_out = double(grid.n_out());
  b.per_neuron = spfq_operator_tail(b.deviation, p, double(stats.samples()), double(stats.n_in()), max_norm);
  b.layer = n_out * b.per_neuron * b.per_neuron;
  b.probability = spfq_tail_probability(p, double(stats.samples()), double(stats.n_in()), n_out);
  return b;
}

/// The finite-alphabet rule (docs/algorithms.md#spfq-error-bounds): stochastic rounding on
/// `{k delta : |k| <= K}` never clips, with probability at least
/// `spfq_no_clipping_probability(p, N, N_in, N_out)`, when
///
///     K >= ||W~||_max / delta + sqrt(2 pi p log N) max_t ||Xq_t|| / min_t ||Xq_t||,
///
/// because each correction `<Xq_t, u_{t-1}> / ||Xq_t||^2` is dominated by a Gaussian of variance
/// `(pi delta^2 / 2) max ||Xq||^2 / ||Xq_t||^2`. K grows like `sqrt(log N)`, so
/// `log2(2K + 1) ~ (1/2) log2 log N` bits: SPFQ's "log log N bits per weight".
/// \param w_max `||W~||_max`, >= 0. \param delta > 0. \param p > 0. \param N the width in the
///        rule, >= 1. \param max_norm, min_norm `max_t` and `min_t ||Xq_t||` over live features, > 0.
/// \returns the smallest such K, at least 1.
inline int spfq_levels_for_no_clipping(double w_max, double delta, double p, double N, double max_norm,
                                       double min_norm) {
  const char* where = "bounds::spfq_levels_for_no_clipping";
  PATHQ_CHECK(std::isfinite(w_max) && w_max >= 0, where, "||W~||_max must be finite and >= 0, got ", w_max);
  PATHQ_CHECK(std::isfinite(delta) && delta > 0, where, "delta must be finite and positive, got ", delta);
  PATHQ_CHECK(std::isfinite(p) && p > 0, where, "p must be finite and positive, got ", p);
  PATHQ_CHECK(std::isfinite(N) && N >= 1, where, "N must be >= 1, got ", N);
  PATHQ_CHECK(std::isfinite(max_norm) && std::isfinite(min_norm) && min_norm > 0 && max_norm >= min_norm, where,
              "need 0 < min ||Xq_t|| <= max ||Xq_t||, got ", min_norm, " and ", max_norm);
  const double K = w_max / delta + std::sqrt(2.0 * detail::pi * p * std::log(N)) * max_norm / min_norm;
  PATHQ_CHECK(K < double(1 << 30) - 1, where, "the rule asks for K = ", K, ", beyond 2^30");
  return std::max(1, int(std::ceil(K)));
}

/// The probability that the K rule prevents every clipping: `1 - sqrt(2) N_in N_out N^-p` (a union
/// bound over every step of every neuron), clamped at 0.
inline double spfq_no_clipping_probability(double p, double N, double n_in, double n_out) {
  PATHQ_CHECK(std::isfinite(p) && p > 0, "bounds::spfq_no_clipping_probability",
              "p must be finite and positive, got ", p);
  PATHQ_CHECK(N >= 1 && n_in >= 1 && n_out >= 1, "bounds::spfq_no_clipping_probability",
              "N, N_in and N_out must be >= 1");
  return std::max(0.0, 1.0 - std::sqrt(2.0) * n_in * n_out * std::pow(N, -p));
}

/// The full-network bound of docs/algorithms.md#spfq-error-bounds for `lipschitz`-Lipschitz
/// activations (1 for ReLU; 3/2 for hard-swish, see `pathq::lipschitz_constant`) and alignment of
/// order infinity. Layer i's algorithm error `e_i = ||X^(i-1) W^(i) - Xq^(i-1) Q^(i)||_F` obeys
/// `e_i <= Lip ||W^(i)||_2 e_(i-1) + eps_i`, `eps_i = ||Xq^(i-1) (W~^(i) - Q^(i))||_F`, because the
/// alignment residual is `(I - P)(X - Xq) W` and `||X^(i) - Xq^(i)||_F <= Lip e_i`. Unrolled:
///
///     ||Phi(X) - Phi~(X)||_F <= e_L <= sum_i (prod_{k > i} Lip ||W^(k)||_2) eps_i.
///
/// \param phase_two_errors `eps_1..eps_L` (measured, or per-layer bounds such as
///        `sqrt(TailBound::layer)`), each finite and >= 0.
/// \param spectral_norms `||W^(1)||_2 .. ||W^(L)||_2` of the float weights (the first is not
///        used), each finite and >= 0; the same length.
/// \param lipschitz the activations' Lipschitz constant (the largest, when they differ), finite
///        and >= 0; a bound computed with 1 does not hold for activations such as hard-swish.
/// \returns the bound on `e_L`. Complexity O(L).
inline double spfq_network(const std::vector<double>& phase_two_errors, const std::vector<double>& spectral_norms,
                           double lipschitz = 1.0) {
  const char* where = "bounds::spfq_network";
  PATHQ_CHECK(phase_two_errors.size() == spectral_norms.size(), where, "got ", phase_two_errors.size(),
              " per-layer errors but ", spectral_norms.size(), " spectral norms");
  PATHQ_CHECK(std::isfinite(lipschitz) && lipschitz >= 0, where, "lipschitz must be finite and >= 0, got ",
              lipschitz);
  double e = 0;
  for (std::size_t i = 0; i < phase_two_errors.size(); ++i) {
    PATHQ_CHECK(std::isfinite(phase_two_errors[i]) && phase_two_errors[i] >= 0, where,
                "the error of layer ", i + 1, " must be finite and >= 0, got ", phase_two_errors[i]);
    PATHQ_CHECK(std::isfinite(spectral_norms[i]) && spectral_norms[i] >= 0, where,
                "the spectral norm of layer ", i + 1, " must be finite and >= 0, got ", spectral_norms[i]);
    e = (i == 0 ? 0.0 : lipschitz * spectral_norms[i] * e) + phase_two_errors[i];
  }
  return e;
}

/// The Gaussian-data scaling law of SPFQ (docs/algorithms.md#spfq-error-bounds, fact 3): with
/// `X = Xq` iid N(0,1), `m` samples, `N_in >> m`, weights of mean square `mean_sq_w` and no
/// clipping, `E_rel ~ delta^2 m / (6 N_in E[w^2])`: twice GPFQ's, since stochastic rounding's error
/// has mean square `delta^2 / 6` where rounding to nearest has `delta^2 / 12`. A prediction, not a
/// bound.
inline double spfq_gaussian_scaling(double delta, double m, double n_in, double mean_sq_w) {
  PATHQ_CHECK(delta > 0 && m > 0 && n_in > 0 && mean_sq_w > 0, "bounds::spfq_gaussian_scaling",
              "delta, m, N_in and E[w^2] must be positive");
  return delta * delta * m / (6.0 * n_in * mean_sq_w);
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_SPFQ_HPP
