// Frame Sigma-Delta benchmarks: error and bound against the frame size p for n = 64..1024, 1 bit
// and 3 bits, the time per column of the dense path (O(n p) per column, in GEMM), and the naive
// per-column transcription beside it. Times are CPU times: run with OMP_NUM_THREADS=1 (a layer of
// 64 columns is one panel, i.e. one thread, anyway) so that a loaded machine changes little.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/bounds/sigma_delta.hpp>
#include <pathq/core/alphabet.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/methods/sigma_delta.hpp>

#include "reference/sigma_delta_reference.hpp"
#include "support/random_data.hpp"

namespace {

using pathq_test::gaussian;

constexpr Eigen::Index n_out = 64;  // columns per layer in every bench

// Quantizes an n x 64 Gaussian layer with p = ratio * n frame elements and L levels per side
// (the smallest stable step). Times quantize() (the codes); the counters come from one more
// run outside the timing: relative errors ||W - W_q||_F / ||W||_F (measured and bound),
// their ratio, the worst column error over its bound, bits per weight, the time per column
// with the multiply-adds of the coefficients (n p per column), and for comparison the relative
// error of MSQ with as many bits per weight (B = floor(bits per weight) clipped to [2, 24]:
// 2^B - 1 levels, step C max_t |W_tj| / K per column, C = 1).
template <class Scalar>
void BM_SigmaDelta(benchmark::State& state) {
  const Eigen::Index n = state.range(0), p = n * state.range(1);
  const int L = int(state.range(2));
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> W = gaussian(n, n_out, 7 + std::uint64_t(n)).cast<Scalar>();
  pathq::SigmaDeltaOptions o;
  o.frame_size = p;
  o.levels = L;
  const pathq::SigmaDelta<Scalar> sd(o);
  for (auto _ : state) {
    auto r = sd.quantize(W);
    benchmark::DoNotOptimize(r.weights.codes.data());
    benchmark::ClobberMemory();
  }
  const auto r = sd.quantize(W);
  const Eigen::MatrixXd E = (W - r.values()).template cast<double>();
  const Eigen::RowVectorXd bound = pathq::bounds::sigma_delta_vectors(r.weights);
  const double w_norm = W.template cast<double>().norm();
  state.counters["rel_err"] = E.norm() / w_norm;
  state.counters["bound"] = bound.norm() / w_norm;
  state.counters["err_over_bound"] = E.norm() / bound.norm();
  state.counters["worst_col_over_bound"] = (E.colwise().norm().array() / bound.array()).maxCoeff();
  state.counters["bits_per_weight"] = r.bits_per_weight();
  state.counters["stable"] = r.stable();
  const int B = std::min(24, std::max(2, int(std::floor(r.bits_per_weight()))));
  const auto m = pathq::msq(W, pathq::Alphabet<Scalar>::from_bits(B, pathq::StepRule::column_radius(1.0)));
  state.counters["msq_rel_err_same_bits"] = (W - m.values()).template cast<double>().norm() / w_norm;
  state.counters["per_col"] =
      benchmark::Counter(double(n_out), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(n) * double(p) * double(n_out) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The reconstruction W_q = (n/p) F Q from the codes (values()), same sizes.
void BM_SigmaDeltaValues(benchmark::State& state) {
  const Eigen::Index n = state.range(0), p = n * state.range(1);
  pathq::SigmaDeltaOptions o;
  o.frame_size = p;
  o.levels = 4;
  const auto r = pathq::SigmaDelta<float>(o).quantize(gaussian(n, n_out, 9).cast<float>());
  for (auto _ : state) {
    auto V = r.values();
    benchmark::DoNotOptimize(V.data());
    benchmark::ClobberMemory();
  }
  state.counters["per_col"] =
      benchmark::Counter(double(n_out), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The naive transcription (tests/reference): one cos/sin per frame entry, then per column
// c = F^T x and the loop. Same n x 64 layer, L = 4.
void BM_NaiveReference(benchmark::State& state) {
  const int n = int(state.range(0)), p = n * int(state.range(1));
  const Eigen::MatrixXd W = gaussian(n, n_out, 11);
  const double delta = W.colwise().norm().maxCoeff() / 3.5;
  for (auto _ : state) {
    const Eigen::MatrixXd F = pathq_reference::harmonic_frame(n, p);
    for (Eigen::Index j = 0; j < n_out; ++j) {
      auto tr = pathq_reference::frame_sigma_delta(W.col(j), F, 4, delta);
      benchmark::DoNotOptimize(tr.xq.data());
    }
    benchmark::ClobberMemory();
  }
  state.counters["per_col"] =
      benchmark::Counter(double(n_out), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void sweep(benchmark::internal::Benchmark* b) {
  for (long n : {64, 256, 1024})
    for (long ratio : {2, 4, 8, 16})
      for (long L : {1, 4}) b->Args({n, ratio, L});
  b->ArgNames({"n", "p/n", "L"})->Unit(benchmark::kMillisecond)->MinTime(0.2);
}

BENCHMARK_TEMPLATE(BM_SigmaDelta, float)->Apply(sweep);
BENCHMARK_TEMPLATE(BM_SigmaDelta, double)->Args({256, 8, 4})->Args({1024, 8, 4})->ArgNames({"n", "p/n", "L"})
    ->Unit(benchmark::kMillisecond)->MinTime(0.2);
BENCHMARK(BM_SigmaDeltaValues)->Args({256, 8})->Args({1024, 8})->ArgNames({"n", "p/n"})
    ->Unit(benchmark::kMillisecond)->MinTime(0.2);
BENCHMARK(BM_NaiveReference)->Args({256, 8})->ArgNames({"n", "p/n"})->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
