// Maly-Saab benchmarks: error against MSQ and GPFQ as N_in grows at fixed m, the time of the walk
// as N_in and m grow (the O(N_out N_in m^2) model), and the naive dense reference beside the walk.
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/bounds/maly_saab.hpp>
#include <pathq/bounds/msq.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/maly_saab.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "reference/maly_saab_reference.hpp"
#include "support/random_data.hpp"

namespace {

using pathq_test::gaussian;

// Error against the theory on Gaussian data (docs/algorithms.md#maly-saab-error-bounds): m = 30,
// N_out = 16, X and W iid N(0, 1), delta = 0.25, unbounded alphabet. Times the walk + MSQ from the
// statistics.
void BM_ErrorVsNin(benchmark::State& state) {
  const Eigen::Index n_in = state.range(0);
  const Eigen::Index m = 30, n_out = 16;
  const double delta = 0.25;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 501 + std::uint64_t(n_in));
  const auto stats = pathq::LayerStats<double>::from(gaussian(m, n_in, 502 + std::uint64_t(n_in)));
  const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
  const pathq::MalySaab<double> ms;
  for (auto _ : state) {
    auto r = ms.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  const auto grid = alphabet.resolve(W);
  const auto walk = ms.preprocess(W, stats, grid);
  const auto r = ms.quantize_walk(walk, grid);
  pathq::MalySaabOptions energy;
  energy.order = pathq::FeatureOrder::DescendingEnergy;
  const double rel_ms = pathq::relative_error(W, r, stats);
  const double reference = pathq::layer_error(stats, W, r.values()).reference();
  const double bound = pathq::bounds::maly_saab_deterministic(stats.K(), walk.off_grid, grid) / reference;
  state.counters["rel_err_ms"] = rel_ms;
  state.counters["rel_err_ms_energy"] =
      pathq::relative_error(W, pathq::MalySaab<double>(energy).quantize(W, stats, grid), stats);
  state.counters["rel_err_msq"] = pathq::relative_error(W, pathq::msq(W, grid), stats);
  state.counters["rel_err_gpfq"] = pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, stats, grid), stats);
  state.counters["bound"] = bound;
  state.counters["err_over_bound"] = rel_ms / bound;
  state.counters["rate"] = pathq::bounds::maly_saab_gaussian_rate(delta, double(m), double(n_in), 1.0);
  state.counters["off_grid_max"] = double(walk.off_grid_max());
}

BENCHMARK(BM_ErrorVsNin)
    ->Arg(100)->Arg(200)->Arg(400)->Arg(800)->Arg(1600)->Arg(3200)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Time of the walk + MSQ (statistics precomputed, factorization of K included) on a layer of
// N_out = 64 neurons: range(0) = N_in, range(1) = m. Counter `units_per_s` = N_out N_in m^2 per
// second: flat when the O(N_out N_in m^2) model holds.
void BM_Time(benchmark::State& state) {
  const Eigen::Index n_in = state.range(0), m = state.range(1), n_out = 64;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 511) / std::sqrt(double(n_in));
  const auto stats = pathq::LayerStats<double>::from(gaussian(m, n_in, 512));
  const auto alphabet = pathq::Alphabet<double>::from_bits(4, pathq::StepRule::column_radius(1.0));
  pathq::MalySaabOptions opt;
  opt.threads = 1;
  const pathq::MalySaab<double> ms(opt);
  for (auto _ : state) {
    auto r = ms.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  state.counters["units_per_s"] = benchmark::Counter(
      double(state.iterations()) * double(n_out) * double(n_in) * double(m) * double(m), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Time)
    ->Args({256, 32})->Args({512, 32})->Args({1024, 32})->Args({2048, 32})
    ->Args({1024, 16})->Args({1024, 64})->Args({1024, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// GPFQ on the same layers, for scale (its cost, ~N_in^2 N_out, does not depend on m).
void BM_TimeGpfq(benchmark::State& state) {
  const Eigen::Index n_in = state.range(0), m = state.range(1), n_out = 64;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 511) / std::sqrt(double(n_in));
  const auto stats = pathq::LayerStats<double>::from(gaussian(m, n_in, 512));
  const auto alphabet = pathq::Alphabet<double>::from_bits(4, pathq::StepRule::column_radius(1.0));
  pathq::GpfqOptions opt;
  opt.engine.threads = 1;
  const pathq::Gpfq<double> gpfq(opt);
  for (auto _ : state) {
    auto r = gpfq.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
}

BENCHMARK(BM_TimeGpfq)->Args({1024, 32})->Args({2048, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

// A layer with more samples than inputs (m = 1024, N_in = 256, N_out = 16, X and W iid N(0, 1),
// delta = 0.25): the walk on the first M = range(0) rows only. It keeps X w exactly on those rows;
// on all rows its error is compared with MSQ and with GPFQ (which uses all rows).
void BM_Subset(benchmark::State& state) {
  const Eigen::Index M = state.range(0), m = 1024, n_in = 256, n_out = 16;
  const double delta = 0.25;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 531);
  const Eigen::MatrixXd X = gaussian(m, n_in, 532);
  const auto all = pathq::LayerStats<double>::from(X);
  const auto sub = pathq::LayerStats<double>::from(X.topRows(M));
  const auto grid = pathq::Alphabet<double>::unbounded(delta).resolve(W);
  const pathq::MalySaab<double> ms;
  for (auto _ : state) {
    auto r = ms.quantize(W, sub, grid);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  const auto r = ms.quantize(W, sub, grid);
  const auto plain = pathq::msq(W, grid);
  state.counters["rel_err_subset_rows"] = pathq::relative_error(W, r, sub);
  state.counters["rel_err_msq_subset_rows"] = pathq::relative_error(W, plain, sub);
  state.counters["rel_err_all_rows"] = pathq::relative_error(W, r, all);
  state.counters["rel_err_msq_all_rows"] = pathq::relative_error(W, plain, all);
  state.counters["rel_err_gpfq_all_rows"] =
      pathq::relative_error(W, pathq::Gpfq<double>().quantize(W, all, grid), all);
}

BENCHMARK(BM_Subset)->Arg(16)->Arg(64)->Arg(128)->Arg(255)->Unit(benchmark::kMillisecond)->UseRealTime();

// The naive dense reference on X (tests/reference) beside the library walk, same small layer:
// N_in = range(0), m = 8, N_out = 8, 3-bit grid.
struct SmallLayer {
  Eigen::MatrixXd W, X;
  pathq::Grid<double> grid;
};

SmallLayer small_layer(Eigen::Index n_in) {
  SmallLayer L{gaussian(n_in, 8, 521) / 3.0, gaussian(8, n_in, 522), {}};
  L.grid = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0)).resolve(L.W);
  return L;
}

void BM_NaiveReference(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  std::vector<pathq_reference::Levels> levels;
  for (Eigen::Index j = 0; j < 8; ++j) levels.push_back({L.grid.code_lo, L.grid.code_hi, 0.0, L.grid.step(0, j)});
  for (auto _ : state) {
    auto tr = pathq_reference::maly_saab_reference(L.W, L.X, levels, false);
    benchmark::DoNotOptimize(tr.Q.data());
    benchmark::ClobberMemory();
  }
}

void BM_WalkSameSize(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  pathq::MalySaabOptions opt;
  opt.threads = 1;
  const pathq::MalySaab<double> ms(opt);
  for (auto _ : state) {
    const auto stats = pathq::LayerStats<double>::from(L.X);
    auto r = ms.quantize(L.W, stats, L.grid);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  // Outside the timing: the walk must agree with the reference.
  std::vector<pathq_reference::Levels> levels;
  for (Eigen::Index j = 0; j < 8; ++j) levels.push_back({L.grid.code_lo, L.grid.code_hi, 0.0, L.grid.step(0, j)});
  const auto ref = pathq_reference::maly_saab_reference(L.W, L.X, levels, false);
  const auto r = ms.quantize(L.W, pathq::LayerStats<double>::from(L.X), L.grid);
  state.counters["mismatches"] = double((r.values().array() != ref.Q.array()).count());
}

BENCHMARK(BM_NaiveReference)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WalkSameSize)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
