// `--scale-search none|clip|radius|column`: the grid a method rounds onto, after the requested scale search.
#ifndef PATHQ_LAYER_SCALE_SEARCH_HPP
#define PATHQ_LAYER_SCALE_SEARCH_HPP

#include <pathq/core/alphabet.hpp>
#include <pathq/core/scale_search.hpp>

#include <pathq/layer/method.hpp>

namespace pathq {
namespace layer {

/// The grid `alphabet` fits to the layer's weights, then:
/// - with `--scale-search clip`, each column's (or group's) step multiplied by the clipping ratio
///   in [0.2, 1] (100 candidates) of least `e^T diag(H) e` (`||e||^2` without --inputs), e = w - q
///   rounded to nearest (`pathq::clip_search`);
/// - every step multiplied by `in.radius_scale` (1 unless a radius search is running), and each
///   column's by `in.column_scale(j)` when a column search has chosen them.
template <class Scalar>
pathq::Grid<Scalar> layer_grid(const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
  pathq::Grid<Scalar> g = alphabet.resolve(in.W);
  if (in.scale_search == "clip" && g.bounded && g.kind != pathq::GridKind::DeadZone)
    g = in.stats ? pathq::clip_search(in.W, *in.stats, g).grid : pathq::clip_search(in.W, g).grid;
  if (in.radius_scale != 1.0) g.step = (g.step.template cast<double>() * in.radius_scale).template cast<Scalar>();
  if (in.column_scale.size() == g.step.cols())
    for (Eigen::Index j = 0; j < g.step.cols(); ++j)
      g.step.col(j) = (g.step.col(j).template cast<double>() * in.column_scale(j)).template cast<Scalar>();
  return g;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_SCALE_SEARCH_HPP
