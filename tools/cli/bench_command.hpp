// `pathq bench`: the quantizers' speed against one matrix product (GEMM) on this machine.
#ifndef PATHQ_TOOLS_BENCH_COMMAND_HPP
#define PATHQ_TOOLS_BENCH_COMMAND_HPP

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <string>

#include <Eigen/Core>

#include <pathq/pathq.hpp>

#include "tool_names.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pathq_tool {

inline const char* bench_usage() {
  return "usage: pathq bench [--size N] [--threads T] [--repeats R] [--seed S]\n"
         "       prints each method's time over one GEMM of the same multiply-add count, in float and\n"
         "       double: the N x N by N x N GEMM (N^3) for GPFQ and SPFQ, its time times 4/3 for OPTQ\n"
         "       (whose Cholesky factorization adds N^3/3); the statistics' time over a GEMM-based\n"
         "       X^T X; and the 1 vs 2 thread speed-up\n";
}

namespace detail {

/// Best wall-clock time of `repeats` runs of `f`, in seconds.
inline double best_seconds(int repeats, const std::function<void()>& f) {
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = r == 0 ? s : std::min(best, s);
  }
  return best;
}

/// A seeded `rows x cols` matrix of standard Gaussian entries.
inline Eigen::MatrixXd bench_gaussian(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd A(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) A(i, j) = normal(gen);
  return A;
}

inline void bench_set_threads(int threads) {
  Eigen::setNbThreads(threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

inline void bench_line(const char* precision, const char* what, double seconds, double gemm_seconds) {
  std::printf("%-9s %-11s %12.6g %12.6g %8.2f\n", precision, what, seconds, gemm_seconds,
              gemm_seconds > 0 ? seconds / gemm_seconds : 0.0);
}

/// Times one precision: GEMM of `n x n` by `n x n`, then GPFQ, OPTQ and SPFQ of an `n x n` layer
/// at 4 bits on the same statistics, each as a ratio to a GEMM of its multiply-add count: `n^3`
/// for GPFQ and SPFQ (`tril(G) W` and the scan, `n^3/2` each), `4 n^3 / 3` for OPTQ (the same plus
/// the Cholesky factorization of `H + lambda I`), the GEMM's time scaled by that count.
template <class Scalar>
void bench_precision(const char* name, const Eigen::MatrixXd& Wd, const pathq::LayerStats<double>& stats, int threads,
                     int repeats) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Index n = Wd.rows();
  const Matrix W = Wd.cast<Scalar>();
  const Matrix A = Wd.cast<Scalar>();
  Matrix C(n, n);
  const double gemm = best_seconds(repeats, [&] { C.noalias() = A * W; });
  const auto alphabet = pathq::Alphabet<Scalar>::from_bits(4, pathq::StepRule::layer_radius(1.0));

  pathq::GpfqOptions gpfq_options;
  gpfq_options.engine.threads = threads;
  const double gpfq = best_seconds(repeats, [&] {
    (void)pathq::Gpfq<Scalar>(gpfq_options).quantize(W, stats, alphabet);
  });
  bench_line(name, "gemm", gemm, gemm);
  bench_line(name, "gpfq", gpfq, gemm);

  pathq::OptqOptions optq_options;
  optq_options.engine.threads = threads;
  const double optq = best_seconds(repeats, [&] {
    (void)pathq::Optq<Scalar>(optq_options).quantize(W, stats, alphabet);
  });
  bench_line(name, "optq", optq, gemm * 4.0 / 3.0);

  pathq::SpfqOptions spfq_options;
  spfq_options.engine.threads = threads;
  const double spfq = best_seconds(repeats, [&] {
    (void)pathq::Spfq<Scalar>(spfq_options, pathq::StochasticRounding(1)).quantize(W, stats, alphabet);
  });
  bench_line(name, "spfq", spfq, gemm);
}

}  // namespace detail

/// Runs `pathq bench` on `argv[first..argc)`: prints a table of seconds and ratios to stdout.
/// \throws UsageError for unknown or bad options.
inline int bench_command(int argc, const char* const* argv, int first) {
  const Args a(argc, argv, first, {"size", "threads", "repeats", "seed"}, {});
  const Eigen::Index n = Eigen::Index(a.integer("size", 8, 16384).value_or(1024));
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  if (auto t = a.integer("threads", 1, 4096)) threads = int(*t);
  const int repeats = int(a.integer("repeats", 1, 100).value_or(3));
  const unsigned seed = unsigned(a.integer("seed", 0, 1 << 30).value_or(1));

  detail::bench_set_threads(threads);
  const Eigen::MatrixXd W = detail::bench_gaussian(n, n, seed);
  const Eigen::MatrixXd X = detail::bench_gaussian(2 * n, n, seed + 1);

  std::printf("pathq bench: N_in = N_out = %ld, m = %ld samples, %d thread(s), best of %d; ratios from one run\n",
              long(n), long(2 * n), threads, repeats);
  std::printf("%-9s %-11s %12s %12s %8s\n", "precision", "what", "seconds", "reference", "ratio");

  // Statistics: the rank-k update of LayerStats against a general product X^T X.
  Eigen::MatrixXd K(n, n);
  const double gemm_xtx = detail::best_seconds(repeats, [&] { K.noalias() = X.transpose() * X; });
  pathq::LayerStats<double> stats(n);
  const double syrk = detail::best_seconds(repeats, [&] { stats = pathq::LayerStats<double>::from(X); });
  detail::bench_line("double", "gemm_xtx", gemm_xtx, gemm_xtx);
  detail::bench_line("double", "statistics", syrk, gemm_xtx);

  detail::bench_precision<float>("float", W, stats, threads, repeats);
  detail::bench_precision<double>("double", W, stats, threads, repeats);

  // Threads: GPFQ (float) on one thread and on two; the codes must be identical.
  const auto alphabet = pathq::Alphabet<float>::from_bits(4, pathq::StepRule::layer_radius(1.0));
  const Eigen::MatrixXf Wf = W.cast<float>();
  pathq::Codes codes[2];
  double seconds[2];
  for (int k = 0; k < 2; ++k) {
    pathq::GpfqOptions o;
    o.engine.threads = k + 1;
    detail::bench_set_threads(k + 1);
    seconds[k] = detail::best_seconds(repeats, [&] { codes[k] = pathq::Gpfq<float>(o).quantize(Wf, stats, alphabet).codes; });
  }
  detail::bench_set_threads(threads);
  std::printf("threads   gpfq float  1 thread %.6g s, 2 threads %.6g s, speed-up %.2f, codes identical: %s\n",
              seconds[0], seconds[1], seconds[1] > 0 ? seconds[0] / seconds[1] : 0.0,
              codes[0] == codes[1] ? "yes" : "no");
  return codes[0] == codes[1] ? 0 : 1;
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_BENCH_COMMAND_HPP
