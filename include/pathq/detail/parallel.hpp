// Independent tasks on OpenMP threads, each run by one thread with Eigen's own threading off.
#ifndef PATHQ_DETAIL_PARALLEL_HPP
#define PATHQ_DETAIL_PARALLEL_HPP

#include <algorithm>
#include <cstddef>

#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pathq {
namespace detail {

/// Runs `task(k)` for `k` in `[0, count)` on up to `omp_get_max_threads()` OpenMP threads
/// (serially without OpenMP). A task runs on one thread from start to end and Eigen's products
/// inside it stay on that thread, so what a task computes does not depend on the thread count.
/// `task` must not throw.
template <class Task>
void parallel_tasks(std::size_t count, Task&& task) {
  if (count == 0) return;
#if defined(_OPENMP)
  const int most = std::max(1, omp_get_max_threads());
  const int threads = int(std::min<std::size_t>(std::size_t(most), count));
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      omp_set_num_threads(1);  // per thread: Eigen's GEMM inside a task stays single-threaded
#pragma omp for schedule(dynamic, 1)
      for (long k = 0; k < long(count); ++k) task(std::size_t(k));
    }
    return;
  }
  // One task (or one thread): run here, with Eigen's threading off all the same, then restored.
  // Eigen follows omp_set_num_threads unless its own count was set (Eigen::setNbThreads): then
  // that count is lowered to 1 for the tasks and put back after.
  omp_set_num_threads(1);
  const int eigen_set = Eigen::nbThreads();
  if (eigen_set > 1) Eigen::setNbThreads(1);
  for (std::size_t k = 0; k < count; ++k) task(k);
  if (eigen_set > 1) Eigen::setNbThreads(eigen_set);
  omp_set_num_threads(most);
#else
  for (std::size_t k = 0; k < count; ++k) task(k);
#endif
}

/// `A B` in double, computed as one GEMM per panel of 64 columns of `B` with `parallel_tasks`:
/// the same bits for every thread count (Eigen's own parallel GEMM may block differently with
/// more threads).
template <class DA, class DB>
Eigen::MatrixXd product_by_panels(const Eigen::MatrixBase<DA>& A, const Eigen::MatrixBase<DB>& B) {
  const Eigen::MatrixXd Ad = A.template cast<double>();
  const Eigen::MatrixXd Bd = B.template cast<double>();
  Eigen::MatrixXd C(Ad.rows(), Bd.cols());
  const Eigen::Index panel = 64;
  parallel_tasks(std::size_t((Bd.cols() + panel - 1) / panel), [&](std::size_t p) {
    const Eigen::Index c0 = Eigen::Index(p) * panel, w = std::min(panel, Bd.cols() - c0);
    C.middleCols(c0, w).noalias() = Ad * Bd.middleCols(c0, w);
  });
  return C;
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_PARALLEL_HPP
