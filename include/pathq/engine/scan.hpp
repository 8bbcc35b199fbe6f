// The engine: one blocked, rounding forward substitution shared by every data-driven method.
#ifndef PATHQ_ENGINE_SCAN_HPP
#define PATHQ_ENGINE_SCAN_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "pathq/constraints/none.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/rounding.hpp"

namespace pathq {

/// Row-major dense matrix: the engine keeps a feature's values for all neurons contiguous.
template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Tuning of the engine. None of these change the result beyond floating-point summation order
/// (codes are identical away from rounding ties); the thread count changes nothing at all.
struct EngineOptions {
  Eigen::Index block_size = 128;   ///< features per block (one GEMM per block), >= 1
  Eigen::Index panel_width = 256;  ///< neurons per independent panel (the unit of threading), >= 1
  int threads = 0;                 ///< 0: OpenMP's default; n >= 1: at most n threads

  /// \throws invalid_argument naming the field and its valid range.
  void validate(const char* where) const {
    PATHQ_CHECK(block_size >= 1, where, "block_size must be >= 1, got ", block_size);
    PATHQ_CHECK(panel_width >= 1, where, "panel_width must be >= 1, got ", panel_width);
    PATHQ_CHECK(threads >= 0, where, "threads must be >= 0, got ", threads);
  }
};

/// Number of threads the engine uses for `requested` (0 = OpenMP's default).
inline int engine_threads(int requested) {
#if defined(_OPENMP)
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

/// Runs `task(c0, w)` for every panel `[c0, c0 + w)` of `n_out` neurons, `w = options.panel_width`
/// (the last panel narrower), on up to `engine_threads(options.threads)` OpenMP threads. The
/// partition depends on `panel_width` alone, never on the thread count, and Eigen's own threading
/// is off inside a task, so a panel computes the same way alone or beside others. `task` must
/// not throw.
template <class Task>
void for_each_panel(Eigen::Index n_out, const EngineOptions& options, Task&& task) {
  const Eigen::Index pw = options.panel_width;
  const Eigen::Index n_panels = (n_out + pw - 1) / pw;
  if (n_panels <= 0) return;
#if defined(_OPENMP)
  const int nt = int(std::min<Eigen::Index>(engine_threads(options.threads), n_panels));
#pragma omp parallel num_threads(nt)
  {
    // Per-task setting: keeps Eigen's own GEMM threading off inside a panel.
    omp_set_num_threads(1);
#pragma omp for schedule(dynamic, 1)
    for (Eigen::Index p = 0; p < n_panels; ++p) task(p * pw, std::min(pw, n_out - p * pw));
  }
#else
  for (Eigen::Index p = 0; p < n_panels; ++p) task(p * pw, std::min(pw, n_out - p * pw));
#endif
}

/// Per-group grids in the scan; a default-constructed value changes nothing.
///
/// - `row_group` (static groups in another order): engine row `i` rounds with the grid's group
///   row `row_group[i]` instead of `grid.group_of(i)`. With act-order, the groups of a grid
///   defined in the layer's original order are `row_group[i] = grid.group_of(feature[i])`.
/// - `refit` (dynamic groups): at each group start `s = k * grid.group_size` (engine order), once
///   every earlier row's feedback has reached rows `[s, e)`, `e = min(s + group_size, n)`, and
///   before row `s` is rounded, the scan calls, for each panel of neurons `[c0, c0 + w)`,
///
///       refit(k, c0, rows, step, zero);
///
///   `rows` (`(e - s) x w`) holds the rows' current engine values `b_i - sum_{r<s} F(i, r) q_r`;
///   `refit` sets `step` and `zero` (length `w`) to group `k`'s steps and zero points for those
///   neurons, and the scan stores them in the grid. Blocks are cut at group boundaries, so the
///   rows are complete whatever the block size (the cost is unchanged: the same multiply-adds,
///   in slightly different GEMM shapes). `refit` runs on the panel's thread, concurrently with
///   other panels: it must depend only on its arguments.
template <class Scalar>
struct ScanGroups {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Refit = std::function<void(Eigen::Index group, Eigen::Index c0,
                                   const Eigen::Ref<const RowMatrix<Scalar>>& rows,
                                   Eigen::Ref<Vector> step, Eigen::Ref<Vector> zero)>;
  std::vector<Eigen::Index> row_group;  ///< empty, or one grid group row per engine row
  Refit refit;                          ///< empty, or the dynamic-group refit
};

/// What the scan can add up on the way, for the methods' trace identities of the layer error
/// (see `Gpfq` and `Optq`): per neuron j,
///
///     column(j) = sum_i weight(i) [ (x_ij - q_ij)^2 - (x_ij - r_ij)^2 ],
///
/// where `x_ij` is engine row i's value before rounding (before a constraint moves it), `q_ij`
/// the value it is rounded to, and `r_ij` the entry of `offset` (`n x N_out`, engine order), or
/// `x_ij` itself when `offset` is null (then the second term is 0). The terms are formed and
/// summed in double, `O(N_in N_out)` work beside the scan's `O(N_in^2 N_out)`.
template <class Scalar>
struct ScanTrace {
  Eigen::VectorXd weight;                      ///< in: one weight per engine row
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>* offset = nullptr;  ///< in: null, or the `r` above
  Eigen::VectorXd column;                      ///< out: one sum per neuron
};

namespace detail {

// The scan; `target` is the grid that `groups.refit` writes into (the same object as `grid`),
// or null when there is no refit.
template <class Scalar, class Rounding, class Constraint>
Eigen::Index scan_impl(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& F,
                       RowMatrix<Scalar>& B, const Grid<Scalar>& grid, Grid<Scalar>* target,
                       const ScanGroups<Scalar>& groups, const std::vector<Eigen::Index>& feature,
                       const Rounding& round, const Constraint& constraint,
                       const EngineOptions& options, Codes& codes, ScanTrace<Scalar>* trace = nullptr) {
  using Index = Eigen::Index;
  const Index n = B.rows();
  const Index n_out = B.cols();
  PATHQ_ASSERT(F.rows() == n && F.cols() == n);
  PATHQ_ASSERT(grid.step.cols() == n_out && grid.zero.cols() == n_out);
  PATHQ_ASSERT(feature.empty() || Index(feature.size()) == n);
  PATHQ_ASSERT(groups.row_group.empty() || Index(groups.row_group.size()) == n);
  PATHQ_ASSERT(!groups.refit || (target == &grid && grid.group_size > 0 && groups.row_group.empty()));
  constraint.validate(grid, n, feature);  // throws before any work if the constraint does not fit
  codes.resize(n, n_out);
  if (n == 0 || n_out == 0) return 0;
  const Index pw = options.panel_width;
  const Index bs = options.block_size;
  const Index n_panels = (n_out + pw - 1) / pw;
  const Index gs = groups.refit ? grid.group_size : 0;  // > 0: blocks follow group boundaries
  const Index* row_group = groups.row_group.empty() ? nullptr : groups.row_group.data();
  if (trace) {
    PATHQ_ASSERT(trace->weight.size() == n);
    PATHQ_ASSERT(!trace->offset || (trace->offset->rows() == n && trace->offset->cols() == n_out));
    trace->column.setZero(n_out);
  }
  // Nearest rounding with no constraint on an evenly spaced grid (the common case) rounds a whole
  // row of the panel in one loop the compiler vectorises: no per-weight calls, codes stored
  // contiguously in a block buffer. The same operations in the same order as the general loop,
  // so the same codes and values.
  constexpr bool fast_policies = std::is_same<Rounding, Nearest>::value && std::is_same<Constraint, NoConstraint>::value;
  const bool fast = fast_policies && grid.kind != GridKind::DeadZone;

  auto run_panel = [&](Index c0, Index w) -> Index {
    auto Bp = B.middleCols(c0, w);
    auto cons = constraint.panel(c0, w);
    typename ScanGroups<Scalar>::Vector fit_step(gs > 0 ? w : 0), fit_zero(gs > 0 ? w : 0);
    Index saturated = 0;
    // The fast loop's step and zero point of the current group row, contiguous, and its codes.
    typename ScanGroups<Scalar>::Vector row_step(fast ? w : 0), row_zero(fast ? w : 0);
    Index row_step_group = -1;
    Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> block_codes(fast ? bs : 0, fast ? w : 0);
    // The trace: the row's values before rounding, and the per-neuron sums.
    typename ScanGroups<Scalar>::Vector before(trace ? w : 0);
    Eigen::ArrayXd sums = Eigen::ArrayXd::Zero(trace ? w : 0);
    for (Index i1 = 0, i2 = 0; i1 < n; i1 = i2) {
      i2 = std::min(n, i1 + bs);
      Index from = 0;  // the block still needs the feedback of rows [from, i1)
      if (gs > 0) {
        const Index s = i1 - i1 % gs, e = std::min(n, s + gs);
        if (gs < bs) {
          i2 = std::min(n, i1 + (bs / gs) * gs);  // whole groups (i1 is a group start)
        } else {
          i2 = std::min(i2, e);
          if (i1 == s && e > i2) {  // a group longer than a block: bring all of it up to date now
            if (i1 > 0) Bp.middleRows(i1, e - i1).noalias() -= F.block(i1, 0, e - i1, i1) * Bp.topRows(i1);
            from = i1;
          } else if (i1 > s) {
            from = s;
          }
        }
      }
      if (i1 > from)
        Bp.middleRows(i1, i2 - i1).noalias() -= F.block(i1, from, i2 - i1, i1 - from) * Bp.middleRows(from, i1 - from);
      for (Index i = i1; i < i2; ++i) {
        if (gs > 0 && i % gs == 0) {
          const Index k = i / gs;
          groups.refit(k, c0, Bp.middleRows(i, std::min(gs, n - i)), fit_step, fit_zero);
          for (Index jj = 0; jj < w; ++jj) {
            target->step(k, c0 + jj) = fit_step(jj);
            target->zero(k, c0 + jj) = fit_zero(jj);
          }
          row_step_group = -1;
        }
        const Index t = feature.empty() ? i : feature[std::size_t(i)];
        const Index g = row_group ? row_group[i] : grid.group_of(i);
        Scalar* row = &Bp.coeffRef(i, 0);
        if (trace) before = Bp.row(i).transpose();
        if (fast) {
          if (g != row_step_group) {
            row_step = grid.step.row(g).segment(c0, w).transpose();
            row_zero = grid.zero.row(g).segment(c0, w).transpose();
            row_step_group = g;
          }
          const Scalar* st = row_step.data();
          const Scalar* ze = row_zero.data();
          std::int32_t* cr = &block_codes.coeffRef(i - i1, 0);
          const Scalar lo = Scalar(grid.code_lo), hi = Scalar(grid.code_hi);
          const Scalar lo_cut = lo - Scalar(0.5), hi_cut = hi + Scalar(0.5);
          int row_saturated = 0;
          for (Index jj = 0; jj < w; ++jj) {
            const Scalar u = row[jj] / st[jj] + ze[jj];
            row_saturated += int(u < lo_cut) | int(u > hi_cut);
            Scalar c = std::floor(u + Scalar(0.5));
            c = c > lo ? (c < hi ? c : hi) : lo;  // Nearest's clip; NaN goes to lo
            cr[jj] = static_cast<std::int32_t>(c);
            row[jj] = (c - ze[jj]) * st[jj];
          }
          saturated += row_saturated;
        } else {
          for (Index jj = 0; jj < w; ++jj) {
            const Index j = c0 + jj;
            const Scalar step = grid.step(g, j);
            const Scalar zero = grid.zero(g, j);
            const Scalar x = cons.adjust(i, t, j, row[jj], step);
            const Scalar u = grid.position(x / step, zero);  // x / step + zero, but on a dead-zone grid
            int lo = grid.code_lo;
            int hi = grid.code_hi;
            cons.limits(i, t, j, lo, hi);
            saturated += (u < Scalar(lo) - Scalar(0.5)) || (u > Scalar(hi) + Scalar(0.5));
            const int c = round(u, lo, hi, t, j);
            cons.commit(i, t, j, c);
            codes(i, j) = c;
            row[jj] = grid.level(c, zero) * step;  // (c - zero) * step, but on a dead-zone grid
          }
        }
        if (trace) {
          const double a = trace->weight(i);
          const auto* r = trace->offset;
          for (Index jj = 0; jj < w; ++jj) {
            const double x = double(before(jj)), d = x - double(row[jj]);
            const double e = r ? x - double((*r)(i, c0 + jj)) : 0.0;
            sums(jj) += a * (d * d - e * e);
          }
        }
        if (i + 1 < i2)
          Bp.middleRows(i + 1, i2 - i - 1).noalias() -= F.col(i).segment(i + 1, i2 - i - 1) * Bp.row(i);
      }
      if (fast) codes.block(i1, c0, i2 - i1, w) = block_codes.topRows(i2 - i1);
    }
    if (trace) trace->column.segment(c0, w) = sums.matrix();
    return saturated;
  };

  std::vector<Index> saturated(std::size_t(n_panels), 0);
  for_each_panel(n_out, options, [&](Index c0, Index w) { saturated[std::size_t(c0 / pw)] = run_panel(c0, w); });
  return std::accumulate(saturated.begin(), saturated.end(), Index(0));
}

}  // namespace detail

/// Rounding forward substitution (docs/design.md#the-engine). For features `i = 0..n-1` in order
/// and all neurons `j` at once:
///
///     x_i = b_i - sum_{s<i} F(i, s) q_s,     code_i = R(x_i / step + zero),     q_i = value(code_i)
///
/// Blocked like a triangular solve: per block of `block_size` features one GEMM brings in all
/// earlier blocks, then each feature is a vector operation across the panel's neurons.
/// Neurons are split into panels of fixed width that run independently on OpenMP threads; the
/// partition does not depend on the thread count, so neither does the result.
///
/// \param F        `n x n`; only the strictly lower triangle is read.
/// \param B        in: the targets `b` (`n x N_out`, row-major); out: the quantized values `Q`.
/// \param grid     the grid, `grid.group_of(i)` taken in engine order.
/// \param feature  `feature[i]` is engine row i's index in the layer's original order (passed
///                 to the rounding operator and the constraint); empty means the identity.
/// \param round    a rounding operator (see `Nearest` for the interface).
/// \param constraint a constraint policy (see `NoConstraint` for the interface).
/// \param codes    out: `n x N_out` codes, engine order.
/// \returns the number of saturated steps (value beyond the admissible codes by > 1/2 step).
/// Complexity: `~n^2 N_out` multiply-adds, in GEMM; memory: none beyond the arguments.
template <class Scalar, class Rounding, class Constraint>
Eigen::Index scan(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& F,
                  RowMatrix<Scalar>& B, const Grid<Scalar>& grid,
                  const std::vector<Eigen::Index>& feature, const Rounding& round,
                  const Constraint& constraint, const EngineOptions& options, Codes& codes) {
  return detail::scan_impl(F, B, grid, static_cast<Grid<Scalar>*>(nullptr), ScanGroups<Scalar>{}, feature,
                           round, constraint, options, codes);
}

namespace detail {

// The checks of the per-group scan: `groups` must fit the targets and the grid.
template <class Scalar>
void check_scan_groups(const RowMatrix<Scalar>& B, const Grid<Scalar>& grid, const ScanGroups<Scalar>& groups) {
  const Eigen::Index n = B.rows();
  PATHQ_CHECK(groups.row_group.empty() || Eigen::Index(groups.row_group.size()) == n, "scan",
              "row_group has ", groups.row_group.size(), " entries but there are ", n, " features");
  for (Eigen::Index g : groups.row_group)
    PATHQ_CHECK(g >= 0 && g < grid.step.rows(), "scan", "row_group names group ", g, " but the grid has ",
                grid.step.rows());
  if (groups.refit) {
    PATHQ_CHECK(grid.group_size > 0, "scan", "a refit needs per-group steps (grid.group_size > 0)");
    PATHQ_CHECK(groups.row_group.empty(), "scan", "a refit follows the engine order: row_group must be empty");
    PATHQ_CHECK(grid.step.rows() == (n + grid.group_size - 1) / grid.group_size, "scan", "the grid has ",
                grid.step.rows(), " group rows but ", n, " features in groups of ", grid.group_size, " need ",
                (n + grid.group_size - 1) / grid.group_size);
  }
}

}  // namespace detail

/// The scan with per-group grids (see `ScanGroups`): static groups in any feature order, or
/// dynamic groups refitted as the scan reaches them. `grid` is updated in place by a refit
/// (its `step` and `zero` must already have one row per group).
/// \throws invalid_argument if `groups` does not fit: `row_group` of the wrong length or naming
///         a group the grid lacks; a refit without `grid.group_size > 0`, or with `row_group`.
template <class Scalar, class Rounding, class Constraint>
Eigen::Index scan(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& F,
                  RowMatrix<Scalar>& B, Grid<Scalar>& grid, const std::vector<Eigen::Index>& feature,
                  const Rounding& round, const Constraint& constraint, const EngineOptions& options,
                  Codes& codes, const ScanGroups<Scalar>& groups) {
  detail::check_scan_groups(B, grid, groups);
  return detail::scan_impl(F, B, grid, groups.refit ? &grid : nullptr, groups, feature, round, constraint,
                           options, codes);
}

/// The scan with per-group grids and a trace (see `ScanTrace`).
/// \throws invalid_argument as the overload above, or if `trace.weight` has not one entry per
///         feature or `trace.offset` is set and not shaped like `B`.
template <class Scalar, class Rounding, class Constraint>
Eigen::Index scan(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& F,
                  RowMatrix<Scalar>& B, Grid<Scalar>& grid, const std::vector<Eigen::Index>& feature,
                  const Rounding& round, const Constraint& constraint, const EngineOptions& options,
                  Codes& codes, const ScanGroups<Scalar>& groups, ScanTrace<Scalar>& trace) {
  detail::check_scan_groups(B, grid, groups);
  PATHQ_CHECK(trace.weight.size() == B.rows(), "scan", "the trace has ", trace.weight.size(),
              " weights but there are ", B.rows(), " features");
  PATHQ_CHECK(!trace.offset || (trace.offset->rows() == B.rows() && trace.offset->cols() == B.cols()), "scan",
              "the trace's offset is not shaped like the targets");
  return detail::scan_impl(F, B, grid, groups.refit ? &grid : nullptr, groups, feature, round, constraint,
                           options, codes, &trace);
}

}  // namespace pathq

#endif  // PATHQ_ENGINE_SCAN_HPP
