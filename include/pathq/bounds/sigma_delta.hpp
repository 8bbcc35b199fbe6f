// Error bounds of frame Sigma-Delta quantization: per vector, per layer, and through networks
// (docs/algorithms.md#frame-sigma-delta-error-bounds).
#ifndef PATHQ_BOUNDS_SIGMA_DELTA_HPP
#define PATHQ_BOUNDS_SIGMA_DELTA_HPP

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/frames/frame.hpp"
#include "pathq/methods/sigma_delta.hpp"

namespace pathq {
namespace bounds {

/// First-order Sigma-Delta in a FUNTF, per vector (Benedetto-Powell-Yilmaz 2006;
/// docs/algorithms.md#frame-sigma-delta-error-bounds). Summation by parts gives
/// `x - x_q = (n/p) [sum_{k<p} u_k (e_{pi(k)} - e_{pi(k+1)}) + u_p e_{pi(p)}]`, and with the
/// stability condition (`||x|| <= (L - 1/2) delta`, hence `|u_k| <= delta/2`)
///
///     ||x - x_q|| <= (delta n / 2p) (sigma(F, pi) + 1).
///
/// \param delta the step, > 0. \param n >= 1. \param p >= 1. \param sigma the frame variation, >= 0.
inline double sigma_delta_vector(double delta, Eigen::Index n, Eigen::Index p, double sigma) {
  PATHQ_CHECK(delta > 0 && std::isfinite(delta), "bounds::sigma_delta_vector", "delta must be finite and > 0, got ",
              delta);
  PATHQ_CHECK(n >= 1 && p >= 1, "bounds::sigma_delta_vector", "n and p must be >= 1, got n = ", n, ", p = ", p);
  PATHQ_CHECK(sigma >= 0 && std::isfinite(sigma), "bounds::sigma_delta_vector", "sigma must be finite and >= 0, got ",
              sigma);
  return delta * double(n) / (2.0 * double(p)) * (sigma + 1.0);
}

/// The per-vector bound for the harmonic frame in natural order with the closed-form variation
/// bound (`harmonic_variation_bound`): `(delta n / 2p) (pi sqrt((n+1)(n+2)/3) + 1)` for even n,
/// `O(delta n^2 / p)`. \param delta > 0. \param n >= 1. \param p >= n + 1.
inline double sigma_delta_harmonic(double delta, Eigen::Index n, Eigen::Index p) {
  PATHQ_CHECK(n >= 1 && p > n, "bounds::sigma_delta_harmonic", "p must be > n >= 1, got n = ", n, ", p = ", p);
  return sigma_delta_vector(delta, n, p, harmonic_variation_bound(n));
}

/// The per-vector bounds of a quantized set of vectors: `(step_j n / 2p) (sigma(F, pi) + 1)`, with
/// the code's frame, walk and steps. They hold when `code.stable()`.
/// Complexity: `O(n)` for a harmonic frame in natural order, `O(n p)` otherwise (the variation).
template <class Scalar>
Eigen::RowVectorXd sigma_delta_vectors(const SigmaDeltaCode<Scalar>& code) {
  const double sigma = code.frame.variation(code.order);
  Eigen::RowVectorXd b(code.step.size());
  for (Eigen::Index j = 0; j < b.size(); ++j) b(j) = sigma_delta_vector(double(code.step(j)), code.n(), code.p(), sigma);
  return b;
}

/// Per layer: `||W - W_q||_2 <= ||W - W_q||_F <= sqrt(sum_j b_j^2) <= sqrt(count) max_j b_j`, with
/// `b_j` the per-vector bounds of the expanded vectors (columns, or rows, of W; with
/// `BiasMode::ExtraRow` they include the bias, which only adds to the left side). Holds when
/// `r.stable()`.
template <class Scalar>
double sigma_delta_layer(const SigmaDeltaResult<Scalar>& r) {
  return sigma_delta_vectors(r.weights).norm();
}

/// A certified upper bound on the largest eigenvalue of a symmetric positive semidefinite `K`
/// (for `K = X^T X`, on `||X||_2^2`): the smaller of the Gershgorin bound `max_i sum_j |K_ij|`
/// and `(tr K^(2^s))^(1/2^s)` (`>= lambda_max`, over-estimating by at most `N^(1/2^s)`), with
/// s = 2 squarings for N <= 2048, 1 for N <= 8192, 0 beyond (`||K||_F`).
/// \param K `N x N`, symmetric PSD, finite. Complexity: `O(N^3)` (one or two GEMMs) for N <= 8192.
inline double spectral_upper_bound(const Eigen::MatrixXd& K) {
  PATHQ_CHECK(K.rows() == K.cols() && K.rows() >= 1, "bounds::spectral_upper_bound", "K must be square and non-empty, got ",
              K.rows(), " x ", K.cols());
  ::pathq::detail::check_finite("bounds::spectral_upper_bound", "K", K);
  const double gershgorin = K.cwiseAbs().rowwise().sum().maxCoeff();
  const double trace = K.trace();
  if (!(trace > 0)) return gershgorin;
  const int squarings = K.rows() <= 2048 ? 2 : (K.rows() <= 8192 ? 1 : 0);
  Eigen::MatrixXd A = K / trace;  // eigenvalues in [0, 1]: the powers neither overflow nor underflow much
  for (int s = 0; s < squarings; ++s) A = (A * A).eval();
  // tr(A^(2^(s+1))) = ||A^(2^s)||_F^2 >= lambda_max(A)^(2^(s+1)).
  const double power = std::ldexp(1.0, squarings + 1);
  const double from_trace = trace * std::pow(A.squaredNorm(), 1.0 / power);
  return std::min(gershgorin, from_trace);
}

/// The data-domain bound for a layer quantized by frame Sigma-Delta, with `K = X^T X` (`N_in x N_in`):
/// `||X W - X W_q||_F^2 <= ||X||_2^2 ||W - W_q||_F^2 <= spectral_upper_bound(K) sigma_delta_layer(r)^2`.
/// Holds when `r.stable()` (inputs not quantized: the float inputs on both sides).
template <class Scalar>
double sigma_delta_data(const SigmaDeltaResult<Scalar>& r, const Eigen::MatrixXd& K) {
  PATHQ_CHECK(K.rows() == r.n_in && K.cols() == r.n_in, "bounds::sigma_delta_data", "K is ", K.rows(), " x ", K.cols(),
              " but the layer has N_in = ", r.n_in);
  const double b = sigma_delta_layer(r);
  return spectral_upper_bound(K) * b * b;
}

/// A bound on `||b - b_q||` for a layer quantized with a bias: the bias's own vector bound
/// (OwnFrame, or ExtraRow with rows), or the layer bound (ExtraRow with columns, where b is one
/// entry of every column). 0 when there is no bias.
template <class Scalar>
double sigma_delta_bias(const SigmaDeltaResult<Scalar>& r) {
  if (!r.has_bias) return 0;
  if (r.bias_mode == BiasMode::OwnFrame) return sigma_delta_vectors(r.bias)(0);
  if (r.axis == FrameAxis::Rows) return sigma_delta_vectors(r.weights)(r.n_in);
  return sigma_delta_layer(r);
}

/// One layer of a network as the network bounds see it (all norms Euclidean / spectral; upper
/// bounds may stand in for each).
struct LayerPerturbation {
  double quantized_norm = 0;  ///< `||W_q||_2`
  double weight_error = 0;    ///< `||W - W_q||_2` (e.g. `sigma_delta_layer`, a Frobenius bound)
  double bias_error = 0;      ///< `||b - b_q||` (0 without a bias)
};

}  // namespace bounds

namespace detail {
inline void check_network(const char* where, const std::vector<bounds::LayerPerturbation>& layers,
                          const std::vector<double>& activation_norms) {
  PATHQ_CHECK(!layers.empty(), where, "layers is empty");
  PATHQ_CHECK(activation_norms.size() == layers.size(), where, "activation_norms has ", activation_norms.size(),
              " entries but there are ", layers.size(), " layers (one ||a_{l-1}|| per layer)");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    PATHQ_CHECK(L.quantized_norm >= 0 && L.weight_error >= 0 && L.bias_error >= 0 && std::isfinite(L.quantized_norm) &&
                    std::isfinite(L.weight_error) && std::isfinite(L.bias_error),
                where, "layer ", l, " has a negative or non-finite norm");
    PATHQ_CHECK(activation_norms[l] >= 0 && std::isfinite(activation_norms[l]), where, "activation_norms[", l,
                "] must be finite and >= 0, got ", activation_norms[l]);
  }
}
}  // namespace detail

namespace bounds {


/// Feed-forward network `a_l = rho(W_l^T a_{l-1} + b_l)`, `a_0 = x`, rho `lipschitz`-Lipschitz
/// (1 for ReLU, tanh, ...; 3/2 for hard-swish: see `pathq::lipschitz_constant`), and its quantized
/// copy with `W_q, b_q` (docs/algorithms.md#frame-sigma-delta-error-bounds; the shape of Czaja-Na's
/// feed-forward lemma). From
/// `||a_l - a^_l|| <= Lip (||W_q,l|| ||a_{l-1} - a^_{l-1}|| + ||W_l - W_q,l|| ||a_{l-1}|| + ||b_l - b_q,l||)`:
///
///     ||a_L - a^_L|| <= sum_l Lip^(L-l+1) (prod_{k>l} ||W_q,k||) (||W_l - W_q,l|| ||a_{l-1}|| + ||b_l - b_q,l||).
///
/// \param layers the L layers in order. \param activation_norms `||a_{l-1}||` of the float
/// network for l = 1..L (`||x||` first), or upper bounds such as `||a_l|| <= ||W_l|| ||a_{l-1}|| + ||b_l||`.
/// \param lipschitz the activations' Lipschitz constant (the largest, when they differ), finite
///        and >= 0; a bound computed with 1 does not hold for activations such as hard-swish.
inline double network_feedforward(const std::vector<LayerPerturbation>& layers,
                                  const std::vector<double>& activation_norms, double lipschitz = 1.0) {
  ::pathq::detail::check_network("bounds::network_feedforward", layers, activation_norms);
  PATHQ_CHECK(std::isfinite(lipschitz) && lipschitz >= 0, "bounds::network_feedforward",
              "lipschitz must be finite and >= 0, got ", lipschitz);
  double e = 0;  // the bound on ||a_l - a^_l||, layer by layer
  for (std::size_t l = 0; l < layers.size(); ++l)
    e = lipschitz *
        (layers[l].quantized_norm * e + layers[l].weight_error * activation_norms[l] + layers[l].bias_error);
  return e;
}

/// Residual network `a_l = a_{l-1} + rho(W_l^T a_{l-1} + b_l)` (square W_l): the same sum with the
/// products `prod_{k>l} (1 + Lip ||W_q,k||)` (docs/algorithms.md#frame-sigma-delta-error-bounds);
/// `lipschitz` as for `network_feedforward`.
inline double network_residual(const std::vector<LayerPerturbation>& layers,
                               const std::vector<double>& activation_norms, double lipschitz = 1.0) {
  ::pathq::detail::check_network("bounds::network_residual", layers, activation_norms);
  PATHQ_CHECK(std::isfinite(lipschitz) && lipschitz >= 0, "bounds::network_residual",
              "lipschitz must be finite and >= 0, got ", lipschitz);
  double e = 0;
  for (std::size_t l = 0; l < layers.size(); ++l)
    e = (1.0 + lipschitz * layers[l].quantized_norm) * e +
        lipschitz * (layers[l].weight_error * activation_norms[l] + layers[l].bias_error);
  return e;
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_SIGMA_DELTA_HPP
