// The statistics' products: LayerStats::add for one batch with double products and with float
// chunks accumulated in double (StatsProducts), against Eigen's float symmetric rank-k update of
// the same data. m = 2 n rows, as in bench/end_to_end.py.
#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/pathq.hpp>

#include "support/random_data.hpp"

namespace {

// One batch of m = 2n float rows added to fresh statistics (Xq = X: one symmetric product).
void BM_StatsAdd(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const auto products = state.range(1) == 0 ? pathq::StatsProducts::Accumulation : pathq::StatsProducts::FloatChunks;
  const Eigen::MatrixXf X = pathq_test::gaussian(2 * n, n, 31).cast<float>();
  for (auto _ : state) {
    pathq::LayerStats<double> stats(n, products);
    stats.add(X);
    benchmark::DoNotOptimize(stats.K().data());
  }
  state.SetLabel(state.range(1) == 0 ? "double products" : "float chunks");
  state.counters["GFLOP/s"] = benchmark::Counter(double(2 * n) * double(n) * double(n) * double(state.iterations()) * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// Eigen's own float rank-k update of the lower triangle: the rate float statistics can reach.
void BM_FloatRankUpdate(benchmark::State& state) {
  const Eigen::Index n = state.range(0);
  const Eigen::MatrixXf X = pathq_test::gaussian(2 * n, n, 31).cast<float>();
  Eigen::MatrixXf S(n, n);
  for (auto _ : state) {
    S.setZero();
    S.selfadjointView<Eigen::Lower>().rankUpdate(X.transpose());
    benchmark::DoNotOptimize(S.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(double(2 * n) * double(n) * double(n) * double(state.iterations()) * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_StatsAdd)->ArgsProduct({{1024, 2048, 4096}, {0, 1}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FloatRankUpdate)->Arg(1024)->Arg(2048)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
