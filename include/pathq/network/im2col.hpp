// Lowering a 2-D convolution to a matrix product: im2col patches and their adjoint, col2im.
#ifndef PATHQ_NETWORK_IM2COL_HPP
#define PATHQ_NETWORK_IM2COL_HPP

#include <string>

#include <Eigen/Core>

#include "pathq/core/error.hpp"

namespace pathq {

/// The shape of one sample: `channels x height x width`. A flat vector of `n` features is
/// `n x 1 x 1`. A sample is stored as one row of a batch matrix, channel by channel, each
/// channel row by row (PyTorch's `flatten(1)` order of an NCHW tensor).
struct TensorShape {
  Eigen::Index channels = 0, height = 1, width = 1;

  Eigen::Index size() const { return channels * height * width; }
  bool flat() const { return height == 1 && width == 1; }
  bool operator==(const TensorShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
  bool operator!=(const TensorShape& o) const { return !(*this == o); }
  std::string text() const {
    return flat() ? std::to_string(channels)
                  : std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
  }
};

/// A batch of samples, one per row (row-major, so that a sample is contiguous).
template <class Scalar>
using Batch = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The geometry of a 2-D convolution (PyTorch `Conv2d` semantics: zero padding, cross-correlation).
/// Output size per axis: `(in + 2 pad - dilation (kernel - 1) - 1) / stride + 1`.
/// Input channels split into `groups` equal groups; group `g` sees input channels
/// `[g C_in/g, (g+1) C_in/g)` and produces output channels `[g C_out/g, (g+1) C_out/g)`.
struct ConvGeometry {
  Eigen::Index in_channels = 1, out_channels = 1;
  Eigen::Index kernel_h = 1, kernel_w = 1;
  Eigen::Index stride_h = 1, stride_w = 1;
  Eigen::Index pad_h = 0, pad_w = 0;
  Eigen::Index dilation_h = 1, dilation_w = 1;
  Eigen::Index groups = 1;

  /// Inputs of one neuron: `(C_in / groups) * kernel_h * kernel_w`.
  Eigen::Index patch_size() const { return in_channels / groups * kernel_h * kernel_w; }
  Eigen::Index out_h(Eigen::Index h) const { return (h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  Eigen::Index out_w(Eigen::Index w) const { return (w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }

  /// \throws invalid_argument naming the field and its valid range.
  void validate(const char* where) const {
    PATHQ_CHECK(in_channels >= 1 && out_channels >= 1, where, "channels must be >= 1, got in ",
                in_channels, ", out ", out_channels);
    PATHQ_CHECK(kernel_h >= 1 && kernel_w >= 1, where, "kernel must be >= 1, got ", kernel_h, "x", kernel_w);
    PATHQ_CHECK(stride_h >= 1 && stride_w >= 1, where, "stride must be >= 1, got ", stride_h, "x", stride_w);
    PATHQ_CHECK(pad_h >= 0 && pad_w >= 0, where, "padding must be >= 0, got ", pad_h, "x", pad_w);
    PATHQ_CHECK(dilation_h >= 1 && dilation_w >= 1, where, "dilation must be >= 1, got ", dilation_h, "x",
                dilation_w);
    PATHQ_CHECK(groups >= 1 && in_channels % groups == 0 && out_channels % groups == 0, where, "groups (",
                groups, ") must divide both in_channels (", in_channels, ") and out_channels (", out_channels, ")");
  }
  /// The output shape for an input shape. \throws invalid_argument on a channel mismatch or an
  /// input smaller than the (dilated) kernel.
  TensorShape output_shape(const TensorShape& in, const char* where) const {
    validate(where);
    PATHQ_CHECK(in.channels == in_channels, where, "input has ", in.channels, " channels but the convolution expects ",
                in_channels);
    PATHQ_CHECK(out_h(in.height) >= 1 && out_w(in.width) >= 1, where, "input ", in.text(),
                " is smaller than the kernel ", kernel_h, "x", kernel_w, " (with padding and dilation)");
    return {out_channels, out_h(in.height), out_w(in.width)};
  }
};

/// im2col: the patches of group `group` of every sample of `A` (`B x C_in H W`, shape `in`), one
/// row per (sample, output position), `(B L) x patch_size()` with `L = H_out W_out`; row
/// `b L + oh W_out + ow`, column `c k_h k_w + i k_w + j` (channel within the group, kernel row,
/// kernel column: PyTorch's weight flatten order). Padding reads as zero. Then the convolution
/// of group `g` is `P W_g`, with `W_g` the `patch_size() x C_out/groups` weights.
/// Complexity: `O(B L patch_size())`.
template <class Scalar, class Derived>
Batch<Scalar> im2col(const Eigen::MatrixBase<Derived>& A, const TensorShape& in, const ConvGeometry& g,
                     Eigen::Index group = 0) {
  using Index = Eigen::Index;
  const TensorShape out = g.output_shape(in, "im2col");
  PATHQ_CHECK(A.cols() == in.size(), "im2col", "the batch has ", A.cols(), " columns but shape ", in.text(),
              " has ", in.size());
  PATHQ_CHECK(group >= 0 && group < g.groups, "im2col", "group must be in [0, ", g.groups, "), got ", group);
  const Index L = out.height * out.width, HW = in.height * in.width;
  const Index cg = g.in_channels / g.groups, c0 = group * cg;
  Batch<Scalar> P(A.rows() * L, g.patch_size());
  for (Index b = 0; b < A.rows(); ++b)
    for (Index oh = 0; oh < out.height; ++oh)
      for (Index ow = 0; ow < out.width; ++ow) {
        Scalar* row = P.data() + (b * L + oh * out.width + ow) * P.cols();
        Index k = 0;
        for (Index c = 0; c < cg; ++c)
          for (Index i = 0; i < g.kernel_h; ++i) {
            const Index ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            for (Index j = 0; j < g.kernel_w; ++j, ++k) {
              const Index iw = ow * g.stride_w - g.pad_w + j * g.dilation_w;
              row[k] = (ih >= 0 && ih < in.height && iw >= 0 && iw < in.width)
                           ? Scalar(A(b, (c0 + c) * HW + ih * in.width + iw))
                           : Scalar(0);
            }
          }
      }
  return P;
}

/// col2im, the adjoint of im2col: adds each patch entry of `P` back onto the input position it
/// was read from (padding positions are dropped), into the columns of group `group` of `dA`
/// (`B x C_in H W`). Used for the gradient of a convolution with respect to its input.
template <class Scalar>
void col2im(const Batch<Scalar>& P, const TensorShape& in, const ConvGeometry& g, Eigen::Index group,
            Batch<Scalar>& dA) {
  using Index = Eigen::Index;
  const TensorShape out = g.output_shape(in, "col2im");
  const Index L = out.height * out.width, HW = in.height * in.width;
  PATHQ_CHECK(dA.cols() == in.size() && P.rows() == dA.rows() * L && P.cols() == g.patch_size(), "col2im",
              "P is ", P.rows(), " x ", P.cols(), " but dA is ", dA.rows(), " x ", dA.cols());
  const Index cg = g.in_channels / g.groups, c0 = group * cg;
  for (Index b = 0; b < dA.rows(); ++b)
    for (Index oh = 0; oh < out.height; ++oh)
      for (Index ow = 0; ow < out.width; ++ow) {
        const Scalar* row = P.data() + (b * L + oh * out.width + ow) * P.cols();
        Index k = 0;
        for (Index c = 0; c < cg; ++c)
          for (Index i = 0; i < g.kernel_h; ++i) {
            const Index ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            for (Index j = 0; j < g.kernel_w; ++j, ++k) {
              const Index iw = ow * g.stride_w - g.pad_w + j * g.dilation_w;
              if (ih >= 0 && ih < in.height && iw >= 0 && iw < in.width)
                dA(b, (c0 + c) * HW + ih * in.width + iw) += row[k];
            }
          }
      }
}

}  // namespace pathq

#endif  // PATHQ_NETWORK_IM2COL_HPP
