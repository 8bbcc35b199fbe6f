// Adapters that plug the library's quantization methods into the network driver.
#ifndef PATHQ_NETWORK_LAYER_METHODS_HPP
#define PATHQ_NETWORK_LAYER_METHODS_HPP

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "pathq/bounds/gpfq.hpp"
#include "pathq/bounds/maly_saab.hpp"
#include "pathq/bounds/msq.hpp"
#include "pathq/bounds/optq.hpp"
#include "pathq/bounds/sigma_delta.hpp"
#include "pathq/constraints/accumulator.hpp"
#include "pathq/methods/gpfq.hpp"
#include "pathq/methods/grid_choice.hpp"
#include "pathq/methods/maly_saab.hpp"
#include "pathq/methods/msq.hpp"
#include "pathq/methods/optq.hpp"
#include "pathq/methods/sigma_delta.hpp"
#include "pathq/methods/spfq.hpp"
#include "pathq/network/layer_method.hpp"

namespace pathq::layer_methods {

namespace detail {
// MSQ in the shape the grid choice expects (the statistics only score the candidates).
template <class Scalar>
struct MsqOnGrid {
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>&, const Grid<Scalar>& grid) const {
    return pathq::msq(W, grid);
  }
};
}  // namespace detail

/// MSQ (round every weight; the data are used only for the report). Bound: `msq_unsaturated`,
/// applicable when `Xq = X` and no weight saturated.
template <class Scalar>
LayerMethod<Scalar> msq(GridChoiceOptions choice = {}) {
  choice.validate();
  return {"msq", [choice](const LayerProblem<Scalar>& p) {
            LayerSolution<Scalar> s;
            Grid<Scalar> grid;
            s.result = quantize_with_grid_choice(detail::MsqOnGrid<Scalar>{}, p.W, p.stats, p.alphabet, choice, &grid);
            LayerBound b{"msq_unsaturated", bounds::msq_unsaturated(grid, p.stats.K().diagonal()), true,
                         "(step^2/4) (sum_t ||X_t||)^2 per neuron; needs Xq = X and no saturated weight"};
            if (p.quantized_inputs || s.result.info.saturated > 0) {
              b.applicable = false;
              b.note = p.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: weights saturated";
            }
            s.bound = b;
            return s;
          }};
}

/// GPFQ on the statistics of X and Xq (methods/gpfq.hpp). Bound: `gpfq_unsaturated`,
/// applicable when `Xq = X` and no step saturated.
template <class Scalar>
LayerMethod<Scalar> gpfq(GpfqOptions options = {}, GridChoiceOptions choice = {}) {
  options.validate();
  choice.validate();
  return {"gpfq", [options, choice](const LayerProblem<Scalar>& p) {
            LayerSolution<Scalar> s;
            Grid<Scalar> grid;
            s.result = quantize_with_grid_choice(Gpfq<Scalar>(options), p.W, p.stats, p.alphabet, choice, &grid);
            LayerBound b{"gpfq_unsaturated", bounds::gpfq_unsaturated(grid, p.stats.K().trace()), true,
                         "(step^2/4) ||X||_F^2 per neuron; needs Xq = X and no saturated step"};
            if (p.quantized_inputs || s.result.info.saturated > 0) {
              b.applicable = false;
              b.note = p.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: steps saturated";
            }
            s.bound = b;
            return s;
          }};
}

/// SPFQ (methods/spfq.hpp): data alignment of order `options.order`, then stochastic rounding
/// from the counter-based streams of `seed` (one per neuron); a different seed per layer is
/// derived as `seed + site`.
template <class Scalar>
LayerMethod<Scalar> spfq(SpfqOptions options = {}, std::uint64_t seed = 0, GridChoiceOptions choice = {}) {
  choice.validate();
  return {"spfq", [options, seed, choice](const LayerProblem<Scalar>& p) {
            LayerSolution<Scalar> s;
            s.result = quantize_with_grid_choice(Spfq<Scalar>(options, StochasticRounding(seed + std::uint64_t(p.site))), p.W,
                                                 p.stats, p.alphabet, choice);
            return s;
          }};
}

/// OPTQ/GPTQ (methods/optq.hpp), by default against the float outputs `||XW - XqQ||`
/// (`OptqOptions::objective`). Bound: `optq_unsaturated`, applicable when `Xq = X` and no step
/// saturated.
template <class Scalar>
LayerMethod<Scalar> optq(OptqOptions options = {}, GridChoiceOptions choice = {}) {
  choice.validate();
  return {"optq", [options, choice](const LayerProblem<Scalar>& p) {
            LayerSolution<Scalar> s;
            Grid<Scalar> grid;
            s.result = quantize_with_grid_choice(Optq<Scalar>(options), p.W, p.stats, p.alphabet, choice, &grid);
            const auto& x = s.result.info.extra;
            const double lambda = x.count("damping_lambda") ? x.at("damping_lambda") : 0.0;
            LayerBound b{"optq_unsaturated", bounds::optq_unsaturated(grid, p.stats.H().diagonal(), lambda),
                         true, "(1/4) sum_t step_t^2 (H_tt + lambda) per neuron; needs Xq = X and no saturated step"};
            if (p.quantized_inputs || s.result.info.saturated > 0 || s.result.info.status == Info::Failed) {
              b.applicable = false;
              b.note = p.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: steps saturated";
            }
            s.bound = b;
            return s;
          }};
}

/// Maly-Saab pre-processing + MSQ (methods/maly_saab.hpp). The null-space walk needs fewer rows
/// than inputs: it runs on `LayerProblem::subset` (set `NetworkQuantizerOptions::subset_samples`
/// below the layers' widths), or on all samples when no subset is given (then, with m >= N_in,
/// it is plain MSQ). Bound: `maly_saab_deterministic` on the walk's statistics.
template <class Scalar>
LayerMethod<Scalar> maly_saab(MalySaabOptions options = {}) {
  return {"maly-saab", [options](const LayerProblem<Scalar>& p) {
            const MalySaab<Scalar> ms(options);
            const LayerStats<double>& walk_stats = p.subset ? *p.subset : p.stats;
            const auto grid = p.alphabet.resolve(p.W);
            const auto walk = ms.preprocess(p.W, walk_stats, grid);
            LayerSolution<Scalar> s;
            s.result = ms.quantize_walk(walk, grid);
            s.result.info.extra["off_grid"] = double(walk.off_grid_count());
            if (!p.subset) {
              LayerBound b{"maly_saab_deterministic", bounds::maly_saab_deterministic(walk_stats.K(), walk.off_grid, grid),
                           true, "sigma_max(X_S)^2 |S| step^2/4 per neuron on its off-grid set S; needs Xq = X"};
              if (p.quantized_inputs || s.result.info.saturated > 0) {
                b.applicable = false;
                b.note = p.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: weights saturated";
              }
              s.bound = b;
            }
            return s;
          }};
}

namespace detail {
// Frame Sigma-Delta of one layer with the frame size already in `o.frame_size`: the codes, the
// weights rebuilt from them, and the data-domain frame bound.
template <class Scalar>
LayerSolution<Scalar> sigma_delta_solution(const LayerProblem<Scalar>& p, const SigmaDeltaOptions& o) {
  const auto r = SigmaDelta<Scalar>(o).quantize(p.W);
  LayerSolution<Scalar> s;
  s.result.codes = r.codes();
  s.result.info = r.info;
  s.result.grid.kind = GridKind::Midrise;
  s.result.grid.code_lo = -o.levels;
  s.result.grid.code_hi = o.levels - 1;
  s.result.grid.step = r.step();
  s.result.grid.zero = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>::Constant(1, r.step().size(), Scalar(-0.5));
  s.result.info.extra["frame_size"] = double(r.p());
  s.values = r.values();
  LayerBound b{"sigma_delta_data", bounds::sigma_delta_data(r, p.stats.K()), true,
               "lambda_max(X^T X) times the frame bound squared; needs Xq = X and |u| <= step/2"};
  if (p.quantized_inputs || !r.stable()) {
    b.applicable = false;
    b.note = p.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: unstable state";
  }
  s.bound = b;
  return s;
}
}  // namespace detail

/// First-order Sigma-Delta in a harmonic frame (methods/sigma_delta.hpp), data-free; the
/// layer's alphabet is not used. Each column (neuron, n = N_in) is expanded in a frame of
/// `p = max(n + 1, ceil(frame_ratio n))` elements; `options.levels` L gives the midrise alphabet
/// (L = 1: one bit per frame coefficient). The quantized weights are rebuilt from the codes.
template <class Scalar>
LayerMethod<Scalar> sigma_delta(double frame_ratio = 2.0, SigmaDeltaOptions options = {}) {
  PATHQ_CHECK(frame_ratio > 1 && std::isfinite(frame_ratio), "layer_methods::sigma_delta",
              "frame_ratio must be a finite number > 1, got ", frame_ratio);
  return {"sigma-delta", [frame_ratio, options](const LayerProblem<Scalar>& p) {
            SigmaDeltaOptions o = options;
            const Eigen::Index n = o.axis == FrameAxis::Columns ? p.W.rows() : p.W.cols();
            o.frame_size = std::max<Eigen::Index>(n + 1, Eigen::Index(std::ceil(frame_ratio * double(n))));
            return detail::sigma_delta_solution(p, o);
          }};
}

/// First-order Sigma-Delta with the same frame for every layer: each expanded vector (a column,
/// n = N_in, or with `FrameAxis::Rows` a row, n = N_out) in the harmonic frame of `frame_size`
/// elements, whatever the layer's width (Czaja-Na's setting: one p for the whole network, above
/// every expanded dimension). `options.step > 0` gives every layer that same step (below a
/// layer's `max_j ||x_j|| / (L - 1/2)` its state may leave `[-step/2, step/2]`: the layer's
/// status then says so and its bound does not apply); otherwise each layer takes that step times
/// `options.step_scale`. `frame_size` replaces `options.frame_size`.
/// \throws invalid_argument if `frame_size < 2`; when run, if a layer's n is not below `frame_size`.
template <class Scalar>
LayerMethod<Scalar> sigma_delta_frame(Eigen::Index frame_size, SigmaDeltaOptions options = {}) {
  PATHQ_CHECK(frame_size >= 2, "layer_methods::sigma_delta_frame", "frame_size p must be >= 2, got ", frame_size);
  options.frame_size = frame_size;
  options.validate();
  return {"sigma-delta", [options](const LayerProblem<Scalar>& p) {
            const Eigen::Index n = options.axis == FrameAxis::Columns ? p.W.rows() : p.W.cols();
            PATHQ_CHECK(options.frame_size > n, "layer_methods::sigma_delta_frame", "frame size p = ",
                        options.frame_size, " must exceed the expanded dimension n = ", n, " of layer '", p.name,
                        "' (", to_string(options.axis), " of a ", p.W.rows(), " x ", p.W.cols(), " W)");
            return detail::sigma_delta_solution(p, options);
          }};
}

/// AXE (constraints/accumulator.hpp) on GPFQ: codes constrained so that no accumulation of
/// `accumulator.input_bits`-bit inputs overflows a `accumulator.accumulator_bits`-bit accumulator.
template <class Scalar>
LayerMethod<Scalar> axe_gpfq(AccumulatorOptions accumulator, GpfqOptions options = {}) {
  accumulator.validate("layer_methods::axe_gpfq");
  return {"axe-gpfq", [accumulator, options](const LayerProblem<Scalar>& p) {
            const auto grid = p.alphabet.resolve(p.W);
            const AccumulatorConstraint<Scalar> constraint(accumulator, p.W, grid);
            LayerSolution<Scalar> s;
            s.result = Gpfq<Scalar, Nearest, AccumulatorConstraint<Scalar>>(options, {}, constraint).quantize(p.W, p.stats, grid);
            return s;
          }};
}

/// AXE on OPTQ, as `axe_gpfq`.
template <class Scalar>
LayerMethod<Scalar> axe_optq(AccumulatorOptions accumulator, OptqOptions options = {}) {
  accumulator.validate("layer_methods::axe_optq");
  return {"axe-optq", [accumulator, options](const LayerProblem<Scalar>& p) {
            const auto grid = p.alphabet.resolve(p.W);
            const AccumulatorConstraint<Scalar> constraint(accumulator, p.W, grid);
            LayerSolution<Scalar> s;
            s.result = Optq<Scalar, Nearest, AccumulatorConstraint<Scalar>>(options, {}, constraint).quantize(p.W, p.stats, grid);
            return s;
          }};
}

}  // namespace pathq::layer_methods

#endif  // PATHQ_NETWORK_LAYER_METHODS_HPP
