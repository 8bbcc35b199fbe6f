// Engine benchmarks: GPFQ against one Eigen GEMM of the same flop count, against the naive
// per-neuron reference, and its error against the theory as N_in grows.
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/pathq.hpp>

#include "reference/gpfq_reference.hpp"
#include "support/random_data.hpp"

namespace {

using pathq_test::gaussian;

template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// Samples behind H in the engine-vs-GEMM benches. The engine's cost does not depend on m (it
// sees only H and W), so a small m keeps the setup of the 4096 case short.
constexpr Eigen::Index engine_samples = 512;

// Multiply-adds of the engine for N_in = N_out = n: ~n^3/2 for tril(G) W plus ~n^3/2 in the
// blocked scan; the same count as one n x n by n x n GEMM.
double engine_madds(double n) { return n * n * n; }

void set_gflops(benchmark::State& state, double madds_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * madds_per_iteration * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// GPFQ on a square layer, statistics precomputed: the time of quantize() alone.
template <class Scalar>
void BM_GpfqEngine(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Mat<Scalar> W = (gaussian(n, n, 11) / std::sqrt(double(n))).cast<Scalar>();
  const auto stats = pathq::LayerStats<double>::from(gaussian(engine_samples, n, 12));
  const auto alphabet = pathq::Alphabet<Scalar>::from_bits(4, pathq::StepRule::layer_radius(1.0));
  const pathq::Gpfq<Scalar> gpfq;
  for (auto _ : state) {
    auto r = gpfq.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, engine_madds(double(n)));
  state.counters["threads"] = pathq::engine_threads(0);
}

// One Eigen GEMM C = A B, A and B n x n: the engine's multiply-add count.
template <class Scalar>
void BM_Gemm(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Mat<Scalar> A = gaussian(n, n, 21).cast<Scalar>();
  const Mat<Scalar> B = gaussian(n, n, 22).cast<Scalar>();
  Mat<Scalar> C(n, n);
  for (auto _ : state) {
    C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, engine_madds(double(n)));
  state.counters["threads"] = Eigen::nbThreads();
}

// Registered size by size, engine then GEMM, so that each ratio comes from neighbouring runs.
#define PATHQ_ENGINE_PAIR(Scalar, n, setting)                                                      \
  BENCHMARK_TEMPLATE(BM_GpfqEngine, Scalar)->Arg(n)->setting->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_Gemm, Scalar)->Arg(n)->setting->Unit(benchmark::kMillisecond)->UseRealTime()

PATHQ_ENGINE_PAIR(float, 1024, MinTime(1.0));
PATHQ_ENGINE_PAIR(float, 2048, Iterations(3));
PATHQ_ENGINE_PAIR(float, 4096, Iterations(1));
PATHQ_ENGINE_PAIR(double, 1024, MinTime(1.0));
PATHQ_ENGINE_PAIR(double, 2048, Iterations(2));
PATHQ_ENGINE_PAIR(double, 4096, Iterations(1));

// Layers for the naive-vs-engine comparison: N_in = range(0), N_out = 512, m = 2 N_in samples
// (calibration sets are larger than the fan-in). The naive loop costs ~m N_in N_out multiply-adds
// per pass; the engine ~m N_in^2 / 2 for the statistics (inside the timing) plus ~N_in^2 N_out.
constexpr Eigen::Index small_n_out = 512;
constexpr int small_K = 7;  // 4 bits

struct SmallLayer {
  Eigen::MatrixXd W, X;
  double step;
};

SmallLayer small_layer(Eigen::Index n_in) {
  SmallLayer L{gaussian(n_in, small_n_out, 31) / std::sqrt(double(n_in)),
               gaussian(2 * n_in, n_in, 32), 0};
  L.step = pathq::Alphabet<double>::symmetric(small_K, pathq::StepRule::layer_radius(1.0))
               .steps_for(L.W)(0);
  return L;
}

// docs/algorithms.md#gpfq-per-neuron-loop one neuron at a time in the data domain: O(m N_in N_out).
void BM_NaiveReference(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  const std::vector<std::vector<double>> levels(std::size_t(small_n_out),
                                                pathq_reference::symmetric_levels(small_K, L.step));
  for (auto _ : state) {
    auto tr = pathq_reference::gpfq_reference(L.W, L.X, L.X, levels);
    benchmark::DoNotOptimize(tr.Q.data());
    benchmark::ClobberMemory();
  }
}

// The engine on the same layer, forming the statistics from X inside the timed region.
void BM_EngineSameSize(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  const auto alphabet = pathq::Alphabet<double>::symmetric(small_K, L.step);
  const pathq::Gpfq<double> gpfq;
  for (auto _ : state) {
    const auto stats = pathq::LayerStats<double>::from(L.X);
    auto r = gpfq.quantize(L.W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  // Outside the timing: the engine must agree with the reference (up to rounding ties).
  const std::vector<std::vector<double>> levels(std::size_t(small_n_out),
                                                pathq_reference::symmetric_levels(small_K, L.step));
  const auto ref = pathq_reference::gpfq_reference(L.W, L.X, L.X, levels);
  const auto r = gpfq.quantize(L.W, pathq::LayerStats<double>::from(L.X), alphabet);
  state.counters["mismatches"] = double((r.values().array() != ref.Q.array()).count());
}

BENCHMARK(BM_NaiveReference)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NaiveReference)->Arg(4096)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EngineSameSize)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EngineSameSize)->Arg(4096)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Error against the theory on Gaussian data (docs/algorithms.md#gpfq-error-bounds): m = 100, N_out = 20,
// X and W iid N(0, 1), delta = 0.5, unbounded alphabet. Times GPFQ's quantize().
void BM_ErrorVsNin(benchmark::State& state) {
  const Eigen::Index n_in = state.range(0);
  const Eigen::Index m = 100, n_out = 20;
  const double delta = 0.5;
  const Eigen::MatrixXd W = gaussian(n_in, n_out, 41 + std::uint64_t(n_in));
  const Eigen::MatrixXd X = gaussian(m, n_in, 42 + std::uint64_t(n_in));
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
  const pathq::Gpfq<double> gpfq;
  for (auto _ : state) {
    auto r = gpfq.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  const auto r_gpfq = gpfq.quantize(W, stats, alphabet);
  const auto r_msq = pathq::msq(W, alphabet);
  const double rel_gpfq = pathq::relative_error(W, r_gpfq, stats);
  const double rel_msq = pathq::relative_error(W, r_msq, stats);
  const double reference = pathq::layer_error(stats, W, r_gpfq.values()).reference();
  const double law = pathq::bounds::gpfq_gaussian_scaling(delta, double(m), double(n_in), 1.0);
  const double bound = pathq::bounds::gpfq_unsaturated(r_gpfq.grid, stats.K().trace()) / reference;
  state.counters["rel_err_gpfq"] = rel_gpfq;
  state.counters["rel_err_msq"] = rel_msq;
  state.counters["msq_law"] = pathq::bounds::msq_uniform_noise(delta, 1.0);
  state.counters["scaling_law"] = law;
  state.counters["gpfq_over_law"] = rel_gpfq / law;
  state.counters["bound"] = bound;
  state.counters["err_over_bound"] = rel_gpfq / bound;
  state.counters["saturated"] = double(r_gpfq.info.saturated);
}

BENCHMARK(BM_ErrorVsNin)
    ->Arg(100)->Arg(200)->Arg(400)->Arg(800)->Arg(1600)->Arg(3200)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
