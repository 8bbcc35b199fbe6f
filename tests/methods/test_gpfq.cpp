// GPFQ: the engine against the naive per-neuron transcription, the theory, and bad input.
#include <catch2/catch.hpp>

#include <pathq/pathq.hpp>

#include "reference/gpfq_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_gpfq {

using pathq_reference::gpfq_reference;
using pathq_reference::symmetric_levels;
using pathq_test::gaussian;

namespace {

struct Layer {
  Eigen::MatrixXd W, X, Xq;
};

// A layer whose GPFQ steps all stay at least 1e-9 (in steps) away from a rounding tie.
Layer tie_free_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m, bool quantized_inputs,
                     int K, double step, std::uint64_t seed, std::vector<Eigen::Index> dead = {}) {
  for (std::uint64_t s = seed;; s += 1000) {
    Layer L{gaussian(n_in, n_out, s) * 0.5, gaussian(m, n_in, s + 1), Eigen::MatrixXd()};
    L.Xq = quantized_inputs ? Eigen::MatrixXd(L.X + 0.2 * gaussian(m, n_in, s + 2)) : L.X;
    for (auto t : dead) L.Xq.col(t).setZero();
    if (!quantized_inputs)
      for (auto t : dead) L.X.col(t).setZero();
    const std::vector<std::vector<double>> levels(std::size_t(n_out), symmetric_levels(K, step));
    const auto ref = gpfq_reference(L.W, L.X, L.Xq, levels);
    if (pathq_reference::tie_margin(ref.C, Eigen::VectorXd::Constant(n_out, step)) > 1e-9) return L;
  }
}

}  // namespace

TEST_CASE("gpfq: engine equals the per-neuron reference on every code, any block size", "[gpfq][reference]") {
  struct Shape {
    Eigen::Index n_in, n_out, m;
    bool xq;
    std::vector<Eigen::Index> dead;
  };
  const std::vector<Shape> shapes = {
      {37, 5, 50, false, {}},        {64, 1, 30, true, {3}},  {130, 7, 200, true, {0, 64, 129}},
      {45, 300, 20, true, {}},       {20, 3, 8, false, {5}},
  };
  const int K = 3;
  const double step = 0.3;
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const auto& s = shapes[k];
    const Layer L = tie_free_layer(s.n_in, s.n_out, s.m, s.xq, K, step, 100 + k, s.dead);
    const std::vector<std::vector<double>> levels(std::size_t(s.n_out), symmetric_levels(K, step));
    const auto ref = gpfq_reference(L.W, L.X, L.Xq, levels);
    const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
    for (Eigen::Index bs : {1, 7, 32, 128, 200}) {
      pathq::GpfqOptions opt;
      opt.engine.block_size = bs;
      opt.engine.panel_width = 64;
      const auto r = pathq::Gpfq<double>(opt).quantize(L.W, stats, pathq::Alphabet<double>::symmetric(K, step));
      INFO("shape " << s.n_in << "x" << s.n_out << " m=" << s.m << " Xq!=X " << s.xq << " block " << bs);
      REQUIRE(r.values().isApprox(ref.Q, 0.0));
      REQUIRE((r.values() - ref.Q).cwiseAbs().maxCoeff() == 0.0);
      REQUIRE(r.info.dead_inputs == Eigen::Index(s.dead.size()));
    }
  }
}

TEST_CASE("gpfq: act-order equals the reference run on permuted features", "[gpfq][reference]") {
  const int K = 4;
  const double step = 0.25;
  const Layer L = tie_free_layer(50, 6, 40, true, K, step, 7);
  // Scale some features so that the energy order is far from the natural one.
  Eigen::MatrixXd X = L.X, Xq = L.Xq;
  for (Eigen::Index t = 0; t < 50; ++t) {
    const double s = 0.5 + double((t * 17) % 50) / 25.0;
    X.col(t) *= s;
    Xq.col(t) *= s;
  }
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const auto perm = pathq::feature_permutation(pathq::FeatureOrder::DescendingEnergy, stats.H().diagonal());
  Eigen::MatrixXd Wp(50, 6), Xp(40, 50), Xqp(40, 50);
  for (Eigen::Index i = 0; i < 50; ++i) {
    Wp.row(i) = L.W.row(perm[std::size_t(i)]);
    Xp.col(i) = X.col(perm[std::size_t(i)]);
    Xqp.col(i) = Xq.col(perm[std::size_t(i)]);
  }
  const std::vector<std::vector<double>> levels(6, symmetric_levels(K, step));
  const auto ref = gpfq_reference(Wp, Xp, Xqp, levels);
  REQUIRE(pathq_reference::tie_margin(ref.C, Eigen::VectorXd::Constant(6, step)) > 1e-9);
  pathq::GpfqOptions opt;
  opt.order = pathq::FeatureOrder::DescendingEnergy;
  opt.engine.block_size = 16;
  const auto r = pathq::Gpfq<double>(opt).quantize(L.W, stats, pathq::Alphabet<double>::symmetric(K, step));
  const Eigen::MatrixXd Q = r.values();
  for (Eigen::Index i = 0; i < 50; ++i) REQUIRE(Q.row(perm[std::size_t(i)]) == ref.Q.row(i));
  // And it differs from the natural order's answer (so the test can fail).
  const auto natural = pathq::Gpfq<double>().quantize(L.W, stats, pathq::Alphabet<double>::symmetric(K, step));
  REQUIRE(natural.values() != Q);
}

TEST_CASE("gpfq: each step is the greedy minimiser over the alphabet", "[gpfq][theory]") {
  const Layer L = tie_free_layer(30, 4, 25, true, 2, 0.4, 11);
  const auto r = pathq::Gpfq<double>().quantize(L.W, pathq::LayerStats<double>::from(L.X, L.Xq),
                                                pathq::Alphabet<double>::symmetric(2, 0.4));
  const Eigen::MatrixXd Q = r.values();
  const auto levels = symmetric_levels(2, 0.4);
  for (Eigen::Index j = 0; j < 4; ++j) {
    Eigen::VectorXd u = Eigen::VectorXd::Zero(25);
    for (Eigen::Index t = 0; t < 30; ++t) {
      const Eigen::VectorXd v = u + L.W(t, j) * L.X.col(t);
      const double chosen = (v - Q(t, j) * L.Xq.col(t)).norm();
      for (double p : levels) REQUIRE(chosen <= (v - p * L.Xq.col(t)).norm() + 1e-12);
      u = v - Q(t, j) * L.Xq.col(t);
    }
    // Residual identity: the walk ends at X w - Xq q.
    REQUIRE((u - (L.X * L.W.col(j) - L.Xq * Q.col(j))).norm() <= 1e-10 * (1 + u.norm()));
  }
}

TEST_CASE("gpfq: error decays like delta^2 m / (12 N_in) on Gaussian data while MSQ stays flat", "[gpfq][theory]") {
  const Eigen::Index m = 20, n_out = 16;
  const double delta = 0.5;
  const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
  double previous_msq = 0;
  for (Eigen::Index n_in : {80, 160, 320, 640}) {
    const Eigen::MatrixXd W = gaussian(n_in, n_out, 900 + std::uint64_t(n_in));
    const Eigen::MatrixXd X = gaussian(m, n_in, 901 + std::uint64_t(n_in));
    const auto stats = pathq::LayerStats<double>::from(X);
    const double e_gpfq = pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, stats, alphabet), stats);
    const double e_msq = pathq::relative_error(W, pathq::msq(W, alphabet), stats);
    const double law = pathq::bounds::gpfq_gaussian_scaling(delta, double(m), double(n_in), 1.0);
    const double flat = pathq::bounds::msq_uniform_noise(delta, 1.0);
    INFO("N_in = " << n_in << " E_rel(GPFQ) = " << e_gpfq << " law = " << law << " E_rel(MSQ) = " << e_msq);
    REQUIRE(e_gpfq / law > 0.5);
    REQUIRE(e_gpfq / law < 2.0);
    REQUIRE(e_msq / flat > 0.5);
    REQUIRE(e_msq / flat < 2.0);
    REQUIRE(e_gpfq < e_msq);
    if (previous_msq > 0) REQUIRE(e_msq > 0.7 * previous_msq);
    previous_msq = e_msq;
  }
}

TEST_CASE("gpfq: the deterministic bound holds without saturation", "[gpfq][bounds]") {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Eigen::MatrixXd W = gaussian(60, 8, seed);
    const Eigen::MatrixXd X = gaussian(90, 60, seed + 10).array().abs().matrix();  // ReLU-like inputs
    const auto stats = pathq::LayerStats<double>::from(X);
    const auto r = pathq::Gpfq<double>().quantize(W, stats, pathq::Alphabet<double>::unbounded(0.3));
    REQUIRE(r.info.saturated == 0);
    const double E = pathq::layer_error(stats, W, r.values()).error();
    const double bound = pathq::bounds::gpfq_unsaturated(r.grid, stats.K().trace());
    INFO("seed " << seed << " E = " << E << " bound = " << bound);
    REQUIRE(E <= bound);
  }
}

TEMPLATE_PRODUCT_TEST_CASE("gpfq: generic properties over every policy combination", "[gpfq][properties]",
                           pathq::Gpfq, ((float, pathq::Nearest), (double, pathq::Nearest),
                                         (float, pathq::StochasticRounding), (double, pathq::StochasticRounding))) {
  using Q = TestType;
  using Scalar = typename Q::scalar_type;
  Eigen::MatrixXd W = gaussian(70, 41, 5);
  W.col(3).setZero();
  const Eigen::MatrixXd X = gaussian(50, 70, 6);
  const Eigen::MatrixXd Xq = X + 0.1 * gaussian(50, 70, 7);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> Ws = W.cast<Scalar>();
  const auto alphabet = pathq::Alphabet<Scalar>::from_bits(3, pathq::StepRule::layer_radius(1.0));
  pathq::GpfqOptions one, two;
  one.engine.threads = 1;
  two.engine.threads = 2;
  one.engine.panel_width = two.engine.panel_width = 8;
  const auto r1 = Q(one).quantize(Ws, stats, alphabet);
  const auto r2 = Q(two).quantize(Ws, stats, alphabet);
  INFO("scalar " << sizeof(Scalar) << " stochastic " << Q::rounding_type::is_stochastic);
  REQUIRE(r1.codes.rows() == 70);
  REQUIRE(r1.codes.cols() == 41);
  REQUIRE(r1.codes.minCoeff() >= -3);
  REQUIRE(r1.codes.maxCoeff() <= 3);
  REQUIRE(r1.codes == r2.codes);            // thread count changes nothing
  REQUIRE(r1.codes.col(3).cwiseAbs().maxCoeff() == 0);  // a zero neuron stays zero
  REQUIRE(pathq::relative_error(W, r1, stats) < 0.2);
}

TEST_CASE("gpfq: bad input throws pathq::invalid_argument naming it", "[gpfq][contract]") {
  using Catch::Contains;
  const Eigen::MatrixXd X = gaussian(20, 8, 1), W = gaussian(8, 3, 2);
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto A = pathq::Alphabet<double>::symmetric(3, 0.5);
  const pathq::Gpfq<double> q;
  REQUIRE_THROWS_WITH(q.quantize(gaussian(9, 3, 3), stats, A), Contains("W has 9 rows but the inputs have N_in = 8"));
  REQUIRE_THROWS_WITH(q.quantize(Eigen::MatrixXd(8, 0), stats, A), Contains("W is empty"));
  Eigen::MatrixXd Wn = W;
  Wn(2, 1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(q.quantize(Wn, stats, A), Contains("W has a non-finite entry"));
  REQUIRE_THROWS_WITH(q.quantize(W, pathq::LayerStats<double>(8), A), Contains("no samples"));
  REQUIRE_THROWS_WITH(pathq::gpfq(W, gaussian(20, 7, 4), gaussian(20, 7, 4), A), Contains("X has 7 columns"));
  REQUIRE_THROWS_WITH(pathq::gpfq(W, X, gaussian(19, 8, 4), A), Contains("X has 20 rows but Xq has 19"));
  auto grid = A.resolve(W);
  grid.step(0, 1) = 0;
  REQUIRE_THROWS_WITH(q.quantize(W, stats, grid), Contains("step must be finite and positive"));
  pathq::GpfqOptions bad;
  bad.engine.block_size = 0;
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>(bad), Contains("block_size must be >= 1"));
  bad = {};
  bad.dead_tolerance = 2;
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>(bad), Contains("dead_tolerance"));
}

TEST_CASE("gpfq: inputs that are all dead give c_t = 0 everywhere", "[gpfq][degenerate]") {
  const Eigen::MatrixXd W = gaussian(6, 2, 1);
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(10, 6);
  const auto r = pathq::Gpfq<double>().quantize(W, pathq::LayerStats<double>::from(X),
                                                pathq::Alphabet<double>::symmetric(3, 0.5));
  REQUIRE(r.info.dead_inputs == 6);
  REQUIRE(r.codes.cwiseAbs().maxCoeff() == 0);
}

}  // namespace pathq_test_gpfq
