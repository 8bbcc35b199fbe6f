// A small deterministic trainer for pathq's Sequential networks: backpropagation, SGD or Adam.
#ifndef PATHQ_EXAMPLES_TRAINER_HPP
#define PATHQ_EXAMPLES_TRAINER_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

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

// The weights and bias of a dense/conv layer, or of a residual projection.
inline std::pair<Eigen::MatrixXf*, Eigen::VectorXf*> parameters_of(pathq::Layer<float>& L) {
  if (auto* d = std::get_if<pathq::Dense<float>>(&L)) return {&d->W, &d->b};
  if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) return {&c->W, &c->b};
  if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
    if (auto* d = std::get_if<pathq::Dense<float>>(&e->shortcut)) return {&d->W, &d->b};
    if (auto* c = std::get_if<pathq::Conv2d<float>>(&e->shortcut)) return {&c->W, &c->b};
  }
  return {nullptr, nullptr};
}

// Gradients of an affine map (dense or conv) for input A and output gradient dY; returns dA.
inline Batch affine_backward(const pathq::Dense<float>& d, const Batch& A, const pathq::TensorShape&, const Batch& dY,
                             Eigen::MatrixXf& dW, Eigen::VectorXf& db) {
  dW.noalias() += A.transpose() * dY;
  if (db.size()) db += dY.colwise().sum().transpose();
  return dY * d.W.transpose();
}

inline Batch affine_backward(const pathq::Conv2d<float>& c, const Batch& A, const pathq::TensorShape& in,
                             const Batch& dY, Eigen::MatrixXf& dW, Eigen::VectorXf& db) {
  const pathq::TensorShape out = c.output_shape(in);
  const Eigen::Index L = out.height * out.width, ow = c.group_width();
  Batch dA = Batch::Zero(A.rows(), A.cols());
  for (Eigen::Index g = 0; g < c.geometry.groups; ++g) {
    const Batch P = pathq::im2col<float>(A, in, c.geometry, g);
    Batch dYp(A.rows() * L, ow);
    for (Eigen::Index s = 0; s < A.rows(); ++s)
      for (Eigen::Index o = 0; o < ow; ++o)
        for (Eigen::Index l = 0; l < L; ++l) dYp(s * L + l, o) = dY(s, (g * ow + o) * L + l);
    dW.middleCols(g * ow, ow).noalias() += P.transpose() * dYp;
    if (db.size()) db.segment(g * ow, ow) += dYp.colwise().sum().transpose();
    const Batch dP = dYp * c.W.middleCols(g * ow, ow).transpose();
    pathq::col2im<float>(dP, in, c.geometry, g, dA);
  }
  return dA;
}

inline Batch pool_backward(const pathq::Pool2d& p, const Batch& A, const pathq::TensorShape& in, const Batch& dY) {
  const pathq::TensorShape out = p.output_shape(in);
  const Eigen::Index HW = in.height * in.width, L = out.height * out.width;
  Batch dA = Batch::Zero(A.rows(), A.cols());
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
  return dA;
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
  }
  return 1;
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

/// Trains `net` (dense, conv, activations, pooling, flatten, fixed batch norms, residual blocks)
/// on `images` (one sample per row) and `labels` with mini-batch backpropagation of the softmax
/// cross-entropy. Samples are visited in a fresh pseudo-random order every epoch.
inline pathq::Sequential<float> train(const pathq::Sequential<float>& net, const Eigen::MatrixXf& images,
                                      const Eigen::VectorXi& labels, const TrainOptions& opt) {
  using Index = Eigen::Index;
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  std::vector<pathq::Layer<float>> layers;
  std::vector<pathq::TensorShape> shapes;
  for (Index i = 0; i < net.size(); ++i) {
    layers.push_back(net.layer(i));
    shapes.push_back(net.shape_before(i));
  }
  const std::size_t n = layers.size();
  std::vector<Eigen::MatrixXf> gW(n), mW(n), vW(n);
  std::vector<Eigen::VectorXf> gb(n), mb(n), vb(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto [W, b] = detail::parameters_of(layers[i]);
    if (!W) continue;
    gW[i] = mW[i] = vW[i] = Eigen::MatrixXf::Zero(W->rows(), W->cols());
    gb[i] = mb[i] = vb[i] = Eigen::VectorXf::Zero(b->size());
  }

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
      // Forward, keeping every layer's input and every residual block's saved input.
      std::vector<Batch> inputs(n);
      std::vector<Batch> stack, saved(n);
      std::vector<pathq::TensorShape> shape_stack, saved_shape(n);
      Batch cur = X;
      for (std::size_t i = 0; i < n; ++i) {
        inputs[i] = cur;
        auto& L = layers[i];
        if (std::holds_alternative<pathq::ResidualBegin>(L)) {
          stack.push_back(cur);
          shape_stack.push_back(shapes[i]);
        } else if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
          saved[i] = std::move(stack.back());
          saved_shape[i] = shape_stack.back();
          stack.pop_back();
          shape_stack.pop_back();
          cur += e->shortcut_forward(saved[i], saved_shape[i]);
        } else {
          cur = std::visit(
              [&](const auto& l) -> Batch {
                using T = std::decay_t<decltype(l)>;
                if constexpr (std::is_same_v<T, pathq::ResidualBegin> || std::is_same_v<T, pathq::ResidualEnd<float>>)
                  return cur;
                else
                  return l.forward(cur, shapes[i]);
              },
              L);
        }
      }
      Batch dY;
      const double loss = softmax_cross_entropy(cur, y, dY);
      running += (loss - running) / double(bi + 1);

      // Backward.
      for (std::size_t i = 0; i < n; ++i)
        if (gW[i].size()) {
          gW[i].setZero();
          gb[i].setZero();
        }
      std::vector<Batch> grad_stack;
      for (std::size_t ii = n; ii-- > 0;) {
        auto& L = layers[ii];
        const Batch& A = inputs[ii];
        if (auto* d = std::get_if<pathq::Dense<float>>(&L)) {
          dY = detail::affine_backward(*d, A, shapes[ii], dY, gW[ii], gb[ii]);
        } else if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) {
          dY = detail::affine_backward(*c, A, shapes[ii], dY, gW[ii], gb[ii]);
        } else if (auto* a = std::get_if<pathq::Activation>(&L)) {
          for (Index k = 0; k < dY.size(); ++k) dY.data()[k] *= detail::activation_derivative(*a, A.data()[k]);
        } else if (auto* p = std::get_if<pathq::Pool2d>(&L)) {
          dY = detail::pool_backward(*p, A, shapes[ii], dY);
        } else if (auto* bn = std::get_if<pathq::BatchNorm<float>>(&L)) {
          const Eigen::VectorXf s = bn->scale();
          const Index hw = shapes[ii].height * shapes[ii].width;
          for (Index ch = 0; ch < shapes[ii].channels; ++ch) dY.middleCols(ch * hw, hw) *= s(ch);
        } else if (auto* e = std::get_if<pathq::ResidualEnd<float>>(&L)) {
          const pathq::TensorShape& sshape = saved_shape[ii];
          if (auto* pd = std::get_if<pathq::Dense<float>>(&e->shortcut))
            grad_stack.push_back(detail::affine_backward(*pd, saved[ii], sshape, dY, gW[ii], gb[ii]));
          else if (auto* pc = std::get_if<pathq::Conv2d<float>>(&e->shortcut))
            grad_stack.push_back(detail::affine_backward(*pc, saved[ii], sshape, dY, gW[ii], gb[ii]));
          else
            grad_stack.push_back(dY);
        } else if (std::holds_alternative<pathq::ResidualBegin>(L)) {
          dY += grad_stack.back();
          grad_stack.pop_back();
        }
      }

      // Update.
      ++t_step;
      const double c1 = 1 - std::pow(opt.beta1, double(t_step)), c2 = 1 - std::pow(opt.beta2, double(t_step));
      const double lr = opt.linear_decay
                            ? opt.learning_rate * (1.0 - double(t_step - 1) / double(per_epoch * opt.epochs))
                            : opt.learning_rate;
      for (std::size_t i = 0; i < n; ++i) {
        if (!gW[i].size()) continue;
        auto [W, b] = detail::parameters_of(layers[i]);
        auto update = [&](auto& P, auto& g, auto& mm, auto& vv) {
          if (opt.adam) {
            mm = float(opt.beta1) * mm + float(1 - opt.beta1) * g;
            vv = float(opt.beta2) * vv + float(1 - opt.beta2) * g.cwiseAbs2();
            P.array() -= float(lr) * (mm.array() / float(c1)) /
                         ((vv.array() / float(c2)).sqrt() + float(opt.epsilon));
          } else {
            mm = float(opt.momentum) * mm + g;
            P -= float(lr) * mm;
          }
        };
        update(*W, gW[i], mW[i], vW[i]);
        if (b->size()) update(*b, gb[i], mb[i], vb[i]);
      }
      if (opt.progress) opt.progress(epoch, bi, per_epoch, running);
    }
  }
  Eigen::setNbThreads(threads);
  pathq::Sequential<float> out(net.input_shape());
  for (std::size_t i = 0; i < n; ++i) out.add(std::move(layers[i]), net.name(Index(i)));
  return out;
}

}  // namespace pathq_examples

#endif  // PATHQ_EXAMPLES_TRAINER_HPP
