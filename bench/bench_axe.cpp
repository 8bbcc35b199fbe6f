// AXE benchmarks: error and overflows as the accumulator shrinks, single- and multi-stage, for
// GPFQ and OPTQ against their unconstrained runs and two ways of meeting the width without AXE;
// and the constraint's cost in time.
#include <cmath>
#include <cstdint>
#include <string>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/pathq.hpp>

#include "support/random_data.hpp"

namespace {

using pathq_test::gaussian;
using Axe = pathq::AccumulatorConstraint<double>;

// A hidden layer: 8-bit unsigned inputs (ReLU outputs quantized per tensor), 4-bit weights
// (K = 7, one step per neuron from its largest weight).
constexpr Eigen::Index sweep_n_in = 512, sweep_n_out = 64, sweep_samples = 1024;
constexpr int sweep_input_bits = 8;
constexpr int sweep_K = 7;

struct SweepLayer {
  Eigen::MatrixXd W, X, Xq;
  pathq::IntegerInputs Xint;  // the calibration inputs as the integer datapath sees them
  pathq::LayerStats<double> stats;
  pathq::Grid<double> grid;
};

const SweepLayer& sweep_layer() {
  static const SweepLayer L = [] {
    const Eigen::MatrixXd W = gaussian(sweep_n_in, sweep_n_out, 71) / std::sqrt(double(sweep_n_in));
    const Eigen::MatrixXd X = gaussian(sweep_samples, sweep_n_in, 72).cwiseMax(0.0);
    pathq::AccumulatorOptions o;
    o.input_bits = sweep_input_bits;
    const auto q = pathq::quantize_inputs(X, o);
    const Eigen::MatrixXd Xq = q.X.cast<double>() * q.scale;
    return SweepLayer{W, X, Xq, q.X, pathq::LayerStats<double>::from(X, Xq),
                      pathq::Alphabet<double>::symmetric(sweep_K, pathq::StepRule::column_radius(1.0)).resolve(W)};
  }();
  return L;
}

enum Variant : int {
  GpfqAxe,       // GPFQ with the AXE constraint
  OptqAxe,       // OPTQ with the AXE constraint
  GpfqPlain,     // GPFQ, no constraint (counts the overflows it risks at this P)
  OptqPlain,     // OPTQ, no constraint
  GpfqNaiveBits, // GPFQ with the widest weight grid whose data-type bound fits: T K max|x| <= M
  GpfqRescaled,  // GPFQ with steps enlarged (x1.05 at a time) until its own codes fit
};

const char* variant_name(int v) {
  switch (v) {
    case GpfqAxe: return "gpfq+axe";
    case OptqAxe: return "optq+axe";
    case GpfqPlain: return "gpfq";
    case OptqPlain: return "optq";
    case GpfqNaiveBits: return "gpfq, fewer weight bits (data-type bound)";
    case GpfqRescaled: return "gpfq, steps enlarged until it fits";
  }
  return "?";
}

pathq::Result<double> run_variant(int v, const SweepLayer& L, const pathq::AccumulatorOptions& o, double* weight_K) {
  *weight_K = sweep_K;
  switch (v) {
    case GpfqAxe:
      return pathq::Gpfq<double, pathq::Nearest, Axe>({}, {}, Axe(o, L.W, L.grid)).quantize(L.W, L.stats, L.grid);
    case OptqAxe:
      return pathq::Optq<double, pathq::Nearest, Axe>({}, {}, Axe(o, L.W, L.grid)).quantize(L.W, L.stats, L.grid);
    case GpfqPlain: return pathq::Gpfq<double>().quantize(L.W, L.stats, L.grid);
    case OptqPlain: return pathq::Optq<double>().quantize(L.W, L.stats, L.grid);
    case GpfqNaiveBits: {
      const double worst_x = double(std::max(o.input_max(), -o.input_min()));
      const auto K = std::int64_t(std::floor(double(o.limit()) / (double(o.tile_size(sweep_n_in)) * worst_x)));
      *weight_K = double(std::min<std::int64_t>(K, sweep_K));
      if (K < 1) return pathq::Result<double>{};  // no weight grid fits
      const auto grid = pathq::Alphabet<double>::symmetric(int(*weight_K), pathq::StepRule::column_radius(1.0)).resolve(L.W);
      return pathq::Gpfq<double>().quantize(L.W, L.stats, grid);
    }
    case GpfqRescaled: {
      pathq::Grid<double> grid = L.grid;
      for (int k = 0; k < 200; ++k, grid.step *= 1.05) {
        auto r = pathq::Gpfq<double>().quantize(L.W, L.stats, grid);
        if (pathq::accumulator_worst_case(r, o).fits()) return r;
      }
      return pathq::Result<double>{};
    }
  }
  return pathq::Result<double>{};
}

// range(0) = P, range(1) = T (0: single-stage), range(2) = variant.
void BM_AxeSweep(benchmark::State& state) {
  const SweepLayer& L = sweep_layer();
  pathq::AccumulatorOptions o;
  o.accumulator_bits = int(state.range(0));
  o.input_bits = sweep_input_bits;
  o.tile = state.range(1);
  const int v = int(state.range(2));
  pathq::Result<double> r;
  double weight_K = sweep_K;
  for (auto _ : state) {
    r = run_variant(v, L, o, &weight_K);
    benchmark::DoNotOptimize(r.codes.data());
  }
  state.SetLabel(std::string(variant_name(v)) + (o.tile > 0 ? ", tiles of " + std::to_string(o.tile) : ", single-stage"));
  state.counters["P"] = o.accumulator_bits;
  state.counters["weight_K"] = weight_K;
  if (r.codes.size() == 0) {  // infeasible
    state.counters["rel_err"] = -1;
    return;
  }
  const auto wc = pathq::accumulator_worst_case(r, o);
  state.counters["rel_err"] = pathq::relative_error(L.W, r, L.stats);
  state.counters["bits_needed"] = wc.bits_needed;
  state.counters["fits"] = wc.fits();
  state.counters["neurons_over"] = double(wc.neurons_over);
  state.counters["outer_bits"] = wc.outer_bits_needed;
  // Proof by integers: the calibration inputs and the adversarial ones through P-bit accumulators.
  state.counters["overflows_calib"] = double(pathq::integer_inference(L.Xint, r.codes, o).overflow_outputs);
  state.counters["overflows_adv"] =
      double(pathq::integer_inference(pathq::adversarial_inputs(r.codes, o), r.codes, o).overflow_outputs);
}

BENCHMARK(BM_AxeSweep)
    ->ArgsProduct({{20, 19, 18, 17, 16, 15, 14, 13}, {0}, {GpfqAxe, OptqAxe, GpfqPlain, OptqPlain, GpfqNaiveBits, GpfqRescaled}})
    ->ArgsProduct({{17, 16, 15, 14, 13, 12, 11}, {64}, {GpfqAxe, OptqAxe, GpfqPlain, GpfqNaiveBits}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The constraint's cost: GPFQ on a square float layer with and without AXE (range(1): -1 = no
// constraint, 0 = single-stage, T = tiles of T), statistics and grid precomputed.
void BM_AxeOverhead(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Eigen::MatrixXf W = (gaussian(n, n, 81) / std::sqrt(double(n))).cast<float>();
  const auto stats = pathq::LayerStats<double>::from(gaussian(512, n, 82).cwiseMax(0.0));
  const auto grid = pathq::Alphabet<float>::symmetric(7, pathq::StepRule::column_radius(1.0)).resolve(W);
  pathq::AccumulatorOptions o;
  o.accumulator_bits = 16;
  o.input_bits = 8;
  o.tile = std::max<Eigen::Index>(state.range(1), 0);
  for (auto _ : state) {
    if (state.range(1) < 0) {
      auto r = pathq::Gpfq<float>().quantize(W, stats, grid);
      benchmark::DoNotOptimize(r.codes.data());
    } else {  // the constraint's set-up (thresholds) is timed too
      using FloatAxe = pathq::AccumulatorConstraint<float>;
      auto r = pathq::Gpfq<float, pathq::Nearest, FloatAxe>({}, {}, FloatAxe(o, W, grid)).quantize(W, stats, grid);
      benchmark::DoNotOptimize(r.codes.data());
    }
  }
  state.SetLabel(state.range(1) < 0 ? "gpfq" : state.range(1) == 0 ? "gpfq+axe single-stage" : "gpfq+axe tiles");
  state.counters["threads"] = pathq::engine_threads(0);
}

BENCHMARK(BM_AxeOverhead)
    ->ArgsProduct({{1024}, {-1, 0, 128}})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
