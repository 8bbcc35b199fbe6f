// Scale search: the clipping ratio of each column's (or group's) step, and the radius scalar C of a method.
#ifndef PATHQ_CORE_SCALE_SEARCH_HPP
#define PATHQ_CORE_SCALE_SEARCH_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/result.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/stats/layer_error.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// What a clipping-ratio candidate is scored by, per column `j` and group `G` of features, with
/// `e = w - q` the rounding error of the candidate grid (round to nearest, no feedback):
/// - `Diagonal`: `sum_{t in G} H_tt e_t^2` (`e^T diag(H) e`; plain `||e||^2` without statistics);
/// - `Quadratic`: `e_G^T H_GG e_G`, the exact quadratic form within the group (the whole
///   `e^T H e` of the column for per-column grids). This is `||X (w - q)||^2` of the group alone.
enum class ClipScore { Diagonal, Quadratic };

inline const char* to_string(ClipScore s) { return s == ClipScore::Diagonal ? "diagonal" : "quadratic"; }

/// Options of `clip_search`.
struct ClipSearchOptions {
  int points = 100;          ///< number of clipping ratios tried, in [1, 100000]
  double min_ratio = 0.2;    ///< the smallest ratio; ratios run evenly from 1 down to it; in (0, 1]
  ClipScore score = ClipScore::Diagonal;
  EngineOptions engine;      ///< columns are scored in panels on the engine's threads

  /// The ratio of candidate `k` (0 <= k < points): `1 - (1 - min_ratio) k / (points - 1)`.
  double ratio(int k) const {
    return points <= 1 ? 1.0 : 1.0 - (1.0 - min_ratio) * double(k) / double(points - 1);
  }

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(points >= 1 && points <= 100000, "ClipSearchOptions", "points must be in [1, 100000], got ",
                points);
    PATHQ_CHECK(std::isfinite(min_ratio) && min_ratio > 0 && min_ratio <= 1, "ClipSearchOptions",
                "min_ratio must be in (0, 1], got ", min_ratio);
    engine.validate("ClipSearchOptions");
  }
};

/// The grid a clip search chose, and why.
template <class Scalar>
struct ClipChoice {
  Grid<Scalar> grid;          ///< the base grid with every step multiplied by its chosen ratio
  Eigen::MatrixXd ratio;      ///< groups x N_out: the chosen clipping ratio (1: the base step)
  Eigen::MatrixXd score;      ///< groups x N_out: the score at the chosen ratio
  Eigen::MatrixXd base_score; ///< groups x N_out: the score of the base step (ratio 1)
  /// Total score over all groups and columns, chosen and base (`chosen <= base` always).
  double total() const { return score.sum(); }
  double base_total() const { return base_score.sum(); }
};

namespace detail {

/// Round-to-nearest error of values `w` on `step`, `zero`, codes `[lo, hi]` (the `Nearest` rule).
inline double nearest_error(double w, double step, double zero, int lo, int hi) {
  const double u = w / step + zero;
  const double c = std::min(double(hi), std::max(double(lo), std::floor(u + 0.5)));
  return w - (c - zero) * step;
}

/// The search itself. `H` (full, symmetric) may be null; `d` holds the weights of the diagonal score.
template <class Scalar, class D>
ClipChoice<Scalar> clip_search_impl(const Eigen::MatrixBase<D>& W, const Grid<Scalar>& base,
                                    const Eigen::MatrixXd* H, const Eigen::VectorXd& d,
                                    const ClipSearchOptions& options, const char* where) {
  using Index = Eigen::Index;
  options.validate();
  check_weights(where, W);
  check_grid(where, base, W);
  PATHQ_CHECK(base.bounded, where, "the grid is unbounded: there is nothing to clip");
  PATHQ_CHECK(base.kind != GridKind::DeadZone, where, "dead-zone grids are not searched (their threshold ",
              "is tied to the step)");
  const Index n = W.rows(), n_out = W.cols(), groups = base.step.rows();
  const Index gs = base.group_size > 0 ? base.group_size : n;
  const Eigen::MatrixXd Wd = W.template cast<double>();

  ClipChoice<Scalar> c;
  c.grid = base;
  c.ratio = Eigen::MatrixXd::Ones(groups, n_out);
  c.score.resize(groups, n_out);
  c.base_score.resize(groups, n_out);
  const bool quadratic = options.score == ClipScore::Quadratic && H != nullptr;
  for_each_panel(n_out, options.engine, [&](Index c0, Index w) {
    Eigen::VectorXd e, He;
    for (Index j = c0; j < c0 + w; ++j)
      for (Index k = 0; k < groups; ++k) {
        const Index t0 = k * gs, len = std::min(gs, n - t0);
        const double s0 = double(base.step(k, j)), z = double(base.zero(k, j));
        double best = std::numeric_limits<double>::infinity(), best_ratio = 1.0;
        e.resize(len);
        for (int p = 0; p < options.points; ++p) {
          const double r = options.ratio(p);
          const double s = double(Scalar(r * s0));
          for (Index t = 0; t < len; ++t)
            e(t) = nearest_error(Wd(t0 + t, j), s, z, base.code_lo, base.code_hi);
          double score;
          if (quadratic) {
            He.noalias() = H->block(t0, t0, len, len) * e;
            score = std::max(0.0, e.dot(He));
          } else {
            score = e.cwiseAbs2().dot(d.segment(t0, len));
          }
          if (p == 0) c.base_score(k, j) = score;
          if (score < best) {  // strict: ties keep the larger ratio
            best = score;
            best_ratio = r;
          }
        }
        c.score(k, j) = best;
        c.ratio(k, j) = best_ratio;
        c.grid.step(k, j) = Scalar(best_ratio * s0);
      }
  });
  return c;
}

}  // namespace detail

/// Clip search (as in GPTQ's `mse` grid search and llama.cpp's importance-weighted scale
/// search): for every column, or every group of features and column, of the grid `base` fitted
/// to `W`, try the steps `r * step` for the clipping ratios `r = 1, ..., min_ratio` (evenly
/// spaced, `points` of them; the zero point is kept, so the min-max span of an asymmetric grid
/// shrinks about it), round `W` to nearest on each, and keep the ratio of least score
/// (`ClipScore`, weighted by the statistics' `H = Xq^T Xq`). Ratio 1 (the base, max-based step)
/// is a candidate and ties keep the larger ratio, so the chosen score never exceeds the base
/// step's score. The search is applied before, and independently of, the method's
/// error-feedback pass: pass `choice.grid` to `quantize(W, stats, grid)` of GPFQ, SPFQ or OPTQ,
/// or to `msq(W, grid)`.
///
/// \param W `N_in x N_out`, finite, non-empty. \param stats `N_in` features, at least one sample.
/// \param base a bounded grid fitted to W (e.g. `alphabet.resolve(W)`), not dead-zone.
/// \throws invalid_argument on bad W, statistics or grid, or invalid options.
/// Complexity: `points N_in N_out` (Diagonal) or `points N_in g N_out` multiply-adds (Quadratic,
/// g the group size, `N_in` for per-column grids: 100 points on a 1024 x 1024 layer is 1e11,
/// against 1e8 for Diagonal). Results do not depend on the thread count.
template <class Scalar, class D, class Acc>
ClipChoice<Scalar> clip_search(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                               const Grid<Scalar>& base, const ClipSearchOptions& options = {}) {
  PATHQ_CHECK(W.rows() == stats.n_in(), "clip_search", "W has ", W.rows(), " rows but the statistics have N_in = ",
              stats.n_in());
  PATHQ_CHECK(stats.samples() > 0, "clip_search", "the statistics hold no samples");
  const Eigen::VectorXd d = stats.H().diagonal().template cast<double>();
  if (options.score == ClipScore::Quadratic) {
    // Both triangles, whichever the statistics fill.
    const Eigen::MatrixXd H = stats.H().template cast<double>().template selfadjointView<Eigen::Lower>();
    return detail::clip_search_impl(W, base, &H, d, options, "clip_search");
  }
  return detail::clip_search_impl(W, base, nullptr, d, options, "clip_search");
}

/// Clip search on the grid `alphabet` fits to W (see above).
template <class Scalar, class D, class Acc>
ClipChoice<Scalar> clip_search(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                               const Alphabet<Scalar>& alphabet, const ClipSearchOptions& options = {}) {
  detail::check_weights("clip_search", W);
  return clip_search(W, stats, alphabet.resolve(W), options);
}

/// Data-free clip search: every weight counts the same (`||w - q||^2`; both scores agree).
template <class Scalar, class D>
ClipChoice<Scalar> clip_search(const Eigen::MatrixBase<D>& W, const Grid<Scalar>& base,
                               const ClipSearchOptions& options = {}) {
  const Eigen::VectorXd d = Eigen::VectorXd::Ones(W.rows());
  return detail::clip_search_impl(W, base, nullptr, d, options, "clip_search");
}

/// Options of `radius_search`.
struct RadiusSearchOptions {
  /// The radius scalars C tried: the base grid's steps are multiplied by each. Each positive and
  /// finite, at least one. Default: 0.5, 0.6, ..., 1.5.
  std::vector<double> candidates = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5};
  /// Choose C for each neuron (column) on its own instead of one C for the layer. GPFQ, SPFQ
  /// and OPTQ quantize every column independently of the others (they share only the
  /// statistics), so each column can take the candidate of least error for that column; the
  /// method is then run once more on the grid of the chosen steps, which reproduces those
  /// columns exactly, and that run is the result.
  bool per_column = false;

  /// \throws invalid_argument naming the field and the bad value.
  void validate() const {
    PATHQ_CHECK(!candidates.empty(), "RadiusSearchOptions", "candidates must not be empty");
    for (double c : candidates)
      PATHQ_CHECK(std::isfinite(c) && c > 0, "RadiusSearchOptions", "candidates must be finite and positive, got ",
                  c);
  }
};

/// The result of a radius search: the best run and the error of every candidate.
template <class Scalar>
struct RadiusChoice {
  Result<Scalar> result;      ///< the method's result at the chosen C (per column: on the chosen steps)
  double C = 1;               ///< the chosen radius scalar (per column: the one of least layer error)
  std::vector<double> errors; ///< `||XW - XqQ||_F^2` per candidate, in the options' order
  double error = 0;           ///< the result's error (the least; ties: the earliest candidate)
  Eigen::VectorXd column_C;   ///< per column: each neuron's chosen C; else empty
};

/// Radius search: runs `method.quantize(W, stats, grid_C)` for each candidate C, where `grid_C`
/// is `base` with every step multiplied by C (for a radius rule, `C R / K` becomes the grid of
/// radius scalar `C * C0`), and keeps the run of least layer error `||XW - XqQ||_F^2`, computed
/// from the statistics (`layer_error`). It scores what the method actually produces, error
/// feedback included, so it suits GPFQ and SPFQ, whose best radius is not the one that rounds W
/// best (the released GPFQ default C = 1.16 loses to smaller C on Gaussian layers).
/// \tparam Method any quantizer with `quantize(W, stats, const Grid<Scalar>&)`: `Gpfq`, `Spfq`, `Optq`.
/// \throws invalid_argument on invalid options, or whatever the method throws on bad input.
/// Complexity: `candidates.size()` runs of the method plus as many `layer_error` evaluations
/// (`~N_in^2 N_out` each): about 2 x 11 times one GPFQ run with the default candidates; one
/// more run and evaluation per column.
template <class Scalar, class Method, class D, class Acc>
RadiusChoice<Scalar> radius_search(const Method& method, const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats,
                                   const Grid<Scalar>& base, const RadiusSearchOptions& options = {}) {
  options.validate();
  detail::check_weights("radius_search", W);
  detail::check_grid("radius_search", base, W);
  RadiusChoice<Scalar> best;
  best.errors.reserve(options.candidates.size());
  bool have = false;
  const Eigen::Index n_out = W.cols();
  Eigen::VectorXd column_best = Eigen::VectorXd::Constant(n_out, HUGE_VAL);
  Grid<Scalar> chosen = base;  // per column: each column's steps at its best C so far
  if (options.per_column) best.column_C = Eigen::VectorXd::Ones(n_out);
  for (double C : options.candidates) {
    Grid<Scalar> g = base;
    g.step = (base.step.template cast<double>() * C).template cast<Scalar>();
    Result<Scalar> r = method.quantize(W, stats, g);
    const LayerError le = layer_error(stats, W, r.values());
    const double e = le.error();
    best.errors.push_back(e);
    if (options.per_column)
      for (Eigen::Index j = 0; j < n_out; ++j)
        if (le.column_error(j) < column_best(j)) {
          column_best(j) = le.column_error(j);
          best.column_C(j) = C;
          chosen.step.col(j) = g.step.col(j);
        }
    if (!have || e < best.error) {
      have = true;
      best.error = e;
      best.C = C;
      best.result = std::move(r);
    }
  }
  if (options.per_column) {
    Result<Scalar> r = method.quantize(W, stats, chosen);
    const double e = layer_error(stats, W, r.values()).error();
    if (e <= best.error) {  // the combination is never worse than the best single C (up to rounding)
      best.error = e;
      best.result = std::move(r);
    } else {
      best.column_C.setConstant(best.C);
    }
  }
  best.result.info.extra["radius_scale"] = best.C;
  return best;
}

}  // namespace pathq

#endif  // PATHQ_CORE_SCALE_SEARCH_HPP
