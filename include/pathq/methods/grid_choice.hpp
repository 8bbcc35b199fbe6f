// How a layer's grid is chosen around a method (scale search) and how its result is polished.
#ifndef PATHQ_METHODS_GRID_CHOICE_HPP
#define PATHQ_METHODS_GRID_CHOICE_HPP

#include <string>
#include <utility>

#include <Eigen/Core>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/scale_search.hpp"
#include "pathq/core/step_refit.hpp"
#include "pathq/methods/code_refinement.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// The scale searches a layer method can run around its grid.
/// - `None`: the grid the alphabet fits to W, as it is.
/// - `Clip`: a **proxy**: each column's (group's) step times the clipping ratio of least
///   `e^T diag(H) e` for plain rounding (`clip_search`), chosen before the method runs; it
///   ignores the method's error feedback and can make the method's result worse.
/// - `Radius`: one radius scalar C for the layer, the candidate of least layer error that the
///   method actually reaches (`radius_search`); C = 1 is a candidate, so it never loses to no
///   search on the layer error.
/// - `Column`: a C per neuron, each the candidate of least error for that neuron with the method
///   run on it (`radius_search` with `per_column`); never worse than `Radius` or no search on
///   the layer error (C = 1 is a candidate).
enum class ScaleSearch { None, Clip, Radius, Column };

inline const char* to_string(ScaleSearch s) {
  switch (s) {
    case ScaleSearch::None: return "none";
    case ScaleSearch::Clip: return "clip";
    case ScaleSearch::Radius: return "radius";
    case ScaleSearch::Column: return "column";
  }
  return "unknown";
}

/// Parses "none", "clip", "radius" or "column". \throws invalid_argument naming the value.
inline ScaleSearch scale_search_from_string(const std::string& s) {
  if (s == "none") return ScaleSearch::None;
  if (s == "clip") return ScaleSearch::Clip;
  if (s == "radius") return ScaleSearch::Radius;
  if (s == "column") return ScaleSearch::Column;
  throw invalid_argument("scale_search_from_string: the scale search must be 'none', 'clip', 'radius' or 'column', got '" +
                         s + "'");
}

/// Grid choice and polishing around a method on the statistics (GPFQ, SPFQ, OPTQ, MSQ).
/// The defaults are pathq's defaults for whole networks (see docs and bench/RESULTS.md,
/// "Whole networks by configuration").
struct GridChoiceOptions {
  ScaleSearch search = ScaleSearch::None;
  ClipSearchOptions clip;      ///< with `Clip`
  RadiusSearchOptions radius;  ///< with `Radius` and `Column` (its `per_column` is set by the kind)
  int refine_passes = 0;       ///< > 0: coordinate descent on the codes (`refine_codes`), in [0, 1000]
  bool refit_steps = false;    ///< least-squares steps for the codes (`refit_steps`); with
                               ///< refine_passes: refine, refit, refine

  bool polishes() const { return refine_passes > 0 || refit_steps; }
  /// \throws invalid_argument naming the field.
  void validate() const {
    PATHQ_CHECK(refine_passes >= 0 && refine_passes <= 1000, "GridChoiceOptions",
                "refine_passes must be in [0, 1000], got ", refine_passes);
    if (search == ScaleSearch::Clip) clip.validate();
    if (search == ScaleSearch::Radius || search == ScaleSearch::Column) radius.validate();
  }
};

/// The method `quantizer` (anything with `quantize(W, stats, const Grid<Scalar>&)`) on the grid
/// that `alphabet` fits to W, after the scale search of `options`, then polished. Each step
/// after the method never raises the layer error `||XW - XqQ||_F^2`; the `Radius` and `Column`
/// searches never raise it above the unsearched run's; `Clip` may (it is a proxy).
/// `info.extra` gains `radius_scale` (searches by C) and the polishing counters. `method_grid`,
/// when given, receives the grid the method itself ran on: a bound proved for the method holds
/// with that grid's steps (polishing only lowers the error from there, but a refit changes the
/// steps the result carries).
/// \throws invalid_argument on invalid options or whatever the method throws.
template <class Scalar, class Quantizer, class D, class Acc>
Result<Scalar> quantize_with_grid_choice(const Quantizer& quantizer, const Eigen::MatrixBase<D>& W,
                                         const LayerStats<Acc>& stats, const Alphabet<Scalar>& alphabet,
                                         const GridChoiceOptions& options, Grid<Scalar>* method_grid = nullptr) {
  options.validate();
  Grid<Scalar> grid = alphabet.resolve(W);
  const bool searchable = grid.bounded && grid.kind != GridKind::DeadZone;
  if (options.search == ScaleSearch::Clip && searchable) grid = clip_search(W, stats, grid, options.clip).grid;
  Result<Scalar> r;
  if ((options.search == ScaleSearch::Radius || options.search == ScaleSearch::Column) && searchable) {
    RadiusSearchOptions ro = options.radius;
    ro.per_column = options.search == ScaleSearch::Column;
    r = radius_search(quantizer, W, stats, grid, ro).result;
  } else {
    r = quantizer.quantize(W, stats, grid);
  }
  if (method_grid) *method_grid = r.grid;
  if (options.refine_passes > 0) {
    CodeRefinementOptions co;
    co.passes = options.refine_passes;
    r = refine_codes(W, stats, std::move(r), co);
    if (options.refit_steps) {
      r = refit_steps(W, stats, std::move(r));
      r = refine_codes(W, stats, std::move(r), co);
    }
  } else if (options.refit_steps) {
    r = refit_steps(W, stats, std::move(r));
  }
  return r;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_GRID_CHOICE_HPP
