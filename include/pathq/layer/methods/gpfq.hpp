// `pathq layer --method gpfq`: greedy path-following quantization on the engine.
#ifndef PATHQ_LAYER_METHODS_GPFQ_HPP
#define PATHQ_LAYER_METHODS_GPFQ_HPP

#include <pathq/bounds/gpfq.hpp>
#include <pathq/methods/gpfq.hpp>

#include <pathq/layer/method.hpp>
#include <pathq/layer/scale_search.hpp>
#include <pathq/layer/methods/axe_flags.hpp>

namespace pathq {
namespace layer {

struct GpfqMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
    pathq::GpfqOptions opt;
    opt.engine = engine_options(a);
    if (a.has("act-order")) opt.order = pathq::FeatureOrder::DescendingEnergy;
    const auto axe = axe_request(a);
    const auto grid = layer_grid(in, alphabet);
    auto quantize = [&](const auto& constraint) {
      using C = std::decay_t<decltype(constraint)>;
      return pathq::Gpfq<Scalar, pathq::Nearest, C>(opt, {}, constraint).quantize(in.W, *in.stats, grid);
    };
    MethodOutcome<Scalar> out{quantize_with_axe<Scalar>(axe, in.W, grid, quantize), std::nullopt,
                              nlohmann::json::object()};
    out.extra["feature_order"] = pathq::to_string(opt.order);
    ReportedBound b{"gpfq_unsaturated", pathq::bounds::gpfq_unsaturated(out.result.grid, in.stats->K().trace()),
                    true, "(step^2/4) ||X||_F^2 per neuron; needs Xq = X and no saturated step"};
    if (in.quantized_inputs || out.result.info.saturated > 0) {
      b.applicable = false;
      b.note = in.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: some steps saturated";
    }
    out.bound = b;
    axe_bound_note(out.bound, axe);
    if (axe) add_accumulator_report(out.extra, out.result, *axe);
    return out;
  }
  static MethodSpec spec() {
    std::set<std::string> valued = {"threads", "block"}, switches = {"act-order"};
    for (const auto& f : axe_valued_options()) valued.insert(f);
    for (const auto& f : axe_switch_options()) switches.insert(f);
    return make_method_spec<GpfqMethod>("gpfq", true, valued, switches);
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_GPFQ_HPP
