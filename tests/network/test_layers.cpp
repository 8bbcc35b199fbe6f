// Network layers: im2col convolution against a direct loop, pooling, batch-norm folding, residual blocks.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <pathq/network/sequential.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_layers {

using pathq_test::gaussian;

namespace {

using Batch = pathq::Batch<double>;

// The convolution as PyTorch defines it, written out directly: no lowering.
Batch naive_conv(const Batch& A, const pathq::TensorShape& in, const pathq::ConvGeometry& g,
                 const Eigen::MatrixXd& W, const Eigen::VectorXd& b) {
  const Eigen::Index Ho = g.out_h(in.height), Wo = g.out_w(in.width);
  const Eigen::Index cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  Batch Y(A.rows(), g.out_channels * Ho * Wo);
  for (Eigen::Index s = 0; s < A.rows(); ++s)
    for (Eigen::Index o = 0; o < g.out_channels; ++o)
      for (Eigen::Index y = 0; y < Ho; ++y)
        for (Eigen::Index x = 0; x < Wo; ++x) {
          double acc = b.size() ? b(o) : 0.0;
          const Eigen::Index grp = o / og;
          for (Eigen::Index c = 0; c < cg; ++c)
            for (Eigen::Index i = 0; i < g.kernel_h; ++i)
              for (Eigen::Index j = 0; j < g.kernel_w; ++j) {
                const Eigen::Index iy = y * g.stride_h - g.pad_h + i * g.dilation_h;
                const Eigen::Index ix = x * g.stride_w - g.pad_w + j * g.dilation_w;
                if (iy < 0 || iy >= in.height || ix < 0 || ix >= in.width) continue;
                const double w = W((c * g.kernel_h + i) * g.kernel_w + j, o);  // weight[o][c][i][j]
                acc += w * A(s, (grp * cg + c) * in.height * in.width + iy * in.width + ix);
              }
          Y(s, (o * Ho + y) * Wo + x) = acc;
        }
  return Y;
}

}  // namespace

TEST_CASE("conv2d: im2col lowering equals the direct convolution", "[network][conv]") {
  struct Case {
    pathq::TensorShape in;
    pathq::ConvGeometry g;
  };
  const std::vector<Case> cases = {
      {{1, 6, 6}, {1, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1}},
      {{3, 7, 5}, {3, 4, 3, 2, 2, 1, 1, 0, 1, 1, 1}},   // stride 2x1, padding 1x0, non-square kernel
      {{4, 8, 8}, {4, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2}},   // two groups
      {{4, 9, 9}, {4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 4}},   // depthwise, dilation 2
      {{2, 5, 5}, {2, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1}},   // kernel as large as the input, padding 2
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    pathq::Conv2d<double> conv;
    conv.geometry = c.g;
    conv.W = gaussian(c.g.patch_size(), c.g.out_channels, 10 + k);
    conv.b = gaussian(c.g.out_channels, 1, 20 + k);
    const Batch A = gaussian(3, c.in.size(), 30 + k);
    INFO("case " << k << " input " << c.in.text());
    const pathq::TensorShape out = conv.output_shape(c.in);
    REQUIRE(out.height == c.g.out_h(c.in.height));
    const Batch Y = conv.forward(A, c.in);
    const Batch R = naive_conv(A, c.in, c.g, conv.W, conv.b);
    REQUIRE(Y.rows() == R.rows());
    REQUIRE(Y.cols() == R.cols());
    REQUIRE((Y - R).cwiseAbs().maxCoeff() < 1e-12);

    // col2im is the adjoint of im2col: <im2col(A), P> = <A, col2im(P)>.
    for (Eigen::Index grp = 0; grp < c.g.groups; ++grp) {
      const Batch PA = pathq::im2col<double>(A, c.in, c.g, grp);
      const Batch P = gaussian(PA.rows(), PA.cols(), 40 + k);
      Batch back = Batch::Zero(A.rows(), A.cols());
      pathq::col2im<double>(P, c.in, c.g, grp, back);
      REQUIRE(std::abs(PA.cwiseProduct(P).sum() - A.cwiseProduct(back).sum()) < 1e-9);
    }
  }
}

TEST_CASE("pooling, flatten and activations match direct definitions", "[network]") {
  const pathq::TensorShape in{2, 4, 5};
  const Batch A = gaussian(2, in.size(), 7);
  pathq::Pool2d maxp{pathq::PoolKind::Max, 2, 2, 0, 0, 0, 0};
  pathq::Pool2d avgp{pathq::PoolKind::Average, 3, 3, 1, 2, 1, 1};
  const Batch M = maxp.forward(A, in);
  REQUIRE(maxp.output_shape(in) == pathq::TensorShape{2, 2, 2});
  for (Eigen::Index c = 0; c < 2; ++c)
    for (Eigen::Index y = 0; y < 2; ++y)
      for (Eigen::Index x = 0; x < 2; ++x) {
        double best = -std::numeric_limits<double>::infinity();
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) best = std::max(best, A(1, c * 20 + (2 * y + i) * 5 + 2 * x + j));
        REQUIRE(M(1, c * 4 + y * 2 + x) == best);
      }
  const pathq::TensorShape ao = avgp.output_shape(in);
  REQUIRE(ao == pathq::TensorShape{2, 4, 3});
  const Batch V = avgp.forward(A, in);
  // Output (c=1, y=0, x=1): window rows -1..1, columns 1..3; padding counts as zero.
  double sum = 0;
  for (int i = 0; i <= 1; ++i)
    for (int j = 1; j <= 3; ++j) sum += A(0, 20 + i * 5 + j);
  REQUIRE(std::abs(V(0, 12 + 0 * 3 + 1) - sum / 9) < 1e-14);

  pathq::Activation leaky{pathq::ActivationKind::LeakyRelu, 0.1};
  REQUIRE(leaky.apply(-2.0) == Approx(-0.2));
  REQUIRE(pathq::Activation{pathq::ActivationKind::HardTanh, 0}.apply(3.0) == 1.0);
  REQUIRE_THROWS_WITH(pathq::Activation({pathq::ActivationKind::LeakyRelu, 1.5}).output_shape(in),
                      Catch::Contains("slope must be in [0, 1]"));
}

TEST_CASE("batch-norm folding is exact", "[network][batchnorm]") {
  auto bn = [](Eigen::Index c, std::uint64_t seed) {
    pathq::BatchNorm<double> n;
    n.gamma = gaussian(c, 1, seed);
    n.beta = gaussian(c, 1, seed + 1);
    n.mean = gaussian(c, 1, seed + 2);
    n.var = gaussian(c, 1, seed + 3).cwiseAbs().array() + 0.1;
    n.eps = 1e-5;
    return n;
  };
  pathq::Conv2d<double> conv1;
  conv1.geometry = {3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  conv1.W = gaussian(27, 4, 1);
  conv1.b = gaussian(4, 1, 2);
  pathq::Conv2d<double> conv2;  // unpadded and grouped: a batch norm before it folds into it
  conv2.geometry = {4, 6, 2, 2, 1, 1, 0, 0, 1, 1, 2};
  conv2.W = gaussian(8, 6, 3);
  pathq::Dense<double> d1{gaussian(6 * 5 * 5, 8, 4), gaussian(8, 1, 5)};
  pathq::Dense<double> d2{gaussian(8, 3, 6), Eigen::VectorXd()};

  pathq::Sequential<double> net({3, 6, 6});
  net.add(conv1).add(bn(4, 100)).add(pathq::Activation{}).add(bn(4, 200)).add(conv2)
      .add(pathq::Activation{}).add(pathq::Flatten{}).add(d1).add(pathq::Activation{}).add(bn(8, 300)).add(d2);
  const pathq::Sequential<double> folded = pathq::fold_batch_norm(net);
  REQUIRE(folded.size() == net.size() - 3);
  for (Eigen::Index i = 0; i < folded.size(); ++i)
    REQUIRE_FALSE(std::holds_alternative<pathq::BatchNorm<double>>(folded.layer(i)));
  const Batch X = gaussian(5, 3 * 36, 9);
  const Batch Y = net.forward(X), Yf = folded.forward(X);
  INFO("max |difference| " << (Y - Yf).cwiseAbs().maxCoeff());
  REQUIRE((Y - Yf).cwiseAbs().maxCoeff() < 1e-10 * (1 + Y.cwiseAbs().maxCoeff()));

  // Before a padded convolution a batch norm cannot fold (padding would not be shifted).
  pathq::Sequential<double> keep({3, 6, 6});
  keep.add(pathq::Activation{}).add(bn(3, 400)).add(conv1);
  REQUIRE(pathq::fold_batch_norm(keep).size() == 3);
}

TEST_CASE("residual blocks add the shortcut, with or without projection", "[network][residual]") {
  pathq::Dense<double> a{gaussian(6, 6, 1), gaussian(6, 1, 2)}, c{gaussian(6, 4, 3), Eigen::VectorXd()};
  pathq::Dense<double> proj{gaussian(6, 4, 4), Eigen::VectorXd()};
  pathq::ResidualEnd<double> end_identity, end_proj;
  end_proj.shortcut = proj;
  pathq::Sequential<double> net({6, 1, 1});
  net.add(pathq::ResidualBegin{}).add(a).add(pathq::Activation{}).add(end_identity)
      .add(pathq::ResidualBegin{}).add(c).add(end_proj);
  const Batch X = gaussian(4, 6, 5);
  const Batch h = (X * a.W).rowwise() + a.b.transpose();
  const Batch x1 = X + h.cwiseMax(0.0);
  const Batch expected = x1 * c.W + x1 * proj.W;
  REQUIRE((net.forward(X) - expected).cwiseAbs().maxCoeff() < 1e-12);

  pathq::Sequential<double> bad({6, 1, 1});
  REQUIRE_THROWS_WITH(bad.add(end_identity), Catch::Contains("no residual block is open"));
  bad.add(pathq::ResidualBegin{}).add(c);
  REQUIRE_THROWS_WITH(bad.add(end_identity), Catch::Contains("add a projection"));
  REQUIRE_THROWS_WITH(bad.forward(X), Catch::Contains("not closed"));
}

TEST_CASE("Sequential rejects layers that do not fit", "[network][contract]") {
  pathq::Sequential<double> net({1, 5, 5});
  pathq::Conv2d<double> conv;
  conv.geometry = {2, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1};
  conv.W = gaussian(18, 3, 1);
  REQUIRE_THROWS_WITH(net.add(conv), Catch::Contains("input has 1 channels but the convolution expects 2"));
  conv.geometry.groups = 2;
  REQUIRE_THROWS_WITH(net.add(conv), Catch::Contains("groups (2) must divide"));
  pathq::Dense<double> d{gaussian(24, 3, 2), Eigen::VectorXd()};
  REQUIRE_THROWS_WITH(net.add(d), Catch::Contains("input has 25 features"));
  net.add(pathq::Flatten{}, "flat");
  REQUIRE_THROWS_WITH(net.add(pathq::Flatten{}, "flat"), Catch::Contains("used twice"));
  REQUIRE_THROWS_WITH(net.forward(gaussian(2, 24, 3)), Catch::Contains("inputs have 24 columns"));
}

}  // namespace pathq_test_layers
