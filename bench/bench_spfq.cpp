// SPFQ and quantization + pruning benchmarks: speed against GPFQ on the same engine, error against
// the theory as N_in grows, error against sparsity, and the 1-bit operator against its gain and scale.
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/bounds/spfq.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/prune.hpp>
#include <pathq/methods/spfq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "support/random_data.hpp"

namespace {

using pathq_test::gaussian;
template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// Samples behind the statistics in the speed benches (the engine never sees m).
constexpr Eigen::Index speed_samples = 512;

// A square layer's weights and the statistics of X and of Xq = X + 0.1 noise (or X alone).
struct SpeedLayer {
  Mat<float> W;
  pathq::LayerStats<double> stats;
};
SpeedLayer speed_layer(Eigen::Index n, bool quantized_inputs) {
  const Eigen::MatrixXd X = gaussian(speed_samples, n, 12);
  SpeedLayer L{(gaussian(n, n, 11) / std::sqrt(double(n))).cast<float>(),
               quantized_inputs ? pathq::LayerStats<double>::from(X, Eigen::MatrixXd(X + 0.1 * gaussian(speed_samples, n, 13)))
                                : pathq::LayerStats<double>::from(X)};
  return L;
}

void set_gflops(benchmark::State& state, double n) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// GPFQ (round to nearest), the reference point of the speed comparison.
void BM_Gpfq(benchmark::State& state) {
  const auto L = speed_layer(state.range(0), state.range(1) != 0);
  const auto alphabet = pathq::Alphabet<float>::from_bits(4, pathq::StepRule::layer_radius(1.0));
  const pathq::Gpfq<float> q;
  for (auto _ : state) {
    auto r = q.quantize(L.W, L.stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
  }
  set_gflops(state, double(state.range(0)));
}

// SPFQ of order range(2) (0: infinity); range(3) = 1 computes the alignment residual.
void BM_Spfq(benchmark::State& state) {
  const auto L = speed_layer(state.range(0), state.range(1) != 0);
  const auto alphabet = pathq::Alphabet<float>::from_bits(4, pathq::StepRule::layer_radius(1.0));
  pathq::SpfqOptions o;
  o.order = state.range(2) == 0 ? pathq::SpfqOptions::infinite_order : int(state.range(2));
  o.alignment_residual = state.range(3) != 0;
  const pathq::Spfq<float> q(o, pathq::StochasticRounding(1));
  for (auto _ : state) {
    auto r = q.quantize(L.W, L.stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
  }
  set_gflops(state, double(state.range(0)));
}

// Pruning to 50% zeros at a fixed threshold (one phase-2 run) on the dead-zone alphabet, K = 7.
void BM_Prune(benchmark::State& state) {
  const auto L = speed_layer(state.range(0), state.range(1) != 0);
  pathq::PruneOptions o;
  o.threshold = 0.5 * L.W.cwiseAbs().maxCoeff() / 4;
  o.levels = 7;
  o.spfq.alignment_residual = false;
  const pathq::Prune<float> q(o);
  for (auto _ : state) {
    auto r = q.quantize(L.W, L.stats);
    benchmark::DoNotOptimize(r.codes.data());
  }
  set_gflops(state, double(state.range(0)));
}

// Args: {n, quantized inputs, order (0 = inf), alignment residual}.
BENCHMARK(BM_Gpfq)->Args({1024, 0})->Args({1024, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Spfq)->Args({1024, 0, 1, 1})->Args({1024, 1, 1, 0})->Args({1024, 1, 1, 1})->Args({1024, 1, 2, 0})
    ->Args({1024, 1, 2, 1})->Args({1024, 1, 0, 0})->Args({1024, 1, 0, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Prune)->Args({1024, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);

// Error against N_in (X = Xq iid N(0,1), m = 64, W iid N(0,1), the infinite alphabet of step 0.5):
// SPFQ ~ delta^2 m / (6 N_in), twice GPFQ's delta^2 m / (12 N_in). SPFQ averaged over 4 seeds.
void BM_SpfqErrorVsNin(benchmark::State& state) {
  const Eigen::Index n_in = state.range(0), n_out = 64, m = 64;
  const double delta = 0.5;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 500 + std::uint64_t(n_in));
  const auto stats = pathq::LayerStats<double>::from(gaussian(m, n_in, 501 + std::uint64_t(n_in)));
  const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
  double e_spfq = 0, e_gpfq = 0;
  for (auto _ : state) {
    e_spfq = 0;
    for (std::uint64_t s = 0; s < 4; ++s)
      e_spfq += pathq::relative_error(W, pathq::Spfq<double>({}, pathq::StochasticRounding(s)).quantize(W, stats, alphabet), stats) / 4;
    e_gpfq = pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, stats, alphabet), stats);
  }
  const double law = pathq::bounds::spfq_gaussian_scaling(delta, double(m), double(n_in), 1.0);
  state.counters["rel_err_spfq"] = e_spfq;
  state.counters["rel_err_gpfq"] = e_gpfq;
  state.counters["spfq_over_gpfq"] = e_spfq / e_gpfq;
  state.counters["law"] = law;
  state.counters["spfq_over_law"] = e_spfq / law;
}
BENCHMARK(BM_SpfqErrorVsNin)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Iterations(1)->Unit(benchmark::kMillisecond);

// Error against sparsity: N_in = 512, N_out = 64, m = 128, Xq = X + 0.2 noise, order 2; target
// sparsity range(0)%; range(1): 0 stochastic, 1 L0, 2 L1; range(2): levels (0 = prune only).
// Beside it, the same operator without error correction (gain 0) at the same target.
void BM_PruneErrorVsSparsity(benchmark::State& state) {
  const Eigen::Index n_in = 512, n_out = 64, m = 128;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 600);
  const Eigen::MatrixXd X = gaussian(m, n_in, 601);
  const auto stats = pathq::LayerStats<double>::from(X, Eigen::MatrixXd(X + 0.2 * gaussian(m, n_in, 602)));
  pathq::PruneOptions o;
  o.mode = state.range(1) == 0 ? pathq::PruneMode::Stochastic
                               : (state.range(1) == 1 ? pathq::PruneMode::L0 : pathq::PruneMode::L1);
  o.levels = int(state.range(2));
  o.target_sparsity = double(state.range(0)) / 100;
  o.spfq.order = 2;
  o.seed = 3;
  double e = 0, e_plain = 0, sparsity = 0, threshold = 0;
  for (auto _ : state) {
    const auto r = pathq::Prune<double>(o).quantize(W, stats);
    e = pathq::relative_error(W, r, stats);
    sparsity = r.sparsity();
    threshold = r.info.extra.at("threshold");
    auto plain = o;
    plain.spfq.gain = 0;
    e_plain = pathq::relative_error(W, pathq::Prune<double>(plain).quantize(W, stats), stats);
  }
  state.counters["sparsity"] = sparsity;
  state.counters["threshold"] = threshold;
  state.counters["rel_err"] = e;
  state.counters["rel_err_no_correction"] = e_plain;
}
BENCHMARK(BM_PruneErrorVsSparsity)
    ->ArgsProduct({{25, 50, 75}, {0, 1, 2}, {0, 7}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// The 1-bit operator: SPFQ on {-alpha, +alpha}, alpha = C R, against the correction gain kappa
// (range(0) / 100) and the scale C (range(1) / 100). N_in = 512, N_out = 64, m = 64, X = Xq.
// Counters: the error, the fraction of clipped steps, and deterministic 1-bit GPFQ beside it.
void BM_OneBitErrorVsGain(benchmark::State& state) {
  const Eigen::Index n_in = 512, n_out = 64, m = 64;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 700);
  const auto stats = pathq::LayerStats<double>::from(gaussian(m, n_in, 701));
  const auto alphabet = pathq::Alphabet<double>::binary(pathq::StepRule::layer_radius(double(state.range(1)) / 100));
  pathq::SpfqOptions o;
  o.gain = double(state.range(0)) / 100;
  double e = 0, clipped = 0, e_gpfq = 0;
  for (auto _ : state) {
    const auto r = pathq::Spfq<double>(o, pathq::StochasticRounding(5)).quantize(W, stats, alphabet);
    e = pathq::relative_error(W, r, stats);
    clipped = double(r.info.saturated) / double(W.size());
    e_gpfq = pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, stats, alphabet), stats);
  }
  state.counters["rel_err"] = e;
  state.counters["clipped"] = clipped;
  state.counters["rel_err_gpfq_1bit"] = e_gpfq;
}
BENCHMARK(BM_OneBitErrorVsGain)
    ->ArgsProduct({{25, 50, 75, 100}, {25, 50, 100}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
