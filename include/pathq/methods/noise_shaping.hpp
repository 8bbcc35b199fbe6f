// Noise-shaping quantizers for sequences: r-th order and 1-bit filter Sigma-Delta, beta noise shaping, condensation.
#ifndef PATHQ_METHODS_NOISE_SHAPING_HPP
#define PATHQ_METHODS_NOISE_SHAPING_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"

namespace pathq {

/// A sequence `y` (m entries) quantized by a noise-shaping quantizer onto the midrise alphabet
/// `{(j + 1/2) step : -K <= j < K}` (2K levels; 1 bit is K = 1, levels `±step/2`).
template <class Scalar>
struct ShapedSequence {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> codes;  ///< m codes in [-K, K-1]
  Vector q;                   ///< the quantized sequence, `(codes + 1/2) step`
  Vector state;               ///< u_i (r-th order and beta schemes) or v_i (filter schemes), i = 0..m-1
  Scalar step = 1;            ///< the alphabet's step
  int levels = 1;             ///< K
  Eigen::Index saturated = 0; ///< values beyond the outermost levels by more than step/2 (clipped)

  /// `max_i |state_i|`; the schemes are stable when it stays <= step/2.
  Scalar max_state() const { return state.size() ? state.cwiseAbs().maxCoeff() : Scalar(0); }
};

/// One tap `h_lag = weight` of a noise-shaping filter (lag >= 1).
struct FilterTap {
  int lag = 1;
  double weight = 0;
};

/// The default step of the noise-shaping papers, `2 / (2K - 1)`: the largest level is 1.
inline double noise_shaping_default_step(int K) {
  PATHQ_CHECK(K >= 1 && K < (1 << 30), "noise_shaping_default_step", "levels K must be in [1, 2^30), got ", K);
  return 2.0 / (2.0 * K - 1.0);
}

namespace detail {

inline double resolve_noise_step(const char* where, int K, double step) {
  PATHQ_CHECK(K >= 1 && K < (1 << 30), where, "levels K must be in [1, 2^30), got ", K);
  PATHQ_CHECK(std::isfinite(step) && step >= 0, where, "step must be finite and >= 0 (0: 2/(2K-1)), got ", step);
  return step > 0 ? step : noise_shaping_default_step(K);
}

/// Midrise rounding `Q(z) = step (clip(floor(z/step), -K, K-1) + 1/2)`; ties go up.
template <class Scalar>
std::int32_t midrise_code(Scalar z, Scalar step, int K, Eigen::Index& saturated) {
  const Scalar f = std::floor(z / step);
  if (!(f >= Scalar(-K))) {
    ++saturated;
    return -K;
  }
  if (f > Scalar(K - 1)) {
    ++saturated;
    return K - 1;
  }
  return static_cast<std::int32_t>(f);
}

template <class D>
void check_sequence(const char* where, const Eigen::MatrixBase<D>& y) {
  PATHQ_CHECK(y.rows() == 1 || y.cols() == 1, where, "y must be a vector, got ", y.rows(), " x ", y.cols());
  PATHQ_CHECK(y.size() >= 1, where, "y is empty");
  check_finite(where, "y", y);
}

}  // namespace detail

/// Greedy r-th order Sigma-Delta (docs/algorithms.md#noise-shaping-greedy-sigma-delta): with `u_i = 0`
/// for `i < 0`,
///
///     q_i = Q(sum_{k=1}^{r} (-1)^{k-1} C(r, k) u_{i-k} + y_i),   u_i = (that argument) - q_i,
///
/// the greedy choice for `y - q = D^r u` (D the backward difference). Stable (`|u_i| <= step/2`)
/// when `|y_i| <= greedy_stable_input_bound(r, K, step)`; with few levels and r >= 2 it is not
/// (u grows): use `sigma_delta_filter` for 1 bit.
/// \see Zhang, Kannan, Cloninger & Saab, arXiv 2106.02614 (Inf. Inference 2024), the `SDQ` scheme.
/// \param y m >= 1 finite entries. \param order r in [1, 30]. \param K levels per side, >= 1.
/// \param step > 0, or 0 for `2/(2K-1)`. Complexity: `O(m r)`.
template <class D>
ShapedSequence<typename D::Scalar> sigma_delta_greedy(const Eigen::MatrixBase<D>& y, int order, int K,
                                                      double step = 0) {
  using Scalar = typename D::Scalar;
  detail::check_sequence("sigma_delta_greedy", y);
  PATHQ_CHECK(order >= 1 && order <= 30, "sigma_delta_greedy", "order r must be in [1, 30], got ", order);
  const Scalar d = Scalar(detail::resolve_noise_step("sigma_delta_greedy", K, step));
  std::vector<Scalar> a(std::size_t(order) + 1);  // a_k = (-1)^{k-1} C(r, k)
  double binom = 1;
  for (int k = 1; k <= order; ++k) {
    binom = binom * double(order - k + 1) / double(k);
    a[std::size_t(k)] = Scalar(k % 2 == 1 ? binom : -binom);
  }
  const Eigen::Index m = y.size();
  ShapedSequence<Scalar> s;
  s.step = d;
  s.levels = K;
  s.codes.resize(m);
  s.q.resize(m);
  s.state.resize(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    Scalar w = y(i);
    for (int k = 1; k <= order && k <= i; ++k) w += a[std::size_t(k)] * s.state(i - k);
    const std::int32_t c = detail::midrise_code(w, d, K, s.saturated);
    s.codes(i) = c;
    s.q(i) = (Scalar(c) + Scalar(0.5)) * d;
    s.state(i) = w - s.q(i);
  }
  return s;
}

/// `(K - (2^r - 1)/2) step`: if every `|y_i|` is at most this (> 0), greedy r-th order
/// Sigma-Delta keeps `|u_i| <= step/2` (the r previous states contribute at most
/// `(2^r - 1) step/2`). A non-positive value means no guarantee. **[derived]**
inline double greedy_stable_input_bound(int order, int K, double step) {
  PATHQ_CHECK(order >= 1 && order <= 30 && K >= 1 && step > 0, "greedy_stable_input_bound",
              "needs 1 <= r <= 30, K >= 1 and step > 0, got r = ", order, ", K = ", K, ", step = ", step);
  return (double(K) - (std::ldexp(1.0, order) - 1.0) / 2.0) * step;
}

/// The stable 1-bit filters of the binary-embedding and RFF code (Gunturk-type sparse filters):
/// r = 1: `h = e_1` (first order); r = 2: `h = (7 e_1 - e_7) / 6`; r = 3:
/// `h = (175/144) e_1 - (25/108) e_7 + (7/432) e_25`. `1 - H(z)` has a zero of order r at z = 1.
/// \see Zhang & Saab, "Faster binary embeddings for preserving Euclidean distances", ICLR 2021.
/// \param order r in {1, 2, 3}.
inline std::vector<FilterTap> one_bit_filter(int order) {
  PATHQ_CHECK(order >= 1 && order <= 3, "one_bit_filter", "order r must be 1, 2 or 3, got ", order);
  if (order == 1) return {{1, 1.0}};
  if (order == 2) return {{1, 7.0 / 6.0}, {7, -1.0 / 6.0}};
  return {{1, 175.0 / 144.0}, {7, -25.0 / 108.0}, {25, 7.0 / 432.0}};
}

/// 1-bit Sigma-Delta with a filter `h` (docs/algorithms.md#noise-shaping-1-bit-filters): with `v_i = 0`
/// for `i < 0`,
///
///     q_i = Q(sum_k h_k v_{i-k} + y_i) in {±step/2},   v_i = sum_k h_k v_{i-k} + y_i - q_i,
///
/// so `y - q = (delta_0 - h) * v`. Stable (`|v_i| <= step/2`) when
/// `|y_i| <= filter_stable_input_bound(h, step)`.
/// \param y m >= 1 finite entries. \param h taps with lag >= 1. \param step > 0 (default 2: levels ±1).
/// Complexity: `O(m |h|)`.
template <class D>
ShapedSequence<typename D::Scalar> sigma_delta_filter(const Eigen::MatrixBase<D>& y, const std::vector<FilterTap>& h,
                                                      double step = 2) {
  using Scalar = typename D::Scalar;
  detail::check_sequence("sigma_delta_filter", y);
  PATHQ_CHECK(!h.empty(), "sigma_delta_filter", "the filter h is empty");
  for (const auto& t : h)
    PATHQ_CHECK(t.lag >= 1 && std::isfinite(t.weight), "sigma_delta_filter",
                "filter taps need lag >= 1 and a finite weight, got lag ", t.lag, " weight ", t.weight);
  PATHQ_CHECK(std::isfinite(step) && step > 0, "sigma_delta_filter", "step must be finite and > 0, got ", step);
  const Scalar d = Scalar(step);
  const Eigen::Index m = y.size();
  ShapedSequence<Scalar> s;
  s.step = d;
  s.levels = 1;
  s.codes.resize(m);
  s.q.resize(m);
  s.state.resize(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    Scalar w = y(i);
    for (const auto& t : h)
      if (t.lag <= i) w += Scalar(t.weight) * s.state(i - t.lag);
    const std::int32_t c = detail::midrise_code(w, d, 1, s.saturated);
    s.codes(i) = c;
    s.q(i) = (Scalar(c) + Scalar(0.5)) * d;
    s.state(i) = w - s.q(i);
  }
  return s;
}

/// `(2 - ||h||_1) step/2`: if every `|y_i|` is at most this (> 0), the 1-bit filter scheme keeps
/// `|v_i| <= step/2` (then `|w_i| <= ||h||_1 step/2 + |y_i| <= step`, and `|v_i| = ||w_i| - step/2|`).
/// For the r = 2 filter this is `step/3`, for r = 3 about `0.269 step`. **[derived]**
inline double filter_stable_input_bound(const std::vector<FilterTap>& h, double step) {
  PATHQ_CHECK(step > 0, "filter_stable_input_bound", "step must be > 0, got ", step);
  double l1 = 0;
  for (const auto& t : h) l1 += std::abs(t.weight);
  return (2.0 - l1) * step / 2.0;
}

/// Distributed beta noise shaping (docs/algorithms.md#noise-shaping-beta-scheme): in blocks of
/// `block` entries, the state is reset to 0 at each block start, and
///
///     q_i = Q(y_i + beta u_{i-1}),   u_i = y_i + beta u_{i-1} - q_i,
///
/// so that over a block `y - q = u_i - beta u_{i-1}`. Stable (`|u_i| <= step/2`) when
/// `|y_i| <= (K - beta/2) step`; the RFF code pre-scales `y` by `(2K - beta)/(2K - 1)` to get
/// there from `|y| <= 1` (do it before calling, and undo it after decoding).
/// \param y m finite entries, m a multiple of `block`. \param K >= 1. \param beta in (1, 2K).
/// \param block lambda >= 1. \param step > 0, or 0 for `2/(2K-1)`. Complexity: `O(m)`.
template <class D>
ShapedSequence<typename D::Scalar> beta_noise_shaping(const Eigen::MatrixBase<D>& y, int K, double beta,
                                                      Eigen::Index block, double step = 0) {
  using Scalar = typename D::Scalar;
  detail::check_sequence("beta_noise_shaping", y);
  const Scalar d = Scalar(detail::resolve_noise_step("beta_noise_shaping", K, step));
  PATHQ_CHECK(beta > 1 && beta < 2.0 * K, "beta_noise_shaping", "beta must be in (1, 2K) = (1, ", 2 * K, "), got ",
              beta);
  PATHQ_CHECK(block >= 1 && y.size() % block == 0, "beta_noise_shaping", "block lambda must be >= 1 and divide m = ",
              y.size(), ", got ", block);
  const Eigen::Index m = y.size();
  ShapedSequence<Scalar> s;
  s.step = d;
  s.levels = K;
  s.codes.resize(m);
  s.q.resize(m);
  s.state.resize(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    const Scalar w = y(i) + (i % block == 0 ? Scalar(0) : Scalar(beta) * s.state(i - 1));
    const std::int32_t c = detail::midrise_code(w, d, K, s.saturated);
    s.codes(i) = c;
    s.q(i) = (Scalar(c) + Scalar(0.5)) * d;
    s.state(i) = w - s.q(i);
  }
  return s;
}

/// `(K - beta/2) step`: the input bound under which beta noise shaping keeps `|u_i| <= step/2`. **[derived]**
inline double beta_stable_input_bound(int K, double beta, double step) {
  PATHQ_CHECK(K >= 1 && beta > 1 && beta < 2.0 * K && step > 0, "beta_stable_input_bound",
              "needs K >= 1, 1 < beta < 2K and step > 0, got K = ", K, ", beta = ", beta, ", step = ", step);
  return (double(K) - beta / 2.0) * step;
}

/// The condensation vector of an r-th order scheme over blocks of `block` = lambda entries: the
/// coefficients of `(1 + x + ... + x^{lambda'-1})^r` with `lambda = r (lambda' - 1) + 1`
/// (r = 1: all ones; r = 2: the triangle 1, 2, ..., (lambda+1)/2, ..., 2, 1 for odd lambda).
/// Since `(1 - z)^r v(z) = (1 - z^{lambda'})^r`, over a block
/// `v^T (y - q) = (-1)^r sum_{j=0}^{r} (-1)^j C(r, j) u_{j lambda' - r}` (states counted from the
/// block's first entry, `u_{-1}` the last one before it).
/// \param order r in [1, 30]. \param block lambda >= 1 with `(lambda - 1)` divisible by r.
inline Eigen::VectorXd condensation_sigma_delta(int order, Eigen::Index block) {
  PATHQ_CHECK(order >= 1 && order <= 30, "condensation_sigma_delta", "order r must be in [1, 30], got ", order);
  PATHQ_CHECK(block >= 1 && (block - 1) % order == 0, "condensation_sigma_delta",
              "block lambda must be >= 1 with lambda - 1 divisible by r = ", order, ", got ", block);
  const Eigen::Index box = (block - 1) / order + 1;
  Eigen::VectorXd v = Eigen::VectorXd::Ones(box);
  for (int k = 1; k < order; ++k) {
    Eigen::VectorXd w = Eigen::VectorXd::Zero(v.size() + box - 1);
    for (Eigen::Index i = 0; i < v.size(); ++i) w.segment(i, box).array() += v(i);
    v = w;
  }
  return v;
}

/// The condensation vector of beta noise shaping: `(beta - 1) (beta^-1, beta^-2, ..., beta^-lambda)`.
/// Over a block, `v^T (y - q) = (beta - 1) beta^-lambda u_last` (u_last the state at the block's
/// last entry): exponentially small in lambda.
/// \param beta > 1. \param block lambda >= 1.
inline Eigen::VectorXd condensation_beta(double beta, Eigen::Index block) {
  PATHQ_CHECK(beta > 1 && std::isfinite(beta), "condensation_beta", "beta must be finite and > 1, got ", beta);
  PATHQ_CHECK(block >= 1, "condensation_beta", "block lambda must be >= 1, got ", block);
  Eigen::VectorXd v(block);
  double b = 1;
  for (Eigen::Index i = 0; i < block; ++i) {
    b /= beta;
    v(i) = (beta - 1.0) * b;
  }
  return v;
}

/// The condensation operator `V = c (I_p ⊗ v^T) / ||v||` applied to `x` (m = p lambda entries):
/// entry b is `c <v, x[b lambda : (b+1) lambda]> / ||v||`. The normalisation `c` is `sqrt(2/p)`
/// for kernel inner products of random Fourier features and `sqrt(pi/2) / p` for binary
/// embeddings (distances then read as `||V(q_x - q_y)||_1`).
/// \param x m finite entries, m a multiple of lambda = v.size(). \param v nonzero. \param c finite.
template <class D>
Eigen::VectorXd condense(const Eigen::MatrixBase<D>& x, const Eigen::VectorXd& v, double c) {
  PATHQ_CHECK(x.rows() == 1 || x.cols() == 1, "condense", "x must be a vector, got ", x.rows(), " x ", x.cols());
  PATHQ_CHECK(v.size() >= 1 && v.norm() > 0, "condense", "the condensation vector v must be nonzero");
  PATHQ_CHECK(x.size() >= 1 && x.size() % v.size() == 0, "condense", "x has ", x.size(),
              " entries, not a positive multiple of lambda = ", v.size());
  PATHQ_CHECK(std::isfinite(c), "condense", "c must be finite, got ", c);
  const Eigen::Index lambda = v.size(), p = x.size() / lambda;
  const Eigen::VectorXd xd = x.template cast<double>().reshaped();
  Eigen::VectorXd out(p);
  const double scale = c / v.norm();
  for (Eigen::Index b = 0; b < p; ++b) out(b) = scale * v.dot(xd.segment(b * lambda, lambda));
  return out;
}

/// The dense condensation matrix `c (I_p ⊗ v^T) / ||v||` (`p x p lambda`), for tests and small sizes.
inline Eigen::MatrixXd condensation_matrix(const Eigen::VectorXd& v, Eigen::Index p, double c) {
  PATHQ_CHECK(v.size() >= 1 && v.norm() > 0, "condensation_matrix", "the condensation vector v must be nonzero");
  PATHQ_CHECK(p >= 1, "condensation_matrix", "p must be >= 1, got ", p);
  const Eigen::Index lambda = v.size();
  Eigen::MatrixXd V = Eigen::MatrixXd::Zero(p, p * lambda);
  for (Eigen::Index b = 0; b < p; ++b) V.block(b, b * lambda, 1, lambda) = (c / v.norm()) * v.transpose();
  return V;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_NOISE_SHAPING_HPP
