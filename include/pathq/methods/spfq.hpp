// SPFQ: stochastic path-following quantization (Zhang-Saab 2023), data alignment then phase 2.
#ifndef PATHQ_METHODS_SPFQ_HPP
#define PATHQ_METHODS_SPFQ_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "pathq/bounds/spfq.hpp"
#include "pathq/constraints/none.hpp"
#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/core/stochastic_operators.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/engine/feature_order.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/methods/gpfq.hpp"
#include "pathq/stats/layer_error.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// Options of SPFQ (and of the quantization + pruning framework built on it).
struct SpfqOptions {
  /// The alignment order meaning "r = infinity": a direct solve instead of sweeps.
  static constexpr int infinite_order = std::numeric_limits<int>::max();

  int order = 1;        ///< alignment order r >= 1, or `infinite_order`
  /// correction gain kappa in [0, 2]; 1 is SPFQ (docs/algorithms.md#stochastic-framework-operator-contract)
  double gain = 1.0;
  double ridge = 1e-6;  ///< r = infinity: solve (H + ridge * mean diag(H) I) W~ = G W; in (0, 1]
  /// Also compute `||XW - Xq W~||^2` (in the statistics' precision: three `N_in^2 N_out`
  /// products, more than the quantization itself, and W~ where order 1 does not need it; free
  /// when `Xq = X`). Off by default; the pathq tool turns it on.
  bool alignment_residual = false;
  FeatureOrder feature_order = FeatureOrder::Natural;  ///< natural, or decreasing ||Xq_t||^2
  double dead_tolerance = 1e-12;  ///< feature t is dead if H_tt <= tol * max H_ss; in [0, 1)
  EngineOptions engine;

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(order >= 1, "SpfqOptions", "order must be >= 1 (or SpfqOptions::infinite_order), got ", order);
    PATHQ_CHECK(std::isfinite(gain) && gain >= 0 && gain <= 2, "SpfqOptions",
                "gain must be in [0, 2], got ", gain);
    PATHQ_CHECK(std::isfinite(ridge) && ridge > 0 && ridge <= 1, "SpfqOptions",
                "ridge must be in (0, 1], got ", ridge);
    PATHQ_CHECK(dead_tolerance >= 0 && dead_tolerance < 1, "SpfqOptions",
                "dead_tolerance must be in [0, 1), got ", dead_tolerance);
    engine.validate("SpfqOptions");
  }
};

/// The alignment order as text: "inf" or the number.
inline std::string order_name(int order) {
  return order == SpfqOptions::infinite_order ? std::string("inf") : std::to_string(order);
}

/// Phase 1 of SPFQ: aligned weights `W~` with `Xq W~ ~ X W`, and how well they align.
template <class Scalar>
struct Alignment {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  Matrix W;                 ///< `W~`, `N_in x N_out`, rows in the layer's original order
  int order = 1;            ///< the order r it was computed with
  double residual = std::numeric_limits<double>::quiet_NaN();           ///< `||XW - Xq W~||_F^2`
  double relative_residual = std::numeric_limits<double>::quiet_NaN();  ///< the same over `||XW||_F^2`
  Info status = Info::Success;
  std::string message;
  double seconds = 0;
};

namespace detail {

/// Wraps a rounding operator and counts, per neuron, the steps it had to clip: a value outside
/// `[lo, hi]` for a stochastic operator (any clipping biases it), beyond half a step for a
/// deterministic one. Each neuron belongs to one engine panel, so the counts are race-free.
template <class Op>
struct ClipCounting {
  static constexpr bool is_stochastic = is_stochastic_operator<Op>::value;
  Op op;
  Eigen::Index* counts = nullptr;  ///< N_out counters

  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const {
    const Scalar slack = is_stochastic ? Scalar(0) : Scalar(0.5);
    if (u < Scalar(lo) - slack || u > Scalar(hi) + slack) ++counts[j];
    return op(u, lo, hi, t, j);
  }
};

/// Rows of `A` from engine order back to the original order (`perm` empty: A itself).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> unpermute_matrix_rows(
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& A, const std::vector<Eigen::Index>& perm) {
  if (perm.empty()) return A;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> out(A.rows(), A.cols());
  for (Eigen::Index i = 0; i < A.rows(); ++i) out.row(perm[std::size_t(i)]) = A.row(i);
  return out;
}

/// Chunks of neurons for the dense products: a fixed width (a multiple of 48, the widest row
/// block of Eigen's product kernels), so results do not depend on the thread count.
inline EngineOptions product_chunks(const EngineOptions& engine) {
  EngineOptions chunks = engine;
  chunks.panel_width = 96;
  return chunks;
}

}  // namespace detail

/// SPFQ with float inputs `X` and quantized inputs `Xq` (Zhang & Saab, arXiv 2309.10975;
/// docs/algorithms.md#spfq), and the stochastic quantization + pruning framework that generalises it
/// (H. Zhang & R. Saab, arXiv 2412.18184; docs/algorithms.md#stochastic-framework). Two phases per layer,
/// all neurons at once:
///
/// 1. **Alignment** of order r: weights `W~` with `Xq W~ ~ X W`, no quantization. Pass 1 is the
///    forward substitution `tril(H) W~ = tril(G) W`; passes 2..r are Gauss-Seidel sweeps on the
///    normal equations `H W~ = G W` (docs/algorithms.md#spfq-gram-form); `r = infinite_order` solves
///    `(H + eps I) W~ = G W` directly (LDLT in the statistics' precision, `eps = ridge *
///    mean diag(H)`). Dead features get `w~_t = 0`. When `Xq = X` the alignment is exact at any
///    order: `W~ = W` (dead rows zeroed).
/// 2. **Stochastic path following** with `Xq` alone:
///    `c_t = w~_t + kappa <Xq_t, u_{t-1}> / ||Xq_t||^2`, `q_t = T(c_t)`, `u_t = u_{t-1} + (w~_t - q_t) Xq_t`:
///    in Gram form the engine with `b = W~ + kappa D^-1 stril(H) W~` and `F = kappa D^-1 stril(H)`.
///    The total error is `XW - XqQ = (XW - Xq W~) + Xq (W~ - Q)`.
///
/// With r = 1 and kappa = 1 the two phases are exactly stochastic GPFQ, and pathq runs them as
/// `Gpfq<Scalar, Operator>`: same codes, draw for draw (streams keyed by (seed, neuron), counter =
/// the feature's original index). When a step rule picks the step it is applied to `W` for
/// r = 1 and to `W~` for r > 1, as in the authors' code. `info.saturated` counts the steps the
/// operator had to clip (for a stochastic operator: a value outside the grid's range, which
/// biases it); `info.extra` holds `order`, `gain`, `alignment_error`, `alignment_relative_error`
/// (when computed), `sparsity`, and for a stochastic operator `contract_deviation` (its D).
///
/// \see J. Zhang & R. Saab, "SPFQ: a stochastic algorithm and its error analysis for neural
///      network quantization", arXiv 2309.10975 (the two-phase algorithm and its bounds);
///      H. Zhang & R. Saab, arXiv 2412.18184 (the operator T and the gain kappa here are a
///      reconstruction of that framework, docs/algorithms.md#stochastic-framework-operator-contract).
/// \tparam Scalar float or double: the engine's precision.
/// \tparam Operator a rounding operator (see `Nearest`); `StochasticRounding{seed}` is SPFQ, and
///         the framework's operators are listed in core/stochastic_operators.hpp.
/// \tparam Constraint `NoConstraint` or an accumulator constraint.
/// Complexity: alignment `~r N_in^2 N_out` (r = inf: `N_in^3 / 3 + N_in^2 N_out`), phase 2
/// `~N_in^2 N_out`, the optional alignment residual `~3 N_in^2 N_out`, all multiply-adds in GEMM;
/// memory `O(N_in^2 + N_in N_out)`.
template <class Scalar, class Operator = StochasticRounding, class Constraint = NoConstraint>
class Spfq {
  static_assert(std::is_floating_point<Scalar>::value, "Spfq computes in a floating-point type: use float or double.");

 public:
  using scalar_type = Scalar;
  using operator_type = Operator;
  using constraint_type = Constraint;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  explicit Spfq(SpfqOptions options = {}, Operator op = {}, Constraint constraint = {})
      : m_options(options), m_op(op), m_constraint(constraint) {
    m_options.validate();
  }

  const SpfqOptions& options() const { return m_options; }
  const Operator& op() const { return m_op; }

  /// Quantizes `W` (`N_in x N_out`) onto `alphabet`, its step(s) picked from W (r = 1) or from
  /// the aligned W~ (r > 1).
  /// \throws invalid_argument on empty or non-finite W, W's rows != stats.n_in(), empty statistics.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Alphabet<Scalar>& alphabet) const {
    check_inputs(W, stats);
    if (m_options.order == 1) return quantize(W, stats, alphabet.resolve(W));
    const Alignment<Scalar> a = align(W, stats);
    return finish(phase_two(a, stats, alphabet.resolve(a.W)), &a, stats);
  }

  /// Quantizes `W` onto a resolved grid.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Grid<Scalar>& grid) const {
    check_inputs(W, stats);
    check_grid_for(grid, W);
    if (m_options.order == 1 && m_options.gain == 1.0) {
      // Stochastic GPFQ itself: b = D^-1 tril(G) W without forming W~.
      const auto start = std::chrono::steady_clock::now();
      std::vector<Eigen::Index> clipped(std::size_t(W.cols()), 0);
      GpfqOptions g;
      g.order = m_options.feature_order;
      g.dead_tolerance = m_options.dead_tolerance;
      g.engine = m_options.engine;
      const detail::ClipCounting<Operator> counting{m_op, clipped.data()};
      Result<Scalar> r = Gpfq<Scalar, detail::ClipCounting<Operator>, Constraint>(g, counting, m_constraint)
                             .quantize(W, stats, grid);
      r.info.saturated = 0;
      for (auto c : clipped) r.info.saturated += c;
      if (m_options.alignment_residual) {
        const Alignment<Scalar> a = align(W, stats);
        r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return finish(std::move(r), &a, stats);
      }
      return finish(std::move(r), nullptr, stats);
    }
    const Alignment<Scalar> a = align(W, stats);
    return finish(phase_two(a, stats, grid), &a, stats);
  }

  /// Phase 2 alone, on aligned weights from `align` (the same statistics): lets a caller try
  /// several grids or operators on one alignment.
  /// \throws invalid_argument if the shapes do not match.
  template <class Acc>
  Result<Scalar> quantize_aligned(const Alignment<Scalar>& aligned, const LayerStats<Acc>& stats,
                                  const Grid<Scalar>& grid) const {
    check_inputs(aligned.W, stats);
    check_grid_for(grid, aligned.W);
    return finish(phase_two(aligned, stats, grid), &aligned, stats);
  }

  /// Phase 1: the aligned weights `W~` of order `options().order` (see the class comment).
  /// The alignment residual is filled in when `options().alignment_residual`.
  /// \throws invalid_argument on bad W or statistics.
  template <class D, class Acc>
  Alignment<Scalar> align(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats) const {
    using Index = Eigen::Index;
    check_inputs(W, stats);
    const auto start = std::chrono::steady_clock::now();
    const Index n = W.rows();
    const auto perm = feature_permutation(m_options.feature_order, stats.H().diagonal());
    const std::vector<bool> dead = engine_dead(stats, perm);
    Matrix Wt = permute_rows<Scalar>(W, perm);
    Alignment<Scalar> a;
    a.order = m_options.order;
    if (stats.same_inputs()) {
      for (Index i = 0; i < n; ++i)
        if (dead[std::size_t(i)]) Wt.row(i).setZero();
    } else if (m_options.order == SpfqOptions::infinite_order) {
      solve_directly(stats, perm, dead, Wt, a);
    } else {
      sweep(stats, perm, dead, Wt);
    }
    a.W = detail::unpermute_matrix_rows(Wt, perm);
    const bool any_dead = std::find(dead.begin(), dead.end(), true) != dead.end();
    if (!a.W.allFinite()) {
      a.status = Info::Failed;
      a.message = "the aligned weights are not finite (raise SpfqOptions::ridge or lower the order)";
      a.W.setZero();
    } else if (stats.same_inputs() && !any_dead) {
      a.residual = a.relative_residual = 0;  // W~ = W exactly
    } else if (m_options.alignment_residual) {
      const LayerError e = layer_error(stats, W, a.W);
      a.residual = e.error();
      a.relative_residual = e.squared_relative();
    }
    a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return a;
  }

 private:
  template <class D, class Acc>
  void check_inputs(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats) const {
    detail::check_weights("spfq", W);
    PATHQ_CHECK(W.rows() == stats.n_in(), "spfq", "W has ", W.rows(),
                " rows but the inputs have N_in = ", stats.n_in(), " columns");
    PATHQ_CHECK(stats.samples() > 0, "spfq", "the statistics hold no samples");
  }

  template <class D>
  void check_grid_for(const Grid<Scalar>& grid, const Eigen::MatrixBase<D>& W) const {
    detail::check_grid("spfq", grid, W);
    check_operator_grid("spfq", grid);
    PATHQ_CHECK(grid.group_size == 0 || m_options.feature_order == FeatureOrder::Natural, "spfq",
                "per-group steps need the natural feature order");
  }

  template <class Acc>
  std::vector<bool> engine_dead(const LayerStats<Acc>& stats, const std::vector<Eigen::Index>& perm) const {
    const std::vector<bool> dead = stats.dead_inputs(m_options.dead_tolerance);
    std::vector<bool> out(dead.size());
    for (std::size_t i = 0; i < dead.size(); ++i) out[i] = dead[perm.empty() ? i : std::size_t(perm[i])];
    return out;
  }

  // Passes 1..r in the engine's precision, chunk by chunk of neurons (the columns are independent).
  template <class Acc>
  void sweep(const LayerStats<Acc>& stats, const std::vector<Eigen::Index>& perm, const std::vector<bool>& dead,
             Matrix& Wt) const {
    using Index = Eigen::Index;
    const Index n = Wt.rows();
    Matrix H = permute_square<Scalar>(stats.H(), perm);
    Matrix G = permute_square<Scalar>(stats.G(), perm);
    for (Index i = 0; i < n; ++i) {
      if (!dead[std::size_t(i)]) continue;  // w~_t = 0: row e_t of H, zero row of G
      H.row(i).setZero();
      H.col(i).setZero();
      H(i, i) = Scalar(1);
      G.row(i).setZero();
    }
    const int r = m_options.order;
    for_each_panel(Wt.cols(), detail::product_chunks(m_options.engine), [&](Index c0, Index w) {
      auto Wc = Wt.middleCols(c0, w);
      Matrix S;
      if (r >= 2) S.noalias() = G * Wc;
      Matrix R = G.template triangularView<Eigen::Lower>() * Wc;
      H.template triangularView<Eigen::Lower>().solveInPlace(R);
      for (int pass = 2; pass <= r; ++pass) {
        Matrix T = S;
        T.noalias() -= H.template triangularView<Eigen::StrictlyUpper>() * R;
        H.template triangularView<Eigen::Lower>().solveInPlace(T);
        R.swap(T);
      }
      Wc = R;
    });
  }

  // r = infinity: (H + eps I) W~ = G W by LDLT, in the statistics' precision.
  template <class Acc>
  void solve_directly(const LayerStats<Acc>& stats, const std::vector<Eigen::Index>& perm,
                      const std::vector<bool>& dead, Matrix& Wt, Alignment<Scalar>& a) const {
    using Index = Eigen::Index;
    using AccMatrix = Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>;
    const Index n = Wt.rows();
    AccMatrix A = permute_square<Acc>(stats.H(), perm);
    AccMatrix G = permute_square<Acc>(stats.G(), perm);
    double live_sum = 0;
    Index live = 0;
    for (Index i = 0; i < n; ++i)
      if (!dead[std::size_t(i)]) {
        live_sum += double(A(i, i));
        ++live;
      }
    const Acc eps = Acc(m_options.ridge * (live > 0 ? live_sum / double(live) : 1.0));
    for (Index i = 0; i < n; ++i) {
      if (dead[std::size_t(i)]) {
        A.row(i).setZero();
        A.col(i).setZero();
        A(i, i) = Acc(1);
        G.row(i).setZero();
      } else {
        A(i, i) += eps;
      }
    }
    const Eigen::LDLT<AccMatrix> ldlt(A);
    if (ldlt.info() != Eigen::Success) {
      a.status = Info::Failed;
      a.message = "the LDLT factorization of H + ridge I failed";
      Wt.setZero();
      return;
    }
    for_each_panel(Wt.cols(), detail::product_chunks(m_options.engine), [&](Index c0, Index w) {
      const AccMatrix rhs = G * Wt.middleCols(c0, w).template cast<Acc>();
      Wt.middleCols(c0, w) = ldlt.solve(rhs).template cast<Scalar>();
    });
  }

  // Phase 2 on the engine: b = W~ + kappa D^-1 stril(H) W~, F = kappa D^-1 stril(H).
  template <class Acc>
  Result<Scalar> phase_two(const Alignment<Scalar>& a, const LayerStats<Acc>& stats, const Grid<Scalar>& grid) const {
    using Index = Eigen::Index;
    const auto start = std::chrono::steady_clock::now();
    const Index n = a.W.rows();
    const Index n_out = a.W.cols();
    Result<Scalar> r;
    r.grid = grid;
    if (a.status == Info::Failed) {
      r.codes = Codes::Zero(n, n_out);
      r.info.status = Info::Failed;
      r.info.message = a.message;
      return r;
    }
    const auto perm = feature_permutation(m_options.feature_order, stats.H().diagonal());
    const std::vector<bool> dead = engine_dead(stats, perm);
    const Matrix H = permute_square<Scalar>(stats.H(), perm);
    const Matrix Wt = permute_rows<Scalar>(a.W, perm);
    const Scalar kappa = Scalar(m_options.gain);
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> inv(n);
    Index n_dead = 0;
    for (Index i = 0; i < n; ++i) {
      n_dead += dead[std::size_t(i)];
      inv(i) = dead[std::size_t(i)] ? Scalar(0) : kappa / H(i, i);
    }
    Matrix F(n, n);
    for (Index k = 0; k < n; ++k) {
      F.col(k).head(k + 1).setZero();
      F.col(k).tail(n - k - 1) = H.col(k).tail(n - k - 1).cwiseProduct(inv.tail(n - k - 1));
    }
    // b_i = w~_i + (kappa / H_ii) (tril(H) W~ - H_ii w~)_i, chunk by chunk of neurons.
    RowMatrix<Scalar> B(n, n_out);
    for_each_panel(n_out, detail::product_chunks(m_options.engine), [&](Index c0, Index w) {
      auto Bp = B.middleCols(c0, w);
      Bp.noalias() = H.template triangularView<Eigen::Lower>() * Wt.middleCols(c0, w);
      for (Index i = 0; i < n; ++i)
        Bp.row(i) = Wt.row(i).segment(c0, w) + inv(i) * (Bp.row(i) - H(i, i) * Wt.row(i).segment(c0, w));
    });
    std::vector<Eigen::Index> clipped(std::size_t(n_out), 0);
    const detail::ClipCounting<Operator> counting{m_op, clipped.data()};
    Codes codes;
    scan(F, B, grid, perm, counting, m_constraint, m_options.engine, codes);
    r.codes = unpermute_rows(codes, perm);
    for (auto c : clipped) r.info.saturated += c;
    r.info.dead_inputs = n_dead;
    r.info.seconds = a.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  template <class Acc>
  Result<Scalar> finish(Result<Scalar> r, const Alignment<Scalar>* a, const LayerStats<Acc>&) const {
    r.info.extra["order"] = m_options.order == SpfqOptions::infinite_order
                                ? std::numeric_limits<double>::infinity()
                                : double(m_options.order);
    r.info.extra["gain"] = m_options.gain;
    if (a && !std::isnan(a->residual)) {
      r.info.extra["alignment_error"] = a->residual;
      r.info.extra["alignment_relative_error"] = a->relative_residual;
    }
    if (a && a->status != Info::Success && r.info.status == Info::Success) {
      r.info.status = a->status;
      r.info.message = a->message;
    }
    r.info.extra["sparsity"] = r.sparsity();
    if (is_stochastic_operator<Operator>::value) r.info.extra["contract_deviation"] = contract_deviation(r.grid);
    return r;
  }

  SpfqOptions m_options;
  Operator m_op;
  Constraint m_constraint;
};

/// The number of levels per side K that keeps SPFQ's stochastic rounding from clipping with high
/// probability, from the finite-alphabet rule of docs/algorithms.md#spfq-error-bounds applied to
/// aligned weights `W~` and the statistics' `||Xq_t||` (live features): see
/// `bounds::spfq_levels_for_no_clipping`.
/// \param W_aligned `W~` (from `Spfq::align`; `W` itself when `Xq = X`). \param delta the step, > 0.
/// \param p the exponent of the failure probability, > 0. \param N the width in the rule's
///        `log N` (0: `max(N_in, N_out)`).
template <class D, class Acc>
int spfq_levels_for_no_clipping(const Eigen::MatrixBase<D>& W_aligned, const LayerStats<Acc>& stats,
                                double delta, double p, double N = 0) {
  detail::check_weights("spfq_levels_for_no_clipping", W_aligned);
  PATHQ_CHECK(W_aligned.rows() == stats.n_in(), "spfq_levels_for_no_clipping", "W~ has ", W_aligned.rows(),
              " rows but the inputs have N_in = ", stats.n_in());
  const std::vector<bool> dead = stats.dead_inputs();
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (Eigen::Index t = 0; t < stats.n_in(); ++t) {
    if (dead[std::size_t(t)]) continue;
    const double norm = std::sqrt(double(stats.H()(t, t)));
    lo = std::min(lo, norm);
    hi = std::max(hi, norm);
  }
  if (hi == 0) lo = hi = 1;  // every feature dead: nothing is corrected
  const double width = N > 0 ? N : double(std::max(W_aligned.rows(), W_aligned.cols()));
  return bounds::spfq_levels_for_no_clipping(double(W_aligned.cwiseAbs().maxCoeff()), delta, p, width, hi, lo);
}

/// One call: SPFQ of `W` with stochastic rounding keyed by `seed`, on the statistics of `X` and `Xq`.
template <class Scalar, class D1, class D2, class D3>
Result<Scalar> spfq(const Eigen::MatrixBase<D1>& W, const Eigen::MatrixBase<D2>& X,
                    const Eigen::MatrixBase<D3>& Xq, const Alphabet<Scalar>& alphabet, std::uint64_t seed,
                    const SpfqOptions& options = {}) {
  PATHQ_CHECK(X.cols() == W.rows(), "spfq", "X has ", X.cols(), " columns but W has ", W.rows(), " rows");
  return Spfq<Scalar>(options, StochasticRounding(seed)).quantize(W, LayerStats<double>::from(X, Xq), alphabet);
}

}  // namespace pathq

#endif  // PATHQ_METHODS_SPFQ_HPP
