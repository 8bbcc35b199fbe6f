// Step refit: the least-squares steps of a quantized layer for its codes, from the statistics.
#ifndef PATHQ_CORE_STEP_REFIT_HPP
#define PATHQ_CORE_STEP_REFIT_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/result.hpp"
#include "pathq/detail/parallel.hpp"
#include "pathq/detail/result_checks.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// What `refit_steps` changed.
struct StepRefit {
  Eigen::Index columns_changed = 0;  ///< columns whose steps were replaced
  double error_before = 0;           ///< `||XW - XqQ||_F^2` with the method's steps
  double error_after = 0;            ///< the same with the refit steps (never larger)
};

/// Least-squares steps for fixed codes. With the codes of `result` kept, every value is
/// `q_t = s_g l_t` (`l_t = code_t - zero`, the level in units of the step, `g` the group of
/// feature `t`), so a column's layer error `||X w - Xq q||^2` is a quadratic in its steps `s`
/// (one per group): `s^T (A^T H A) s - 2 s^T A^T G w + w^T K w` with `A_tg = l_t [t in g]`. This
/// sets each column's steps to the minimizer, the solution of `(A^T H A) s = A^T G w`, where it
/// is positive and finite and lowers that column's error; every other column keeps its steps.
/// The layer error therefore never increases; codes, zero points and the grid's kind are
/// unchanged, so the storage (bits per weight) is the same. Groups whose levels are all zero
/// keep their steps. Applies to the result of any method (GPFQ, SPFQ, OPTQ, MSQ); re-running
/// an error-feedback method on the refit grid gives new codes, which may be refit again.
/// \param W `N_in x N_out`, finite. \param stats the layer's statistics (`N_in` features).
/// \param result codes and grid for W (codes `N_in x N_out`, `n_groups x N_out` steps).
/// \param report if not null, receives what changed.
/// \returns `result` with the new steps; `info.extra["refit_columns"]` and
///          `info.extra["refit_error_ratio"]` (error after over before) are added.
/// \throws invalid_argument on mismatched shapes or non-finite W.
/// Complexity `O(N_in^2 N_out)` (one product with H per column and group span), on OpenMP
/// threads; the result does not depend on the thread count.
template <class Scalar, class D, class Acc>
Result<Scalar> refit_steps(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, Result<Scalar> result,
                           StepRefit* report = nullptr) {
  using Index = Eigen::Index;
  const Index groups = detail::check_result_for("refit_steps", W, stats, result);
  result.info.forget_layer_error();
  const Index n = W.rows(), n_out = W.cols();
  Grid<Scalar>& grid = result.grid;

  const Eigen::MatrixXd H = stats.H().template cast<double>();
  const Eigen::MatrixXd GW = detail::product_by_panels(stats.G(), W);
  std::vector<double> before(std::size_t(n_out), 0.0), after(std::size_t(n_out), 0.0);
  std::vector<char> changed(std::size_t(n_out), 0);
  const auto group_begin = [&](Index g) { return grid.group_size > 0 ? g * grid.group_size : Index(0); };
  const auto group_rows = [&](Index g) { return grid.group_size > 0 ? std::min(grid.group_size, n - g * grid.group_size) : n; };

  // Column j's least-squares steps from its M = A^T H A and r = A^T G w (see above).
  const auto solve_column = [&](Index j, const Eigen::MatrixXd& M, const Eigen::VectorXd& r) {
    // Groups with all levels zero (or no energy) keep their step: solve on the others.
    std::vector<Index> live;
    for (Index g = 0; g < groups; ++g)
      if (M(g, g) > 0 && std::isfinite(M(g, g))) live.push_back(g);
    const Eigen::VectorXd s_old = grid.step.col(j).template cast<double>();
    const auto error_of = [&](const Eigen::VectorXd& s) { return s.dot(M * s) - 2 * s.dot(r); };  // + w^T K w
    before[std::size_t(j)] = error_of(s_old);
    after[std::size_t(j)] = before[std::size_t(j)];
    if (live.empty()) return;
    const Index k = Index(live.size());
    Eigen::MatrixXd Ml(k, k);
    Eigen::VectorXd rl(k);
    for (Index a = 0; a < k; ++a) {
      rl(a) = r(live[std::size_t(a)]);
      for (Index b = 0; b < k; ++b) Ml(a, b) = M(live[std::size_t(a)], live[std::size_t(b)]);
    }
    // rl - (M s_old) on the dead groups' coupling: they keep s_old, so move their part to the right.
    for (Index g = 0; g < groups; ++g) {
      if (M(g, g) > 0 && std::isfinite(M(g, g))) continue;
      for (Index a = 0; a < k; ++a) rl(a) -= M(live[std::size_t(a)], g) * s_old(g);
    }
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(Ml);
    if (ldlt.info() != Eigen::Success) return;
    const Eigen::VectorXd sl = ldlt.solve(rl);
    Eigen::VectorXd s = s_old;
    for (Index a = 0; a < k; ++a) {
      const double v = sl(a);
      if (!std::isfinite(v) || !(v > 0) || !std::isfinite(double(Scalar(v))) || !(Scalar(v) > Scalar(0))) return;
      s(live[std::size_t(a)]) = double(Scalar(v));  // the step as it will be stored
    }
    const double e = error_of(s);
    if (e < before[std::size_t(j)]) {
      after[std::size_t(j)] = e;
      changed[std::size_t(j)] = 1;
      for (Index a = 0; a < k; ++a) grid.step(live[std::size_t(a)], j) = Scalar(s(live[std::size_t(a)]));
    }
  };

  // The levels l = code - zero of every weight.
  Eigen::MatrixXd L(n, n_out);
  for (Index j = 0; j < n_out; ++j)
    for (Index t = 0; t < n; ++t) L(t, j) = double(grid.level(result.codes(t, j), grid.zero(grid.group_of(t), j)));

  // Panels of 32 columns: per group g2 one GEMM H(:, g2) L(g2, panel), from which each column's
  // M = A^T H A (column g2) and r = A^T G w follow; then each column is solved on its own.
  const Index panel = 32;
  detail::parallel_tasks(std::size_t((n_out + panel - 1) / panel), [&](std::size_t p) {
    const Index c0 = Index(p) * panel, w = std::min(panel, n_out - c0);
    std::vector<Eigen::MatrixXd> Ms(std::size_t(w), Eigen::MatrixXd::Zero(groups, groups));
    std::vector<Eigen::VectorXd> rs(std::size_t(w), Eigen::VectorXd::Zero(groups));
    Eigen::MatrixXd P(n, w);
    for (Index g2 = 0; g2 < groups; ++g2) {
      const Index b2 = group_begin(g2), n2 = group_rows(g2);
      P.noalias() = H.middleCols(b2, n2) * L.block(b2, c0, n2, w);
      for (Index c = 0; c < w; ++c) {
        Eigen::MatrixXd& M = Ms[std::size_t(c)];
        for (Index g1 = 0; g1 < groups; ++g1) {
          const Index b1 = group_begin(g1), n1 = group_rows(g1);
          M(g1, g2) = L.col(c0 + c).segment(b1, n1).dot(P.col(c).segment(b1, n1));
        }
        rs[std::size_t(c)](g2) = L.col(c0 + c).segment(b2, n2).dot(GW.col(c0 + c).segment(b2, n2));
      }
    }
    for (Index c = 0; c < w; ++c) solve_column(c0 + c, Ms[std::size_t(c)], rs[std::size_t(c)]);
  });

  // Report on the whole layer error: add w^T K w (the same before and after) to the differences.
  const Eigen::MatrixXd Wd = W.template cast<double>();
  const double reference = Wd.cwiseProduct(detail::product_by_panels(stats.K(), Wd)).sum();
  StepRefit out;
  for (Index j = 0; j < n_out; ++j) {
    out.columns_changed += changed[std::size_t(j)];
    out.error_before += before[std::size_t(j)];
    out.error_after += after[std::size_t(j)];
  }
  out.error_before = std::max(0.0, out.error_before + reference);
  out.error_after = std::max(0.0, out.error_after + reference);
  result.info.extra["refit_columns"] = double(out.columns_changed);
  result.info.extra["refit_error_ratio"] = out.error_before > 0 ? out.error_after / out.error_before : 1.0;
  if (report) *report = out;
  return result;
}

}  // namespace pathq

#endif  // PATHQ_CORE_STEP_REFIT_HPP
