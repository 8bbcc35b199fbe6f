// SPFQ: the engine against the per-neuron transcription, stochastic GPFQ, the theory, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <pathq/bounds/spfq.hpp>
#include <pathq/core/stochastic_operators.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/spfq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "reference/gpfq_reference.hpp"
#include "reference/spfq_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_spfq {

using pathq_reference::symmetric_levels;
using pathq_test::gaussian;

namespace {

using Mat = Eigen::MatrixXd;
constexpr int inf_order = pathq::SpfqOptions::infinite_order;

struct SpfqLayer {
  Mat W, X, Xq;
};

SpfqLayer make_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m, bool quantized_inputs, std::uint64_t seed,
                 const std::vector<Eigen::Index>& dead = {}) {
  SpfqLayer L{0.5 * gaussian(n_in, n_out, seed), gaussian(m, n_in, seed + 1), Mat()};
  L.Xq = quantized_inputs ? Mat(L.X + 0.2 * gaussian(m, n_in, seed + 2)) : L.X;
  for (auto t : dead) L.Xq.col(t).setZero();
  if (!quantized_inputs)
    for (auto t : dead) L.X.col(t).setZero();
  return L;
}

// ||A||_2 by power iteration on A^T A (converged far below the tolerances used here).
double spectral_norm(const Mat& A) {
  Eigen::VectorXd v = Eigen::VectorXd::Ones(A.cols());
  double s = 0;
  for (int k = 0; k < 3000; ++k) {
    v = A.transpose() * (A * v);
    s = std::sqrt(v.norm());
    v.normalize();
  }
  return s;
}

// ||Xq (A - B)||^2 per column, from H.
Eigen::VectorXd column_energy(const pathq::LayerStats<double>& stats, const Mat& A, const Mat& B) {
  const Mat D = A - B;
  return (D.cwiseProduct(stats.H() * D)).colwise().sum().transpose();
}

pathq::Spfq<double> spfq_with(int order, std::uint64_t seed, double gain = 1.0, Eigen::Index block = 128) {
  pathq::SpfqOptions o;
  o.order = order;
  o.gain = gain;
  o.engine.block_size = block;
  o.engine.panel_width = 64;
  return pathq::Spfq<double>(o, pathq::StochasticRounding(seed));
}

}  // namespace

TEST_CASE("spfq: engine equals the per-neuron transcription of both phases, draw for draw", "[spfq][reference]") {
  struct Shape {
    Eigen::Index n_in, n_out, m;
    bool xq;
    std::vector<Eigen::Index> dead;
  };
  const std::vector<Shape> shapes = {
      {37, 5, 50, false, {}}, {64, 1, 30, true, {3}}, {130, 7, 200, true, {0, 64, 129}},
      {45, 300, 20, true, {}}, {20, 3, 8, false, {5}},
  };
  const int K = 6;
  const double step = 0.3;
  const auto levels = symmetric_levels(K, step);
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    const auto& s = shapes[k];
    const SpfqLayer L = make_layer(s.n_in, s.n_out, s.m, s.xq, 300 + k, s.dead);
    const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
    for (int order : {1, 2, 3})
      for (double gain : {1.0, 0.6}) {
        const std::uint64_t seed = 17 * k + std::uint64_t(order);
        const auto ref = pathq_reference::spfq_reference(L.W, L.X, L.Xq, order, levels, seed, gain);
        Eigen::Index ref_clipped = 0;
        for (Eigen::Index i = 0; i < ref.C.size(); ++i) ref_clipped += std::abs(ref.C.data()[i]) > K * step;
        for (Eigen::Index bs : {1, 16, 128}) {
          const auto r = spfq_with(order, seed, gain, bs).quantize(L.W, stats, pathq::Alphabet<double>::symmetric(K, step));
          INFO("shape " << s.n_in << "x" << s.n_out << " m=" << s.m << " Xq!=X " << s.xq << " order " << order
                        << " gain " << gain << " block " << bs << " seed " << seed);
          REQUIRE(r.info.status == pathq::Info::Success);
          REQUIRE((r.values() - ref.Q).cwiseAbs().maxCoeff() == 0.0);
          REQUIRE(r.info.saturated == ref_clipped);
          REQUIRE(r.info.dead_inputs == Eigen::Index(s.dead.size()));
        }
      }
  }
}

TEST_CASE("spfq: phase 1 equals the data-domain alignment passes", "[spfq][reference][alignment]") {
  const SpfqLayer L = make_layer(50, 6, 35, true, 41, {7});
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  for (int order : {1, 2, 5}) {
    Mat U;
    const Mat ref = pathq_reference::data_alignment(L.W, L.X, L.Xq, order, &U);
    pathq::SpfqOptions o;
    o.order = order;
    o.alignment_residual = true;
    const auto a = pathq::Spfq<double>(o).align(L.W, stats);
    INFO("order " << order);
    REQUIRE(a.status == pathq::Info::Success);
    REQUIRE((a.W - ref).cwiseAbs().maxCoeff() < 1e-10);
    REQUIRE(a.W.row(7).cwiseAbs().maxCoeff() == 0.0);
    REQUIRE(std::abs(a.residual - U.squaredNorm()) < 1e-9 * (1 + U.squaredNorm()));
    REQUIRE(std::abs(a.relative_residual - U.squaredNorm() / (L.X * L.W).squaredNorm()) < 1e-10);
  }
}

TEST_CASE("spfq: r = 1 is stochastic GPFQ, draw for draw, in both of its forms", "[spfq][gpfq]") {
  const SpfqLayer L = make_layer(90, 40, 60, true, 5, {11});
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  for (auto order : {pathq::FeatureOrder::Natural, pathq::FeatureOrder::DescendingEnergy})
    for (std::uint64_t seed : {0u, 9u}) {
      pathq::GpfqOptions g;
      g.order = order;
      pathq::SpfqOptions o;
      o.feature_order = order;
      const auto alphabet = pathq::Alphabet<double>::from_bits(4, pathq::StepRule::layer_radius(1.0));
      const auto gpfq = pathq::Gpfq<double, pathq::StochasticRounding>(g, pathq::StochasticRounding(seed))
                            .quantize(L.W, stats, alphabet);
      const pathq::Spfq<double> spfq(o, pathq::StochasticRounding(seed));
      const auto direct = spfq.quantize(L.W, stats, alphabet);
      // The two-phase form: W~ from pass 1, then phase 2 from W~ alone.
      const auto two_phase = spfq.quantize_aligned(spfq.align(L.W, stats), stats, alphabet.resolve(L.W));
      INFO("seed " << seed << " order " << pathq::to_string(order));
      REQUIRE(direct.codes == gpfq.codes);
      REQUIRE(direct.info.extra.count("alignment_relative_error") == 0);  // off by default: W~ not formed
      REQUIRE(two_phase.codes == gpfq.codes);
      // Float too.
      const Eigen::MatrixXf Wf = L.W.cast<float>();
      const auto af = pathq::Alphabet<float>::from_bits(4, pathq::StepRule::layer_radius(1.0));
      const auto gf = pathq::Gpfq<float, pathq::StochasticRounding>(g, pathq::StochasticRounding(seed)).quantize(Wf, stats, af);
      REQUIRE(pathq::Spfq<float>(o, pathq::StochasticRounding(seed)).quantize(Wf, stats, af).codes == gf.codes);
    }
}

TEST_CASE("spfq: Gauss-Seidel alignment error decreases with r and vanishes when N_in > m", "[spfq][alignment][theory]") {
  const Eigen::Index m = 60, n_out = 5;
  for (Eigen::Index n_in : {40, 120}) {
    const Mat W = gaussian(n_in, n_out, 70 + std::uint64_t(n_in));
    const Mat X = gaussian(m, n_in, 71 + std::uint64_t(n_in));
    const Mat Xq = X + 0.3 * gaussian(m, n_in, 72 + std::uint64_t(n_in));
    const auto stats = pathq::LayerStats<double>::from(X, Xq);
    // The least-squares floor ||(I - P_range(Xq)) X W|| / ||X W||: 0 when N_in > m (Xq has full
    // row rank), else from the normal equations.
    const Mat XW = X * W;
    const double floor_ratio =
        n_in > m ? 0.0 : (XW - Xq * Mat((Xq.transpose() * Xq).ldlt().solve(Xq.transpose() * XW))).norm() / XW.norm();
    double previous = std::numeric_limits<double>::infinity();
    for (int order : {1, 2, 4, 8, 32, inf_order}) {
      pathq::SpfqOptions o;
      o.order = order;
      o.alignment_residual = true;
      const auto a = pathq::Spfq<double>(o).align(W, stats);
      const double ratio = std::sqrt(a.relative_residual);
      INFO("N_in " << n_in << " order " << pathq::order_name(order) << " ||XW - XqW~||/||XW|| = " << ratio
                   << " least squares " << floor_ratio);
      REQUIRE(ratio <= previous * (1 + 1e-9));
      REQUIRE(ratio >= floor_ratio * (1 - 1e-6));
      if (order == 1) REQUIRE(ratio > 0.1);
      if (n_in < m && order >= 32) REQUIRE(ratio < floor_ratio * 1.01);
      if (n_in > m && order == 32) REQUIRE(ratio < 1e-4);
      if (n_in > m && order == inf_order) REQUIRE(ratio < 1e-5);
      previous = ratio;
    }
  }
}

TEST_CASE("spfq: with Xq = X the alignment is exact at every order", "[spfq][alignment]") {
  const SpfqLayer L = make_layer(30, 4, 50, false, 3);
  const auto stats = pathq::LayerStats<double>::from(L.X);
  for (int order : {1, 3, inf_order}) {
    pathq::SpfqOptions o;
    o.order = order;
    const auto a = pathq::Spfq<double>(o).align(L.W, stats);
    REQUIRE(a.W == L.W);
    REQUIRE(a.residual == 0.0);
  }
}

TEST_CASE("spfq: unbiased, the mean of Xq Q over S seeds approaches Xq W~ like 1/sqrt(S)", "[spfq][theory][statistical]") {
  const SpfqLayer L = make_layer(40, 3, 30, true, 8);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  const int S = 200;
  auto run = [&](const pathq::Alphabet<double>& alphabet, std::vector<double>& ratios) {
    pathq::SpfqOptions o;
    o.order = 2;
    const Mat target = L.Xq * pathq::Spfq<double>(o).align(L.W, stats).W;
    Mat sum = Mat::Zero(target.rows(), target.cols());
    double spread = 0;  // sum over seeds of ||Xq Q_s - Xq W~||^2
    for (int s = 0; s < S; ++s) {
      const Mat XqQ = L.Xq * pathq::Spfq<double>(o, pathq::StochasticRounding(std::uint64_t(s)))
                                 .quantize(L.W, stats, alphabet).values();
      sum += XqQ;
      spread += (XqQ - target).squaredNorm();
      const int count = s + 1;
      if (count == 50 || count == 200) {
        // For an unbiased operator E||mean_S - target||^2 = E||XqQ - target||^2 / S.
        const double dev = (sum / count - target).squaredNorm();
        ratios.push_back(dev * count / (spread / count));
      }
    }
  };
  std::vector<double> unbiased, clipped;
  run(pathq::Alphabet<double>::unbounded(0.3), unbiased);
  for (double r : unbiased) {
    INFO("S * ||mean - Xq W~||^2 / E||XqQ - Xq W~||^2 = " << r << " (1 when unbiased)");
    REQUIRE(r > 0.2);
    REQUIRE(r < 3.0);
  }
  // A grid that clips (K = 1) is biased: the deviation of the mean stops shrinking.
  run(pathq::Alphabet<double>::symmetric(1, 0.3), clipped);
  INFO("clipped: " << clipped[0] << " at S = 50, " << clipped[1] << " at S = 200");
  REQUIRE(clipped[1] > 10.0);
  REQUIRE(clipped[1] > 2.0 * clipped[0]);
}

TEST_CASE("spfq: the tail bound holds in at least 99% of seeds on Gaussian data", "[spfq][bounds][statistical]") {
  const Eigen::Index n_in = 60, n_out = 4, m = 30;
  const Mat W = gaussian(n_in, n_out, 51);
  const Mat X = gaussian(m, n_in, 52);
  const Mat Xq = X + 0.2 * gaussian(m, n_in, 53);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const double delta = 0.4;
  int held = 0, seeds = 200;
  double worst = 0;
  for (int s = 0; s < seeds; ++s) {
    pathq::SpfqOptions o;
    o.order = inf_order;
    const pathq::Spfq<double> q(o, pathq::StochasticRounding(std::uint64_t(s)));
    const auto a = q.align(W, stats);
    const auto r = q.quantize_aligned(a, stats, pathq::Alphabet<double>::unbounded(delta).resolve(a.W));
    REQUIRE(r.info.saturated == 0);
    const auto b = pathq::bounds::spfq_layer_tail(r.grid, stats, 2.0);
    const double worst_neuron = std::sqrt(column_energy(stats, a.W, r.values()).maxCoeff());
    worst = std::max(worst, worst_neuron / b.per_neuron);
    held += worst_neuron <= b.per_neuron;
    if (s == 0) {
      REQUIRE(b.deviation == delta);
      REQUIRE(b.probability == Approx(1 - std::sqrt(2.0) * 30 * 4 / (60.0 * 60.0)));
      REQUIRE(b.per_neuron == Approx(delta * std::sqrt(2 * M_PI * 2 * 30 * std::log(60.0)) *
                                     std::sqrt(stats.H().diagonal().maxCoeff())));
    }
  }
  INFO("held in " << held << " of " << seeds << " seeds; worst error / bound " << worst);
  REQUIRE(held >= 198);
  REQUIRE(worst > 0.01);  // not vacuous by orders of magnitude
}

TEST_CASE("spfq: the finite-alphabet K rule leaves no step clipped", "[spfq][bounds][statistical]") {
  const Eigen::Index n_in = 50, n_out = 6, m = 30;
  const SpfqLayer L = make_layer(n_in, n_out, m, true, 61);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  const double delta = 0.25, p = 3.0;
  pathq::SpfqOptions o;
  o.order = 2;
  const auto a = pathq::Spfq<double>(o).align(L.W, stats);
  const int K = pathq::spfq_levels_for_no_clipping(a.W, stats, delta, p);
  const double prob = pathq::bounds::spfq_no_clipping_probability(p, double(n_in), double(n_in), double(n_out));
  INFO("K = " << K << " promised probability " << prob);
  REQUIRE(prob >= 0.99);
  REQUIRE(K > a.W.cwiseAbs().maxCoeff() / delta);
  int clean = 0, tight = 0;
  const int seeds = 100, K_small = std::max(1, int(std::ceil(a.W.cwiseAbs().maxCoeff() / delta)) - 1);
  for (int s = 0; s < seeds; ++s) {
    const pathq::Spfq<double> q(o, pathq::StochasticRounding(std::uint64_t(s)));
    clean += q.quantize_aligned(a, stats, pathq::Alphabet<double>::symmetric(K, delta).resolve(a.W)).info.saturated == 0;
    tight += q.quantize_aligned(a, stats, pathq::Alphabet<double>::symmetric(K_small, delta).resolve(a.W)).info.saturated == 0;
  }
  INFO("no clipping in " << clean << " of " << seeds << " seeds with K = " << K << "; " << tight << " with K = " << K_small);
  REQUIRE(clean >= 99);
  REQUIRE(tight < 50);  // the test can fail: a smaller alphabet clips
  // log log N: the rule's K grows like sqrt(log N).
  REQUIRE(pathq::bounds::spfq_levels_for_no_clipping(0, 1, 2, 1e3, 1, 1) <
          pathq::bounds::spfq_levels_for_no_clipping(0, 1, 2, 1e6, 1, 1));
  REQUIRE(pathq::bounds::spfq_levels_for_no_clipping(0, 1, 2, 1e6, 1, 1) ==
          int(std::ceil(std::sqrt(2 * M_PI * 2 * std::log(1e6)))));
}

TEST_CASE("spfq: error decays like delta^2 m / (6 N_in), about twice GPFQ's", "[spfq][theory]") {
  const Eigen::Index m = 20, n_out = 16;
  const double delta = 0.5;
  const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
  for (Eigen::Index n_in : {80, 160, 320, 640}) {
    const Mat W = gaussian(n_in, n_out, 900 + std::uint64_t(n_in));
    const Mat X = gaussian(m, n_in, 901 + std::uint64_t(n_in));
    const auto stats = pathq::LayerStats<double>::from(X);
    double e_spfq = 0;
    for (std::uint64_t s = 0; s < 4; ++s)
      e_spfq += pathq::relative_error(W, pathq::Spfq<double>({}, pathq::StochasticRounding(s)).quantize(W, stats, alphabet), stats) / 4;
    const double e_gpfq = pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, stats, alphabet), stats);
    const double law = pathq::bounds::spfq_gaussian_scaling(delta, double(m), double(n_in), 1.0);
    INFO("N_in = " << n_in << " E_rel(SPFQ) = " << e_spfq << " law = " << law << " E_rel(GPFQ) = " << e_gpfq);
    REQUIRE(e_spfq / law > 0.6);
    REQUIRE(e_spfq / law < 1.6);
    REQUIRE(e_spfq / e_gpfq > 1.3);
    REQUIRE(e_spfq / e_gpfq < 3.0);
  }
}

TEST_CASE("spfq: the network bound holds on a 3-layer ReLU MLP with r = infinity", "[spfq][bounds][network]") {
  const Eigen::Index m = 25;
  const std::vector<Eigen::Index> widths = {40, 50, 60, 30};
  std::vector<Mat> Ws;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i)
    Ws.push_back(gaussian(widths[i], widths[i + 1], 80 + i) / std::sqrt(double(widths[i])));
  auto relu = [](const Mat& A) { return Mat(A.cwiseMax(0.0)); };
  Mat X = gaussian(m, widths[0], 90), Xq = X;
  std::vector<double> eps, norms, tails;
  double e = 0;
  for (std::size_t i = 0; i < Ws.size(); ++i) {
    const auto stats = pathq::LayerStats<double>::from(X, Xq);
    pathq::SpfqOptions o;
    o.order = inf_order;
    o.alignment_residual = true;
    const pathq::Spfq<double> q(o, pathq::StochasticRounding(7));
    const auto a = q.align(Ws[i], stats);
    const auto r = q.quantize_aligned(a, stats, pathq::Alphabet<double>::unbounded(0.05).resolve(a.W));
    const Mat Q = r.values();
    eps.push_back(std::sqrt(column_energy(stats, a.W, Q).sum()));
    norms.push_back(spectral_norm(Ws[i]));
    tails.push_back(std::sqrt(pathq::bounds::spfq_layer_tail(r.grid, stats, 2.0).layer));
    e = (X * Ws[i] - Xq * Q).norm();
    // One step of the recursion, and the alignment is perfect here (m < N_in).
    const double step_bound = pathq::bounds::spfq_network(eps, norms);
    INFO("layer " << i + 1 << " e = " << e << " eps = " << eps.back() << " unrolled bound = " << step_bound);
    REQUIRE(a.relative_residual < 1e-8);
    REQUIRE(e <= step_bound * (1 + 1e-9) + 1e-12);
    const bool last = i + 1 == Ws.size();
    X = last ? Mat(X * Ws[i]) : relu(X * Ws[i]);
    Xq = last ? Mat(Xq * Q) : relu(Xq * Q);
  }
  const double output_error = (X - Xq).norm();
  REQUIRE(output_error == Approx(e));
  REQUIRE(output_error <= pathq::bounds::spfq_network(eps, norms) * (1 + 1e-9));
  REQUIRE(output_error <= pathq::bounds::spfq_network(tails, norms));
  REQUIRE(pathq::bounds::spfq_network({1, 2, 3}, {9, 10, 100}) == Approx((1 * 10 + 2) * 100 + 3));
}

TEMPLATE_PRODUCT_TEST_CASE("spfq: generic properties over operators and precisions", "[spfq][properties]",
                           pathq::Spfq, ((float, pathq::StochasticRounding), (double, pathq::StochasticRounding),
                                         (double, pathq::DeadZoneNearest))) {
  using Q = TestType;
  using Scalar = typename Q::scalar_type;
  using Op = typename Q::operator_type;
  Mat W = gaussian(70, 41, 5);
  W.col(3).setZero();
  const Mat X = gaussian(50, 70, 6);
  const Mat Xq = X + 0.1 * gaussian(50, 70, 7);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> Ws = W.cast<Scalar>();
  const auto grid = std::is_same<Op, pathq::DeadZoneNearest>::value
                        ? pathq::dead_zone_grid<Scalar>(41, 3, Scalar(0.3), Scalar(0.4))
                        : pathq::Alphabet<Scalar>::from_bits(3, pathq::StepRule::layer_radius(1.0)).resolve(Ws);
  auto make_op = [](std::uint64_t seed) {
    if constexpr (std::is_same<Op, pathq::StochasticRounding>::value) return Op(seed);
    else return Op();
  };
  for (int order : {1, 3, inf_order}) {
    pathq::SpfqOptions one, two;
    one.order = two.order = order;
    one.alignment_residual = two.alignment_residual = true;
    one.engine.threads = 1;
    two.engine.threads = 2;
    one.engine.panel_width = two.engine.panel_width = 8;
    const auto r1 = Q(one, make_op(4)).quantize(Ws, stats, grid);
    const auto r2 = Q(two, make_op(4)).quantize(Ws, stats, grid);
    INFO("scalar " << sizeof(Scalar) << " order " << pathq::order_name(order));
    REQUIRE(r1.codes.rows() == 70);
    REQUIRE(r1.codes.cols() == 41);
    REQUIRE(r1.codes.minCoeff() >= -3);
    REQUIRE(r1.codes.maxCoeff() <= 3);
    REQUIRE(r1.codes == r2.codes);                        // thread count changes nothing
    REQUIRE(r1.codes.col(3).cwiseAbs().maxCoeff() == 0);  // a zero neuron stays zero
    REQUIRE(pathq::relative_error(W, r1, stats) < 0.3);
    REQUIRE(r1.info.extra.count("sparsity") == 1);
    REQUIRE(r1.info.extra.at("alignment_relative_error") >= 0);
    if (pathq::is_stochastic_operator<Op>::value) {
      REQUIRE(Q(one, make_op(5)).quantize(Ws, stats, grid).codes != r1.codes);  // seeds matter
    }
  }
}

TEST_CASE("spfq: dead inputs get w~_t = 0 and c_t = 0", "[spfq][degenerate]") {
  const Mat W = gaussian(6, 2, 1);
  const Mat X = Mat::Zero(10, 6);
  for (int order : {1, 2, inf_order}) {
    pathq::SpfqOptions o;
    o.order = order;
    const auto r = pathq::Spfq<double>(o, pathq::StochasticRounding(3))
                       .quantize(W, pathq::LayerStats<double>::from(X, X), pathq::Alphabet<double>::symmetric(3, 0.5));
    REQUIRE(r.info.dead_inputs == 6);
    REQUIRE(r.codes.cwiseAbs().maxCoeff() == 0);
  }
}

TEST_CASE("spfq: bad input throws pathq::invalid_argument naming it", "[spfq][contract]") {
  using Catch::Contains;
  const Mat X = gaussian(20, 8, 1), W = gaussian(8, 3, 2);
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto A = pathq::Alphabet<double>::symmetric(3, 0.5);
  const pathq::Spfq<double> q;
  REQUIRE_THROWS_WITH(q.quantize(gaussian(9, 3, 3), stats, A), Contains("W has 9 rows but the inputs have N_in = 8"));
  REQUIRE_THROWS_WITH(q.align(gaussian(9, 3, 3), stats), Contains("pathq::spfq: W has 9 rows"));
  REQUIRE_THROWS_WITH(q.quantize(Mat(8, 0), stats, A), Contains("W is empty"));
  Mat Wn = W;
  Wn(2, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(q.quantize(Wn, stats, A), Contains("W has a non-finite entry"));
  REQUIRE_THROWS_WITH(q.quantize(W, pathq::LayerStats<double>(8), A), Contains("no samples"));
  auto grid = A.resolve(W);
  grid.step(0, 1) = -1;
  REQUIRE_THROWS_WITH(q.quantize(W, stats, grid), Contains("step must be finite and positive"));
  auto dz = pathq::dead_zone_grid<double>(3, 2, 0.2, 0.1);
  dz.threshold = 0;
  REQUIRE_THROWS_WITH(q.quantize(W, stats, dz), Contains("positive threshold"));
  REQUIRE_THROWS_WITH(pathq::spfq(W, gaussian(20, 7, 4), gaussian(20, 7, 4), A, 1), Contains("X has 7 columns"));
  auto bad = [](auto change) {
    pathq::SpfqOptions o;
    change(o);
    return pathq::Spfq<double>(o);
  };
  REQUIRE_THROWS_WITH(bad([](auto& o) { o.order = 0; }), Contains("order must be >= 1"));
  REQUIRE_THROWS_WITH(bad([](auto& o) { o.gain = 2.5; }), Contains("gain must be in [0, 2]"));
  REQUIRE_THROWS_WITH(bad([](auto& o) { o.ridge = 0; }), Contains("ridge must be in (0, 1]"));
  REQUIRE_THROWS_WITH(bad([](auto& o) { o.dead_tolerance = -1; }), Contains("dead_tolerance"));
  REQUIRE_THROWS_WITH(bad([](auto& o) { o.engine.block_size = 0; }), Contains("block_size must be >= 1"));
  using namespace pathq::bounds;
  REQUIRE_THROWS_WITH(spfq_tail(-1, 2, 10, 10, 1), Contains("bounds::spfq_tail: D must be finite and >= 0"));
  REQUIRE_THROWS_WITH(spfq_operator_tail(1, 0, 10, 10, 1), Contains("p must be finite and positive"));
  REQUIRE_THROWS_WITH(spfq_tail_probability(2, 0, 10, 10), Contains("m, N_in and N_out must be >= 1"));
  REQUIRE_THROWS_WITH(spfq_levels_for_no_clipping(1, 0, 2, 10, 1, 1), Contains("delta must be finite and positive"));
  REQUIRE_THROWS_WITH(spfq_levels_for_no_clipping(1, 1, 2, 10, 1, 0), Contains("min ||Xq_t||"));
  REQUIRE_THROWS_WITH(spfq_network({1, 2}, {1}), Contains("2 per-layer errors but 1 spectral norms"));
  REQUIRE_THROWS_WITH(spfq_network({1, -2}, {1, 1}), Contains("the error of layer 2"));
  REQUIRE_THROWS_WITH(pathq::spfq_levels_for_no_clipping(gaussian(7, 2, 1), stats, 0.1, 2),
                      Contains("W~ has 7 rows"));
}

}  // namespace pathq_test_spfq
