// LayerStats: the sufficient statistics H = Xq^T Xq, G = Xq^T X, K = X^T X of a layer, streamed.
#ifndef PATHQ_STATS_LAYER_STATS_HPP
#define PATHQ_STATS_LAYER_STATS_HPP

#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/stats/block_products.hpp"

namespace pathq {

/// Streaming second-order statistics of a layer's inputs (DESIGN.md "Conventions").
///
/// `X` (`m x N_in`) are the layer's inputs in the float network and `Xq` the same samples'
/// inputs in the partly quantized network. Batches of rows are added one at a time; memory is
/// `O(N_in^2)` whatever the number of samples. `H` and `K` are accumulated as symmetric rank-k
/// updates (the lower triangle of tiles: about half the work of a general product, at its rate),
/// on OpenMP threads, with the same result for every thread count. While every batch has `Xq = X` only one matrix
/// is stored and `H`, `G`, `K` all refer to it.
/// \tparam Acc the accumulation type (double by default; float halves memory).
template <class Acc = double>
class LayerStats {
 public:
  using Matrix = Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Acc, Eigen::Dynamic, 1>;

  /// \param n_in number of input features, >= 1.
  explicit LayerStats(Eigen::Index n_in) : m_n_in(n_in) {
    PATHQ_CHECK(n_in >= 1, "LayerStats", "N_in must be at least 1, got ", n_in);
    m_K = Matrix::Zero(n_in, n_in);
    m_sum_x = Vector::Zero(n_in);
  }

  /// Statistics of one batch with `Xq = X`.
  template <class D>
  static LayerStats from(const Eigen::MatrixBase<D>& X) {
    LayerStats s(X.cols());
    s.add(X);
    return s;
  }
  /// Statistics of one batch.
  template <class D1, class D2>
  static LayerStats from(const Eigen::MatrixBase<D1>& X, const Eigen::MatrixBase<D2>& Xq) {
    LayerStats s(X.cols());
    s.add(X, Xq);
    return s;
  }

  /// Adds a batch of samples whose float and quantized-network inputs coincide (a first layer).
  /// \throws invalid_argument on a column count other than N_in or a non-finite entry.
  template <class D>
  void add(const Eigen::MatrixBase<D>& X) {
    check_batch("X", X);
    if (X.rows() == 0) return;
    const Matrix Xd = X.template cast<Acc>();
    rank_update(m_K, Xd);
    m_sum_x += Xd.colwise().sum().transpose();
    if (!m_same) {
      rank_update(m_H, Xd);
      detail::accumulate_products(m_G, Xd, Xd, false);
      m_sum_xq += Xd.colwise().sum().transpose();
    }
    m_samples += X.rows();
  }

  /// Adds a batch: row i of `X` and of `Xq` must come from the same sample.
  /// \throws invalid_argument if the shapes differ, the column count is not N_in, or an entry
  ///         is not finite.
  template <class D1, class D2>
  void add(const Eigen::MatrixBase<D1>& X, const Eigen::MatrixBase<D2>& Xq) {
    check_batch("X", X);
    check_batch("Xq", Xq);
    PATHQ_CHECK(X.rows() == Xq.rows(), "LayerStats::add", "X has ", X.rows(),
                " rows but Xq has ", Xq.rows(), " (rows must be the same samples)");
    if (X.rows() == 0) return;
    if (m_same) split();
    const Matrix Xd = X.template cast<Acc>();
    const Matrix Xqd = Xq.template cast<Acc>();
    rank_update(m_K, Xd);
    rank_update(m_H, Xqd);
    detail::accumulate_products(m_G, Xqd, Xd, false);
    m_sum_x += Xd.colwise().sum().transpose();
    m_sum_xq += Xqd.colwise().sum().transpose();
    m_samples += X.rows();
  }

  Eigen::Index n_in() const { return m_n_in; }
  /// Number of samples (rows) added so far.
  Eigen::Index samples() const { return m_samples; }
  /// True while every batch had `Xq = X` (then H = G = K).
  bool same_inputs() const { return m_same; }

  /// `Xq^T Xq`, `N_in x N_in`, symmetric.
  const Matrix& H() const { return m_same ? m_K : m_H; }
  /// `Xq^T X`, `N_in x N_in` (not symmetric in general).
  const Matrix& G() const { return m_same ? m_K : m_G; }
  /// `X^T X`, `N_in x N_in`, symmetric.
  const Matrix& K() const { return m_K; }
  /// Column sums `X^T 1` and `Xq^T 1` (for bias correction).
  const Vector& sum_x() const { return m_sum_x; }
  const Vector& sum_xq() const { return m_same ? m_sum_x : m_sum_xq; }

  /// Features whose energy in Xq is negligible: `H_tt <= rel_tol * max_s H_ss` (all of them if
  /// H is zero). These are the "dead" inputs of ALGORITHMS.md §1(g).
  std::vector<bool> dead_inputs(double rel_tol = 1e-12) const {
    PATHQ_CHECK(rel_tol >= 0 && rel_tol < 1, "LayerStats::dead_inputs",
                "rel_tol must be in [0, 1), got ", rel_tol);
    const auto d = H().diagonal();
    const Acc cut = Acc(rel_tol) * (d.size() ? d.maxCoeff() : Acc(0));
    std::vector<bool> dead(static_cast<std::size_t>(m_n_in));
    for (Eigen::Index t = 0; t < m_n_in; ++t) dead[std::size_t(t)] = !(d(t) > cut);
    return dead;
  }

 private:
  template <class D>
  void check_batch(const char* name, const Eigen::MatrixBase<D>& A) const {
    PATHQ_CHECK(A.cols() == m_n_in, "LayerStats::add", name, " has ", A.cols(),
                " columns but the layer has N_in = ", m_n_in);
    detail::check_finite("LayerStats::add", name, A);
  }
  // S += A^T A on the lower triangle of tiles (a symmetric rank-k update at GEMM rate), mirrored.
  static void rank_update(Matrix& S, const Matrix& A) { detail::accumulate_products(S, A, A, true); }
  void split() {
    m_same = false;
    m_H = m_K;
    m_G = m_K;
    m_sum_xq = m_sum_x;
  }

  Eigen::Index m_n_in;
  Eigen::Index m_samples = 0;
  bool m_same = true;
  Matrix m_K, m_H, m_G;
  Vector m_sum_x, m_sum_xq;
};

}  // namespace pathq

#endif  // PATHQ_STATS_LAYER_STATS_HPP
