// Code refinement: coordinate descent on the codes of a quantized layer, exact on the layer error.
#ifndef PATHQ_METHODS_CODE_REFINEMENT_HPP
#define PATHQ_METHODS_CODE_REFINEMENT_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/result.hpp"
#include "pathq/detail/parallel.hpp"
#include "pathq/detail/result_checks.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// Options of `refine_codes`.
struct CodeRefinementOptions {
  int passes = 4;  ///< sweeps over the features, in [1, 1000]; stops early when a sweep changes nothing

  /// \throws invalid_argument naming the field.
  void validate() const {
    PATHQ_CHECK(passes >= 1 && passes <= 1000, "CodeRefinementOptions", "passes must be in [1, 1000], got ", passes);
  }
};

/// Coordinate descent on the codes (the refinement of QuantEase, on pathq's statistics). A
/// column's layer error `E(q) = w^T K w - 2 q^T G w + q^T H q` is, in one weight `q_t` with the
/// others fixed, a parabola with its minimum at `q_t* = q_t + ((G w)_t - (H q)_t) / H_tt`; the
/// grid level nearest `q_t*` (of the feature's group, within the grid's codes) is therefore the
/// exact best code for `t` given the others. Sweeping `t = 1..N_in` and repeating lowers every
/// column's error monotonically from the method's result (GPFQ, OPTQ, SPFQ or MSQ); it stops at
/// a point no single code change improves. The grid (steps, zero points) is unchanged; so is the
/// storage. Features with `H_tt = 0` (dead) keep their codes. It knows nothing of accumulator
/// constraints: do not refine an AXE result whose guarantee you need.
/// \returns `result` with refined codes; `info.extra["refine_changes"]` (codes changed),
///          `info.extra["refine_passes"]` (sweeps run) and `info.seconds` increased by its time.
/// \throws invalid_argument on mismatched shapes, non-finite W or invalid options.
/// Complexity `O(N_in N_out)` per sweep plus `N_in` per changed code (a column of H), and the
/// product `H Q` (`N_in^2 N_out`, GEMMs over panels of 32 columns) on the first sweep and every
/// 8th; on OpenMP threads, with the same result for every thread count.
template <class Scalar, class D, class Acc>
Result<Scalar> refine_codes(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, Result<Scalar> result,
                            const CodeRefinementOptions& options = {}) {
  using Index = Eigen::Index;
  const auto start = std::chrono::steady_clock::now();
  options.validate();
  detail::check_result_for("refine_codes", W, stats, result);
  result.info.forget_layer_error();
  const Index n = W.rows(), n_out = W.cols();
  const Grid<Scalar>& grid = result.grid;

  const Eigen::MatrixXd H = stats.H().template cast<double>();
  const Eigen::MatrixXd GW = detail::product_by_panels(stats.G(), W);
  std::vector<std::int64_t> changes(std::size_t(n_out), 0);
  std::vector<int> sweeps(std::size_t(n_out), 0);
  std::vector<char> active(std::size_t(n_out), 1);  // columns whose last sweep changed a code

  Eigen::MatrixXd Q(n, n_out);  // the current values
  for (Index j = 0; j < n_out; ++j)
    for (Index t = 0; t < n; ++t) Q(t, j) = double(grid.value(result.codes(t, j), t, j));
  Eigen::MatrixXd R(n, n_out);  // per column the gradient / 2, H q - G w
  const Index panel = 32;
  const std::size_t panels = std::size_t((n_out + panel - 1) / panel);

  for (int pass = 0; pass < options.passes; ++pass) {
    // R is kept up to date by each change (one column of H); it is recomputed from scratch on
    // the first sweep and every 8th, so rounding cannot build up: one GEMM per panel of columns
    // that are still moving.
    if (pass % 8 == 0) detail::parallel_tasks(panels, [&](std::size_t p) {
      const Index c0 = Index(p) * panel, w = std::min(panel, n_out - c0);
      bool any = false;
      for (Index j = c0; j < c0 + w; ++j) any = any || active[std::size_t(j)];
      if (!any) return;
      R.middleCols(c0, w).noalias() = H * Q.middleCols(c0, w);
      R.middleCols(c0, w) -= GW.middleCols(c0, w);
    });
    detail::parallel_tasks(std::size_t(n_out), [&](std::size_t jj) {
      if (!active[jj]) return;
      const Index j = Index(jj);
      auto q = Q.col(j);
      auto h = R.col(j);
      std::int64_t changed = 0;
      sweeps[jj] = pass + 1;
      for (Index t = 0; t < n; ++t) {
        const double htt = H(t, t);
        if (!(htt > 0)) continue;
        const Index g = grid.group_of(t);
        const double step = double(grid.step(g, j));
        const double zero = double(grid.zero(g, j));
        const double target = q(t) - h(t) / htt;  // the parabola's minimum in q_t
        // The nearest level: the codes either side of the target's position on the code axis.
        const double pos = double(grid.position(Scalar(target / step), Scalar(zero)));
        if (!std::isfinite(pos)) continue;
        const double lo = std::floor(pos);
        std::int32_t best = result.codes(t, j);
        double best_gap = std::abs(q(t) - target);
        for (double c : {lo, lo + 1}) {
          const double cc = std::min<double>(grid.code_hi, std::max<double>(grid.code_lo, c));
          const auto code = std::int32_t(cc);
          const double v = double(grid.level(code, Scalar(zero))) * step;
          const double gap = std::abs(v - target);
          if (gap < best_gap) best_gap = gap, best = code;
        }
        if (best == result.codes(t, j)) continue;
        const double v = double(grid.level(best, Scalar(zero))) * step;
        h.noalias() += H.col(t) * (v - q(t));
        q(t) = v;
        result.codes(t, j) = best;
        ++changed;
      }
      changes[jj] += changed;
      if (changed == 0) active[jj] = 0;
    });
    if (std::find(active.begin(), active.end(), char(1)) == active.end()) break;
  }

  std::int64_t total = 0;
  int most = 0;
  for (Index j = 0; j < n_out; ++j) total += changes[std::size_t(j)], most = std::max(most, sweeps[std::size_t(j)]);
  result.info.extra["refine_changes"] = double(total);
  result.info.extra["refine_passes"] = double(most);
  result.info.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_CODE_REFINEMENT_HPP
