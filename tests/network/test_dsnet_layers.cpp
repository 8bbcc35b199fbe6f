// The layers of the depthwise-separable reference network: hard-swish (values, Lipschitz constant,
// the network bounds that take it, the description round trip), batch-norm folding into
// depthwise and pointwise convolutions, and the trainer's batch-norm and hard-swish gradients.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <pathq/bounds/sigma_delta.hpp>
#include <pathq/bounds/spfq.hpp>
#include <pathq/io/atomic_file.hpp>
#include <pathq/io/safetensors.hpp>
#include <pathq/network/model_io.hpp>
#include <pathq/network/sequential.hpp>

#include "../../examples/reference_models.hpp"
#include "../../examples/trainer.hpp"
#include "support/random_data.hpp"
#include "support/temp_dir.hpp"

#if __has_include(<nlohmann/json.hpp>)
#include "../../tools/cli/network_json.hpp"
#define PATHQ_TEST_DSNET_HAVE_TOOL_READER 1
#endif

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_dsnet_layers {

using pathq_test::gaussian;

namespace {

const pathq::Activation hswish{pathq::ActivationKind::HardSwish};

template <class Scalar>
pathq::BatchNorm<Scalar> random_bn(Eigen::Index c, std::uint64_t seed) {
  pathq::BatchNorm<Scalar> n;
  n.gamma = (gaussian(c, 1, seed).array() * 0.3 + 1.0).cast<Scalar>().matrix();
  n.beta = (gaussian(c, 1, seed + 1) * 0.5).cast<Scalar>();
  n.mean = (gaussian(c, 1, seed + 2) * 0.5).cast<Scalar>();
  n.var = (gaussian(c, 1, seed + 3).cwiseAbs().array() + 0.2).cast<Scalar>().matrix();
  return n;
}

template <class Scalar>
pathq::Conv2d<Scalar> random_conv(const pathq::ConvGeometry& g, std::uint64_t seed, bool bias) {
  pathq::Conv2d<Scalar> c;
  c.geometry = g;
  c.W = (gaussian(g.patch_size(), g.out_channels, seed) / std::sqrt(double(g.patch_size()))).cast<Scalar>();
  if (bias) c.b = (gaussian(g.out_channels, 1, seed + 1) * 0.1).cast<Scalar>();
  return c;
}

// A small network with every layer kind of the reference network: a stem conv, a residual
// depthwise-separable block, a stride-2 depthwise conv, batch norms (also on flat features),
// hard-swish, global average pooling and dense layers. Input 2 x 6 x 6, 3 classes.
template <class Scalar>
pathq::Sequential<Scalar> small_dsnet(std::uint64_t seed) {
  pathq::Sequential<Scalar> net({2, 6, 6});
  net.add(random_conv<Scalar>({2, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}, seed, false)).add(random_bn<Scalar>(4, seed + 10))
      .add(hswish)
      .add(pathq::ResidualBegin{})
      .add(random_conv<Scalar>({4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4}, seed + 20, false))
      .add(random_bn<Scalar>(4, seed + 30))
      .add(hswish)
      .add(random_conv<Scalar>({4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1}, seed + 40, true)).add(random_bn<Scalar>(4, seed + 50))
      .add(pathq::ResidualEnd<Scalar>{})
      .add(hswish)
      .add(random_conv<Scalar>({4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4}, seed + 60, true)).add(random_bn<Scalar>(4, seed + 70))
      .add(hswish)
      .add(pathq::Pool2d{pathq::PoolKind::Average, 3, 3, 0, 0, 0, 0})
      .add(pathq::Flatten{})
      .add(pathq::Dense<Scalar>{(gaussian(4, 5, seed + 80) * 0.5).cast<Scalar>(), Eigen::Matrix<Scalar, -1, 1>()})
      .add(random_bn<Scalar>(5, seed + 90))
      .add(hswish)
      .add(pathq::Dense<Scalar>{(gaussian(5, 3, seed + 100) * 0.5).cast<Scalar>(),
                                (gaussian(3, 1, seed + 101) * 0.1).cast<Scalar>()});
  return net;
}

Eigen::Index count_batch_norms(const pathq::Sequential<float>& net) {
  Eigen::Index k = 0;
  for (Eigen::Index i = 0; i < net.size(); ++i) k += std::holds_alternative<pathq::BatchNorm<float>>(net.layer(i));
  return k;
}

}  // namespace

TEST_CASE("hard-swish: values, Lipschitz constant 3/2, and the network bounds that take it", "[network][dsnet]") {
  const std::vector<std::pair<double, double>> points = {
      {-5, 0}, {-3, 0}, {-1.5, -0.375}, {-1, -1.0 / 3}, {0, 0}, {1, 2.0 / 3}, {2, 5.0 / 3}, {3, 3}, {4.5, 4.5}};
  for (const auto& [x, y] : points) {
    INFO("x = " << x);
    REQUIRE(hswish.apply(x) == Approx(y).margin(1e-15));
    REQUIRE(hswish.apply(float(x)) == Approx(y).margin(1e-6));
  }
  REQUIRE(std::string(pathq::to_string(pathq::ActivationKind::HardSwish)) == "hardswish");
  const pathq::TensorShape in{1, 2, 3};
  const pathq::Batch<double> A = gaussian(3, 6, 5) * 3.0;
  const pathq::Batch<double> Y = hswish.forward(A, in);
  for (Eigen::Index k = 0; k < A.size(); ++k)
    REQUIRE(Y.data()[k] == A.data()[k] * std::min(std::max(A.data()[k] + 3, 0.0), 6.0) / 6);

  // The steepest slope is 3/2, just below x = 3: not 1-Lipschitz.
  REQUIRE(pathq::lipschitz_constant(hswish) == 1.5);
  REQUIRE(pathq::lipschitz_constant(pathq::Activation{}) == 1.0);
  REQUIRE(pathq::lipschitz_constant(pathq::Activation{pathq::ActivationKind::Sigmoid, 0}) == 0.25);
  double steepest = 0;
  for (double x = -4; x < 4; x += 1.0 / 64)
    steepest = std::max(steepest, std::abs(hswish.apply(x + 1.0 / 64) - hswish.apply(x)) * 64);
  REQUIRE(steepest > 1.49);
  REQUIRE(steepest <= 1.5 + 1e-12);

  // The network bounds with the constant: every layer's error grows by Lip.
  const std::vector<pathq::bounds::LayerPerturbation> layers = {{2, 0.5, 0.1}, {3, 0.2, 0}};
  const std::vector<double> norms = {1, 4};
  REQUIRE(pathq::bounds::network_feedforward(layers, norms) == Approx(3 * 0.6 + 0.8));
  REQUIRE(pathq::bounds::network_feedforward(layers, norms, 1.5) == Approx(1.5 * (3 * 1.5 * 0.6 + 0.8)));
  REQUIRE(pathq::bounds::network_residual(layers, norms, 1.5) == Approx((1 + 1.5 * 3) * 1.5 * 0.6 + 1.5 * 0.8));
  REQUIRE(pathq::bounds::spfq_network({1, 2, 3}, {9, 10, 100}, 1.5) == Approx((1 * 1.5 * 10 + 2) * 1.5 * 100 + 3));
  REQUIRE_THROWS_WITH(pathq::bounds::network_feedforward(layers, norms, -1), Catch::Contains("lipschitz"));
  REQUIRE_THROWS_WITH(pathq::bounds::spfq_network({1}, {1}, std::nan("")), Catch::Contains("lipschitz"));

  // A two-layer hard-swish network and a perturbed copy: the measured output error stays under
  // the bound with Lip = 3/2.
  const Eigen::MatrixXd W1 = gaussian(6, 5, 11), W2 = gaussian(5, 4, 12);
  const Eigen::MatrixXd Q1 = W1 + 0.05 * gaussian(6, 5, 13), Q2 = W2 + 0.05 * gaussian(5, 4, 14);
  const Eigen::VectorXd x = gaussian(6, 1, 15);
  auto act = [](const Eigen::VectorXd& z) {
    return Eigen::VectorXd(z.unaryExpr([](double v) { return hswish.apply(v); }));
  };
  const Eigen::VectorXd a1 = act(W1.transpose() * x), a2 = act(W2.transpose() * a1);
  const Eigen::VectorXd q2 = act(Q2.transpose() * act(Q1.transpose() * x));
  // Frobenius norms stand in for the spectral norms (upper bounds).
  const std::vector<pathq::bounds::LayerPerturbation> perturbed = {{Q1.norm(), (W1 - Q1).norm(), 0},
                                                                    {Q2.norm(), (W2 - Q2).norm(), 0}};
  REQUIRE((a2 - q2).norm() <= pathq::bounds::network_feedforward(perturbed, {x.norm(), a1.norm()}, 1.5));
}

TEST_CASE("hard-swish: the network description round trip", "[network][dsnet][io]") {
  const pathq::Sequential<float> net = small_dsnet<float>(7);
  const std::string text = pathq::network_description(net);
  REQUIRE(text.find("\"type\": \"hardswish\"") != std::string::npos);
  // Every existing field keeps its name.
  for (const char* field : {"\"conv2d\"", "\"groups\": 4", "\"batchnorm\"", "\"eps\"", "\"residual_begin\"",
                            "\"residual_end\"", "\"avgpool2d\"", "\"kernel_size\"", "\"flatten\"", "\"linear\""})
    REQUIRE(text.find(field) != std::string::npos);
#ifdef PATHQ_TEST_DSNET_HAVE_TOOL_READER
  pathq_test::TempDir dir("dsnet");
  pathq::io::write_file_atomically(dir.file("net.json"), text);
  pathq::io::SafetensorsFile weights;
  pathq::add_network_tensors(weights, net);
  const pathq_tool::LoadedNetwork loaded = pathq_tool::load_network(dir.file("net.json"), weights);
  REQUIRE(loaded.net.size() == net.size());
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    REQUIRE(loaded.net.name(i) == net.name(i));
    REQUIRE(loaded.net.layer(i).index() == net.layer(i).index());
    if (auto* a = std::get_if<pathq::Activation>(&net.layer(i)))
      REQUIRE(std::get<pathq::Activation>(loaded.net.layer(i)).kind == a->kind);
  }
  REQUIRE(pathq::network_description(loaded.net) == text);
  const Eigen::MatrixXf X = gaussian(4, 72, 8).cast<float>();
  REQUIRE(loaded.net.forward(X) == net.forward(X));
#endif
}

TEST_CASE("batch-norm folding: depthwise and pointwise convolutions, inside residual blocks",
          "[network][dsnet][batchnorm]") {
  using Batch = pathq::Batch<double>;
  const pathq::Sequential<double> net = small_dsnet<double>(3);
  const pathq::Sequential<double> folded = pathq::fold_batch_norm(net);
  REQUIRE(folded.size() == net.size() - 5);
  for (Eigen::Index i = 0; i < folded.size(); ++i)
    REQUIRE_FALSE(std::holds_alternative<pathq::BatchNorm<double>>(folded.layer(i)));
  const Batch X = gaussian(5, 72, 9);
  const Batch Y = net.forward(X), Yf = folded.forward(X);
  INFO("max |difference| " << (Y - Yf).cwiseAbs().maxCoeff());
  REQUIRE((Y - Yf).cwiseAbs().maxCoeff() < 1e-12 * (1 + Y.cwiseAbs().maxCoeff()));

  // A depthwise conv alone, against the definition: channel c's kernel scaled by gamma_c / sigma_c.
  pathq::Sequential<double> dw({3, 5, 5});
  const pathq::Conv2d<double> conv = random_conv<double>({3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3}, 21, true);
  const pathq::BatchNorm<double> bn = random_bn<double>(3, 22);
  dw.add(conv, "dw").add(bn, "bn");
  const pathq::Sequential<double> dwf = pathq::fold_batch_norm(dw);
  REQUIRE(dwf.size() == 1);
  REQUIRE(dwf.name(0) == "dw");
  const auto& fc = std::get<pathq::Conv2d<double>>(dwf.layer(0));
  for (Eigen::Index c = 0; c < 3; ++c) {
    const double s = bn.gamma(c) / std::sqrt(bn.var(c) + bn.eps);
    REQUIRE((fc.W.col(c) - conv.W.col(c) * s).cwiseAbs().maxCoeff() < 1e-14);
    REQUIRE(fc.b(c) == Approx((conv.b(c) - bn.mean(c)) * s + bn.beta(c)));
  }
  const Batch Xd = gaussian(3, 75, 23);
  REQUIRE((dw.forward(Xd) - dwf.forward(Xd)).cwiseAbs().maxCoeff() < 1e-12);

  // The reference network itself (random batch-norm statistics): every batch norm folds.
  pathq::Sequential<float> ds = pathq_examples::dsnet_recipe().architecture();
  pathq::Sequential<float> randomized(ds.input_shape());
  for (Eigen::Index i = 0; i < ds.size(); ++i) {
    pathq::Layer<float> L = ds.layer(i);
    if (auto* n = std::get_if<pathq::BatchNorm<float>>(&L))
      *n = random_bn<float>(n->gamma.size(), 100 + std::uint64_t(i));
    randomized.add(L, ds.name(i));
  }
  const pathq::Sequential<float> dsf = pathq::fold_batch_norm(randomized);
  REQUIRE(count_batch_norms(randomized) == 13);
  REQUIRE(count_batch_norms(dsf) == 0);
  const Eigen::MatrixXf Xi = gaussian(3, 784, 24).cwiseAbs().cast<float>();
  const pathq::Batch<float> Yi = randomized.forward(Xi), Yif = dsf.forward(Xi);
  REQUIRE((Yi - Yif).cwiseAbs().maxCoeff() < 1e-4f * (1 + Yi.cwiseAbs().maxCoeff()));
}

TEST_CASE("dsnet: 14 quantizable layers, depthwise-separable blocks with residuals", "[network][dsnet]") {
  const pathq_examples::Recipe r = pathq_examples::dsnet_recipe();
  REQUIRE(r.name == "dsnet");
  const pathq::Sequential<float> net = r.architecture();
  REQUIRE(net.input_shape() == pathq::TensorShape{1, 28, 28});
  REQUIRE(net.output_shape() == pathq::TensorShape{10, 1, 1});
  int quantizable = 0, depthwise = 0, pointwise = 0, residuals = 0, hardswish = 0;
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    const auto& L = net.layer(i);
    if (auto* c = std::get_if<pathq::Conv2d<float>>(&L)) {
      ++quantizable;
      depthwise += c->geometry.groups > 1 && c->geometry.groups == c->geometry.in_channels;
      pointwise += c->geometry.kernel_h == 1 && c->geometry.kernel_w == 1;
    }
    quantizable += std::holds_alternative<pathq::Dense<float>>(L);
    residuals += std::holds_alternative<pathq::ResidualEnd<float>>(L);
    if (auto* a = std::get_if<pathq::Activation>(&L)) hardswish += a->kind == pathq::ActivationKind::HardSwish;
  }
  REQUIRE(quantizable == 14);
  REQUIRE(depthwise == 6);
  REQUIRE(pointwise == 6);
  REQUIRE(residuals == 4);
  REQUIRE(hardswish == 13);
}

TEST_CASE("trainer: convolutions without im2col equal the library's", "[network][dsnet][trainer]") {
  const std::vector<std::pair<pathq::TensorShape, pathq::ConvGeometry>> cases = {
      {{1, 7, 6}, {1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}},   // a stem
      {{4, 7, 7}, {4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4}},   // depthwise, stride 2
      {{4, 9, 8}, {4, 8, 3, 2, 1, 2, 2, 0, 2, 1, 2}},   // grouped, dilated, multiplier 4
      {{6, 5, 5}, {6, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1}},   // pointwise
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    INFO("case " << k);
    const auto& [in, g] = cases[k];
    const pathq::Conv2d<float> c = random_conv<float>(g, 30 + k, k % 2 == 0);
    const pathq::Batch<float> A = gaussian(3, in.size(), 40 + k).cast<float>();
    pathq::Batch<float> Y;
    pathq_examples::detail::conv_forward(c, A, in, Y);
    REQUIRE((Y - c.forward(A, in)).cwiseAbs().maxCoeff() < 1e-5f);
  }
}

TEST_CASE("trainer: batch-norm and hard-swish gradients match finite differences", "[network][dsnet][trainer]") {
  using pathq_examples::TrainingNetwork;
  const pathq::Sequential<float> net = small_dsnet<float>(5);
  const pathq::Batch<float> X = (gaussian(6, 72, 6) * 1.5).cast<float>();
  Eigen::VectorXi y(6);
  y << 0, 2, 1, 1, 0, 2;
  TrainingNetwork tn(net);
  const double loss = tn.forward_backward(X, y);
  REQUIRE(std::isfinite(loss));
  REQUIRE(tn.network().forward(X) == net.forward(X));  // momentum 0: running statistics untouched

  // Central differences along a random unit direction of every parameter block.
  const double h = 1e-2;
  int checked = 0;
  for (std::size_t i = 0; i < tn.layers.size(); ++i) {
    const std::size_t blocks = pathq_examples::detail::parameters_of(tn.layers[i]).size();
    for (std::size_t k = 0; k < blocks; ++k) {
      const Eigen::Index n = pathq_examples::detail::parameters_of(tn.layers[i])[k].size();
      if (n == 0) continue;
      const Eigen::VectorXf d = gaussian(n, 1, 500 + 10 * i + k).normalized().cast<float>();
      auto loss_at = [&](double t) {
        auto p = pathq_examples::detail::parameters_of(tn.layers[i]);
        const Eigen::VectorXf saved = p[k];
        p[k] += float(t) * d;
        const double l = tn.loss(X, y);
        p[k] = saved;
        return l;
      };
      const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
      const double analytic = double(tn.gradients[i][k].dot(d));
      INFO("layer " << i << " (" << net.name(Eigen::Index(i)) << "), block " << k << ": analytic " << analytic
                    << ", numeric " << numeric);
      REQUIRE(std::abs(numeric - analytic) <= 1e-4 + 1e-2 * std::abs(analytic));
      ++checked;
    }
  }
  REQUIRE(checked == 10 + 6 + 3);  // gamma and beta of 5 batch norms, 6 weights, 3 biases
}

TEST_CASE("trainer: batch norms update their running statistics with momentum", "[network][dsnet][trainer]") {
  using pathq_examples::TrainingNetwork;
  pathq::Sequential<float> net({2, 4, 4});
  const pathq::Conv2d<float> conv = random_conv<float>({2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 61, true);
  pathq::BatchNorm<float> bn;
  bn.gamma = bn.var = Eigen::VectorXf::Ones(3);
  bn.beta = bn.mean = Eigen::VectorXf::Zero(3);
  net.add(conv).add(bn).add(hswish).add(pathq::Flatten{})
      .add(pathq::Dense<float>{gaussian(48, 2, 62).cast<float>(), {}});
  const pathq::Batch<float> X = gaussian(5, 32, 63).cast<float>();
  Eigen::VectorXi y(5);
  y << 0, 1, 1, 0, 1;
  TrainingNetwork tn(net);
  tn.forward_backward(X, y, 0.1);
  const pathq::Sequential<float> after = tn.network();
  const auto& trained = std::get<pathq::BatchNorm<float>>(after.layer(1));
  // The batch statistics of the conv's output, over 5 samples x 16 positions per channel.
  const pathq::Batch<double> Z = conv.forward(X, {2, 4, 4}).cast<double>();
  for (Eigen::Index c = 0; c < 3; ++c) {
    const Eigen::MatrixXd v = Z.middleCols(c * 16, 16);
    const double mean = v.mean(), unbiased = (v.array() - mean).square().sum() / (80 - 1);
    REQUIRE(trained.mean(c) == Approx(0.1 * mean).margin(1e-6));
    REQUIRE(trained.var(c) == Approx(0.9 + 0.1 * unbiased).epsilon(1e-5));
  }
  // Gradients of gamma and beta entry by entry.
  const double h = 1e-2;
  for (std::size_t k = 0; k < 2; ++k)
    for (Eigen::Index c = 0; c < 3; ++c) {
      auto at = [&](double t) {
        pathq_examples::detail::parameters_of(tn.layers[1])[k](c) += float(t);
        const double l = tn.loss(X, y);
        pathq_examples::detail::parameters_of(tn.layers[1])[k](c) -= float(t);
        return l;
      };
      const double numeric = (at(h) - at(-h)) / (2 * h);
      INFO((k ? "beta " : "gamma ") << c);
      REQUIRE(numeric == Approx(tn.gradients[1][k](c)).margin(1e-3).epsilon(2e-2));
    }

  // Training is deterministic and moves the running statistics.
  pathq_examples::TrainOptions opt;
  opt.epochs = 2;
  opt.batch_size = 4;
  const Eigen::MatrixXf images = gaussian(10, 32, 64).cast<float>();
  Eigen::VectorXi labels(10);
  labels << 0, 1, 1, 0, 1, 0, 0, 1, 1, 1;
  const pathq::Sequential<float> a = pathq_examples::train(net, images, labels, opt);
  const pathq::Sequential<float> b = pathq_examples::train(net, images, labels, opt);
  REQUIRE(a.forward(images) == b.forward(images));
  const auto& bn_a = std::get<pathq::BatchNorm<float>>(a.layer(1));
  REQUIRE(bn_a.mean.cwiseAbs().maxCoeff() > 0);
  REQUIRE((bn_a.gamma.array() != 1.0f).any());
}

}  // namespace pathq_test_dsnet_layers
