// Network layers: dense, conv2d (im2col), activations, pooling, flatten, batch norm, residual marks.
#ifndef PATHQ_NETWORK_LAYERS_HPP
#define PATHQ_NETWORK_LAYERS_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <variant>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/network/im2col.hpp"

namespace pathq {

/// A fully connected layer: `Y = X W + 1 b^T`, `W` `N_in x N_out` (a neuron is a column; PyTorch's
/// `Linear.weight` is `W^T`), `b` `N_out` or empty (no bias). Any input shape is read flat.
template <class Scalar>
struct Dense {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Matrix W;
  Vector b;

  TensorShape output_shape(const TensorShape& in) const {
    PATHQ_CHECK(W.rows() >= 1 && W.cols() >= 1, "Dense", "W is empty (", W.rows(), " x ", W.cols(), ")");
    PATHQ_CHECK(in.size() == W.rows(), "Dense", "input has ", in.size(), " features (shape ", in.text(),
                ") but W has ", W.rows(), " rows");
    PATHQ_CHECK(b.size() == 0 || b.size() == W.cols(), "Dense", "b has ", b.size(), " entries but W has ",
                W.cols(), " columns");
    return {W.cols(), 1, 1};
  }
  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape&) const {
    Batch<Scalar> Y = A * W;
    if (b.size()) Y.rowwise() += b.transpose();
    return Y;
  }
};

/// A 2-D convolution lowered by im2col (ConvGeometry for stride, padding, dilation, groups).
/// `W` is `patch_size() x C_out`: column `o` is output channel `o` (a neuron), its rows in
/// PyTorch's `weight[o].flatten()` order (channel within the group, kernel row, kernel column).
/// Columns `[g C_out/groups, (g+1) C_out/groups)` belong to group `g`.
template <class Scalar>
struct Conv2d {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  ConvGeometry geometry;
  Matrix W;
  Vector b;

  TensorShape output_shape(const TensorShape& in) const {
    const TensorShape out = geometry.output_shape(in, "Conv2d");
    PATHQ_CHECK(W.rows() == geometry.patch_size() && W.cols() == geometry.out_channels, "Conv2d", "W is ",
                W.rows(), " x ", W.cols(), " but the geometry needs ", geometry.patch_size(), " x ",
                geometry.out_channels);
    PATHQ_CHECK(b.size() == 0 || b.size() == W.cols(), "Conv2d", "b has ", b.size(), " entries but there are ",
                W.cols(), " output channels");
    return out;
  }
  /// Output channels of one group.
  Eigen::Index group_width() const { return geometry.out_channels / geometry.groups; }

  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape& in) const {
    using Index = Eigen::Index;
    const TensorShape out = output_shape(in);
    const Index L = out.height * out.width, ow = group_width();
    Batch<Scalar> Y(A.rows(), out.size());
    for (Index g = 0; g < geometry.groups; ++g) {
      const Batch<Scalar> P = im2col<Scalar>(A, in, geometry, g);
      const Batch<Scalar> Yp = P * W.middleCols(g * ow, ow);  // (B L) x ow
      for (Index s = 0; s < A.rows(); ++s)
        for (Index o = 0; o < ow; ++o) {
          const Scalar bias = b.size() ? b(g * ow + o) : Scalar(0);
          Scalar* dst = Y.data() + s * Y.cols() + (g * ow + o) * L;
          for (Index l = 0; l < L; ++l) dst[l] = Yp(s * L + l, o) + bias;
        }
    }
    return Y;
  }
};

/// Element-wise activations. All but `HardSwish` are 1-Lipschitz (sigmoid: 1/4; `LeakyRelu`
/// needs its slope in [0, 1]); hard-swish, `x min(max(x + 3, 0), 6) / 6` (MobileNetV3), has
/// Lipschitz constant 3/2 (its slope reaches 3/2 just below x = 3). The network error bounds
/// (`bounds::network_feedforward`, `bounds::network_residual`, `bounds::spfq_network`) take the
/// constant as an argument: pass `lipschitz_constant` of the network's activations.
enum class ActivationKind { Identity, Relu, LeakyRelu, HardTanh, Tanh, Sigmoid, HardSwish };

inline const char* to_string(ActivationKind k) {
  switch (k) {
    case ActivationKind::Identity: return "identity";
    case ActivationKind::Relu: return "relu";
    case ActivationKind::LeakyRelu: return "leaky_relu";
    case ActivationKind::HardTanh: return "hardtanh";
    case ActivationKind::Tanh: return "tanh";
    case ActivationKind::Sigmoid: return "sigmoid";
    case ActivationKind::HardSwish: return "hardswish";
  }
  return "unknown";
}

struct Activation {
  ActivationKind kind = ActivationKind::Relu;
  double slope = 0.01;  ///< LeakyRelu's negative slope, in [0, 1]

  TensorShape output_shape(const TensorShape& in) const {
    PATHQ_CHECK(kind != ActivationKind::LeakyRelu || (slope >= 0 && slope <= 1), "Activation",
                "leaky_relu slope must be in [0, 1] (1-Lipschitz), got ", slope);
    return in;
  }
  template <class Scalar>
  Scalar apply(Scalar x) const {
    switch (kind) {
      case ActivationKind::Identity: return x;
      case ActivationKind::Relu: return x > Scalar(0) ? x : Scalar(0);
      case ActivationKind::LeakyRelu: return x > Scalar(0) ? x : Scalar(slope) * x;
      case ActivationKind::HardTanh: return std::min(Scalar(1), std::max(Scalar(-1), x));
      case ActivationKind::Tanh: return std::tanh(x);
      case ActivationKind::Sigmoid: return Scalar(1) / (Scalar(1) + std::exp(-x));
      case ActivationKind::HardSwish: return x * std::min(std::max(x + Scalar(3), Scalar(0)), Scalar(6)) / Scalar(6);
    }
    return x;
  }
  template <class Scalar>
  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape&) const {
    if (kind == ActivationKind::Relu) return A.cwiseMax(Scalar(0));
    return A.unaryExpr([this](Scalar x) { return apply(x); });
  }
};

/// The smallest `L` with `|f(x) - f(y)| <= L |x - y|` for activation `a`: 1 for identity, ReLU,
/// leaky ReLU (slope in [0, 1]), hard-tanh and tanh; 1/4 for sigmoid; 3/2 for hard-swish.
inline double lipschitz_constant(const Activation& a) {
  switch (a.kind) {
    case ActivationKind::Sigmoid: return 0.25;
    case ActivationKind::HardSwish: return 1.5;
    case ActivationKind::LeakyRelu: return std::max(1.0, std::abs(a.slope));
    default: return 1.0;
  }
}

enum class PoolKind { Max, Average };

/// Max or average pooling over `kernel_h x kernel_w` windows per channel (PyTorch semantics;
/// padding reads as -infinity for max and as zero for average, which divides by the full
/// window: `count_include_pad`). Stride 0 means "equal to the kernel".
struct Pool2d {
  PoolKind kind = PoolKind::Max;
  Eigen::Index kernel_h = 2, kernel_w = 2, stride_h = 0, stride_w = 0, pad_h = 0, pad_w = 0;

  Eigen::Index sh() const { return stride_h ? stride_h : kernel_h; }
  Eigen::Index sw() const { return stride_w ? stride_w : kernel_w; }
  TensorShape output_shape(const TensorShape& in) const {
    PATHQ_CHECK(kernel_h >= 1 && kernel_w >= 1 && stride_h >= 0 && stride_w >= 0, "Pool2d",
                "kernel must be >= 1 and stride >= 0, got kernel ", kernel_h, "x", kernel_w, ", stride ", stride_h,
                "x", stride_w);
    PATHQ_CHECK(pad_h >= 0 && pad_w >= 0 && 2 * pad_h <= kernel_h && 2 * pad_w <= kernel_w, "Pool2d",
                "padding must be in [0, kernel/2], got ", pad_h, "x", pad_w);
    PATHQ_CHECK(in.height + 2 * pad_h >= kernel_h && in.width + 2 * pad_w >= kernel_w, "Pool2d", "input ",
                in.text(), " is smaller than the window ", kernel_h, "x", kernel_w);
    return {in.channels, (in.height + 2 * pad_h - kernel_h) / sh() + 1, (in.width + 2 * pad_w - kernel_w) / sw() + 1};
  }
  template <class Scalar>
  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape& in) const {
    using Index = Eigen::Index;
    const TensorShape out = output_shape(in);
    Batch<Scalar> Y(A.rows(), out.size());
    const Index HW = in.height * in.width, L = out.height * out.width;
    for (Index s = 0; s < A.rows(); ++s)
      for (Index c = 0; c < in.channels; ++c)
        for (Index oh = 0; oh < out.height; ++oh)
          for (Index ow = 0; ow < out.width; ++ow) {
            Scalar acc = kind == PoolKind::Max ? -std::numeric_limits<Scalar>::infinity() : Scalar(0);
            for (Index i = 0; i < kernel_h; ++i)
              for (Index j = 0; j < kernel_w; ++j) {
                const Index ih = oh * sh() - pad_h + i, iw = ow * sw() - pad_w + j;
                if (ih < 0 || ih >= in.height || iw < 0 || iw >= in.width) continue;
                const Scalar v = A(s, c * HW + ih * in.width + iw);
                acc = kind == PoolKind::Max ? std::max(acc, v) : acc + v;
              }
            Y(s, c * L + oh * out.width + ow) = kind == PoolKind::Max ? acc : acc / Scalar(kernel_h * kernel_w);
          }
    return Y;
  }
};

/// Reads a `C x H x W` sample as `C H W` flat features (the data does not move).
struct Flatten {
  TensorShape output_shape(const TensorShape& in) const { return {in.size(), 1, 1}; }
  template <class Scalar>
  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape&) const { return A; }
};

/// Batch normalization at inference: per channel `c`,
/// `y = (x - mean_c) gamma_c / sqrt(var_c + eps) + beta_c` (a flat input has one channel per
/// feature). `fold_batch_norm` merges it into the neighbouring dense or conv layer.
template <class Scalar>
struct BatchNorm {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Vector gamma, beta, mean, var;
  double eps = 1e-5;

  /// The per-channel affine map `y = x s + t`.
  Vector scale() const {
    return (gamma.array() / (var.array() + Scalar(eps)).sqrt()).matrix();
  }
  Vector shift() const { return (beta.array() - mean.array() * scale().array()).matrix(); }

  TensorShape output_shape(const TensorShape& in) const {
    const Eigen::Index c = gamma.size();
    PATHQ_CHECK(c >= 1 && beta.size() == c && mean.size() == c && var.size() == c, "BatchNorm",
                "gamma, beta, mean and var must have the same positive length, got ", gamma.size(), ", ",
                beta.size(), ", ", mean.size(), ", ", var.size());
    PATHQ_CHECK(in.channels == c, "BatchNorm", "input has ", in.channels, " channels (shape ", in.text(),
                ") but the parameters have ", c);
    PATHQ_CHECK(eps >= 0 && (var.array() + Scalar(eps) > Scalar(0)).all(), "BatchNorm",
                "var + eps must be positive");
    return in;
  }
  Batch<Scalar> forward(const Batch<Scalar>& A, const TensorShape& in) const {
    const Vector s = scale(), t = shift();
    const Eigen::Index hw = in.height * in.width;
    Batch<Scalar> Y(A.rows(), A.cols());
    for (Eigen::Index c = 0; c < in.channels; ++c)
      Y.middleCols(c * hw, hw) = (A.middleCols(c * hw, hw).array() * s(c) + t(c)).matrix();
    return Y;
  }
};

/// Opens a residual block: the current activation is saved for the matching `ResidualEnd`.
struct ResidualBegin {};

/// Closes a residual block: adds the activation saved by the matching `ResidualBegin`
/// (through an optional projection, dense or convolution, when the shapes differ) to the
/// block's output: `y = body(x) + shortcut(x)`.
template <class Scalar>
struct ResidualEnd {
  std::variant<std::monostate, Dense<Scalar>, Conv2d<Scalar>> shortcut;

  bool has_projection() const { return shortcut.index() != 0; }
  /// The shape of the shortcut's output for a saved input shape.
  TensorShape shortcut_shape(const TensorShape& saved) const {
    if (auto* d = std::get_if<Dense<Scalar>>(&shortcut)) return d->output_shape(saved);
    if (auto* c = std::get_if<Conv2d<Scalar>>(&shortcut)) return c->output_shape(saved);
    return saved;
  }
  Batch<Scalar> shortcut_forward(const Batch<Scalar>& saved, const TensorShape& shape) const {
    if (auto* d = std::get_if<Dense<Scalar>>(&shortcut)) return d->forward(saved, shape);
    if (auto* c = std::get_if<Conv2d<Scalar>>(&shortcut)) return c->forward(saved, shape);
    return saved;
  }
};

}  // namespace pathq

#endif  // PATHQ_NETWORK_LAYERS_HPP
