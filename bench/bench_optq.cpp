// OPTQ benchmarks: layer error against GPFQ and MSQ on Gaussian and correlated inputs at 2/3/4
// bits, speed against one Eigen GEMM of the same multiply-add count, and the naive reference.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/pathq.hpp>

#include "reference/optq_reference.hpp"
#include "support/random_data.hpp"

namespace {

using pathq::Alphabet;
using pathq::StepRule;
using pathq_test::gaussian;

template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// ---------------------------------------------------------------------------------------------
// Quality: N_in = N_out = 1024, m = 2048, W iid N(0, 1), fixed seeds; inputs (0) iid N(0, 1) or
// (1) correlated, X = Z diag(s / rms(s)) V^T with Z iid N(0, 1), s_k = 1/k and V the Q factor of
// a Gaussian matrix. Error: the norm ratio ||XW - XQ||_F / ||XW||_F.
constexpr Eigen::Index quality_n = 1024;
constexpr Eigen::Index quality_m = 2048;

struct Dataset {
  Eigen::MatrixXd W;
  pathq::LayerStats<double> stats;
};

// The Q factor of A's QR factorization (columns orthonormalized in order, signs making R's
// diagonal positive): classical Gram-Schmidt with one reorthogonalization pass.
Eigen::MatrixXd orthonormalized(Eigen::MatrixXd A) {
  for (Eigen::Index k = 0; k < A.cols(); ++k) {
    for (int pass = 0; pass < 2; ++pass)
      A.col(k) -= A.leftCols(k) * (A.leftCols(k).transpose() * A.col(k)).eval();
    A.col(k).normalize();
  }
  return A;
}

const Dataset& dataset(int correlated) {
  static const Dataset sets[2] = {
      [] {
        return Dataset{gaussian(quality_n, quality_n, 1001),
                       pathq::LayerStats<double>::from(gaussian(quality_m, quality_n, 1002))};
      }(),
      [] {
        Eigen::VectorXd s(quality_n);
        for (Eigen::Index k = 0; k < quality_n; ++k) s(k) = 1.0 / double(k + 1);
        s /= std::sqrt(s.squaredNorm() / double(quality_n));
        const Eigen::MatrixXd V = orthonormalized(gaussian(quality_n, quality_n, 1003));
        const Eigen::MatrixXd X = gaussian(quality_m, quality_n, 1002) * s.asDiagonal() * V.transpose();
        return Dataset{gaussian(quality_n, quality_n, 1001), pathq::LayerStats<double>::from(X)};
      }()};
  return sets[correlated];
}

// The methods compared, each with its grid; every grid is per column unless it says "g32".
enum Method {
  MsqSymmetric,        // round to nearest, 2^b - 1 levels, step max|w| / K per column
  MsqAsymmetric,       // round to nearest, min-max asymmetric, 2^b levels (GPTQ's RTN baseline)
  GpfqLayerC08,        // GPFQ, 2^b - 1 levels, layer radius C = 0.8 (the authors' rule)
  GpfqAsymmetric,      // GPFQ on the min-max asymmetric grid
  OptqAsymmetric,      // OPTQ, min-max asymmetric (GPTQ's default grid)
  OptqAsymmetricAct,   // ... with act-order
  OptqEvenAct,         // OPTQ, even grid (GPTQ's sym), act-order
  OptqEvenG32,         // OPTQ, even grid, dynamic groups of 32: 4.5 bits/weight at 4 bits
  MethodCount
};

const char* method_name(int m) {
  static const char* names[] = {"msq_symmetric",    "msq_asymmetric",        "gpfq_layer_C0.8", "gpfq_asymmetric",
                                "optq_asymmetric", "optq_asymmetric_act", "optq_even_act",   "optq_even_g32"};
  return names[m];
}

pathq::Result<float> run_method(int method, int bits, const Dataset& d, const Mat<float>& W) {
  const auto column = StepRule::column_radius(1.0);
  pathq::OptqOptions act;
  act.order = pathq::FeatureOrder::DescendingEnergy;
  switch (method) {
    case MsqSymmetric: return pathq::msq(W, Alphabet<float>::from_bits(bits, column));
    case MsqAsymmetric: return pathq::msq(W, Alphabet<float>::asymmetric(bits));
    case GpfqLayerC08:
      return pathq::Gpfq<float>().quantize(W, d.stats, Alphabet<float>::from_bits(bits, StepRule::layer_radius(0.8)));
    case GpfqAsymmetric: return pathq::Gpfq<float>().quantize(W, d.stats, Alphabet<float>::asymmetric(bits));
    case OptqAsymmetric: return pathq::Optq<float>().quantize(W, d.stats, Alphabet<float>::asymmetric(bits));
    case OptqAsymmetricAct: return pathq::Optq<float>(act).quantize(W, d.stats, Alphabet<float>::asymmetric(bits));
    case OptqEvenAct: return pathq::Optq<float>(act).quantize(W, d.stats, Alphabet<float>::even(bits, column));
    default:
      return pathq::Optq<float>().quantize(W, d.stats, Alphabet<float>::even(bits, column).with_group_size(32));
  }
}

// range(0): inputs (0 iid, 1 correlated); range(1): method; range(2): bits. Times the method.
void BM_Quality(benchmark::State& state) {
  const Dataset& d = dataset(int(state.range(0)));
  const int method = int(state.range(1));
  const int bits = int(state.range(2));
  const Mat<float> W = d.W.cast<float>();
  pathq::Result<float> r;
  for (auto _ : state) {
    r = run_method(method, bits, d, W);
    benchmark::DoNotOptimize(r.codes.data());
  }
  const auto e = pathq::layer_error(d.stats, d.W, r.values().cast<double>());
  state.SetLabel(std::string(state.range(0) ? "correlated " : "iid ") + method_name(method));
  state.counters["norm_ratio"] = e.norm_ratio();
  state.counters["rel_err"] = e.squared_relative();
  state.counters["bits_per_weight"] = pathq::bits_per_weight(r.grid, quality_n).total;
  state.counters["levels"] = double(r.grid.levels());
  state.counters["saturated"] = double(r.info.saturated);
}

void quality_args(benchmark::internal::Benchmark* b) {
  for (int inputs : {0, 1})
    for (int bits : {2, 3, 4})
      for (int m = 0; m < MethodCount; ++m) b->Args({inputs, m, bits});
}
BENCHMARK(BM_Quality)->Apply(quality_args)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------------------------
// Speed: a square layer, statistics precomputed, the time of quantize() alone (factorization
// n^3/3 + triangular product n^3/2 + scan n^3/2 multiply-adds) against one Eigen GEMM with the
// same count, n x n times n x (4n/3).
constexpr Eigen::Index speed_samples = 512;

double optq_madds(double n) { return n * n * n / 3.0 + n * n * n; }

void set_gflops(benchmark::State& state, double madds_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * madds_per_iteration * double(state.iterations()) * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

template <class Scalar>
void BM_OptqSpeed(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Mat<Scalar> W = gaussian(n, n, 11).cast<Scalar>();
  const auto stats = pathq::LayerStats<double>::from(gaussian(speed_samples + n, n, 12));
  const auto alphabet = Alphabet<Scalar>::asymmetric(4);
  pathq::OptqOptions options;
  options.order = pathq::FeatureOrder::DescendingEnergy;
  const pathq::Optq<Scalar> optq(options);
  for (auto _ : state) {
    auto r = optq.quantize(W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, optq_madds(double(n)));
  state.counters["threads"] = pathq::engine_threads(0);
}

template <class Scalar>
void BM_GemmSameMadds(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Mat<Scalar> A = gaussian(n, n, 21).cast<Scalar>();
  const Mat<Scalar> B = gaussian(n, 4 * n / 3, 22).cast<Scalar>();
  Mat<Scalar> C(n, 4 * n / 3);
  for (auto _ : state) {
    C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, optq_madds(double(n)));
  state.counters["threads"] = Eigen::nbThreads();
}

#define PATHQ_OPTQ_PAIR(Scalar, n, setting)                                                                   \
  BENCHMARK_TEMPLATE(BM_OptqSpeed, Scalar)->Arg(n)->setting->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_GemmSameMadds, Scalar)->Arg(n)->setting->Unit(benchmark::kMillisecond)->UseRealTime()

PATHQ_OPTQ_PAIR(float, 1024, Iterations(5));
PATHQ_OPTQ_PAIR(float, 2048, Iterations(2));
PATHQ_OPTQ_PAIR(double, 1024, Iterations(3));
PATHQ_OPTQ_PAIR(double, 2048, Iterations(1));

// ---------------------------------------------------------------------------------------------
// The naive reference (the trailing block of H inverted at every step) beside the engine, on
// the same small layer: N_in = range(0), N_out = 64, m = 2 N_in, 4-bit asymmetric grid.
struct SmallLayer {
  Eigen::MatrixXd W, X;
};

SmallLayer small_layer(Eigen::Index n_in) { return {gaussian(n_in, 64, 31), gaussian(2 * n_in, n_in, 32)}; }

void BM_OptqNaiveReference(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  pathq_reference::OptqReferenceGrid grid;
  grid.kind = "asymmetric";
  grid.bits = 4;
  for (auto _ : state) {
    auto tr = pathq_reference::optq_reference(L.W, L.X, grid);
    benchmark::DoNotOptimize(tr.Q.data());
  }
}

void BM_OptqEngineSameSize(benchmark::State& state) {
  const SmallLayer L = small_layer(state.range(0));
  const auto alphabet = Alphabet<double>::asymmetric(4);
  const pathq::Optq<double> optq;
  for (auto _ : state) {
    const auto stats = pathq::LayerStats<double>::from(L.X);
    auto r = optq.quantize(L.W, stats, alphabet);
    benchmark::DoNotOptimize(r.codes.data());
  }
  pathq_reference::OptqReferenceGrid grid;
  grid.kind = "asymmetric";
  grid.bits = 4;
  const auto ref = pathq_reference::optq_reference(L.W, L.X, grid);
  const auto r = optq.quantize(L.W, pathq::LayerStats<double>::from(L.X), alphabet);
  state.counters["mismatches"] = double((r.codes.cast<int>().array() != ref.codes.array()).count());
}

BENCHMARK(BM_OptqNaiveReference)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OptqEngineSameSize)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
