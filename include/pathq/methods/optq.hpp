// OPTQ/GPTQ: layer-wise quantization with second-order (OBS) error feedback, on the engine.
#ifndef PATHQ_METHODS_OPTQ_HPP
#define PATHQ_METHODS_OPTQ_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pathq/constraints/none.hpp"
#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/detail/blocked_cholesky.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/engine/feature_order.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/methods/msq.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// What OPTQ's error feedback minimises when the layer's inputs in the partly quantized network
/// (`Xq`) differ from those in the float network (`X`); with `Xq = X` the two coincide.
enum class OptqObjective {
  /// `||X W - Xq Q||_F^2`, the layer's error against the float network (the default): OPTQ runs
  /// on the least-squares target `W* = W + (H + lambda I)^-1 (G - H) W` instead of W, which also
  /// corrects the error that reaches the layer through Xq, as GPFQ does.
  FloatOutputs,
  /// `||Xq (W - Q)||_F^2`, classic OPTQ/GPTQ: only `H = Xq^T Xq` is used and X is ignored.
  QuantizedInputs,
};

/// Options of OPTQ.
struct OptqOptions {
  double damping = 0.01;        ///< percdamp: `lambda = damping * mean(diag H)`; finite, >= 0
  int max_damping_retries = 4;  ///< on a failed factorization, retry at 10x damping; in [0, 30]
  FeatureOrder order = FeatureOrder::Natural;  ///< `DescendingEnergy` is GPTQ's act-order
  /// Per-group grids (an alphabet with a group size): fitted to the original W before the pass
  /// (true, GPTQ's `--static-groups`) or refitted from the error-updated weights as the pass
  /// reaches each group (false, GPTQ's default; natural order only).
  bool static_groups = false;
  double dead_tolerance = 1e-12;  ///< feature t is dead if H_tt <= tol * max H_ss; in [0, 1)
  /// What the error feedback minimises when `Xq != X` (see `OptqObjective`).
  OptqObjective objective = OptqObjective::FloatOutputs;
  EngineOptions engine;           ///< block_size is GPTQ's blocksize (128)

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(std::isfinite(damping) && damping >= 0, "OptqOptions", "damping must be finite and >= 0, got ",
                damping);
    PATHQ_CHECK(max_damping_retries >= 0 && max_damping_retries <= 30, "OptqOptions",
                "max_damping_retries must be in [0, 30], got ", max_damping_retries);
    PATHQ_CHECK(dead_tolerance >= 0 && dead_tolerance < 1, "OptqOptions", "dead_tolerance must be in [0, 1), got ",
                dead_tolerance);
    PATHQ_CHECK(objective == OptqObjective::FloatOutputs || objective == OptqObjective::QuantizedInputs,
                "OptqOptions", "objective must be OptqObjective::FloatOutputs or OptqObjective::QuantizedInputs, got ",
                static_cast<int>(objective));
    engine.validate("OptqOptions");
  }

  /// The relative damping of attempt `k` (0: the first): `damping * 10^k`, or `1e-6 * 10^(k-1)`
  /// for the retries when `damping` is 0.
  double damping_at(int k) const {
    if (k == 0) return damping;
    return (damping > 0 ? damping : 1e-7) * std::pow(10.0, k);
  }
};

namespace detail {

/// OPTQ's feedback matrix in engine order: `F = D stril(L)` with `H' + lambda I = L^T L`,
/// L lower triangular (the "UL" factorization, computed as the Cholesky factor of the matrix
/// with rows and columns reversed) and `D = diag(1/L_tt)`.
template <class Scalar>
struct OptqFeedback {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> F;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> inv_pivot;  ///< `1 / L_ii^2` in engine order: `D^2`
  bool ok = false;
  double damping = 0;  ///< relative damping of the successful (or last) attempt
  double lambda = 0;   ///< absolute damping
  int retries = 0;
};

/// Factors `H'` (H in engine order `perm`, dead features replaced by a unit diagonal) damped by
/// `lambda = damping * mean(diag H')`, retrying at 10x damping while a pivot is not positive,
/// not finite, or below `max(lambda / 2, n eps (H'_kk + lambda))`: in exact arithmetic every pivot
/// of `H' + lambda I` is at least `lambda`, so a smaller one means rounding has swamped the damping.
template <class Scalar, class Acc>
OptqFeedback<Scalar> optq_feedback(const Eigen::Matrix<Acc, Eigen::Dynamic, Eigen::Dynamic>& H,
                                   const std::vector<Eigen::Index>& perm, const std::vector<bool>& dead,
                                   const OptqOptions& options) {
  using Index = Eigen::Index;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Index n = H.rows();
  // Reversed engine order: row r of the factored matrix is engine row n - 1 - r.
  std::vector<Index> src(static_cast<std::size_t>(n));
  std::vector<char> dead_r(static_cast<std::size_t>(n));
  double mean_diag = 0;
  for (Index r = 0; r < n; ++r) {
    const Index i = n - 1 - r;
    src[std::size_t(r)] = perm.empty() ? i : perm[std::size_t(i)];
    dead_r[std::size_t(r)] = dead[std::size_t(src[std::size_t(r)])];
    mean_diag += dead_r[std::size_t(r)] ? 1.0 : double(H(src[std::size_t(r)], src[std::size_t(r)]));
  }
  mean_diag /= double(n);

  OptqFeedback<Scalar> out;
  Matrix A = Matrix::Zero(n, n);  // the lower triangle is filled below; the upper one is scratch
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> diag(n);
  const double eps = double(std::numeric_limits<Scalar>::epsilon());
  for (int k = 0; k <= options.max_damping_retries; ++k) {
    out.retries = k;
    out.damping = options.damping_at(k);
    out.lambda = out.damping * mean_diag;
    for (Index c = 0; c < n; ++c) {
      const bool dc = dead_r[std::size_t(c)];
      for (Index r = c; r < n; ++r)
        A(r, c) = (dc || dead_r[std::size_t(r)]) ? Scalar(r == c ? 1 : 0)
                                                  : Scalar(H(src[std::size_t(r)], src[std::size_t(c)]));
      A(c, c) = Scalar(double(A(c, c)) + out.lambda);
      diag(c) = A(c, c);
    }
    bool ok = blocked_cholesky(A);
    for (Index c = 0; ok && c < n; ++c) {
      const double pivot = double(A(c, c)) * double(A(c, c));
      ok = std::isfinite(pivot) && pivot > 0 &&
           pivot >= std::max(out.lambda / 2, double(n) * eps * double(diag(c)));
    }
    if (ok) {
      out.ok = true;
      break;
    }
  }
  if (!out.ok) return out;

  // F(i, j) = L(i, j) / L(i, i) for i > j, with L(i, j) = A(n-1-j, n-1-i); tiled transposition.
  out.inv_pivot.resize(n);
  for (Index i = 0; i < n; ++i) out.inv_pivot(i) = Scalar(1) / (A(n - 1 - i, n - 1 - i) * A(n - 1 - i, n - 1 - i));
  out.F = Matrix::Zero(n, n);
  const Index tile = 64;
  for (Index c0 = 0; c0 < n; c0 += tile) {
    const Index c1 = std::min(n, c0 + tile);
    for (Index r0 = c0; r0 < n; r0 += tile) {
      const Index r1 = std::min(n, r0 + tile);
      for (Index c = c0; c < c1; ++c) {
        const Scalar inv = Scalar(1) / A(c, c);
        for (Index r = std::max(r0, c + 1); r < r1; ++r) out.F(n - 1 - c, n - 1 - r) = A(r, c) * inv;
      }
    }
  }
  return out;
}

/// True when the statistics say `Xq = X`: every batch came without Xq, or `G = H` entry for
/// entry (Xq given apart but equal to X; `G` and `H` are then accumulated alike). Then the
/// objectives of `OptqObjective` coincide.
template <class Acc>
bool optq_same_inputs(const LayerStats<Acc>& stats) {
  return stats.same_inputs() || (stats.G().array() == stats.H().array()).all();
}

/// The float-outputs objective's change of OPTQ's engine targets: `B += D L (W* - W)`, in engine
/// order, with `W* - W = (H' + lambda I)^-1 R` and `R = G W - H' W`, where H' is H with the dead
/// features' rows and columns removed (OPTQ's repair) and R's dead rows are zero: the live
/// features' target is the damped least-squares fit
/// `argmin_V ||X W - Xq_live V||^2 + lambda ||V - W_live||^2` (a dead feature's weight in X W is
/// carried over to the live features; its own target is W's, then zeroed as in classic OPTQ).
/// From `H' + lambda I = L^T L` and `D L = I + F`: `D L (H' + lambda I)^-1 R = D^2 (I + F)^-T R`,
/// one product `M W` (`M = P (G - H') P^T`, `n^2 N_out` multiply-adds) and one unit triangular
/// solve (`n^2 N_out / 2`) per panel of neurons, on the factor OPTQ already has.
template <class Scalar, class Acc, class D>
void optq_add_output_correction(const LayerStats<Acc>& stats, const Eigen::MatrixBase<D>& W,
                                const std::vector<Eigen::Index>& perm, const std::vector<bool>& dead,
                                const OptqFeedback<Scalar>& fb, const EngineOptions& engine, RowMatrix<Scalar>& B) {
  using Index = Eigen::Index;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Index n = W.rows();
  const auto& G = stats.G();
  const auto& H = stats.H();
  auto src = [&perm](Index i) { return perm.empty() ? i : perm[std::size_t(i)]; };
  // M(i, k) = G(s_i, s_k) - H(s_i, s_k) (the H term only for a live s_k), zero rows for a dead
  // s_i; the difference is taken in the accumulation type, then rounded once.
  Matrix M(n, n);
  for (Index k = 0; k < n; ++k) {
    const Index sk = src(k);
    const bool dk = dead[std::size_t(sk)];
    for (Index i = 0; i < n; ++i) {
      const Index si = src(i);
      M(i, k) = dead[std::size_t(si)] ? Scalar(0) : Scalar(dk ? G(si, sk) : G(si, sk) - H(si, sk));
    }
  }
  const Matrix Wp = permute_rows<Scalar>(W, perm);  // dead rows kept: X W needs them
  for_each_panel(W.cols(), engine, [&](Index c0, Index w) {
    Matrix R(n, w);
    R.noalias() = M * Wp.middleCols(c0, w);
    fb.F.transpose().template triangularView<Eigen::UnitUpper>().solveInPlace(R);
    B.middleCols(c0, w) += fb.inv_pivot.asDiagonal() * R;
  });
}

}  // namespace detail

/// OPTQ/GPTQ (docs/algorithms.md#optq): for each input feature in turn (the natural order, or by
/// decreasing `H_tt` with act-order), round the current weights, then spread the rounding error
/// over the features not yet quantized by the optimal (OBS) update from `H^-1`:
///
///     q_t = R(w'_t),   w'_s -= U_ts (w'_t - q_t) / U_tt  (s > t),   H^-1 = U^T U (U upper).
///
/// On the engine this is `x = b - F q` with `b = D L W` and `F = D stril(L)`, where
/// `H + lambda I = L^T L` (L lower: the factor of H itself in reversed order, so `H^-1` is never
/// formed) and `D = diag(1/L_tt) = diag(U_tt)`: the same codes as the lazy-batch Cholesky form
/// (Frantar et al., Algorithm 1) and the naive algorithm that inverts `H_{t:,t:}` at every step.
///
/// Objective (`OptqOptions::objective`). With `H = Xq^T Xq`, `G = Xq^T X` and the least-squares
/// target `W* = H^-1 G W`, the residual `X W - Xq W*` is orthogonal to the range of Xq, so
///
///     ||X W - Xq Q||_F^2 = ||X W - Xq W*||_F^2 + ||Xq (W* - Q)||_F^2   for every Q,
///
/// and OPTQ run on W* minimises the layer's error against the float network, like GPFQ.
/// - `FloatOutputs` (default) does so with the damping of the factorization:
///   `W* = W + (H + lambda I)^-1 (G - H) W = (H + lambda I)^-1 (G + lambda I) W`, the minimiser of
///   `||X W - Xq V||^2 + lambda ||V - W||^2`. Then damped OPTQ on W* minimises
///   `||X W - Xq Q||^2 + lambda ||W - Q||^2` (up to a constant it is `(Q - W*)^T (H + lambda I) (Q - W*)`),
///   as damped classic OPTQ minimises `||Xq (W - Q)||^2 + lambda ||W - Q||^2`, and `W* = W` exactly
///   when `Xq = X` (`(H + lambda I)^-1 G W` would instead shrink W when `G = H`). When the
///   statistics say `Xq = X` (no Xq was ever given apart, or `G = H` entry for entry) nothing
///   extra is computed; otherwise W* costs one product `(G - H) W` and one unit triangular solve
///   with the factor already computed, no second factorization (`~1.5 n^2 N_out` multiply-adds).
///   Dead features keep their columns of G: their share of `X W` is carried over to the live
///   features; their own weights are zeroed as in classic OPTQ. `info.extra["objective_float_outputs"]`
///   is 1.
/// - `QuantizedInputs`: classic OPTQ/GPTQ, `||Xq (W - Q)||_F^2` with W itself (X is ignored);
///   `info.extra["objective_float_outputs"]` is 0.
/// Either way the grid (steps, zero points) is fitted to the original W, as for every method;
/// dynamic groups are refitted from the error-updated weights, which start from W*. An
/// accumulator constraint sees the values of the pass (from W*), but its soft threshold is the
/// one it was built with, from the original W: the threshold shares the grid's W, W* differs
/// from W only by the correction of the upstream error, and the hard constraint holds whatever
/// the target. A failed factorization falls back to round-to-nearest of W.
///
/// - Dead features (`H_tt <= dead_tolerance * max H_ss`) get a unit diagonal and zero weights
///   before damping, as in GPTQ: they are rounded from 0 and take no part in the feedback.
/// - Damping `lambda = damping * mean(diag H)` (after the dead features' repair). If the
///   factorization fails, it is retried at 10x the damping up to `max_damping_retries` times:
///   `info.status = NumericalIssue` with a message; `info.extra["damping"]` (relative) and
///   `["damping_lambda"]` (absolute) record what was used. If every attempt fails the codes
///   are plain round-to-nearest and the status is `Failed`.
/// - Grids: any grid from an `Alphabet` (symmetric, even, midrise, asymmetric min-max), per column
///   or per group. Static grids, including per-group grids with act-order, come from the original
///   W. With `static_groups = false` an alphabet with a group size is refitted at each group start
///   from the error-updated weights `w'` of the group (GPTQ's default): natural order only, and a
///   per-column rule (column radius, min-max or fixed).
///
/// \see E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh, "OPTQ: Accurate Quantization for
///      Generative Pre-trained Transformers", ICLR 2023 (arXiv 2210.17323), Algorithm 1.
/// \tparam Scalar float or double: the precision of the factorization and the engine.
/// \tparam Rounding `Nearest` (GPTQ) or `StochasticRounding`.
/// \tparam Constraint `NoConstraint` or an accumulator constraint (it sees the values `w'_t`).
/// Complexity: `n^3/3` (factorization) `+ n^2 N_out` multiply-adds (`n = N_in`), in GEMM-like
/// kernels, plus `1.5 n^2 N_out` for W* when `Xq != X` under `FloatOutputs`; dynamic groups of
/// size g add `n g N_out / 2`. Memory `O(N_in^2 + N_in N_out)`.
template <class Scalar, class Rounding = Nearest, class Constraint = NoConstraint>
class Optq {
  static_assert(std::is_floating_point<Scalar>::value, "Optq computes in a floating-point type: use float or double.");

 public:
  using scalar_type = Scalar;
  using rounding_type = Rounding;
  using constraint_type = Constraint;

  explicit Optq(OptqOptions options = {}, Rounding round = {}, Constraint constraint = {})
      : m_options(options), m_round(round), m_constraint(constraint) {
    m_options.validate();
  }

  const OptqOptions& options() const { return m_options; }

  /// Quantizes `W` (`N_in x N_out`) onto `alphabet`: its grid is fitted to W, or, for per-group
  /// alphabets without `static_groups`, refitted group by group during the pass.
  /// \throws invalid_argument on empty or non-finite W, W's rows != stats.n_in(), empty
  ///         statistics, or dynamic groups with act-order or with the layer radius rule.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Alphabet<Scalar>& alphabet) const {
    detail::check_weights("optq", W);
    if (alphabet.group_size() == 0 || m_options.static_groups) return run(W, stats, alphabet.resolve(W), nullptr);
    PATHQ_CHECK(m_options.order == FeatureOrder::Natural, "optq",
                "dynamic groups follow the natural feature order: with act-order set static_groups = true");
    PATHQ_CHECK(alphabet.rule().kind != StepRule::Kind::LayerRadius, "optq",
                "dynamic groups refit each column on its own: use StepRule::column_radius (or static_groups)");
    return run(W, stats, alphabet.resolve(W), &alphabet);
  }

  /// Quantizes `W` onto a resolved grid (per column, or per group in the original feature order,
  /// with any feature order).
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                          const Grid<Scalar>& grid) const {
    return run(W, stats, grid, nullptr);
  }

 private:
  template <class D, class Acc>
  Result<Scalar> run(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, Grid<Scalar> grid,
                     const Alphabet<Scalar>* refit) const {
    using Index = Eigen::Index;
    using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
    using Vector = typename ScanGroups<Scalar>::Vector;
    detail::check_weights("optq", W);
    detail::check_grid("optq", grid, W);
    PATHQ_CHECK(W.rows() == stats.n_in(), "optq", "W has ", W.rows(), " rows but the inputs have N_in = ",
                stats.n_in(), " columns");
    PATHQ_CHECK(stats.samples() > 0, "optq", "the statistics hold no samples");
    const auto start = std::chrono::steady_clock::now();

    const Index n = W.rows();
    const Index n_out = W.cols();
    const std::vector<bool> dead = stats.dead_inputs(m_options.dead_tolerance);
    const auto perm = feature_permutation(m_options.order, stats.H().diagonal());
    auto fb = detail::optq_feedback<Scalar>(stats.H(), perm, dead, m_options);

    const bool float_outputs = m_options.objective == OptqObjective::FloatOutputs;

    Result<Scalar> r;
    r.info.dead_inputs = Index(std::count(dead.begin(), dead.end(), true));
    r.info.extra["damping"] = fb.damping;
    r.info.extra["damping_lambda"] = fb.lambda;
    r.info.extra["damping_retries"] = fb.retries;
    r.info.extra["objective_float_outputs"] = float_outputs ? 1.0 : 0.0;
    if (!fb.ok) {
      r = msq(W, grid, m_round);
      r.info.status = Info::Failed;
      r.info.message = detail::concat("the Cholesky factorization of H + lambda I failed at every damping from ",
                                      m_options.damping, " to ", fb.damping,
                                      " (relative to mean(diag H)); the codes are round-to-nearest");
      r.info.dead_inputs = Index(std::count(dead.begin(), dead.end(), true));
      r.info.extra["damping"] = fb.damping;
      r.info.extra["damping_lambda"] = fb.lambda;
      r.info.extra["damping_retries"] = fb.retries;
      r.info.extra["objective_float_outputs"] = float_outputs ? 1.0 : 0.0;
      r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return r;
    }
    if (fb.retries > 0) {
      r.info.status = Info::NumericalIssue;
      r.info.message = detail::concat("H + lambda I was not numerically positive definite at damping ",
                                      m_options.damping, "; raised to ", fb.damping, " (relative to mean(diag H))");
    }
    const Matrix& F = fb.F;

    // b = D L W' = W' + F W' (D L has a unit diagonal), one triangular product per panel.
    Matrix Wp = permute_rows<Scalar>(W, perm);
    for (Index i = 0; i < n; ++i)
      if (dead[std::size_t(perm.empty() ? i : perm[std::size_t(i)])]) Wp.row(i).setZero();
    RowMatrix<Scalar> B(n, n_out);
    for_each_panel(n_out, m_options.engine, [&](Index c0, Index w) {
      auto Bp = B.middleCols(c0, w);
      Bp = Wp.middleCols(c0, w);
      Bp.noalias() += F.template triangularView<Eigen::StrictlyLower>() * Wp.middleCols(c0, w);
    });
    // The float-outputs objective: the targets of W* instead of W (nothing to do when Xq = X).
    if (float_outputs && !detail::optq_same_inputs(stats))
      detail::optq_add_output_correction(stats, W, perm, dead, fb, m_options.engine, B);

    ScanGroups<Scalar> groups;
    if (refit) {
      // Group k's error-updated weights w' from the engine's values y of its rows:
      // y = (I + F_GG) w'_G (see the class comment), one unit-lower triangular solve.
      const Index g = grid.group_size;
      groups.refit = [&F, refit, g](Index k, Index, const Eigen::Ref<const RowMatrix<Scalar>>& rows,
                                    Eigen::Ref<Vector> step, Eigen::Ref<Vector> zero) {
        RowMatrix<Scalar> V = rows;
        F.block(k * g, k * g, V.rows(), V.rows()).template triangularView<Eigen::UnitLower>().solveInPlace(V);
        if (!V.allFinite()) {  // cannot happen with finite inputs; never throw on a worker thread
          step.setOnes();
          zero.setConstant(refit->zero_offset());
          return;
        }
        const auto f = refit->fit(V, "optq");
        step = f.step.transpose();
        zero = f.zero.transpose();
      };
    } else if (grid.group_size > 0 && !perm.empty()) {
      groups.row_group.resize(std::size_t(n));
      for (Index i = 0; i < n; ++i) groups.row_group[std::size_t(i)] = grid.group_of(perm[std::size_t(i)]);
    }

    Codes codes;
    if (detail::exact_trace_applies(stats, dead)) {
      // The layer error from the pass itself (Xq = X). With H' + lambda I = L^T L, the values
      // before rounding c and the target b = D L W' (W' = W with the dead rows zeroed):
      // c - q = D L (W' - Q) row by row, so with d = W' - Q
      //   d^T (H' + lambda I) d = sum_t L_tt^2 (c_t - q_t)^2   (the scan's trace, L_tt^2 = 1 / D_tt^2),
      //   W'^T (H' + lambda I) W' = sum_t L_tt^2 b_t^2,
      // and the damping and the dead features' unit diagonal are taken off again. A dead
      // feature has H_tt = 0 and a zero row of H, so it adds nothing to ||X (W - Q)||^2.
      ScanTrace<Scalar> trace;
      trace.weight = fb.inv_pivot.template cast<double>().cwiseInverse();
      Eigen::VectorXd off_diagonal(n);  // what H' + lambda I adds to H on the diagonal
      for (Index i = 0; i < n; ++i)
        off_diagonal(i) = fb.lambda + (dead[std::size_t(perm.empty() ? i : perm[std::size_t(i)])] ? 1.0 : 0.0);
      r.info.column_reference =
          detail::weighted_column_sums(trace.weight, B, B, [](double b, double) { return b * b; }) -
          detail::weighted_column_sums(off_diagonal, Wp, Wp, [](double w, double) { return w * w; });
      r.info.saturated = scan(F, B, grid, perm, m_round, m_constraint, m_options.engine, codes, groups, trace);
      r.info.column_error =
          (trace.column - detail::weighted_column_sums(off_diagonal, Wp, B, [](double w, double q) {
             return (w - q) * (w - q);
           })).cwiseMax(0.0);
      r.info.column_reference = r.info.column_reference.cwiseMax(0.0);
    } else {
      r.info.saturated = scan(F, B, grid, perm, m_round, m_constraint, m_options.engine, codes, groups);
    }
    r.grid = grid;
    r.codes = unpermute_rows(codes, perm);
    r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  OptqOptions m_options;
  Rounding m_round;
  Constraint m_constraint;
};

/// One call: OPTQ of `W` on the statistics of `X` (with `Xq = X`).
/// \throws numerical_error unless the result's status is `Success`.
template <class Scalar, class D1, class D2>
Result<Scalar> optq(const Eigen::MatrixBase<D1>& W, const Eigen::MatrixBase<D2>& X, const Alphabet<Scalar>& alphabet,
                    const OptqOptions& options = {}) {
  PATHQ_CHECK(X.cols() == W.rows(), "optq", "X has ", X.cols(), " columns but W has ", W.rows(), " rows");
  Result<Scalar> r = Optq<Scalar>(options).quantize(W, LayerStats<double>::from(X), alphabet);
  require_success(r, "optq");
  return r;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_OPTQ_HPP
