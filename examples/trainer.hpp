// A small deterministic trainer for pathq's Sequential networks: backpropagation, SGD or Adam.
#ifndef PATHQ_EXAMPLES_TRAINER_HPP
#define PATHQ_EXAMPLES_TRAINER_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pathq/core/random.hpp>
#include <pathq/network/sequential.hpp>

namespace pathq_examples {

using Batch = pathq::Batch<float>;

/// Training settings. The result depends only on these, the data and the initial network
/// (Eigen runs on one thread while training, so the summation order is fixed).
struct TrainOptions {
  int epochs = 2;
  Eigen::Index batch_size = 128;
  bool adam = true;            ///< Adam (Kingma-Ba) or SGD with momentum
  double learning_rate = 1e-3;
  bool linear_decay = true;    ///< the learning rate falls linearly to 0 over the training
  double momentum = 0.9;       ///< SGD only
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  ///< Adam only
  std::uint64_t seed = 1;      ///< the shuffling stream
  double batch_norm_momentum = 0.1;  ///< running statistics: `(1 - momentum) old + momentum batch`
  /// Called after every mini-batch with (epoch, batch index, batches per epoch, running mean loss).
  std::function<void(int, Eigen::Index, Eigen::Index, double)> progress;
};

/// Uniform initialisation `U(-a, a)` with `a = sqrt(6 / fan_in)` (He et al. for ReLU networks),
/// zero biases, from pathq's counter-based stream: the same on every platform.
inline Eigen::MatrixXf he_uniform(Eigen::Index fan_in, Eigen::Index fan_out, std::uint64_t seed) {
  Eigen::MatrixXf W(fan_in, fan_out);
  const pathq::RandomStream s(seed, 0x1417);
  const double a = std::sqrt(6.0 / double(fan_in));
  for (Eigen::Index k = 0; k < W.size(); ++k) W.data()[k] = float((2.0 * s.uniform(std::uint64_t(k)) - 1.0) * a);
  return W;
}

inline pathq::Dense<float> init_dense(Eigen::Index n_in, Eigen::Index n_out, std::uint64_t seed) {
  return {he_uniform(n_in, n_out, seed), Eigen::VectorXf::Zero(n_out)};
}

inline pathq::Conv2d<float> init_conv(pathq::ConvGeometry g, std::uint64_t seed) {
  pathq::Conv2d<float> c;
  c.geometry = g;
  c.W = he_uniform(g.patch_size(), g.out_channels, seed);
  c.b = Eigen::VectorXf::Zero(g.out_channels);
  return c;
}

namespace detail {

// The trainable parameters of a layer, each as a flat vector over the layer's own storage:
// W and b of a dense/conv layer or of a residual projection (an empty bias gives an empty
// block), gamma and beta of a batch norm.
inline std::vector<Eigen::Map<Eigen::VectorXf>> parameters_of(pathq::Layer<float>& L) {
  using Map = Eigen::Map<Eigen::VectorXf>;
  std::vector<Map> p;
  auto affine = [&](auto& l) {
    p.emplace_back(l.W.data(), l.W.size());
    p.emplace_back(l.b.data(), l.b.size());
  };
  if (auto* d = std::get_if<pathq::Dense<float>>(&L)) affine(*d);
  if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) affine(*c);
  if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
    if (auto* d = std::get_if<pathq::Dense<float>>(&e->shortcut)) affine(*d);
    if (auto* c = std::get_if<pathq::Conv2d<float>>(&e->shortcut)) affine(*c);
  }
  if (auto* n = std::get_if<pathq::BatchNorm<float>>(&L)) {
    p.emplace_back(n->gamma.data(), n->gamma.size());
    p.emplace_back(n->beta.data(), n->beta.size());
  }
  return p;
}

using GradW = Eigen::Map<Eigen::MatrixXf>;
using GradB = Eigen::Map<Eigen::VectorXf>;

// Direct convolution (no im2col) when a group has few input channels: depthwise convolutions
// and first layers.
inline bool is_direct(const pathq::ConvGeometry& g) { return g.in_channels / g.groups <= 4; }
// Pointwise: a 1x1 kernel, stride 1, no padding, one group (a matrix product per sample).
inline bool is_pointwise(const pathq::ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0 &&
         g.groups == 1;
}

// The output positions `o` in [lo, hi) whose input position `o stride + offset` lies in [0, n).
inline std::pair<Eigen::Index, Eigen::Index> valid_range(Eigen::Index n_out, Eigen::Index n, Eigen::Index stride,
                                                         Eigen::Index offset) {
  const Eigen::Index lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const Eigen::Index hi = n - 1 - offset < 0 ? 0 : (n - 1 - offset) / stride + 1;
  return {std::min(lo, n_out), std::min(std::max(hi, lo), n_out)};
}

// Calls f(oc, ch, tap, oh, ih, ow_lo, ow_hi, col_off) for every output channel `oc`, input channel
// `ch` of its group, kernel tap (row `tap` of W) and output row `oh` of a convolution, where input
// row `ih` and input columns `ow stride_w + col_off` for ow in [ow_lo, ow_hi) are inside the image.
template <class F>
void direct_taps(const pathq::ConvGeometry& g, const pathq::TensorShape& in, const pathq::TensorShape& out, F&& f) {
  using Index = Eigen::Index;
  const Index cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  for (Index oc = 0; oc < g.out_channels; ++oc)
    for (Index cl = 0; cl < cg; ++cl)
      for (Index i = 0; i < g.kernel_h; ++i) {
        const Index row_off = i * g.dilation_h - g.pad_h;
        const auto [oh_lo, oh_hi] = valid_range(out.height, in.height, g.stride_h, row_off);
        for (Index j = 0; j < g.kernel_w; ++j) {
          const Index col_off = j * g.dilation_w - g.pad_w;
          const auto [ow_lo, ow_hi] = valid_range(out.width, in.width, g.stride_w, col_off);
          const Index tap = (cl * g.kernel_h + i) * g.kernel_w + j;
          for (Index oh = oh_lo; oh < oh_hi; ++oh)
            f(oc, (oc / og) * cg + cl, tap, oh, oh * g.stride_h + row_off, ow_lo, ow_hi, col_off);
        }
      }
}

using RowMajorMap = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// A convolution's output in training, into Y (whose storage is reused when it has the right
// size); the direct and pointwise cases avoid im2col.
inline void conv_forward(const pathq::Conv2d<float>& c, const Batch& A, const pathq::TensorShape& in, Batch& Y) {
  using Index = Eigen::Index;
  const pathq::ConvGeometry& g = c.geometry;
  const pathq::TensorShape out = c.output_shape(in);
  const Index HW = in.height * in.width, L = out.height * out.width;
  if (is_pointwise(g)) {
    Y.resize(A.rows(), out.size());
    for (Index s = 0; s < A.rows(); ++s) {
      RowMajorMap Ys(Y.data() + s * Y.cols(), g.out_channels, L);
      Ys.noalias() = c.W.transpose() * ConstRowMajorMap(A.data() + s * A.cols(), g.in_channels, L);
      if (c.b.size()) Ys.colwise() += c.b;
    }
  } else if (is_direct(g)) {
    Y.resize(A.rows(), out.size());
    for (Index s = 0; s < A.rows(); ++s) {
      const float* src = A.data() + s * A.cols();
      float* dst = Y.data() + s * Y.cols();
      for (Index oc = 0; oc < g.out_channels; ++oc)
        std::fill(dst + oc * L, dst + (oc + 1) * L, c.b.size() ? c.b(oc) : 0.0f);
      direct_taps(g, in, out, [&](Index oc, Index ch, Index tap, Index oh, Index ih, Index lo, Index hi, Index off) {
        const float w = c.W(tap, oc);
        const float* a = src + ch * HW + ih * in.width;
        float* y = dst + oc * L + oh * out.width;
        for (Index o = lo; o < hi; ++o) y[o] += w * a[o * g.stride_w + off];
      });
    }
  } else {
    Y = c.forward(A, in);
  }
}

// Gradients of an affine map (dense or conv) for input A and output gradient dY, added to dW
// and db; the input's gradient goes to *dA (skipped when dA is null).
inline void affine_backward(const pathq::Dense<float>& d, const Batch& A, const pathq::TensorShape&, const Batch& dY,
                            GradW dW, GradB db, Batch* dA) {
  dW.noalias() += A.transpose() * dY;
  if (db.size()) db += dY.colwise().sum().transpose();
  if (dA) dA->noalias() = dY * d.W.transpose();
}

inline void affine_backward(const pathq::Conv2d<float>& c, const Batch& A, const pathq::TensorShape& in,
                            const Batch& dY, GradW dW, GradB db, Batch* dA) {
  using Index = Eigen::Index;
  const pathq::ConvGeometry& geo = c.geometry;
  const pathq::TensorShape out = c.output_shape(in);
  const Index L = out.height * out.width, HW = in.height * in.width, ow = c.group_width();
  if (is_pointwise(geo)) {
    if (dA) dA->resize(A.rows(), A.cols());
    for (Index s = 0; s < A.rows(); ++s) {
      const ConstRowMajorMap As(A.data() + s * A.cols(), geo.in_channels, L);
      const ConstRowMajorMap dYs(dY.data() + s * dY.cols(), geo.out_channels, L);
      dW.noalias() += As * dYs.transpose();
      if (db.size()) db += dYs.rowwise().sum();
      if (dA) RowMajorMap(dA->data() + s * dA->cols(), geo.in_channels, L).noalias() = c.W * dYs;
    }
    return;
  }
  if (dA) dA->setZero(A.rows(), A.cols());
  if (is_direct(geo)) {
    for (Index s = 0; s < A.rows(); ++s) {
      const float* a0 = A.data() + s * A.cols();
      const float* dy0 = dY.data() + s * dY.cols();
      float* da0 = dA ? dA->data() + s * dA->cols() : nullptr;
      if (db.size())
        for (Index oc = 0; oc < geo.out_channels; ++oc)
          db(oc) += Eigen::Map<const Eigen::VectorXf>(dy0 + oc * L, L).sum();
      direct_taps(geo, in, out, [&](Index oc, Index ch, Index tap, Index oh, Index ih, Index lo, Index hi, Index off) {
        const Index at = ch * HW + ih * in.width;
        const float* a = a0 + at;
        const float* dy = dy0 + oc * L + oh * out.width;
        float acc = 0;
        for (Index o = lo; o < hi; ++o) acc += dy[o] * a[o * geo.stride_w + off];
        dW(tap, oc) += acc;
        if (da0) {
          const float w = c.W(tap, oc);
          float* da = da0 + at;
          for (Index o = lo; o < hi; ++o) da[o * geo.stride_w + off] += w * dy[o];
        }
      });
    }
    return;
  }
  for (Index g = 0; g < geo.groups; ++g) {
    const Batch P = pathq::im2col<float>(A, in, geo, g);
    Batch dYp(A.rows() * L, ow);
    for (Index s = 0; s < A.rows(); ++s)
      for (Index o = 0; o < ow; ++o)
        for (Index l = 0; l < L; ++l) dYp(s * L + l, o) = dY(s, (g * ow + o) * L + l);
    dW.middleCols(g * ow, ow).noalias() += P.transpose() * dYp;
    if (db.size()) db.segment(g * ow, ow) += dYp.colwise().sum().transpose();
    if (dA) {
      const Batch dP = dYp * c.W.middleCols(g * ow, ow).transpose();
      pathq::col2im<float>(dP, in, geo, g, *dA);
    }
  }
}

inline void pool_backward(const pathq::Pool2d& p, const Batch& A, const pathq::TensorShape& in, const Batch& dY,
                          Batch& dA) {
  const pathq::TensorShape out = p.output_shape(in);
  const Eigen::Index HW = in.height * in.width, L = out.height * out.width;
  dA.setZero(A.rows(), A.cols());
  for (Eigen::Index s = 0; s < A.rows(); ++s)
    for (Eigen::Index c = 0; c < in.channels; ++c)
      for (Eigen::Index oh = 0; oh < out.height; ++oh)
        for (Eigen::Index ow = 0; ow < out.width; ++ow) {
          const float g = dY(s, c * L + oh * out.width + ow);
          Eigen::Index best = -1;
          float best_v = 0;
          for (Eigen::Index i = 0; i < p.kernel_h; ++i)
            for (Eigen::Index j = 0; j < p.kernel_w; ++j) {
              const Eigen::Index ih = oh * p.sh() - p.pad_h + i, iw = ow * p.sw() - p.pad_w + j;
              if (ih < 0 || ih >= in.height || iw < 0 || iw >= in.width) continue;
              const Eigen::Index k = c * HW + ih * in.width + iw;
              if (p.kind == pathq::PoolKind::Average) {
                dA(s, k) += g / float(p.kernel_h * p.kernel_w);
              } else if (best < 0 || A(s, k) > best_v) {
                best = k;
                best_v = A(s, k);
              }
            }
          if (p.kind == pathq::PoolKind::Max && best >= 0) dA(s, best) += g;
        }
}

inline float activation_derivative(const pathq::Activation& a, float x) {
  switch (a.kind) {
    case pathq::ActivationKind::Identity: return 1;
    case pathq::ActivationKind::Relu: return x > 0 ? 1.0f : 0.0f;
    case pathq::ActivationKind::LeakyRelu: return x > 0 ? 1.0f : float(a.slope);
    case pathq::ActivationKind::HardTanh: return (x > -1 && x < 1) ? 1.0f : 0.0f;
    case pathq::ActivationKind::Tanh: {
      const float t = std::tanh(x);
      return 1 - t * t;
    }
    case pathq::ActivationKind::Sigmoid: {
      const float s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case pathq::ActivationKind::HardSwish: return x >= 3 ? 1.0f : x <= -3 ? 0.0f : (2 * x + 3) / 6;
  }
  return 1;
}

// What a batch norm's training forward pass keeps for the backward pass.
struct BatchNormCache {
  Batch normalized;         // x^ = (x - mean_batch) / sqrt(var_batch + eps)
  Eigen::VectorXf inv_std;  // 1 / sqrt(var_batch + eps) per channel
};

// Batch norm in training (PyTorch semantics), into Y: each channel is normalised with the mean
// and the biased variance of the batch over samples and positions, then scaled by gamma and
// shifted by beta. With `momentum` > 0 the running statistics move towards the batch's:
// `mean <- (1 - momentum) mean + momentum mean_batch`, and the same for `var` with the unbiased
// batch variance. Sums run in double.
inline void batch_norm_train_forward(pathq::BatchNorm<float>& n, const Batch& A, const pathq::TensorShape& in,
                                     double momentum, BatchNormCache& cache, Batch& Y) {
  using Index = Eigen::Index;
  const Index hw = in.height * in.width, count = A.rows() * hw;
  cache.normalized.resize(A.rows(), A.cols());
  cache.inv_std.resize(in.channels);
  Y.resize(A.rows(), A.cols());
  for (Index c = 0; c < in.channels; ++c) {
    double sum = 0;
    for (Index s = 0; s < A.rows(); ++s) sum += A.row(s).segment(c * hw, hw).cast<double>().sum();
    const double mean = sum / double(count);
    double ss = 0;
    for (Index s = 0; s < A.rows(); ++s)
      ss += (A.row(s).segment(c * hw, hw).array().cast<double>() - mean).square().sum();
    const double var = ss / double(count);
    const float inv = float(1.0 / std::sqrt(var + n.eps));
    cache.inv_std(c) = inv;
    for (Index s = 0; s < A.rows(); ++s) {
      auto xh = cache.normalized.row(s).segment(c * hw, hw);
      xh = ((A.row(s).segment(c * hw, hw).array() - float(mean)) * inv).matrix();
      Y.row(s).segment(c * hw, hw) = (xh.array() * n.gamma(c) + n.beta(c)).matrix();
    }
    if (momentum > 0) {
      const double unbiased = count > 1 ? ss / double(count - 1) : var;
      n.mean(c) = float((1 - momentum) * double(n.mean(c)) + momentum * mean);
      n.var(c) = float((1 - momentum) * double(n.var(c)) + momentum * unbiased);
    }
  }
}

// The exact gradient of the training-mode batch norm, into dA: with `x^` the normalised input,
// `g = dL/dy` and means over the channel's samples and positions,
// `dL/dx = gamma inv_std (g - mean(g) - x^ mean(g x^))`, `dL/dgamma = sum(g x^)`, `dL/dbeta = sum(g)`.
inline void batch_norm_backward(const pathq::BatchNorm<float>& n, const BatchNormCache& cache,
                                const pathq::TensorShape& in, const Batch& dY, GradB dgamma, GradB dbeta, Batch& dA) {
  using Index = Eigen::Index;
  const Index hw = in.height * in.width, count = dY.rows() * hw;
  dA.resize(dY.rows(), dY.cols());
  for (Index c = 0; c < in.channels; ++c) {
    double sum_g = 0, sum_gx = 0;
    for (Index s = 0; s < dY.rows(); ++s) {
      const auto g = dY.row(s).segment(c * hw, hw).cast<double>();
      sum_g += g.sum();
      sum_gx += g.dot(cache.normalized.row(s).segment(c * hw, hw).cast<double>());
    }
    dgamma(c) += float(sum_gx);
    dbeta(c) += float(sum_g);
    const float mean_g = float(sum_g / double(count)), mean_gx = float(sum_gx / double(count));
    const float k = n.gamma(c) * cache.inv_std(c);
    for (Index s = 0; s < dY.rows(); ++s)
      dA.row(s).segment(c * hw, hw) =
          (k * (dY.row(s).segment(c * hw, hw).array() - mean_g -
                cache.normalized.row(s).segment(c * hw, hw).array() * mean_gx))
              .matrix();
  }
}

}  // namespace detail

/// Mean softmax cross-entropy of logits `Y` against labels, and its gradient `dY` (divided by the
/// batch size).
inline double softmax_cross_entropy(const Batch& Y, const Eigen::VectorXi& labels, Batch& dY) {
  dY.resize(Y.rows(), Y.cols());
  double loss = 0;
  for (Eigen::Index r = 0; r < Y.rows(); ++r) {
    const float mx = Y.row(r).maxCoeff();
    const Eigen::RowVectorXf e = (Y.row(r).array() - mx).exp().matrix();
    const float z = e.sum();
    loss += std::log(double(z)) - double(Y(r, labels(r)) - mx);
    dY.row(r) = e / z;
    dY(r, labels(r)) -= 1;
  }
  dY /= float(Y.rows());
  return loss / double(Y.rows());
}

/// A network in training mode: its layers (dense, conv, activations, pooling, flatten, batch
/// norms, residual blocks), one forward and backward pass per mini-batch, and the gradients of
/// every parameter block (`detail::parameters_of`: W and b, or gamma and beta). Batch norms
/// normalise with the batch's statistics (and, when asked, update their running statistics);
/// the network they give for inference holds the running statistics. Every layer's activations
/// and gradients keep their storage from one batch to the next.
class TrainingNetwork {
 public:
  explicit TrainingNetwork(const pathq::Sequential<float>& net) : m_input(net.input_shape()) {
    const std::size_t n = std::size_t(net.size());
    std::vector<std::size_t> open;
    m_begin.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      layers.push_back(net.layer(Eigen::Index(i)));
      m_shapes.push_back(net.shape_before(Eigen::Index(i)));
      m_names.push_back(net.name(Eigen::Index(i)));
      if (std::holds_alternative<pathq::ResidualBegin>(layers[i])) open.push_back(i);
      if (std::holds_alternative<pathq::ResidualEnd<float>>(layers[i])) {
        m_begin[i] = open.back();
        open.pop_back();
      }
    }
    gradients.resize(n);
    for (std::size_t i = 0; i < n; ++i)
      for (const auto& p : detail::parameters_of(layers[i])) gradients[i].push_back(Eigen::VectorXf::Zero(p.size()));
    m_act.resize(n + 1);
    m_grad.resize(n + 1);
    m_shortcut_grad.resize(n);
    m_bn.resize(n);
  }

  /// The layers, whose parameters training changes (and a caller may perturb).
  std::vector<pathq::Layer<float>> layers;
  /// `gradients[i][k]`: the gradient of the last `forward_backward`'s mean loss with respect to
  /// parameter block k of layer i.
  std::vector<std::vector<Eigen::VectorXf>> gradients;

  /// The mean softmax cross-entropy of a batch in training mode; with `momentum` > 0 the batch
  /// norms' running statistics move (PyTorch's momentum). Gradients are untouched.
  double loss(const Batch& X, const Eigen::VectorXi& y, double momentum = 0) {
    forward(X, momentum);
    Batch dY;
    return softmax_cross_entropy(m_act.back(), y, dY);
  }

  /// One training-mode forward and backward pass: returns the batch's mean loss and sets
  /// `gradients`.
  double forward_backward(const Batch& X, const Eigen::VectorXi& y, double momentum = 0) {
    using Index = Eigen::Index;
    forward(X, momentum);
    const std::size_t n = layers.size();
    const double loss_value = softmax_cross_entropy(m_act[n], y, m_grad[n]);
    for (auto& g : gradients)
      for (auto& v : g) v.setZero();
    for (std::size_t i = n; i-- > 0;) {
      const auto& L = layers[i];
      const Batch& A = m_act[i];
      const Batch& dY = m_grad[i + 1];
      Batch& dA = m_grad[i];
      auto dW = [&](const auto& l) { return detail::GradW(gradients[i][0].data(), l.W.rows(), l.W.cols()); };
      auto grad = [&](std::size_t k) { return detail::GradB(gradients[i][k].data(), gradients[i][k].size()); };
      if (auto* d = std::get_if<pathq::Dense<float>>(&L)) {
        detail::affine_backward(*d, A, m_shapes[i], dY, dW(*d), grad(1), i > 0 ? &dA : nullptr);
      } else if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) {
        detail::affine_backward(*c, A, m_shapes[i], dY, dW(*c), grad(1), i > 0 ? &dA : nullptr);
      } else if (auto* a = std::get_if<pathq::Activation>(&L)) {
        dA.resize(dY.rows(), dY.cols());
        for (Index k = 0; k < dY.size(); ++k)
          dA.data()[k] = dY.data()[k] * detail::activation_derivative(*a, A.data()[k]);
      } else if (auto* p = std::get_if<pathq::Pool2d>(&L)) {
        detail::pool_backward(*p, A, m_shapes[i], dY, dA);
      } else if (auto* bn = std::get_if<pathq::BatchNorm<float>>(&L)) {
        detail::batch_norm_backward(*bn, m_bn[i], m_shapes[i], dY, grad(0), grad(1), dA);
      } else if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
        // The body's output gradient passes on; the shortcut's waits for the block's ResidualBegin.
        const Batch& saved = m_act[m_begin[i]];
        const pathq::TensorShape& sshape = m_shapes[m_begin[i]];
        if (auto* pd = std::get_if<pathq::Dense<float>>(&e->shortcut))
          detail::affine_backward(*pd, saved, sshape, dY, dW(*pd), grad(1), &m_shortcut_grad[i]);
        else if (auto* pc = std::get_if<pathq::Conv2d<float>>(&e->shortcut))
          detail::affine_backward(*pc, saved, sshape, dY, dW(*pc), grad(1), &m_shortcut_grad[i]);
        else
          m_shortcut_grad[i] = dY;
        dA = dY;
      } else if (std::holds_alternative<pathq::ResidualBegin>(L)) {
        std::size_t end = i + 1;
        while (!(std::holds_alternative<pathq::ResidualEnd<float>>(layers[end]) && m_begin[end] == i)) ++end;
        dA = dY + m_shortcut_grad[end];
      } else {
        dA = dY;  // flatten
      }
    }
    return loss_value;
  }

  /// The network for inference (batch norms with their running statistics).
  pathq::Sequential<float> network() const {
    pathq::Sequential<float> out(m_input);
    for (std::size_t i = 0; i < layers.size(); ++i) out.add(layers[i], m_names[i]);
    return out;
  }

 private:
  // Training-mode forward pass: m_act[i] is the input of layer i, m_act[n] the logits.
  void forward(const Batch& X, double momentum) {
    const std::size_t n = layers.size();
    m_act[0] = X;
    for (std::size_t i = 0; i < n; ++i) {
      auto& L = layers[i];
      const Batch& A = m_act[i];
      Batch& Y = m_act[i + 1];
      if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
        const Batch& saved = m_act[m_begin[i]];
        if (auto* pc = std::get_if<pathq::Conv2d<float>>(&e->shortcut)) {
          detail::conv_forward(*pc, saved, m_shapes[m_begin[i]], Y);
          Y += A;
        } else if (e->has_projection()) {
          Y = A + e->shortcut_forward(saved, m_shapes[m_begin[i]]);
        } else {
          Y = A + saved;
        }
      } else if (auto* bn = std::get_if<pathq::BatchNorm<float>>(&L)) {
        detail::batch_norm_train_forward(*bn, A, m_shapes[i], momentum, m_bn[i], Y);
      } else if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) {
        detail::conv_forward(*c, A, m_shapes[i], Y);
      } else if (auto* a = std::get_if<pathq::Activation>(&L)) {
        Y = A.unaryExpr([a](float x) { return a->apply(x); });
      } else if (std::holds_alternative<pathq::ResidualBegin>(L) || std::holds_alternative<pathq::Flatten>(L)) {
        Y = A;
      } else if (auto* d = std::get_if<pathq::Dense<float>>(&L)) {
        Y = d->forward(A, m_shapes[i]);
      } else if (auto* p = std::get_if<pathq::Pool2d>(&L)) {
        Y = p->forward(A, m_shapes[i]);
      }
    }
  }

  pathq::TensorShape m_input;
  std::vector<pathq::TensorShape> m_shapes;  // the shape entering each layer
  std::vector<std::string> m_names;
  std::vector<std::size_t> m_begin;          // for a ResidualEnd: the index of its ResidualBegin
  std::vector<Batch> m_act, m_grad;          // input of / loss gradient at the input of layer i
  std::vector<Batch> m_shortcut_grad;        // for a ResidualEnd: the gradient through its shortcut
  std::vector<detail::BatchNormCache> m_bn;
};

/// Trains `net` (dense, conv, activations, pooling, flatten, batch norms, residual blocks) on
/// `images` (one sample per row) and `labels` with mini-batch backpropagation of the softmax
/// cross-entropy. Samples are visited in a fresh pseudo-random order every epoch. Batch norms
/// train as in PyTorch (batch statistics, gamma and beta learned, running statistics with
/// momentum `TrainOptions::batch_norm_momentum`); the returned network's batch norms hold the
/// running statistics.
inline pathq::Sequential<float> train(const pathq::Sequential<float>& net, const Eigen::MatrixXf& images,
                                      const Eigen::VectorXi& labels, const TrainOptions& opt) {
  using Index = Eigen::Index;
  // Eigen on one thread while training (through OpenMP's count, which Eigen follows, so that
  // Eigen's own setting is left as it was).
#if defined(_OPENMP)
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  TrainingNetwork tn(net);
  const std::size_t n = tn.layers.size();
  std::vector<std::vector<Eigen::VectorXf>> m1 = tn.gradients, m2 = tn.gradients;  // zero moments

  const Index m = images.rows();
  std::vector<Index> order(static_cast<std::size_t>(m));
  std::iota(order.begin(), order.end(), Index(0));
  long long t_step = 0;
  const Index per_epoch = (m + opt.batch_size - 1) / opt.batch_size;
  for (int epoch = 0; epoch < opt.epochs; ++epoch) {
    const pathq::RandomStream shuffle(opt.seed, 1000 + std::uint64_t(epoch));
    for (Index k = m - 1; k > 0; --k)  // Fisher-Yates
      std::swap(order[std::size_t(k)], order[std::size_t(Index(shuffle.uniform(std::uint64_t(k)) * double(k + 1)))]);
    double running = 0;
    for (Index bi = 0; bi < per_epoch; ++bi) {
      const Index r0 = bi * opt.batch_size, B = std::min(opt.batch_size, m - r0);
      Batch X(B, images.cols());
      Eigen::VectorXi y(B);
      for (Index r = 0; r < B; ++r) {
        X.row(r) = images.row(order[std::size_t(r0 + r)]);
        y(r) = labels(order[std::size_t(r0 + r)]);
      }
      const double loss = tn.forward_backward(X, y, opt.batch_norm_momentum);
      running += (loss - running) / double(bi + 1);

      // Update.
      ++t_step;
      const double c1 = 1 - std::pow(opt.beta1, double(t_step)), c2 = 1 - std::pow(opt.beta2, double(t_step));
      const double lr = opt.linear_decay
                            ? opt.learning_rate * (1.0 - double(t_step - 1) / double(per_epoch * opt.epochs))
                            : opt.learning_rate;
      for (std::size_t i = 0; i < n; ++i) {
        auto params = detail::parameters_of(tn.layers[i]);
        for (std::size_t k = 0; k < params.size(); ++k) {
          if (!params[k].size()) continue;
          auto& P = params[k];
          const Eigen::VectorXf& g = tn.gradients[i][k];
          Eigen::VectorXf& mm = m1[i][k];
          Eigen::VectorXf& vv = m2[i][k];
          if (opt.adam) {
            mm = float(opt.beta1) * mm + float(1 - opt.beta1) * g;
            vv = float(opt.beta2) * vv + float(1 - opt.beta2) * g.cwiseAbs2();
            P.array() -= float(lr) * (mm.array() / float(c1)) / ((vv.array() / float(c2)).sqrt() + float(opt.epsilon));
          } else {
            mm = float(opt.momentum) * mm + g;
            P -= float(lr) * mm;
          }
        }
      }
      if (opt.progress) opt.progress(epoch, bi, per_epoch, running);
    }
  }
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  return tn.network();
}

}  // namespace pathq_examples

#endif  // PATHQ_EXAMPLES_TRAINER_HPP
