// Independent tasks on OpenMP threads, each run by one thread with Eigen's own threading off.
#ifndef PATHQ_DETAIL_PARALLEL_HPP
#define PATHQ_DETAIL_PARALLEL_HPP

#include <algorithm>
#include <cstddef>

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
  omp_set_num_threads(1);
  for (std::size_t k = 0; k < count; ++k) task(k);
  omp_set_num_threads(most);
#else
  for (std::size_t k = 0; k < count; ++k) task(k);
#endif
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_PARALLEL_HPP
