// `pathq layer --method optq`: OPTQ/GPTQ on the engine, with act-order, groups and grid kinds.
#ifndef PATHQ_LAYER_METHODS_OPTQ_HPP
#define PATHQ_LAYER_METHODS_OPTQ_HPP

#include <set>
#include <string>

#include <pathq/bounds/optq.hpp>
#include <pathq/methods/optq.hpp>

#include <pathq/layer/grid_options.hpp>
#include <pathq/layer/method.hpp>
#include <pathq/layer/scale_search.hpp>
#include <pathq/layer/methods/axe_flags.hpp>

namespace pathq {
namespace layer {

/// Options: `--damp D` (relative damping, default 0.01), `--damp-retries R` (default 4),
/// `--act-order`, `--grid KIND`, `--group-size G`, `--static-groups`, `--block B`, `--threads T`,
/// `--objective outputs|inputs` (what the error feedback minimises when `--quantized-inputs` differ
/// from `--inputs`: `||XW - XqQ||`, the default, or classic OPTQ's `||Xq (W - Q)||`; the report's
/// `objective` says which).
struct OptqMethod {
  static pathq::OptqObjective objective(const Options& a) {
    const std::string o = a.text("objective").value_or("outputs");
    if (o == "outputs") return pathq::OptqObjective::FloatOutputs;
    if (o == "inputs") return pathq::OptqObjective::QuantizedInputs;
    throw option_error{"--objective must be 'outputs' or 'inputs', got '" + o + "'"};
  }

  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in,
                                   const pathq::Alphabet<Scalar>& common) {
    pathq::OptqOptions opt;
    opt.engine = engine_options(a);
    if (auto d = a.real("damp", false)) {
      if (!(*d >= 0)) throw option_error{"--damp must be >= 0, got " + *a.text("damp")};
      opt.damping = *d;
    }
    if (auto r = a.integer("damp-retries", 0, 30)) opt.max_damping_retries = int(*r);
    if (a.has("act-order")) opt.order = pathq::FeatureOrder::DescendingEnergy;
    opt.objective = objective(a);
    opt.static_groups = a.has("static-groups");
    if (opt.static_groups && !a.has("group-size")) throw option_error{"--static-groups goes with --group-size"};
    const auto alphabet = grid_alphabet(a, common);
    if (alphabet.group_size() > 0 && !opt.static_groups) {
      if (a.has("act-order"))
        throw option_error{
            "--group-size with --act-order needs --static-groups (dynamic groups follow the natural order)"};
      if (alphabet.rule().kind == pathq::StepRule::Kind::LayerRadius)
        throw option_error{"dynamic groups refit each column: use --step-rule column (or --static-groups)"};
    }
    const auto axe = axe_request(a);
    const bool dynamic = alphabet.group_size() > 0 && !opt.static_groups;  // grids refit in the pass
    const auto grid = dynamic ? alphabet.resolve(in.W) : layer_grid(in, alphabet);
    auto quantize = [&](const auto& constraint) {
      using C = std::decay_t<decltype(constraint)>;
      const pathq::Optq<Scalar, pathq::Nearest, C> optq(opt, {}, constraint);
      return dynamic ? optq.quantize(in.W, *in.stats, alphabet) : optq.quantize(in.W, *in.stats, grid);
    };
    MethodOutcome<Scalar> out{quantize_with_axe<Scalar>(axe, in.W, grid, quantize), std::nullopt,
                              nlohmann::json::object()};
    const auto& r = out.result;
    out.extra["feature_order"] = pathq::to_string(opt.order);
    out.extra["groups"] = r.grid.group_size == 0 ? "none" : (opt.static_groups ? "static" : "dynamic");
    out.extra["block"] = opt.engine.block_size;
    out.extra["objective"] = opt.objective == pathq::OptqObjective::FloatOutputs ? "outputs" : "inputs";
    const double lambda = r.info.extra.count("damping_lambda") ? r.info.extra.at("damping_lambda") : 0.0;
    ReportedBound b{"optq_unsaturated", pathq::bounds::optq_unsaturated(r.grid, in.stats->H().diagonal(), lambda),
                    true, "(1/4) sum_t step_t^2 (H_tt + lambda) per neuron; needs Xq = X and no saturated step"};
    if (in.quantized_inputs || r.info.saturated > 0 || r.info.status == pathq::Info::Failed) {
      b.applicable = false;
      b.note = in.quantized_inputs ? (opt.objective == pathq::OptqObjective::QuantizedInputs
                                          ? "does not apply: Xq differs from X (OPTQ minimises ||Xq (W - Q)||)"
                                          : "does not apply: Xq differs from X")
               : r.info.saturated > 0 ? "does not apply: some steps saturated"
                                      : "does not apply: the factorization failed";
    }
    out.bound = b;
    axe_bound_note(out.bound, axe);
    if (axe) add_accumulator_report(out.extra, out.result, *axe);
    return out;
  }
  static MethodSpec spec() {
    std::set<std::string> valued = {"damp", "damp-retries", "block", "threads", "objective"};
    for (const auto& g : grid_valued_options()) valued.insert(g);
    for (const auto& f : axe_valued_options()) valued.insert(f);
    std::set<std::string> switches = {"act-order", "static-groups"};
    for (const auto& f : axe_switch_options()) switches.insert(f);
    return make_method_spec<OptqMethod>("optq", true, valued, switches);
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_OPTQ_HPP
