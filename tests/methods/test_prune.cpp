// Quantization + pruning: the engine against the per-neuron transcription, sparsity targets, the theory, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include <pathq/bounds/spfq.hpp>
#include <pathq/core/stochastic_operators.hpp>
#include <pathq/methods/prune.hpp>
#include <pathq/methods/spfq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "reference/spfq_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_prune {

using pathq_reference::draw;
using pathq_test::gaussian;

namespace {

using Mat = Eigen::MatrixXd;

struct PruneLayer {
  Mat W, X, Xq;
};

PruneLayer make_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m, bool quantized_inputs, std::uint64_t seed) {
  PruneLayer L{0.5 * gaussian(n_in, n_out, seed), gaussian(m, n_in, seed + 1), Mat()};
  L.Xq = quantized_inputs ? Mat(L.X + 0.2 * gaussian(m, n_in, seed + 2)) : L.X;
  return L;
}

pathq::PruneOptions options(pathq::PruneMode mode, double lambda, int levels, double delta, int order,
                            double gain, std::uint64_t seed) {
  pathq::PruneOptions o;
  o.mode = mode;
  o.threshold = lambda;
  o.levels = levels;
  o.step = pathq::StepRule::fixed(delta);
  o.seed = seed;
  o.spfq.order = order;
  o.spfq.gain = gain;
  o.spfq.engine.block_size = 16;
  o.spfq.engine.panel_width = 8;
  return o;
}

}  // namespace

TEST_CASE("prune: engine equals the per-neuron transcription for every operator", "[prune][reference]") {
  using Op = std::function<double(double, Eigen::Index, Eigen::Index)>;
  const double lambda = 0.3, delta = 0.15;
  const int K = 3;
  struct Case {
    const char* name;
    pathq::PruneMode mode;
    int levels;
    std::function<Op(std::uint64_t)> reference;
    double tolerance;  // on Q: 0 up to the dead-zone levels' rounding, or the pruning grid's spacing
  };
  const auto dz_levels = pathq_reference::dead_zone_levels(K, lambda, delta);
  const std::vector<Case> cases = {
      {"stochastic, dead zone", pathq::PruneMode::Stochastic, K,
       [&](std::uint64_t s) -> Op {
         return [&, s](double c, Eigen::Index t, Eigen::Index j) {
           return pathq_reference::stochastic_level(c, dz_levels, draw(s, t, j));
         };
       },
       1e-12},
      {"stochastic, prune only", pathq::PruneMode::Stochastic, 0,
       [&](std::uint64_t s) -> Op {
         return [&, s](double c, Eigen::Index t, Eigen::Index j) {
           return pathq_reference::stochastic_prune(c, lambda, draw(s, t, j));
         };
       },
       1e-6},
      {"L0, dead zone", pathq::PruneMode::L0, K,
       [&](std::uint64_t) -> Op {
         return [&](double c, Eigen::Index, Eigen::Index) { return pathq_reference::l0_quantizer(c, lambda, delta, K); };
       },
       1e-12},
      {"L0, prune only", pathq::PruneMode::L0, 0,
       [&](std::uint64_t) -> Op {
         return [&](double c, Eigen::Index, Eigen::Index) { return std::abs(c) <= lambda ? 0.0 : c; };
       },
       1e-6},
      {"L1, symmetric", pathq::PruneMode::L1, K,
       [&](std::uint64_t) -> Op {
         return [&](double c, Eigen::Index, Eigen::Index) { return pathq_reference::l1_quantizer(c, lambda, delta, K); };
       },
       1e-12},
      {"L1, prune only", pathq::PruneMode::L1, 0,
       [&](std::uint64_t) -> Op {
         return [&](double c, Eigen::Index, Eigen::Index) { return pathq_reference::soft(c, lambda); };
       },
       1e-6},
  };
  const PruneLayer L = make_layer(40, 9, 30, true, 21);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  for (const auto& c : cases)
    for (int order : {1, 2})
      for (double gain : {1.0, 0.7}) {
        const std::uint64_t seed = 100 + std::uint64_t(order);
        const Mat Wt = pathq_reference::data_alignment(L.W, L.X, L.Xq, order);
        const auto ref = pathq_reference::stochastic_path(Wt, L.Xq, c.reference(seed), gain);
        const auto r = pathq::Prune<double>(options(c.mode, lambda, c.levels, delta, order, gain, seed)).quantize(L.W, stats);
        const Mat Q = r.values();
        INFO(c.name << " order " << order << " gain " << gain << " max |dQ| " << (Q - ref.Q).cwiseAbs().maxCoeff());
        REQUIRE(r.info.status == pathq::Info::Success);
        REQUIRE((Q - ref.Q).cwiseAbs().maxCoeff() <= c.tolerance);
        REQUIRE((Q.array() == 0).count() == (ref.Q.array() == 0).count());
        REQUIRE(r.sparsity() == Approx(double((ref.Q.array() == 0).count()) / double(Q.size())));
        REQUIRE(r.info.extra.at("sparsity") == r.sparsity());
        REQUIRE(r.info.extra.at("threshold") == lambda);
      }
}

TEST_CASE("prune: the 1-bit operator is Spfq on {-alpha, +alpha}, draw for draw", "[prune][reference]") {
  const PruneLayer L = make_layer(35, 5, 25, true, 31);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  const double alpha = 1.5;
  for (double gain : {1.0, 0.5}) {
    pathq::SpfqOptions o;
    o.order = 2;
    o.gain = gain;
    const Mat Wt = pathq_reference::data_alignment(L.W, L.X, L.Xq, 2);
    const auto ref = pathq_reference::stochastic_path(
        Wt, L.Xq,
        [&](double c, Eigen::Index t, Eigen::Index j) {
          return pathq_reference::stochastic_level(c, {-alpha, alpha}, draw(3, t, j));
        },
        gain);
    const auto r = pathq::Spfq<double>(o, pathq::StochasticRounding(3)).quantize(L.W, stats, pathq::one_bit_grid<double>(5, alpha));
    Eigen::Index clipped = 0;
    for (Eigen::Index i = 0; i < ref.C.size(); ++i) clipped += std::abs(ref.C.data()[i]) > alpha;
    INFO("gain " << gain << " clipped " << clipped);
    REQUIRE(r.values() == ref.Q);
    REQUIRE(r.info.saturated == clipped);
    REQUIRE(r.info.extra.at("contract_deviation") == 2 * alpha);
    // The same alphabet from Alphabet::binary(2 alpha).
    REQUIRE(pathq::Spfq<double>(o, pathq::StochasticRounding(3))
                .quantize(L.W, stats, pathq::Alphabet<double>::binary(2 * alpha).resolve(L.W))
                .values() == ref.Q);
  }
}

TEST_CASE("prune: requested sparsity is met within tolerance, and the error grows gracefully", "[prune][sparsity]") {
  const PruneLayer L = make_layer(160, 12, 32, true, 41);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  auto prune_options = [](pathq::PruneMode mode, int levels, double target) {
    pathq::PruneOptions o;
    o.mode = mode;
    o.levels = levels;
    o.step = pathq::StepRule::layer_radius(1.0);
    o.target_sparsity = target;
    o.sparsity_tolerance = 0.01;
    o.seed = 5;
    o.spfq.order = 2;
    return o;
  };
  for (auto mode : {pathq::PruneMode::Stochastic, pathq::PruneMode::L0, pathq::PruneMode::L1})
    for (int levels : {0, 4}) {
      double previous = 0;
      // Unbiased pruning sends weights below lambda to +-lambda: past ~60% zeros its variance
      // dominates (docs/algorithms.md#stochastic-framework-pitfalls); the deterministic modes go further.
      const std::vector<double> targets =
          mode == pathq::PruneMode::Stochastic ? std::vector<double>{0.4, 0.6} : std::vector<double>{0.4, 0.6, 0.8};
      for (double target : targets) {
        auto o = prune_options(mode, levels, target);
        const auto r = pathq::Prune<double>(o).quantize(L.W, stats);
        const double e = pathq::relative_error(L.W, r, stats);
        // Without error correction (gain 0: each weight pruned on its own) at the same sparsity.
        o.spfq.gain = 0;
        const auto plain = pathq::Prune<double>(o).quantize(L.W, stats);
        const double e_plain = pathq::relative_error(L.W, plain, stats);
        INFO(pathq::to_string(mode) << " levels " << levels << " target " << target << " sparsity " << r.sparsity()
                                    << " threshold " << r.info.extra.at("threshold") << " runs "
                                    << r.info.extra.at("search_runs") << " E_rel " << e << " without correction "
                                    << e_plain << " (sparsity " << plain.sparsity() << ")");
        REQUIRE(r.info.status == pathq::Info::Success);
        REQUIRE(std::abs(r.sparsity() - target) <= 0.01);
        REQUIRE(std::abs(plain.sparsity() - target) <= 0.01);
        REQUIRE(e >= previous * 0.9);  // more zeros, more error (up to noise)
        REQUIRE(e < 0.5 * e_plain);    // error correction pays
        previous = e;
      }
    }
  // A target the alphabet cannot reach is reported, with the closest result.
  const auto r = pathq::Prune<double>(prune_options(pathq::PruneMode::Stochastic, 4, 0.8)).quantize(L.W, stats);
  REQUIRE(r.info.status == pathq::Info::NumericalIssue);
  REQUIRE_THAT(r.info.message, Catch::Contains("target sparsity 0.8 not reached"));
  REQUIRE(r.codes.size() == L.W.size());
}

TEST_CASE("prune: sparsity follows sum_t P(T(c_t) = 0)", "[prune][theory][statistical]") {
  const PruneLayer L = make_layer(120, 20, 40, false, 51);
  const auto stats = pathq::LayerStats<double>::from(L.X);
  const double lambda = 0.4;
  const auto ref = pathq_reference::stochastic_path(L.W, L.X, [&](double c, Eigen::Index t, Eigen::Index j) {
    return pathq_reference::stochastic_prune(c, lambda, draw(8, t, j));
  });
  double expected = 0, variance = 0;
  for (Eigen::Index i = 0; i < ref.C.size(); ++i) {
    const double p = std::max(0.0, 1.0 - std::abs(ref.C.data()[i]) / lambda);
    expected += p;
    variance += p * (1 - p);
  }
  const double n = double(ref.C.size());
  const auto r = pathq::Prune<double>(options(pathq::PruneMode::Stochastic, lambda, 0, 1.0, 1, 1.0, 8)).quantize(L.W, stats);
  INFO("sparsity " << r.sparsity() << " predicted " << expected / n << " +- " << std::sqrt(variance) / n);
  REQUIRE(std::abs(r.sparsity() - expected / n) <= 4 * std::sqrt(variance) / n);
  REQUIRE(r.sparsity() > 0.2);
}

TEST_CASE("prune: unbiased, and the operator-contract tail bound holds in >= 99% of seeds", "[prune][bounds][statistical]") {
  const PruneLayer L = make_layer(60, 4, 30, true, 61);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  for (int levels : {0, 200}) {  // prune only; dead zone wide enough that nothing clips
    pathq::SpfqOptions so;
    so.order = 2;
    const Mat Wt = pathq::Spfq<double>(so).align(L.W, stats).W;
    const Mat target = L.Xq * Wt;
    Mat sum = Mat::Zero(target.rows(), target.cols());
    double spread = 0;
    int held = 0;
    const int S = 200;
    double D = 0;
    for (int s = 0; s < S; ++s) {
      auto o = options(pathq::PruneMode::Stochastic, 0.25, levels, 0.5, 2, 1.0, std::uint64_t(s));
      o.step = pathq::StepRule::fixed(0.5);
      const auto r = pathq::Prune<double>(o).quantize(L.W, stats);
      REQUIRE(r.info.saturated == 0);
      const Mat XqQ = L.Xq * r.values();
      sum += XqQ;
      spread += (XqQ - target).squaredNorm();
      const auto b = pathq::bounds::spfq_layer_tail(r.grid, stats, 2.0);
      D = b.deviation;
      held += (XqQ - target).colwise().norm().maxCoeff() <= b.per_neuron;
    }
    const double ratio = (sum / S - target).squaredNorm() * S / (spread / S);
    INFO("levels " << levels << " D = " << D << " bound held in " << held << " of " << S
                   << "; S ||mean - Xq W~||^2 / E||XqQ - Xq W~||^2 = " << ratio);
    REQUIRE(D == Approx(levels == 0 ? 0.25 : 0.5));
    REQUIRE(held >= 198);
    REQUIRE(ratio > 0.2);
    REQUIRE(ratio < 3.0);
  }
}

TEST_CASE("prune: same seed same result on 1 and 2 threads, seeds differ", "[prune][properties]") {
  const PruneLayer L = make_layer(50, 30, 30, true, 71);
  const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
  const Eigen::MatrixXf Wf = L.W.cast<float>();
  for (int levels : {0, 2}) {
    auto o = options(pathq::PruneMode::Stochastic, 0.2, levels, 0.1, 3, 1.0, 4);
    o.spfq.engine.threads = 1;
    const auto r1 = pathq::Prune<float>(o).quantize(Wf, stats);
    o.spfq.engine.threads = 2;
    const auto r2 = pathq::Prune<float>(o).quantize(Wf, stats);
    o.seed = 5;
    const auto r3 = pathq::Prune<float>(o).quantize(Wf, stats);
    INFO("levels " << levels);
    REQUIRE(r1.codes == r2.codes);
    REQUIRE(r1.codes != r3.codes);
    REQUIRE(r1.grid.kind == pathq::GridKind::DeadZone);
    REQUIRE(r1.sparsity() > 0.05);
  }
}

TEST_CASE("prune: bad input throws pathq::invalid_argument naming it", "[prune][contract]") {
  using Catch::Contains;
  auto make = [](auto change) {
    pathq::PruneOptions o;
    o.threshold = 0.1;
    change(o);
    return pathq::Prune<double>(o);
  };
  REQUIRE_THROWS_WITH(make([](auto& o) { o.threshold = 0; }), Contains("threshold must be finite and positive"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.target_sparsity = 1; }), Contains("target_sparsity must be in [0, 1)"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.sparsity_tolerance = 0; }), Contains("sparsity_tolerance"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.max_search_runs = 0; }), Contains("max_search_runs"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.levels = -1; }), Contains("levels must be in [0, 2^30)"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.step = pathq::StepRule::column_radius(1); }),
                      Contains("fixed step or the layer radius rule"));
  REQUIRE_THROWS_WITH(make([](auto& o) { o.spfq.order = 0; }), Contains("order must be >= 1"));
  const Mat X = gaussian(20, 8, 1), W = gaussian(8, 3, 2);
  const auto stats = pathq::LayerStats<double>::from(X);
  REQUIRE_THROWS_WITH(make([](auto&) {}).quantize(gaussian(9, 3, 3), stats), Contains("pathq::spfq: W has 9 rows"));
  // A threshold above the largest level C R of the radius rule.
  const auto big = make([](auto& o) {
    o.threshold = 100;
    o.levels = 3;
  });
  REQUIRE_THROWS_WITH(big.quantize(W, stats), Contains("must lie below the largest level C R"));
}

}  // namespace pathq_test_prune
