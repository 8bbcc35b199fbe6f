// LayerStats: the sufficient statistics H = Xq^T Xq, G = Xq^T X, K = X^T X of a layer, streamed.
#ifndef PATHQ_STATS_LAYER_STATS_HPP
#define PATHQ_STATS_LAYER_STATS_HPP

#include <algorithm>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/stats/block_products.hpp"

namespace pathq {

/// How `LayerStats` forms its products.
enum class StatsProducts {
  /// In the accumulation type throughout (double by default): the reference.
  Accumulation,
  /// Each batch rounded to float and multiplied in float over chunks of `LayerStats::float_chunk`
  /// rows, each chunk's product added in the accumulation type: float GEMM speed (about twice
  /// double's), with every entry of H, G, K within `gamma_k |X|^T |X|` (`k` the chunk,
  /// `gamma_k = k u / (1 - k u)`, `u = 2^-24`; `|Xq|^T |X|` etc. alike) plus the rounding of the
  /// inputs to float (`2u |X|^T |X|` more when they were not float already).
  FloatChunks
};

namespace distributed {
namespace detail {
struct StatsAccess;  // pathq/distributed/mpi.hpp: sums statistics across processes
}  // namespace detail
}  // namespace distributed

/// Streaming second-order statistics of a layer's inputs (docs/design.md#conventions).
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

  /// Rows per float product under `StatsProducts::FloatChunks`: `gamma_k` is then `7.6e-6`.
  static constexpr Eigen::Index float_chunk = 128;

  /// \param n_in number of input features, >= 1.
  /// \param products how the products are formed (see `StatsProducts`).
  explicit LayerStats(Eigen::Index n_in, StatsProducts products = StatsProducts::Accumulation)
      : m_n_in(n_in), m_products(products) {
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
    const Vector sums = X.template cast<Acc>().colwise().sum().transpose();
    m_sum_x += sums;
    if (!m_same) m_sum_xq += sums;
    if (m_products == StatsProducts::FloatChunks) {
      Eigen::MatrixXf storage;
      const Eigen::MatrixXf& Xf = as_float(X, storage);
      detail::accumulate_products_float(m_K, Xf, Xf, true, float_chunk);
      if (!m_same) {
        detail::accumulate_products_float(m_H, Xf, Xf, true, float_chunk);
        detail::accumulate_products_float(m_G, Xf, Xf, false, float_chunk);
      }
    } else {
      const Matrix Xd = X.template cast<Acc>();
      rank_update(m_K, Xd);
      if (!m_same) {
        rank_update(m_H, Xd);
        detail::accumulate_products(m_G, Xd, Xd, false);
      }
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
    if (m_products == StatsProducts::FloatChunks) {
      Eigen::MatrixXf storage, storage_q;
      const Eigen::MatrixXf& Xf = as_float(X, storage);
      const Eigen::MatrixXf& Xqf = as_float(Xq, storage_q);
      detail::accumulate_products_float(m_K, Xf, Xf, true, float_chunk);
      detail::accumulate_products_float(m_H, Xqf, Xqf, true, float_chunk);
      detail::accumulate_products_float(m_G, Xqf, Xf, false, float_chunk);
    } else {
      const Matrix Xd = X.template cast<Acc>();
      const Matrix Xqd = Xq.template cast<Acc>();
      rank_update(m_K, Xd);
      rank_update(m_H, Xqd);
      detail::accumulate_products(m_G, Xqd, Xd, false);
    }
    m_sum_x += X.template cast<Acc>().colwise().sum().transpose();
    m_sum_xq += Xq.template cast<Acc>().colwise().sum().transpose();
    m_samples += X.rows();
  }

  Eigen::Index n_in() const { return m_n_in; }
  /// How the products are formed.
  StatsProducts products() const { return m_products; }
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
  /// H is zero). These are the "dead" inputs of docs/algorithms.md#gpfq-pitfalls.
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
  // A float matrix itself, or a float copy in `storage`.
  template <class D>
  static const Eigen::MatrixXf& as_float(const Eigen::MatrixBase<D>& A, Eigen::MatrixXf& storage) {
    if constexpr (std::is_same<D, Eigen::MatrixXf>::value) {
      return A.derived();
    } else {
      storage = A.template cast<float>();
      return storage;
    }
  }
  // S += A^T A on the lower triangle of tiles (a symmetric rank-k update at GEMM rate), mirrored.
  static void rank_update(Matrix& S, const Matrix& A) { detail::accumulate_products(S, A, A, true); }
  void split() {
    m_same = false;
    m_H = m_K;
    m_G = m_K;
    m_sum_xq = m_sum_x;
  }

  friend struct pathq::distributed::detail::StatsAccess;

  Eigen::Index m_n_in;
  StatsProducts m_products = StatsProducts::Accumulation;
  Eigen::Index m_samples = 0;
  bool m_same = true;
  Matrix m_K, m_H, m_G;
  Vector m_sum_x, m_sum_xq;
};

namespace detail {

/// True when the engine's trace identities give a layer's error exactly (up to rounding): the
/// statistics say `Xq = X` (no Xq given apart, or `H`, `G` and `K` equal entry for entry) and
/// every feature flagged in `dead` has `H_tt = 0` exactly, so that its row of `H` is zero.
template <class Acc>
bool exact_trace_applies(const LayerStats<Acc>& stats, const std::vector<bool>& dead) {
  if (!stats.same_inputs() &&
      !((stats.G().array() == stats.H().array()).all() && (stats.K().array() == stats.H().array()).all()))
    return false;
  for (Eigen::Index t = 0; t < stats.n_in(); ++t)
    if (dead[std::size_t(t)] && stats.H()(t, t) != Acc(0)) return false;
  return true;
}

/// `sum_i a_i f(x_ij, y_ij)` per column j of two `n x N_out` matrices of any storage order, in
/// tiles of columns so that neither is read across its storage order for long.
template <class A, class X, class Y, class Fn>
Eigen::VectorXd weighted_column_sums(const A& a, const X& x, const Y& y, Fn f) {
  const Eigen::Index n = x.rows(), n_out = x.cols(), tile = 64;
  Eigen::VectorXd s = Eigen::VectorXd::Zero(n_out);
  for (Eigen::Index j0 = 0; j0 < n_out; j0 += tile) {
    const Eigen::Index j1 = std::min(n_out, j0 + tile);
    for (Eigen::Index i = 0; i < n; ++i) {
      const double ai = double(a(i));
      if (ai == 0) continue;
      for (Eigen::Index j = j0; j < j1; ++j) s(j) += ai * f(double(x(i, j)), double(y(i, j)));
    }
  }
  return s;
}

}  // namespace detail

}  // namespace pathq

#endif  // PATHQ_STATS_LAYER_STATS_HPP
