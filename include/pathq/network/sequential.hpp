// Sequential: a feed-forward network as a list of layers (with residual blocks), and its forward pass.
#ifndef PATHQ_NETWORK_SEQUENTIAL_HPP
#define PATHQ_NETWORK_SEQUENTIAL_HPP

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/network/layers.hpp"

namespace pathq {

/// One layer of a `Sequential` network.
template <class Scalar>
using Layer = std::variant<Dense<Scalar>, Conv2d<Scalar>, Activation, Pool2d, Flatten, BatchNorm<Scalar>,
                           ResidualBegin, ResidualEnd<Scalar>>;

/// The activations of a batch at some point of a forward pass: the current one and those saved
/// by the open residual blocks (innermost last), with their shapes.
template <class Scalar>
struct ForwardState {
  Batch<Scalar> current;
  TensorShape shape;
  std::vector<Batch<Scalar>> saved;
  std::vector<TensorShape> saved_shapes;
};

/// A feed-forward network: layers applied in order to a batch (one sample per row). Residual
/// blocks are delimited by `ResidualBegin` / `ResidualEnd` and may nest. Every `add` checks
/// that the layer fits the shape reached so far, so a built network is always consistent.
///
/// Layers have names (by default their position, as in PyTorch's `nn.Sequential`). The
/// quantizable layers are the dense and convolution layers and the projections of residual
/// shortcuts.
/// \tparam Scalar float or double.
template <class Scalar>
class Sequential {
  static_assert(std::is_floating_point<Scalar>::value, "Sequential computes in float or double.");

 public:
  using LayerType = Layer<Scalar>;

  /// \param input the shape of one sample (channels >= 1).
  explicit Sequential(TensorShape input = {1, 1, 1}) : m_input(input) {
    PATHQ_CHECK(input.channels >= 1 && input.height >= 1 && input.width >= 1, "Sequential",
                "input shape must be positive, got ", input.channels, "x", input.height, "x", input.width);
  }

  /// Appends a layer. \param name defaults to the layer's position.
  /// \throws invalid_argument if the layer does not fit the current shape, a `ResidualEnd` has
  ///         no open block or its shortcut does not match the block's output, or the name is taken.
  Sequential& add(LayerType layer, std::string name = "") {
    if (name.empty()) name = std::to_string(m_layers.size());
    for (const auto& n : m_names)
      PATHQ_CHECK(n != name, "Sequential::add", "layer name '", name, "' is used twice");
    const TensorShape in = output_shape();
    TensorShape out = in;
    try {
      out = std::visit([&](const auto& l) { return this->shape_of(l, in); }, layer);
    } catch (const invalid_argument& e) {
      detail::throw_invalid("Sequential::add", "layer '", name, "': ", e.what());
    }
    m_layers.push_back(std::move(layer));
    m_names.push_back(std::move(name));
    m_shapes.push_back(out);
    return *this;
  }

  Eigen::Index size() const { return Eigen::Index(m_layers.size()); }
  const LayerType& layer(Eigen::Index i) const { return m_layers.at(std::size_t(i)); }
  const std::string& name(Eigen::Index i) const { return m_names.at(std::size_t(i)); }
  const TensorShape& input_shape() const { return m_input; }
  /// The shape entering layer i (i = size() gives the output shape).
  TensorShape shape_before(Eigen::Index i) const { return i == 0 ? m_input : m_shapes.at(std::size_t(i - 1)); }
  TensorShape output_shape() const { return m_shapes.empty() ? m_input : m_shapes.back(); }
  /// Residual blocks opened and not yet closed.
  Eigen::Index open_blocks() const { return Eigen::Index(m_open.size()); }

  /// Index of the layer called `name`, or -1.
  Eigen::Index find(const std::string& name) const {
    for (std::size_t i = 0; i < m_names.size(); ++i)
      if (m_names[i] == name) return Eigen::Index(i);
    return -1;
  }

  /// Replaces the weights and bias of dense/conv layer `i` (or of the projection of the
  /// shortcut closed at `i` when `shortcut`) by ones of the same shape.
  /// \throws invalid_argument when layer i has no such weights or the shapes differ.
  template <class DW, class DB>
  void set_parameters(Eigen::Index i, bool shortcut, const Eigen::MatrixBase<DW>& W, const Eigen::MatrixBase<DB>& b) {
    PATHQ_CHECK(i >= 0 && i < size(), "Sequential::set_parameters", "layer index ", i, " is not in [0, ", size(), ")");
    auto set = [&](auto& l) {
      PATHQ_CHECK(W.rows() == l.W.rows() && W.cols() == l.W.cols() && b.size() == l.b.size(),
                  "Sequential::set_parameters", "layer '", name(i), "' has W ", l.W.rows(), " x ", l.W.cols(),
                  " and b of ", l.b.size(), ", got ", W.rows(), " x ", W.cols(), " and ", b.size());
      l.W = W.template cast<Scalar>();
      l.b = b.template cast<Scalar>();
    };
    LayerType& L = m_layers[std::size_t(i)];
    if (!shortcut) {
      if (auto* d = std::get_if<Dense<Scalar>>(&L)) return set(*d);
      if (auto* c = std::get_if<Conv2d<Scalar>>(&L)) return set(*c);
    } else if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L)) {
      if (auto* d = std::get_if<Dense<Scalar>>(&e->shortcut)) return set(*d);
      if (auto* c = std::get_if<Conv2d<Scalar>>(&e->shortcut)) return set(*c);
    }
    detail::throw_invalid("Sequential::set_parameters", "layer '", name(i), "' has no ",
                          shortcut ? "shortcut projection" : "dense or convolution weights");
  }

  /// The state before layer 0 for a batch of inputs (`B x input_shape().size()`).
  template <class D>
  ForwardState<Scalar> start(const Eigen::MatrixBase<D>& X) const {
    PATHQ_CHECK(X.cols() == m_input.size(), "Sequential::forward", "inputs have ", X.cols(),
                " columns but the network expects ", m_input.size(), " (shape ", m_input.text(), ")");
    ForwardState<Scalar> s;
    s.current = X.template cast<Scalar>();
    s.shape = m_input;
    return s;
  }

  /// Applies layer `i` to a state (the state must have reached layer i).
  void step(Eigen::Index i, ForwardState<Scalar>& s) const {
    const LayerType& L = m_layers.at(std::size_t(i));
    if (std::holds_alternative<ResidualBegin>(L)) {
      s.saved.push_back(s.current);
      s.saved_shapes.push_back(s.shape);
    } else if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L)) {
      PATHQ_ASSERT(!s.saved.empty());
      s.current += e->shortcut_forward(s.saved.back(), s.saved_shapes.back());
      s.saved.pop_back();
      s.saved_shapes.pop_back();
    } else {
      s.current = std::visit([&](const auto& l) { return this->forward_of(l, s); }, L);
    }
    s.shape = m_shapes[std::size_t(i)];
  }

  /// The network's output for a batch of inputs, computed `chunk` samples at a time.
  /// \throws invalid_argument on a column count other than input_shape().size(), or when a
  ///         residual block is still open.
  template <class D>
  Batch<Scalar> forward(const Eigen::MatrixBase<D>& X, Eigen::Index chunk = 256) const {
    PATHQ_CHECK(m_open.empty(), "Sequential::forward", m_open.size(), " residual block(s) are not closed");
    PATHQ_CHECK(chunk >= 1, "Sequential::forward", "chunk must be >= 1, got ", chunk);
    const TensorShape out_shape = output_shape();
    Batch<Scalar> Y(X.rows(), out_shape.size());
    for (Eigen::Index r0 = 0; r0 < X.rows(); r0 += chunk) {
      const Eigen::Index n = std::min(chunk, X.rows() - r0);
      ForwardState<Scalar> s = start(X.middleRows(r0, n));
      for (Eigen::Index i = 0; i < size(); ++i) step(i, s);
      Y.middleRows(r0, n) = s.current;
    }
    return Y;
  }

  /// The index of the largest output per sample (the predicted class).
  template <class D>
  Eigen::VectorXi predict(const Eigen::MatrixBase<D>& X, Eigen::Index chunk = 256) const {
    const Batch<Scalar> Y = forward(X, chunk);
    Eigen::VectorXi y(Y.rows());
    for (Eigen::Index r = 0; r < Y.rows(); ++r) Y.row(r).maxCoeff(&y(r));
    return y;
  }

  /// Fraction of samples whose predicted class equals the label.
  template <class D>
  double accuracy(const Eigen::MatrixBase<D>& X, const Eigen::VectorXi& labels, Eigen::Index chunk = 256) const {
    PATHQ_CHECK(labels.size() == X.rows(), "Sequential::accuracy", "there are ", labels.size(),
                " labels for ", X.rows(), " samples");
    if (X.rows() == 0) return 0;
    return double((predict(X, chunk).array() == labels.array()).count()) / double(X.rows());
  }

 private:
  template <class L>
  TensorShape shape_of(const L& l, const TensorShape& in) {
    if constexpr (std::is_same_v<L, ResidualBegin>) {
      m_open.push_back(in);
      return in;
    } else if constexpr (std::is_same_v<L, ResidualEnd<Scalar>>) {
      PATHQ_CHECK(!m_open.empty(), "ResidualEnd", "no residual block is open");
      const TensorShape sc = l.shortcut_shape(m_open.back());
      PATHQ_CHECK(sc == in, "ResidualEnd", "the block's output has shape ", in.text(), " but its shortcut gives ",
                  sc.text(), l.has_projection() ? "" : " (add a projection)");
      m_open.pop_back();
      return in;
    } else {
      return l.output_shape(in);
    }
  }
  template <class L>
  Batch<Scalar> forward_of(const L& l, const ForwardState<Scalar>& s) const {
    if constexpr (std::is_same_v<L, ResidualBegin> || std::is_same_v<L, ResidualEnd<Scalar>>) {
      return s.current;
    } else {
      return l.forward(s.current, s.shape);
    }
  }

  TensorShape m_input;
  std::vector<LayerType> m_layers;
  std::vector<std::string> m_names;
  std::vector<TensorShape> m_shapes;  // output shape of each layer
  std::vector<TensorShape> m_open;    // input shapes of the open residual blocks
};

/// Folds every batch norm into a neighbouring affine layer, exactly (up to rounding):
/// - into the dense or convolution layer right before it: `W'_{:,o} = W_{:,o} s_o`,
///   `b'_o = b_o s_o + t_o`, with `y = x s + t` the batch norm's per-channel map;
/// - otherwise into a dense layer right after it (flat input) or a convolution right after it
///   with zero padding: `W' = diag(s) W`, `b' = b + W^T t` (per input channel).
/// A batch norm with neither neighbour (e.g. before a padded convolution or a residual mark)
/// stays as a layer. Names of the merged layers are kept.
/// Complexity: `O(number of weights)`.
template <class Scalar>
Sequential<Scalar> fold_batch_norm(const Sequential<Scalar>& net) {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  std::vector<Layer<Scalar>> layers;
  std::vector<std::string> names;
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    layers.push_back(net.layer(i));
    names.push_back(net.name(i));
  }
  auto scale_outputs = [](auto& l, const Vector& s, const Vector& t) {
    for (Eigen::Index o = 0; o < l.W.cols(); ++o) l.W.col(o) *= s(o);
    l.b = l.b.size() ? Vector(l.b.cwiseProduct(s) + t) : t;
  };
  std::vector<bool> drop(layers.size(), false);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto* bn = std::get_if<BatchNorm<Scalar>>(&layers[i]);
    if (!bn) continue;
    const Vector s = bn->scale(), t = bn->shift();
    if (i > 0 && !drop[i - 1]) {
      if (auto* d = std::get_if<Dense<Scalar>>(&layers[i - 1])) {
        scale_outputs(*d, s, t);
        drop[i] = true;
        continue;
      }
      if (auto* c = std::get_if<Conv2d<Scalar>>(&layers[i - 1])) {
        scale_outputs(*c, s, t);
        drop[i] = true;
        continue;
      }
    }
    if (i + 1 < layers.size()) {
      const TensorShape in = net.shape_before(Eigen::Index(i));
      if (auto* d = std::get_if<Dense<Scalar>>(&layers[i + 1]); d && in.flat()) {
        const Vector bias_add = d->W.transpose() * t;
        d->b = d->b.size() ? Vector(d->b + bias_add) : bias_add;
        for (Eigen::Index r = 0; r < d->W.rows(); ++r) d->W.row(r) *= s(r);
        drop[i] = true;
        continue;
      }
      auto* c = std::get_if<Conv2d<Scalar>>(&layers[i + 1]);
      if (c && c->geometry.pad_h == 0 && c->geometry.pad_w == 0) {
        const ConvGeometry& g = c->geometry;
        const Eigen::Index cg = g.in_channels / g.groups, k = g.kernel_h * g.kernel_w, ow = c->group_width();
        Vector bias_add = Vector::Zero(g.out_channels);
        for (Eigen::Index o = 0; o < g.out_channels; ++o) {
          const Eigen::Index grp = o / ow;
          for (Eigen::Index cl = 0; cl < cg; ++cl) {
            const Eigen::Index ch = grp * cg + cl;
            bias_add(o) += c->W.col(o).segment(cl * k, k).sum() * t(ch);
            c->W.col(o).segment(cl * k, k) *= s(ch);
          }
        }
        c->b = c->b.size() ? Vector(c->b + bias_add) : bias_add;
        drop[i] = true;
        continue;
      }
    }
  }
  Sequential<Scalar> out(net.input_shape());
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (!drop[i]) out.add(std::move(layers[i]), names[i]);
  return out;
}

}  // namespace pathq

#endif  // PATHQ_NETWORK_SEQUENTIAL_HPP
