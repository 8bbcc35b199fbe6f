// Feature orders for the engine: natural, or by decreasing input energy diag(H) ("act-order").
#ifndef PATHQ_ENGINE_FEATURE_ORDER_HPP
#define PATHQ_ENGINE_FEATURE_ORDER_HPP

#include <algorithm>
#include <numeric>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/grid.hpp"

namespace pathq {

/// The order in which the engine walks a layer's input features.
enum class FeatureOrder {
  Natural,           ///< t = 0, 1, ..., N_in - 1 (the papers' order)
  DescendingEnergy   ///< by decreasing diag(H) = ||Xq_t||^2, ties by index (GPTQ's act-order)
};

inline const char* to_string(FeatureOrder o) {
  return o == FeatureOrder::Natural ? "natural" : "descending_energy";
}

/// `perm[i]` = the original index of the feature walked i-th. Empty for the natural order.
template <class D>
std::vector<Eigen::Index> feature_permutation(FeatureOrder order, const Eigen::MatrixBase<D>& diagH) {
  std::vector<Eigen::Index> perm;
  if (order == FeatureOrder::Natural) return perm;
  perm.resize(std::size_t(diagH.size()));
  std::iota(perm.begin(), perm.end(), Eigen::Index(0));
  std::stable_sort(perm.begin(), perm.end(),
                   [&](Eigen::Index a, Eigen::Index b) { return diagH(a) > diagH(b); });
  return perm;
}

/// `P A P^T` for a square `A` (rows and columns permuted alike) (`perm` empty: A itself), cast to `Scalar`.
template <class Scalar, class D>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> permute_square(
    const Eigen::MatrixBase<D>& A, const std::vector<Eigen::Index>& perm) {
  if (perm.empty()) return A.template cast<Scalar>();
  const Eigen::Index n = A.rows();
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> P(n, n);
  for (Eigen::Index k = 0; k < n; ++k)
    for (Eigen::Index i = 0; i < n; ++i) P(i, k) = Scalar(A(perm[std::size_t(i)], perm[std::size_t(k)]));
  return P;
}

/// Rows of `A` in engine order (`perm` empty: A itself), cast to `Scalar`.
template <class Scalar, class D>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> permute_rows(
    const Eigen::MatrixBase<D>& A, const std::vector<Eigen::Index>& perm) {
  if (perm.empty()) return A.template cast<Scalar>();
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> P(A.rows(), A.cols());
  // Column by column: a gather within one column of A, a contiguous write of P's.
  for (Eigen::Index j = 0; j < A.cols(); ++j)
    for (Eigen::Index i = 0; i < A.rows(); ++i) P(i, j) = Scalar(A(perm[std::size_t(i)], j));
  return P;
}

/// Codes from engine order back to the original order.
inline Codes unpermute_rows(const Codes& C, const std::vector<Eigen::Index>& perm) {
  if (perm.empty()) return C;
  Codes out(C.rows(), C.cols());
  for (Eigen::Index j = 0; j < C.cols(); ++j)
    for (Eigen::Index i = 0; i < C.rows(); ++i) out(perm[std::size_t(i)], j) = C(i, j);
  return out;
}

}  // namespace pathq

#endif  // PATHQ_ENGINE_FEATURE_ORDER_HPP
