// Layer-wise quantization across MPI processes (docs/library.md#across-processes-mpi): the
// calibration rows split across ranks (each rank streams its rows into LayerStats, one call sums
// the statistics) and the neurons split across ranks (whole engine panels, gathered on one rank).
// Optional: nothing else in pathq includes this header; CMake's target pathq::mpi adds MPI.
#ifndef PATHQ_DISTRIBUTED_MPI_HPP
#define PATHQ_DISTRIBUTED_MPI_HPP

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {
namespace distributed {

/// A contiguous range `[begin, end)` of rows or neurons.
struct Range {
  Eigen::Index begin = 0, end = 0;
  Eigen::Index size() const { return end - begin; }
};

/// This process's rank in `comm`.
inline int rank(MPI_Comm comm = MPI_COMM_WORLD) {
  int r = 0;
  MPI_Comm_rank(comm, &r);
  return r;
}
/// The number of ranks in `comm`.
inline int ranks(MPI_Comm comm = MPI_COMM_WORLD) {
  int n = 1;
  MPI_Comm_size(comm, &n);
  return n;
}

/// The rows of rank `r` among `R` for `m` rows: contiguous, in rank order, the first `m % R`
/// ranks one row more. A rank may have none (`m < R`).
inline Range split_rows(Eigen::Index m, int r, int R) {
  PATHQ_CHECK(R >= 1 && r >= 0 && r < R, "distributed::split_rows", "rank ", r, " is not in [0, ", R, ")");
  PATHQ_CHECK(m >= 0, "distributed::split_rows", "the row count must be >= 0, got ", m);
  const Eigen::Index base = m / R, extra = m % R;
  const Eigen::Index begin = r * base + std::min<Eigen::Index>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

/// The neurons of rank `r` among `R` for `n_out` neurons: whole panels of `panel_width` (the
/// engine's unit, `EngineOptions::panel_width`), contiguous, the first ranks one panel more, so
/// that each panel is computed exactly as in a single process. Rank 0 has a panel whenever
/// `n_out > 0`; a rank may have none.
inline Range split_neurons(Eigen::Index n_out, Eigen::Index panel_width, int r, int R) {
  PATHQ_CHECK(panel_width >= 1, "distributed::split_neurons", "panel_width must be >= 1, got ", panel_width);
  const Range p = split_rows((n_out + panel_width - 1) / panel_width, r, R);
  return {std::min(n_out, p.begin * panel_width), std::min(n_out, p.end * panel_width)};
}

namespace detail {

/// Sums `count` doubles at `data` over the ranks of `comm` in a fixed order, `((rank 0 + rank 1)
/// + rank 2) + ...` for every entry, and leaves the sum on every rank. Chunk by chunk, each rank
/// sums a slice of the chunk received from every rank (a reduce-scatter by all-to-all) and the
/// slices are shared (an all-gather): each rank sends and receives about twice the data whatever
/// the rank count, and the result is the same in every run with the same rank count
/// (MPI_Allreduce may associate differently from run to run).
inline void sum_in_rank_order(double* data, Eigen::Index count, MPI_Comm comm) {
  const int R = ranks(comm), me = rank(comm);
  if (R == 1 || count == 0) return;
  const Eigen::Index slice_max = Eigen::Index(1) << 18;  // 2 MiB of doubles per rank and chunk
  const Eigen::Index chunk = std::min<Eigen::Index>(count, slice_max * R);
  std::vector<double> received(std::size_t(chunk + R));
  std::vector<double> mine;
  std::vector<int> counts(static_cast<std::size_t>(R)), offsets(static_cast<std::size_t>(R));
  for (Eigen::Index off = 0; off < count; off += chunk) {
    const Eigen::Index n = std::min(chunk, count - off);
    // Slice s of this chunk: [s n / R, (s + 1) n / R), summed by rank s.
    for (int s = 0; s < R; ++s) {
      const Range sl = split_rows(n, s, R);
      counts[std::size_t(s)] = int(sl.size());
      offsets[std::size_t(s)] = int(sl.begin);
    }
    const int my_count = counts[std::size_t(me)];
    // Rank s receives its slice from every rank r, stored at r * my_count.
    std::vector<int> recv_counts(static_cast<std::size_t>(R), my_count), recv_offsets(static_cast<std::size_t>(R));
    for (int r = 0; r < R; ++r) recv_offsets[std::size_t(r)] = r * my_count;
    MPI_Alltoallv(data + off, counts.data(), offsets.data(), MPI_DOUBLE, received.data(), recv_counts.data(),
                  recv_offsets.data(), MPI_DOUBLE, comm);
    mine.assign(std::size_t(my_count), 0.0);
    for (int i = 0; i < my_count; ++i) {
      double s = received[std::size_t(i)];
      for (int r = 1; r < R; ++r) s += received[std::size_t(r) * std::size_t(my_count) + std::size_t(i)];
      mine[std::size_t(i)] = s;
    }
    MPI_Allgatherv(mine.data(), my_count, MPI_DOUBLE, data + off, counts.data(), offsets.data(), MPI_DOUBLE, comm);
  }
}

/// The rank-local values `v` of every rank of `comm`, in rank order.
inline std::vector<long long> all_values(long long v, MPI_Comm comm) {
  std::vector<long long> all(std::size_t(ranks(comm)));
  MPI_Allgather(&v, 1, MPI_LONG_LONG, all.data(), 1, MPI_LONG_LONG, comm);
  return all;
}

/// Throws the same pathq::invalid_argument on every rank unless `v` is equal on all of them.
inline void check_same(long long v, const char* where, const char* what, MPI_Comm comm) {
  const auto all = all_values(v, comm);
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      pathq::detail::throw_invalid(where, what, " differs across ranks: rank ", r, " has ", all[r], " but rank 0 has ",
                                   all[0]);
}

struct StatsAccess {
  static void allreduce(LayerStats<double>& s, MPI_Comm comm) {
    const char* where = "distributed::allreduce";
    check_same(static_cast<long long>(s.m_n_in), where, "the statistics' N_in", comm);
    check_same(static_cast<long long>(s.m_products), where, "the statistics' products (double or float chunks)",
               comm);
    // If any rank saw an Xq apart from X, every rank keeps H, G and K apart.
    bool any_separate = false;
    for (long long same : all_values(s.m_same ? 1 : 0, comm)) any_separate = any_separate || same == 0;
    if (any_separate && s.m_same) s.split();
    long long samples = static_cast<long long>(s.m_samples), total = 0;
    MPI_Allreduce(&samples, &total, 1, MPI_LONG_LONG, MPI_SUM, comm);  // integers: exact in any order
    s.m_samples = static_cast<Eigen::Index>(total);
    sum_in_rank_order(s.m_K.data(), s.m_K.size(), comm);
    sum_in_rank_order(s.m_sum_x.data(), s.m_sum_x.size(), comm);
    if (any_separate) {
      sum_in_rank_order(s.m_H.data(), s.m_H.size(), comm);
      sum_in_rank_order(s.m_G.data(), s.m_G.size(), comm);
      sum_in_rank_order(s.m_sum_xq.data(), s.m_sum_xq.size(), comm);
    }
  }
};

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same<T, float>::value) return MPI_FLOAT;
  else if constexpr (std::is_same<T, double>::value) return MPI_DOUBLE;
  else if constexpr (std::is_same<T, std::int32_t>::value) return MPI_INT32_T;
  else if constexpr (std::is_same<T, long long>::value) return MPI_LONG_LONG;
  else static_assert(sizeof(T) == 0, "pathq::distributed: float, double, std::int32_t or long long");
}

}  // namespace detail

/// Sums the statistics of every rank of `comm` (H, G, K, the row sums and the sample count) and
/// leaves the total on every rank: the statistics of all the ranks' rows together. The sums are
/// in double, in rank order (`((rank 0 + rank 1) + rank 2) + ...`), so the result differs from
/// one process's only by the association of the additions, and is bit for bit the same in every
/// run with the same split. When any rank added an `Xq` apart from `X`, every rank's `H`, `G`
/// become separate from `K`. Collective: every rank of `comm` must call it.
/// Communication: per statistic (one for `Xq = X`, three otherwise) each rank sends and receives
/// about `2 N_in^2` doubles (a reduce-scatter and an all-gather), whatever the rank count; extra
/// memory: one chunk of `2^18 R` doubles.
/// \throws pathq::invalid_argument on every rank when N_in or the products differ across ranks.
inline void allreduce(LayerStats<double>& stats, MPI_Comm comm = MPI_COMM_WORLD) {
  detail::StatsAccess::allreduce(stats, comm);
}

/// Gathers column blocks on `root`: every rank passes its block (the same row count on every rank
/// that has columns; any number of columns, zero included), and `root` receives the blocks side
/// by side in rank order; the other ranks receive an empty matrix. Collective.
/// \throws pathq::invalid_argument on every rank when the row counts differ or a block exceeds
///         2^31 - 1 bytes.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> gather_columns(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& block,
                                                                MPI_Comm comm = MPI_COMM_WORLD, int root = 0) {
  const char* where = "distributed::gather_columns";
  const auto rows = detail::all_values(block.cols() > 0 ? block.rows() : -1, comm);
  const auto cols = detail::all_values(block.cols(), comm);
  long long n_rows = -1, n_cols = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] >= 0 && n_rows >= 0 && rows[r] != n_rows)
      pathq::detail::throw_invalid(where, "rank ", r, " has ", rows[r], " rows but an earlier rank ", n_rows);
    if (rows[r] >= 0) n_rows = rows[r];
    n_cols += cols[r];
  }
  if (n_rows < 0) n_rows = 0;
  std::vector<int> counts(rows.size()), offsets(rows.size());
  long long offset = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const long long c = n_rows * cols[r];
    if (c > INT_MAX || offset > INT_MAX)
      pathq::detail::throw_invalid(where, "rank ", r, "'s block of ", c, " entries exceeds MPI's int counts");
    counts[r] = int(c);
    offsets[r] = int(offset);
    offset += c;
  }
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> out;
  if (rank(comm) == root) out.resize(Eigen::Index(n_rows), Eigen::Index(n_cols));
  // Column-major: the blocks side by side are their buffers one after the other.
  MPI_Gatherv(block.data(), int(block.size()), detail::mpi_type<T>(), out.data(), counts.data(), offsets.data(),
              detail::mpi_type<T>(), root, comm);
  return out;
}

}  // namespace distributed
}  // namespace pathq

#endif  // PATHQ_DISTRIBUTED_MPI_HPP
