// Blocked products of the statistics: S += A^T B tile by tile, in parallel, lower triangle only
// when the result is symmetric.
#ifndef PATHQ_STATS_BLOCK_PRODUCTS_HPP
#define PATHQ_STATS_BLOCK_PRODUCTS_HPP

#include <algorithm>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pathq/detail/parallel.hpp"

namespace pathq {
namespace detail {

/// Tile edge of `accumulate_products`: large enough for GEMM-rate tiles, small enough that the
/// lower triangle of tiles wastes little on the diagonal (`(1 + 1/n_tiles) / 2` of the full product).
inline constexpr Eigen::Index stats_tile = 256;

/// `S += A^T B` (`A`, `B`: `m x n`; `S`: `n x n`), computed as one GEMM per `stats_tile`-square
/// tile of `S`; with `symmetric` (then `B` must be `A`), only the tiles on and below the diagonal
/// are computed and the strict upper triangle is then copied from the lower one: about half the
/// multiply-adds of the general product at the same rate. Tiles run on OpenMP threads, each tile
/// by one thread from start to end with Eigen's own threading off, so the result is the same
/// for every thread count.
template <class Matrix>
void accumulate_products(Matrix& S, const Matrix& A, const Matrix& B, bool symmetric) {
  using Index = Eigen::Index;
  const Index n = S.rows();
  const Index tiles = (n + stats_tile - 1) / stats_tile;
  std::vector<std::pair<Index, Index>> work;  // (row tile, column tile)
  for (Index i = 0; i < tiles; ++i)
    for (Index j = 0; j < (symmetric ? i + 1 : tiles); ++j) work.emplace_back(i, j);
  const auto run = [&](std::size_t k) {
    const Index r0 = work[k].first * stats_tile, c0 = work[k].second * stats_tile;
    const Index rows = std::min(stats_tile, n - r0), cols = std::min(stats_tile, n - c0);
    S.block(r0, c0, rows, cols).noalias() += A.middleCols(r0, rows).transpose() * B.middleCols(c0, cols);
  };
  parallel_tasks(work.size(), run);
  if (symmetric) S.template triangularView<Eigen::StrictlyUpper>() = S.transpose();
}

/// `S += A^T B` as `accumulate_products`, but each tile's product formed in float over chunks of
/// `chunk` rows and each chunk's float tile added into `S` (in S's own type, e.g. double): float
/// GEMM speed, and the float error of a `chunk`-term sum instead of an m-term one. With
/// `u = 2^-24` and `gamma_k = k u / (1 - k u)`, every entry obeys
/// `|S_computed - A^T B| <= gamma_chunk |A|^T |B|` for float A and B (plus the rounding of the
/// additions into S, `m / chunk` of them in S's type); see `LayerStats`.
template <class Matrix>
void accumulate_products_float(Matrix& S, const Eigen::MatrixXf& A, const Eigen::MatrixXf& B, bool symmetric,
                               Eigen::Index chunk) {
  using Index = Eigen::Index;
  using Acc = typename Matrix::Scalar;
  const Index n = S.rows(), m = A.rows();
  const Index tiles = (n + stats_tile - 1) / stats_tile;
  std::vector<std::pair<Index, Index>> work;
  for (Index i = 0; i < tiles; ++i)
    for (Index j = 0; j < (symmetric ? i + 1 : tiles); ++j) work.emplace_back(i, j);
  const auto run = [&](std::size_t k) {
    const Index r0 = work[k].first * stats_tile, c0 = work[k].second * stats_tile;
    const Index rows = std::min(stats_tile, n - r0), cols = std::min(stats_tile, n - c0);
    Eigen::MatrixXf T(rows, cols);
    for (Index s0 = 0; s0 < m; s0 += chunk) {
      const Index len = std::min(chunk, m - s0);
      T.noalias() = A.block(s0, r0, len, rows).transpose() * B.block(s0, c0, len, cols);
      S.block(r0, c0, rows, cols) += T.template cast<Acc>();
    }
  };
  parallel_tasks(work.size(), run);
  if (symmetric) S.template triangularView<Eigen::StrictlyUpper>() = S.transpose();
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_STATS_BLOCK_PRODUCTS_HPP
