// Frame quantization with first-order Sigma-Delta (Czaja-Na): data-free, codes in frame coordinates.
#ifndef PATHQ_METHODS_SIGMA_DELTA_HPP
#define PATHQ_METHODS_SIGMA_DELTA_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/result.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/frames/frame.hpp"
#include "pathq/methods/sigma_delta_code.hpp"

namespace pathq {

/// Which vectors of a layer are expanded in the frame.
enum class FrameAxis {
  Columns,  ///< each neuron `W[:, j]` in R^{N_in} (n = N_in); codes `p x N_out`
  Rows      ///< each row `W[t, :]` in R^{N_out} (n = N_out); codes `p x N_in`
};

inline const char* to_string(FrameAxis a) { return a == FrameAxis::Columns ? "columns" : "rows"; }

/// How a bias `b` (N_out entries) is quantized.
enum class BiasMode {
  ExtraRow,  ///< appended to W as row N_in: columns then live in R^{N_in+1}; with rows, b is one more vector
  OwnFrame   ///< expanded on its own in the harmonic frame of R^{N_out} with `bias_frame_size` elements
};

inline const char* to_string(BiasMode m) { return m == BiasMode::ExtraRow ? "extra_row" : "own_frame"; }

/// Options of frame Sigma-Delta quantization.
struct SigmaDeltaOptions {
  Eigen::Index frame_size = 0;    ///< p, elements of the harmonic frame; p >= n + 1 (unused with a given frame)
  int levels = 1;                 ///< L: the midrise alphabet `{(j + 1/2) step : -L <= j < L}` (2L levels), 1 <= L < 2^30
  double step = 0;                ///< a fixed step > 0; 0 picks the smallest stable step times `step_scale`
  double step_scale = 1;          ///< C > 0: `step = C max_j ||x_j|| / (L - 1/2)`; C >= 1 keeps |u| <= step/2
  bool per_vector_step = false;   ///< one step per expanded vector, `C ||x_j|| / (L - 1/2)`, instead of one per layer
  FrameAxis axis = FrameAxis::Columns;
  std::vector<Eigen::Index> order;  ///< the walk pi, a permutation of 0..p-1; empty: the natural order
  BiasMode bias_mode = BiasMode::ExtraRow;
  Eigen::Index bias_frame_size = 0;  ///< OwnFrame: p_b >= N_out + 1; 0: max(N_out + 1, ceil(N_out p / n))
  EngineOptions engine;           ///< frame elements per block, vectors per panel, threads

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(frame_size >= 0, "SigmaDeltaOptions", "frame_size must be >= 0, got ", frame_size);
    PATHQ_CHECK(levels >= 1 && levels < (1 << 30), "SigmaDeltaOptions",
                "levels L must be in [1, 2^30), got ", levels);
    PATHQ_CHECK(std::isfinite(step) && step >= 0, "SigmaDeltaOptions",
                "step must be finite and >= 0 (0: the smallest stable step), got ", step);
    PATHQ_CHECK(std::isfinite(step_scale) && step_scale > 0, "SigmaDeltaOptions",
                "step_scale must be finite and > 0, got ", step_scale);
    PATHQ_CHECK(bias_frame_size >= 0, "SigmaDeltaOptions", "bias_frame_size must be >= 0, got ", bias_frame_size);
    engine.validate("SigmaDeltaOptions");
  }
};

/// A layer quantized by frame Sigma-Delta. The stored form is `weights` (and `bias` for
/// `BiasMode::OwnFrame`): integer codes `p x count`, the step(s), (n, p) and the walk; the
/// reconstruction `W_q = (n/p) F Q` is computed on demand (`values()`) or applied to inputs
/// without being formed (`apply()`).
template <class Scalar>
struct SigmaDeltaResult {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  FrameAxis axis = FrameAxis::Columns;
  Eigen::Index n_in = 0, n_out = 0;  ///< the layer's shape
  bool has_bias = false;
  BiasMode bias_mode = BiasMode::ExtraRow;
  /// The expanded vectors. Columns: `W[:, j]` (with ExtraRow and a bias, `[W; b^T][:, j]`, n = N_in + 1).
  /// Rows: `W[t, :]^T`, t < N_in (with ExtraRow and a bias, `b` as vector N_in).
  SigmaDeltaCode<Scalar> weights;
  SigmaDeltaCode<Scalar> bias;  ///< OwnFrame with a bias: `b` in the harmonic frame of R^{N_out}
  QuantInfo info;  ///< NumericalIssue when a state left [-step/2, step/2]; saturated steps; seconds

  /// The codes of the weights, `p x count` (see `weights`).
  const Codes& codes() const { return weights.codes; }
  /// The step(s) of the weights, one per expanded vector.
  const typename SigmaDeltaCode<Scalar>::RowVector& step() const { return weights.step; }
  /// n, the dimension of the expanded vectors.
  Eigen::Index n() const { return weights.n(); }
  /// p, the frame size.
  Eigen::Index p() const { return weights.p(); }
  /// Stored bits per weight, `p log2(2L) / n`.
  double bits_per_weight() const { return weights.bits_per_entry(); }
  /// True when every state stayed in [-step/2, step/2] (up to rounding): the bound applies.
  bool stable() const { return weights.stable() && (!has_bias || bias_mode != BiasMode::OwnFrame || bias.stable()); }

  /// `W_q`, `N_in x N_out`. `O(n p count)`.
  Matrix values() const {
    const Matrix V = weights.vectors();
    if (axis == FrameAxis::Columns) return V.topRows(n_in);
    return V.leftCols(n_in).transpose();
  }

  /// `b_q` (`N_out` entries); zero when no bias was quantized.
  Vector bias_values() const {
    if (!has_bias) return Vector::Zero(n_out);
    if (bias_mode == BiasMode::OwnFrame) return bias.vectors().col(0);
    if (axis == FrameAxis::Columns) return weights.vectors().row(n_in).transpose();
    return weights.vectors().col(n_in);
  }

  /// `X W_q` (plus `1 b_q^T` when a bias was quantized) for inputs `X` (`m x N_in`), from the
  /// codes: `(n/p) (X F) Q` block by block, never forming `W_q`. `O(m p (n + count))`.
  template <class D>
  Matrix apply(const Eigen::MatrixBase<D>& X) const {
    PATHQ_CHECK(X.cols() == n_in, "SigmaDeltaResult::apply", "X has ", X.cols(), " columns but the layer has N_in = ",
                n_in);
    const bool extra = has_bias && bias_mode == BiasMode::ExtraRow;
    Matrix Y;
    if (axis == FrameAxis::Columns) {
      if (extra) {
        Matrix Xa(X.rows(), n_in + 1);
        Xa.leftCols(n_in) = X.template cast<Scalar>();
        Xa.col(n_in).setOnes();
        return weights.apply(Xa);
      }
      Y = weights.apply(X.template cast<Scalar>());
    } else {
      // X W_q = X V_q[:, :N_in]^T, and V_q[:, N_in] is the bias.
      if (extra) {
        Matrix Xa(X.rows(), n_in + 1);
        Xa.leftCols(n_in) = X.template cast<Scalar>();
        Xa.col(n_in).setOnes();
        return weights.apply_transposed(Xa);
      }
      Y = weights.apply_transposed(X.template cast<Scalar>());
    }
    if (has_bias) Y.rowwise() += bias_values().transpose();
    return Y;
  }
};

/// First-order Sigma-Delta frame quantization of weight matrices and biases
/// (docs/algorithms.md#frame-sigma-delta).
/// Each vector `x` (a column of W, or a row with `FrameAxis::Rows`) is expanded in a finite
/// unit-norm tight frame, `c = F^T x`, and its coefficients are quantized in the walk `pi` by
///
///     v = u + c_{pi(k)},   q_{pi(k)} = Q_B(v) = step (clip(floor(v / step), -L, L-1) + 1/2),   u = v - q_{pi(k)}
///
/// on the midrise alphabet of 2L levels (ties go up: `v = m step` gives `(m + 1/2) step`). The
/// reconstruction is the canonical dual, `x_q = (n/p) F q`, exact without quantization.
/// Stability: if `||x|| <= (L - 1/2) step` (so every `|c_k| <= (L - 1/2) step`), then
/// `|u| <= step/2` throughout, and `||x - x_q|| <= (step n / 2p) (sigma(F, pi) + 1)`
/// (`bounds::sigma_delta_vector`). The default step is the smallest stable one,
/// `max_j ||x_j|| / (L - 1/2)`; 1 bit is L = 1 (levels `±step/2`, `step = 2 max_j ||x_j||`).
/// When a state leaves `[-step/2, step/2]` (a step below the stable one), `info.status` is
/// `NumericalIssue` and the message says so: the bound then does not apply.
///
/// The frame is the harmonic frame of R^n with `frame_size` elements, generated a block at a
/// time and never stored, or a FUNTF given by the caller. Vectors run in panels of
/// `engine.panel_width` on OpenMP threads (results do not depend on the thread count); in each
/// panel a block of `engine.block_size` frame elements costs one GEMM for the coefficients,
/// then the Sigma-Delta steps are vector operations across the panel.
///
/// \see W. Czaja & S. Na, "Frame Quantization of Neural Networks", arXiv 2404.08131 (J. Fourier
/// Anal. Appl. 2025); J. Benedetto, A. Powell & O. Yilmaz, "Sigma-Delta quantization and finite
/// frames", IEEE Trans. Inf. Theory 52(5), 2006.
/// \tparam Scalar float or double.
/// Complexity: `O(n p count)` multiply-adds in GEMM (the coefficients) plus `O(p count)` for the
/// Sigma-Delta steps; memory `O(p count)` for the codes and `O(p + n block)` for the frame.
template <class Scalar>
class SigmaDelta {
  static_assert(std::is_floating_point<Scalar>::value, "SigmaDelta computes in a floating-point type: use float or double.");

 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

  /// \throws invalid_argument if the options are invalid.
  explicit SigmaDelta(SigmaDeltaOptions options = {}) : m_options(std::move(options)) { m_options.validate(); }

  const SigmaDeltaOptions& options() const { return m_options; }

  /// Quantizes each column of `V` (`n x count`) in `frame` (of R^n), with the options' levels,
  /// step rule, walk and engine settings (the axis and bias fields do not apply).
  /// \throws invalid_argument on empty or non-finite V, a frame of another dimension, or a bad walk.
  template <class D>
  SigmaDeltaCode<Scalar> expand(const Eigen::MatrixBase<D>& V, const Frame& frame) const {
    detail::check_nonempty("SigmaDelta::expand", "V", V);
    detail::check_finite("SigmaDelta::expand", "V", V);
    return expand_checked("SigmaDelta::expand", V.template cast<Scalar>(), frame, m_options.order, nullptr);
  }

  /// Quantizes each column of `V` in the harmonic frame of R^n with `frame_size` elements.
  template <class D>
  SigmaDeltaCode<Scalar> expand(const Eigen::MatrixBase<D>& V) const {
    detail::check_nonempty("SigmaDelta::expand", "V", V);
    return expand(V, harmonic_frame("SigmaDelta::expand", V.rows()));
  }

  /// Quantizes the layer `W` (`N_in x N_out`) in the harmonic frame with `frame_size` elements.
  /// \throws invalid_argument on empty or non-finite W, or `frame_size <= n`.
  template <class D>
  SigmaDeltaResult<Scalar> quantize(const Eigen::MatrixBase<D>& W) const {
    detail::check_weights("sigma_delta", W);
    return run(W.template cast<Scalar>(), nullptr, nullptr);
  }

  /// Quantizes `W` and its bias `b` (`N_out` entries), as `bias_mode` says.
  template <class D, class DB>
  SigmaDeltaResult<Scalar> quantize(const Eigen::MatrixBase<D>& W, const Eigen::MatrixBase<DB>& b) const {
    detail::check_weights("sigma_delta", W);
    check_bias(W, b);
    const Matrix bs = b.template cast<Scalar>().reshaped(b.size(), 1);
    return run(W.template cast<Scalar>(), &bs, nullptr);
  }

  /// Quantizes `W` in the given `frame` (of R^n, n the dimension of the expanded vectors).
  template <class D>
  SigmaDeltaResult<Scalar> quantize(const Eigen::MatrixBase<D>& W, const Frame& frame) const {
    detail::check_weights("sigma_delta", W);
    return run(W.template cast<Scalar>(), nullptr, &frame);
  }

  /// Quantizes `W` and `b` in the given `frame` (the bias with OwnFrame uses a harmonic frame).
  template <class D, class DB>
  SigmaDeltaResult<Scalar> quantize(const Eigen::MatrixBase<D>& W, const Eigen::MatrixBase<DB>& b,
                                    const Frame& frame) const {
    detail::check_weights("sigma_delta", W);
    check_bias(W, b);
    const Matrix bs = b.template cast<Scalar>().reshaped(b.size(), 1);
    return run(W.template cast<Scalar>(), &bs, &frame);
  }

 private:
  template <class D, class DB>
  static void check_bias(const Eigen::MatrixBase<D>& W, const Eigen::MatrixBase<DB>& b) {
    PATHQ_CHECK(b.size() == W.cols() && (b.rows() == 1 || b.cols() == 1), "sigma_delta", "bias has ", b.rows(),
                " x ", b.cols(), " entries but W has N_out = ", W.cols(), " columns");
    detail::check_finite("sigma_delta", "bias", b);
  }

  Frame harmonic_frame(const char* where, Eigen::Index n) const {
    PATHQ_CHECK(m_options.frame_size > n, where, "frame_size p must be > n = ", n,
                " (the dimension of the expanded vectors), got ", m_options.frame_size);
    return Frame::harmonic(n, m_options.frame_size);
  }

  // The steps for the columns of V: fixed, one per layer, or one per vector.
  RowVector steps_for(const Matrix& V, int L) const {
    RowVector step(V.cols());
    if (m_options.step > 0) {
      step.setConstant(Scalar(m_options.step));
      return step;
    }
    const double scale = m_options.step_scale / (double(L) - 0.5);
    const Eigen::RowVectorXd norms = V.template cast<double>().colwise().norm();
    if (m_options.per_vector_step) {
      for (Eigen::Index j = 0; j < V.cols(); ++j) step(j) = Scalar(norms(j) > 0 ? scale * norms(j) : 1.0);
    } else {
      const double r = norms.maxCoeff();
      step.setConstant(Scalar(r > 0 ? scale * r : 1.0));
    }
    return step;
  }

  SigmaDeltaCode<Scalar> expand_checked(const char* where, const Matrix& V, const Frame& frame,
                                        const std::vector<Eigen::Index>& order, QuantInfo* info) const {
    PATHQ_CHECK(frame.dimension() == V.rows() && frame.size() > 0, where, "the frame is of R^", frame.dimension(),
                " but the vectors have n = ", V.rows(), " entries");
    frame.check_order(where, order);
    const int L = m_options.levels;
    SigmaDeltaCode<Scalar> code;
    code.frame = frame;
    code.levels = L;
    code.order = order;
    code.step = steps_for(V, L);
    for (Eigen::Index j = 0; j < code.step.size(); ++j)
      PATHQ_CHECK(std::isfinite(double(code.step(j))) && code.step(j) > 0, where,
                  "the step of vector ", j, " is not finite and positive (", double(code.step(j)), ")");
    const Eigen::Index saturated = detail::sigma_delta_scan(V, frame, order, L, code.step, m_options.engine,
                                                            code.codes, code.max_state);
    if (info) info->saturated += saturated;
    return code;
  }

  SigmaDeltaResult<Scalar> run(const Matrix& W, const Matrix* b, const Frame* frame) const {
    const auto start = std::chrono::steady_clock::now();
    SigmaDeltaResult<Scalar> r;
    r.axis = m_options.axis;
    r.n_in = W.rows();
    r.n_out = W.cols();
    r.has_bias = b != nullptr;
    r.bias_mode = m_options.bias_mode;
    const bool extra = b && m_options.bias_mode == BiasMode::ExtraRow;
    // The vectors to expand, one per column of V.
    Matrix V;
    if (m_options.axis == FrameAxis::Columns) {
      V.resize(W.rows() + (extra ? 1 : 0), W.cols());
      V.topRows(W.rows()) = W;
      if (extra) V.row(W.rows()) = b->transpose();
    } else {
      V.resize(W.cols(), W.rows() + (extra ? 1 : 0));
      V.leftCols(W.rows()) = W.transpose();
      if (extra) V.col(W.rows()) = *b;
    }
    const Frame used = frame ? *frame : harmonic_frame("sigma_delta", V.rows());
    r.weights = expand_checked("sigma_delta", V, used, m_options.order, &r.info);
    if (b && m_options.bias_mode == BiasMode::OwnFrame) {
      const Eigen::Index nb = W.cols();
      Eigen::Index pb = m_options.bias_frame_size;
      if (pb == 0) {
        const double ratio = double(used.size()) / double(V.rows());
        pb = std::max<Eigen::Index>(nb + 1, Eigen::Index(std::ceil(ratio * double(nb))));
      }
      PATHQ_CHECK(pb > nb, "sigma_delta", "bias_frame_size must be > N_out = ", nb, ", got ", pb);
      r.bias = expand_checked("sigma_delta", *b, Frame::harmonic(nb, pb), {}, &r.info);
    }
    if (!r.stable()) {
      const auto worst = [](const SigmaDeltaCode<Scalar>& c) {
        double w = 0;
        for (Eigen::Index j = 0; j < c.step.size(); ++j) w = std::max(w, double(c.max_state(j)) / double(c.step(j)));
        return w;
      };
      double w = worst(r.weights);
      if (r.has_bias && r.bias_mode == BiasMode::OwnFrame) w = std::max(w, worst(r.bias));
      r.info.status = Info::NumericalIssue;
      r.info.message = detail::concat("the Sigma-Delta state reached |u| = ", w,
                                      " step (> 1/2): the step is below the stable step max_j ||x_j|| / (L - 1/2)",
                                      " and the error bound does not apply");
    }
    r.info.extra["bits_per_weight"] = r.bits_per_weight();
    r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  SigmaDeltaOptions m_options;
};

/// Throws `numerical_error` with the result's message unless its status is `Success`.
template <class Scalar>
const SigmaDeltaResult<Scalar>& require_success(const SigmaDeltaResult<Scalar>& r, const char* where) {
  if (r.info.status != Info::Success)
    throw numerical_error(detail::concat("pathq::", where, ": ", to_string(r.info.status),
                                         r.info.message.empty() ? "" : ": ", r.info.message));
  return r;
}

/// One call: `SigmaDelta<Scalar>(options).quantize(W)` in W's scalar type.
/// 	hrows invalid_argument on bad input; numerical_error when a state left `[-step/2, step/2]`.
template <class D>
SigmaDeltaResult<typename D::Scalar> sigma_delta(const Eigen::MatrixBase<D>& W, const SigmaDeltaOptions& options) {
  auto r = SigmaDelta<typename D::Scalar>(options).quantize(W);
  require_success(r, "sigma_delta");
  return r;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_SIGMA_DELTA_HPP
