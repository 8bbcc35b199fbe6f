// GPFQ: greedy path-following quantization (Lybrand-Saab 2021; Zhang-Zhou-Saab 2023), Gram form.
#ifndef PATHQ_METHODS_GPFQ_HPP
#define PATHQ_METHODS_GPFQ_HPP

#include <chrono>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pathq/constraints/none.hpp"
#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/engine/feature_order.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

namespace detail {

/// `P A P^T` cast to `Scalar` (see `permute_square`), held in `storage`; `A` itself, without a
/// copy, when it is already in the engine's type and order.
template <class Scalar, class Acc>
const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& square_in_engine_order(
    const Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>& A, const std::vector<Eigen::Index>& perm,
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& storage) {
  if constexpr (std::is_same<Scalar, Acc>::value) {
    if (perm.empty()) return A;
  }
  storage = permute_square<Scalar>(A, perm);
  return storage;
}

}  // namespace detail

/// Options of GPFQ.
struct GpfqOptions {
  FeatureOrder order = FeatureOrder::Natural;  ///< natural, or decreasing ||Xq_t||^2
  double dead_tolerance = 1e-12;  ///< feature t is dead if H_tt <= tol * max H_ss; in [0, 1)
  EngineOptions engine;

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(dead_tolerance >= 0 && dead_tolerance < 1, "GpfqOptions",
                "dead_tolerance must be in [0, 1), got ", dead_tolerance);
    engine.validate("GpfqOptions");
  }
};

/// GPFQ with float inputs `X` and quantized inputs `Xq` (docs/algorithms.md#gpfq). For each neuron `w`,
/// walk the features and choose
///
///     q_t = R( <Xq_t, u_{t-1} + w_t X_t> / ||Xq_t||^2 ),   u_t = u_{t-1} + w_t X_t - q_t Xq_t,
///
/// so that `q_t` minimises `||u_{t-1} + w_t X_t - p Xq_t||` over the alphabet (with `Nearest`). In
/// Gram form (docs/algorithms.md#gpfq-gram-form)
/// `c_t = (sum_{s<=t} G_ts w_s - sum_{s<t} H_ts q_s) / H_tt`: the engine with `b = D^-1 tril(G) W`
/// and `F = D^-1 stril(H)`, `D = diag(H)`. A dead feature (`H_tt` relatively zero,
/// docs/algorithms.md#gpfq-pitfalls) gets `c_t = 0`; its `w_t X_t` stays in the residual for later
/// features to correct. On a midrise grid, which has no zero, the tie rule sends 0 to `+step/2`.
///
/// \see Lybrand & Saab, JMLR 22(156), 2021, Algorithm 1; Zhang, Zhou & Saab, SIMODS 5(2), 2023, eq. (3).
/// \tparam Scalar float or double: the engine's precision (statistics stay in their own).
/// \tparam Rounding `Nearest` (GPFQ) or `StochasticRounding` (stochastic GPFQ = SPFQ with r = 1).
/// \tparam Constraint `NoConstraint` or an accumulator constraint.
/// Complexity: `~N_in^2 N_out` multiply-adds in GEMM; memory `O(N_in^2 + N_in N_out)`.
template <class Scalar, class Rounding = Nearest, class Constraint = NoConstraint>
class Gpfq {
  static_assert(std::is_floating_point<Scalar>::value, "Gpfq computes in a floating-point type: use float or double.");

 public:
  using scalar_type = Scalar;
  using rounding_type = Rounding;
  using constraint_type = Constraint;

  explicit Gpfq(GpfqOptions options = {}, Rounding round = {}, Constraint constraint = {})
      : m_options(options), m_round(round), m_constraint(constraint) {
    m_options.validate();
  }

  const GpfqOptions& options() const { return m_options; }

  /// Quantizes `W` (`N_in x N_out`) onto `alphabet`, its step(s) picked from W.
  /// \throws invalid_argument on empty or non-finite W, or W's rows != stats.n_in(), or empty
  ///         statistics.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Alphabet<Scalar>& alphabet) const {
    detail::check_weights("gpfq", W);
    return quantize(W, stats, alphabet.resolve(W));
  }

  /// Quantizes `W` onto a resolved grid.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Grid<Scalar>& grid) const {
    using Index = Eigen::Index;
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    detail::check_weights("gpfq", W);
    detail::check_grid("gpfq", grid, W);
    PATHQ_CHECK(W.rows() == stats.n_in(), "gpfq", "W has ", W.rows(),
                " rows but the inputs have N_in = ", stats.n_in(), " columns");
    PATHQ_CHECK(stats.samples() > 0, "gpfq", "the statistics hold no samples");
    PATHQ_CHECK(grid.group_size == 0 || m_options.order == FeatureOrder::Natural, "gpfq",
                "per-group steps need the natural feature order");
    const auto start = std::chrono::steady_clock::now();

    const Index n = W.rows();
    const Index n_out = W.cols();
    const std::vector<bool> dead = stats.dead_inputs(m_options.dead_tolerance);
    const auto perm = feature_permutation(m_options.order, stats.H().diagonal());
    Matrix H_copy, G_copy;
    const Matrix& H = detail::square_in_engine_order<Scalar>(stats.H(), perm, H_copy);
    const Matrix& G = stats.same_inputs() ? H : detail::square_in_engine_order<Scalar>(stats.G(), perm, G_copy);
    const Matrix Wp = permute_rows<Scalar>(W, perm);

    // D^-1, with zeros for dead features.
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> inv(n);
    Index n_dead = 0;
    for (Index i = 0; i < n; ++i) {
      const bool is_dead = dead[std::size_t(perm.empty() ? i : perm[std::size_t(i)])];
      n_dead += is_dead;
      inv(i) = is_dead ? Scalar(0) : Scalar(1) / H(i, i);
    }
    // F = D^-1 stril(H), column by column (the scan reads only the strictly lower triangle).
    Matrix F(n, n);
    for (Index k = 0; k < n; ++k) {
      F.col(k).head(k + 1).setZero();
      F.col(k).tail(n - k - 1) = H.col(k).tail(n - k - 1).cwiseProduct(inv.tail(n - k - 1));
    }
    // b = D^-1 tril(G) W, one triangular product per chunk of neurons, on the engine's threads.
    // The chunk width is a multiple of 48, the widest row block of Eigen's product kernels
    // (SSE to AVX-512), so every neuron's b is bit for bit what one product over all neurons
    // gives, whatever the thread count.
    EngineOptions chunks = m_options.engine;
    chunks.panel_width = 96;
    RowMatrix<Scalar> B(n, n_out);
    for_each_panel(n_out, chunks, [&](Index c0, Index w) {
      auto Bp = B.middleCols(c0, w);
      Bp.noalias() = G.template triangularView<Eigen::Lower>() * Wp.middleCols(c0, w);
      for (Index i = 0; i < n; ++i) Bp.row(i) *= inv(i);
    });

    Result<Scalar> r;
    r.grid = grid;
    Codes codes;
    if (detail::exact_trace_applies(stats, dead)) {
      // The layer error from the pass itself (Xq = X, H = G = K). With c_t the value before
      // rounding, H_tt (c_t - q_t) = (tril(H) (w - q))_t, so
      //   ||X (w - q)||^2 = sum_t H_tt [(c_t - q_t)^2 - (c_t - w_t)^2]
      // (the scan's trace), and with b_t = (tril(H) w)_t / H_tt the target,
      //   ||X w||^2 = sum_t H_tt w_t (2 b_t - w_t).
      // A dead feature has H_tt = 0 and a zero row of H: it adds nothing to either.
      ScanTrace<Scalar> trace;
      trace.weight.resize(n);
      for (Index i = 0; i < n; ++i)
        trace.weight(i) = inv(i) == Scalar(0) ? 0.0 : double(stats.H()(perm.empty() ? i : perm[std::size_t(i)],
                                                                         perm.empty() ? i : perm[std::size_t(i)]));
      trace.offset = &Wp;
      r.info.column_reference = detail::weighted_column_sums(trace.weight, Wp, B,
                                                             [](double w, double b) { return w * (2.0 * b - w); });
      Grid<Scalar> g = grid;
      r.info.saturated = scan(F, B, g, perm, m_round, m_constraint, m_options.engine, codes, ScanGroups<Scalar>{}, trace);
      r.info.column_error = trace.column.cwiseMax(0.0);
      r.info.column_reference = r.info.column_reference.cwiseMax(0.0);
    } else {
      r.info.saturated = scan(F, B, grid, perm, m_round, m_constraint, m_options.engine, codes);
    }
    r.codes = unpermute_rows(codes, perm);
    r.info.dead_inputs = n_dead;
    r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

 private:
  GpfqOptions m_options;
  Rounding m_round;
  Constraint m_constraint;
};

/// One call: GPFQ of `W` on the statistics of `X` (float inputs) and `Xq` (quantized inputs).
template <class Scalar, class D1, class D2, class D3>
Result<Scalar> gpfq(const Eigen::MatrixBase<D1>& W, const Eigen::MatrixBase<D2>& X,
                    const Eigen::MatrixBase<D3>& Xq, const Alphabet<Scalar>& alphabet,
                    const GpfqOptions& options = {}) {
  PATHQ_CHECK(X.cols() == W.rows(), "gpfq", "X has ", X.cols(), " columns but W has ", W.rows(), " rows");
  return Gpfq<Scalar>(options).quantize(W, LayerStats<double>::from(X, Xq), alphabet);
}

}  // namespace pathq

#endif  // PATHQ_METHODS_GPFQ_HPP
