// In-place Cholesky factorization A = L L^T by tiles, the trailing updates as parallel GEMMs.
#ifndef PATHQ_DETAIL_BLOCKED_CHOLESKY_HPP
#define PATHQ_DETAIL_BLOCKED_CHOLESKY_HPP

#include <algorithm>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "pathq/detail/parallel.hpp"

namespace pathq {
namespace detail {

/// Overwrites the lower triangle of the symmetric `A` (`n x n`, column-major; only the lower
/// triangle is read, and the strict upper triangles of the diagonal tiles serve as scratch, so
/// they must hold finite values, zeros say) with its Cholesky factor L, tile column
/// by tile column (left-looking): the tile column is updated with the columns already factored
/// (one GEMM per row tile, on OpenMP threads), its diagonal tile factored (Eigen's LLT), and the
/// tiles below it solved against that factor (one triangular solve per row tile, in parallel).
/// Every tile is computed by one thread, so L does not depend on the thread count.
/// \returns false if a diagonal tile is not numerically positive definite (A is then partly
///          overwritten).
/// Complexity `n^3 / 3` multiply-adds, at about GEMM rate for `n` of a few tiles or more.
template <class Matrix>
bool blocked_cholesky(Matrix& A, Eigen::Index tile = 128) {
  using Index = Eigen::Index;
  const Index n = A.rows();
  for (Index k0 = 0; k0 < n; k0 += tile) {
    const Index kb = std::min(tile, n - k0);
    const Index row_tiles = (n - k0 + tile - 1) / tile;
    if (k0 > 0) {
      // A(i, k) -= L(i, 0:k0) L(k, 0:k0)^T for every row tile i at or below the diagonal tile.
      parallel_tasks(std::size_t(row_tiles), [&](std::size_t t) {
        const Index r0 = k0 + Index(t) * tile, rows = std::min(tile, n - r0);
        A.block(r0, k0, rows, kb).noalias() -= A.block(r0, 0, rows, k0) * A.block(k0, 0, kb, k0).transpose();
      });
    }
    bool ok = true;
    parallel_tasks(1, [&](std::size_t) {  // Eigen's LLT of the diagonal tile, on one thread
      auto Akk = A.block(k0, k0, kb, kb);
      ok = Eigen::LLT<Eigen::Ref<Matrix>, Eigen::Lower>(Akk).info() == Eigen::Success;
    });
    if (!ok) return false;
    if (row_tiles > 1) {
      // L(i, k) = A(i, k) L(k, k)^-T.
      parallel_tasks(std::size_t(row_tiles - 1), [&](std::size_t t) {
        const Index r0 = k0 + kb + Index(t) * tile, rows = std::min(tile, n - r0);
        auto block = A.block(r0, k0, rows, kb);
        A.block(k0, k0, kb, kb).template triangularView<Eigen::Lower>().transpose().template solveInPlace<
            Eigen::OnTheRight>(block);
      });
    }
  }
  return true;
}

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_BLOCKED_CHOLESKY_HPP
