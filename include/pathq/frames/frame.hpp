// Finite unit-norm tight frames: harmonic frames generated on the fly, explicit frames, checks.
#ifndef PATHQ_FRAMES_FRAME_HPP
#define PATHQ_FRAMES_FRAME_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"

namespace pathq {

/// How a frame is represented.
enum class FrameKind {
  Harmonic,  ///< the harmonic frame of R^n with p elements, regenerated from (n, p)
  Explicit   ///< a user-supplied n x p synthesis matrix (checked to be a FUNTF)
};

inline const char* to_string(FrameKind k) { return k == FrameKind::Harmonic ? "harmonic" : "explicit"; }

/// How far a synthesis matrix `F` (`n x p`, columns `e_k`) is from a finite unit-norm tight
/// frame (FUNTF): `max_k | ||e_k|| - 1 |` and `max_{a,b} | ((n/p) F F^T - I)_{ab} |`.
struct FuntfCheck {
  double max_norm_error = 0;   ///< largest deviation of an element's norm from 1
  double tightness_error = 0;  ///< largest entry of (n/p) F F^T - I
  /// True when both deviations are at most `tolerance`.
  bool is_funtf(double tolerance = 1e-9) const {
    return max_norm_error <= tolerance && tightness_error <= tolerance;
  }
};

/// Measures how far `F` (`n x p`, p >= 1) is from a FUNTF. For a FUNTF, `F F^T = (p/n) I_n`, so
/// `(n/p) F` is the canonical dual frame and `x = (n/p) F F^T x` for every x
/// (docs/algorithms.md#frame-sigma-delta-frames).
/// \throws invalid_argument if F is empty or not finite. Complexity: `O(n^2 p)`.
inline FuntfCheck check_funtf(const Eigen::Ref<const Eigen::MatrixXd>& F) {
  detail::check_nonempty("check_funtf", "F", F);
  detail::check_finite("check_funtf", "F", F);
  FuntfCheck c;
  for (Eigen::Index k = 0; k < F.cols(); ++k)
    c.max_norm_error = std::max(c.max_norm_error, std::abs(F.col(k).norm() - 1.0));
  const double scale = double(F.rows()) / double(F.cols());
  const Eigen::MatrixXd S = scale * (F * F.transpose()) - Eigen::MatrixXd::Identity(F.rows(), F.rows());
  c.tightness_error = S.cwiseAbs().maxCoeff();
  return c;
}

/// The closed-form bound on the frame variation of the harmonic frame of R^n in its natural
/// order: `||e_k - e_{k+1}|| <= (pi/p) sqrt((n+1)(n+2)/3)` (n even) or `(pi/p) sqrt((n^2-1)/3)`
/// (n odd), so `sigma(F) <= pi sqrt((n+1)(n+2)/3)` (even) or `pi sqrt((n^2-1)/3)` (odd), for
/// every p (docs/algorithms.md#frame-sigma-delta-frames). \param n >= 1.
inline double harmonic_variation_bound(Eigen::Index n) {
  PATHQ_CHECK(n >= 1, "harmonic_variation_bound", "dimension n must be >= 1, got ", n);
  const double pi = 3.14159265358979323846;
  const double N = double(n);
  return n % 2 == 0 ? pi * std::sqrt((N + 1) * (N + 2) / 3.0) : pi * std::sqrt((N * N - 1) / 3.0);
}

/// A finite unit-norm tight frame `{e_1, ..., e_p}` of R^n (p >= n + 1), given by its synthesis
/// matrix `F = [e_1 ... e_p]` (`n x p`), which is never stored for harmonic frames: columns are
/// generated on demand, a block at a time, from two tables of `p` cosines and sines.
///
/// Harmonic frame (Benedetto-Powell-Yilmaz 2006; docs/algorithms.md#frame-sigma-delta-frames),
/// element k = 1..p:
/// - n even: `e_k = sqrt(2/n) (cos(2 pi k/p), sin(2 pi k/p), ..., cos(2 pi (n/2) k/p), sin(2 pi (n/2) k/p))`;
/// - n odd: `e_k = sqrt(2/n) (1/sqrt(2), cos(2 pi k/p), sin(2 pi k/p), ..., cos(2 pi ((n-1)/2) k/p), sin(...))`.
/// It is a FUNTF (`||e_k|| = 1`, `F F^T = (p/n) I`) whenever p >= n + 1.
///
/// Indices are 0-based in code: column `k` of `F` is the paper's `e_{k+1}`.
/// Complexity: construction `O(p)` time and memory; a block of `count` columns `O(n count)`.
class Frame {
 public:
  /// The harmonic frame of R^n with p elements. \param n >= 1. \param p >= n + 1.
  /// \throws invalid_argument naming the argument.
  static Frame harmonic(Eigen::Index n, Eigen::Index p) {
    PATHQ_CHECK(n >= 1, "Frame::harmonic", "dimension n must be >= 1, got ", n);
    PATHQ_CHECK(p > n, "Frame::harmonic", "frame size p must be > n = ", n,
                " (a harmonic frame is tight only for p >= n + 1), got ", p);
    PATHQ_CHECK(p <= (Eigen::Index(1) << 40), "Frame::harmonic", "frame size p must be <= 2^40, got ", p);
    Frame f;
    f.m_kind = FrameKind::Harmonic;
    f.m_n = n;
    f.m_p = p;
    f.m_cos.resize(std::size_t(p));
    f.m_sin.resize(std::size_t(p));
    const double two_pi = 6.283185307179586476925;
    for (Eigen::Index m = 0; m < p; ++m) {
      const double a = two_pi * double(m) / double(p);
      f.m_cos[std::size_t(m)] = std::cos(a);
      f.m_sin[std::size_t(m)] = std::sin(a);
    }
    return f;
  }

  /// A frame given by its synthesis matrix `F` (`n x p`, p > n), which must be a FUNTF to within
  /// `tolerance` (see `check_funtf`). \throws invalid_argument otherwise, with the deviations.
  static Frame from_matrix(const Eigen::Ref<const Eigen::MatrixXd>& F, double tolerance = 1e-9) {
    PATHQ_CHECK(tolerance >= 0, "Frame::from_matrix", "tolerance must be >= 0, got ", tolerance);
    PATHQ_CHECK(F.rows() >= 1 && F.cols() > F.rows(), "Frame::from_matrix",
                "F must be n x p with p > n >= 1, got ", F.rows(), " x ", F.cols());
    const FuntfCheck c = check_funtf(F);
    PATHQ_CHECK(c.is_funtf(tolerance), "Frame::from_matrix",
                "F is not a unit-norm tight frame: max | ||e_k|| - 1 | = ", c.max_norm_error,
                ", max |(n/p) F F^T - I| = ", c.tightness_error, " (tolerance ", tolerance, ")");
    Frame f;
    f.m_kind = FrameKind::Explicit;
    f.m_n = F.rows();
    f.m_p = F.cols();
    f.m_explicit = F;
    return f;
  }

  /// An empty frame (n = p = 0), a placeholder to assign to; use `harmonic` or `from_matrix`.
  Frame() = default;

  FrameKind kind() const { return m_kind; }
  /// n: the dimension of the space.
  Eigen::Index dimension() const { return m_n; }
  /// p: the number of frame elements.
  Eigen::Index size() const { return m_p; }
  /// p / n.
  double redundancy() const { return double(m_p) / double(m_n); }

  /// Entry `i` of element `k` (0-based: column k of F).
  double entry(Eigen::Index i, Eigen::Index k) const {
    PATHQ_ASSERT(i >= 0 && i < m_n && k >= 0 && k < m_p);
    if (m_kind == FrameKind::Explicit) return m_explicit(i, k);
    const double s = std::sqrt(2.0 / double(m_n));
    const Eigen::Index off = m_n % 2;
    if (off == 1 && i == 0) return 1.0 / std::sqrt(double(m_n));
    const Eigen::Index j = (i - off) / 2 + 1;
    const std::int64_t m = (std::int64_t(j) * std::int64_t(k + 1)) % std::int64_t(m_p);
    return s * ((i - off) % 2 == 0 ? m_cos[std::size_t(m)] : m_sin[std::size_t(m)]);
  }

  /// Writes columns `index[0..count)` of F into `out` (resized to `n x count`). `index` null
  /// means the contiguous columns `first, first + 1, ...`.
  template <class Scalar>
  void columns(Eigen::Index first, Eigen::Index count, const Eigen::Index* index,
               Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) const {
    out.resize(m_n, count);
    for (Eigen::Index c = 0; c < count; ++c) {
      const Eigen::Index k = index ? index[c] : first + c;
      PATHQ_ASSERT(k >= 0 && k < m_p);
      if (m_kind == FrameKind::Explicit) {
        out.col(c) = m_explicit.col(k).template cast<Scalar>();
        continue;
      }
      const double s = std::sqrt(2.0 / double(m_n));
      const Eigen::Index off = m_n % 2;
      if (off) out(0, c) = Scalar(1.0 / std::sqrt(double(m_n)));
      // Angle index (j (k+1)) mod p for j = 1, 2, ..., advanced by addition.
      const std::int64_t step = std::int64_t(k + 1) % std::int64_t(m_p);
      std::int64_t m = 0;
      for (Eigen::Index i = off; i < m_n; i += 2) {
        m += step;
        if (m >= std::int64_t(m_p)) m -= std::int64_t(m_p);
        out(i, c) = Scalar(s * m_cos[std::size_t(m)]);
        out(i + 1, c) = Scalar(s * m_sin[std::size_t(m)]);
      }
    }
  }

  /// The whole synthesis matrix `F` (`n x p`). `O(n p)` memory: for tests and small frames.
  Eigen::MatrixXd matrix() const {
    Eigen::MatrixXd F;
    columns<double>(0, m_p, nullptr, F);
    return F;
  }

  /// `||e_a - e_b||` for 0-based elements a, b. Harmonic frames compute it without cancellation,
  /// `||e_a - e_b||^2 = (8/n) sum_j sin^2(pi j (a - b) / p)`.
  double distance(Eigen::Index a, Eigen::Index b) const {
    PATHQ_CHECK(a >= 0 && a < m_p && b >= 0 && b < m_p, "Frame::distance", "element indices must be in [0, ",
                m_p, "), got ", a, " and ", b);
    if (m_kind == FrameKind::Explicit) return (m_explicit.col(a) - m_explicit.col(b)).norm();
    const double pi = 3.14159265358979323846;
    std::int64_t d = std::int64_t(a) - std::int64_t(b);
    if (d < 0) d = -d;
    double sum = 0;
    for (Eigen::Index j = 1; j <= m_n / 2; ++j) {
      const std::int64_t m = (std::int64_t(j) * d) % std::int64_t(m_p);
      const double s = std::sin(pi * double(m) / double(m_p));
      sum += s * s;
    }
    return std::sqrt(8.0 * sum / double(m_n));
  }

  /// Frame variation `sigma(F, pi) = sum_{i=1}^{p-1} ||e_{pi(i)} - e_{pi(i+1)}||` for the walk
  /// `order` (a permutation of 0..p-1; empty: the natural order). The harmonic frame in natural
  /// order takes `O(n)`; otherwise `O(n p)`.
  /// \throws invalid_argument if `order` is not a permutation of 0..p-1.
  double variation(const std::vector<Eigen::Index>& order = {}) const {
    check_order("Frame::variation", order);
    if (m_p < 2) return 0;
    if (order.empty() && m_kind == FrameKind::Harmonic) return double(m_p - 1) * distance(0, 1);
    double sigma = 0;
    for (Eigen::Index i = 0; i + 1 < m_p; ++i) {
      const Eigen::Index a = order.empty() ? i : order[std::size_t(i)];
      const Eigen::Index b = order.empty() ? i + 1 : order[std::size_t(i + 1)];
      sigma += distance(a, b);
    }
    return sigma;
  }

  /// `c = F^T x` (`p`-vector) for `x` in R^n. `O(n p)`.
  template <class D>
  Eigen::VectorXd analysis(const Eigen::MatrixBase<D>& x) const {
    PATHQ_CHECK(x.size() == m_n, "Frame::analysis", "x has ", x.size(), " entries but the frame is of R^", m_n);
    const Eigen::VectorXd xd = x.template cast<double>().reshaped();
    Eigen::VectorXd c(m_p);
    Eigen::MatrixXd block;
    for (Eigen::Index k0 = 0; k0 < m_p; k0 += block_columns) {
      const Eigen::Index cnt = std::min(block_columns, m_p - k0);
      columns<double>(k0, cnt, nullptr, block);
      c.segment(k0, cnt).noalias() = block.transpose() * xd;
    }
    return c;
  }

  /// `F q` (`n`-vector) for `q` in R^p. `O(n p)`. The canonical dual reconstruction of a FUNTF
  /// is `(n/p) F q`.
  template <class D>
  Eigen::VectorXd synthesis(const Eigen::MatrixBase<D>& q) const {
    PATHQ_CHECK(q.size() == m_p, "Frame::synthesis", "q has ", q.size(), " entries but the frame has ", m_p,
                " elements");
    const Eigen::VectorXd qd = q.template cast<double>().reshaped();
    Eigen::VectorXd x = Eigen::VectorXd::Zero(m_n);
    Eigen::MatrixXd block;
    for (Eigen::Index k0 = 0; k0 < m_p; k0 += block_columns) {
      const Eigen::Index cnt = std::min(block_columns, m_p - k0);
      columns<double>(k0, cnt, nullptr, block);
      x.noalias() += block * qd.segment(k0, cnt);
    }
    return x;
  }

  /// \throws invalid_argument unless `order` is empty or a permutation of 0..p-1.
  void check_order(const char* where, const std::vector<Eigen::Index>& order) const {
    if (order.empty()) return;
    PATHQ_CHECK(Eigen::Index(order.size()) == m_p, where, "order has ", order.size(),
                " entries but the frame has p = ", m_p, " elements");
    std::vector<char> seen(std::size_t(m_p), 0);
    for (std::size_t i = 0; i < order.size(); ++i) {
      const Eigen::Index k = order[i];
      PATHQ_CHECK(k >= 0 && k < m_p, where, "order[", i, "] = ", k, " is outside [0, ", m_p, ")");
      PATHQ_CHECK(!seen[std::size_t(k)], where, "order repeats element ", k, " (it must be a permutation)");
      seen[std::size_t(k)] = 1;
    }
  }

 private:
  static constexpr Eigen::Index block_columns = 256;

  FrameKind m_kind = FrameKind::Harmonic;
  Eigen::Index m_n = 0;
  Eigen::Index m_p = 0;
  std::vector<double> m_cos, m_sin;  // cos(2 pi m / p), sin(2 pi m / p), m = 0..p-1 (harmonic)
  Eigen::MatrixXd m_explicit;        // n x p (explicit)
};

}  // namespace pathq

#endif  // PATHQ_FRAMES_FRAME_HPP
