// `pathq layer --method prune`: quantization + pruning and the 1-bit operator on SPFQ.
#ifndef PATHQ_LAYER_METHODS_PRUNE_HPP
#define PATHQ_LAYER_METHODS_PRUNE_HPP

#include <string>

#include <pathq/core/stochastic_operators.hpp>
#include <pathq/methods/prune.hpp>
#include <pathq/methods/spfq.hpp>

#include <pathq/layer/method.hpp>
#include <pathq/layer/methods/spfq.hpp>

namespace pathq {
namespace layer {

/// Options: `--threshold LAMBDA` or `--sparsity S` (a target fraction of zeros, searched for),
/// `--mode stochastic|l1|l0` (default stochastic), `--order R|inf`, `--gain KAPPA`, `--seed S`,
/// `--act-order`, `--threads`, `--block`. Without `--levels`/`--bits` the weights are pruned only;
/// with them they are also quantized, on `{0} U {+-(LAMBDA + k delta) : 0 <= k < K}` (stochastic,
/// l0) or `{k delta : |k| <= K}` after a soft threshold (l1), `delta` from `--step` or, with
/// `--scale C`, such that the largest level is `C R` (layer radius rule).
/// `--one-bit` instead runs the framework's 1-bit operator on `{-alpha, +alpha}`, `alpha = C R`
/// with `--scale C` (default 1) or `DELTA / 2` with `--step DELTA`.
struct PruneMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
    pathq::SpfqOptions so;
    so.engine = engine_options(a);
    so.order = spfq_order(a);
    so.gain = spfq_gain(a);
    so.alignment_residual = true;  // for the report and the bound
    if (a.has("act-order")) so.feature_order = pathq::FeatureOrder::DescendingEnergy;
    if (a.text("step-rule").value_or("layer") != "layer")
      throw option_error{"--method prune takes one threshold per layer: --step-rule must be 'layer'"};
    MethodOutcome<Scalar> out;
    out.extra["order"] = so.order == pathq::SpfqOptions::infinite_order ? nlohmann::json("inf") : nlohmann::json(so.order);
    out.extra["seed"] = spfq_seed(a);

    if (a.has("one-bit")) {
      for (const char* k : {"threshold", "sparsity", "mode", "levels", "bits"})
        if (a.has(k)) throw option_error{std::string("--one-bit does not take --") + k};
      const auto binary = pathq::Alphabet<Scalar>::binary(alphabet.rule());
      out.result = pathq::Spfq<Scalar>(so, pathq::StochasticRounding(spfq_seed(a))).quantize(in.W, *in.stats, binary);
      out.extra["operator"] = "one_bit";
      out.extra["alpha"] = double(out.result.grid.step.maxCoeff()) / 2;
      out.bound = spfq_reported_bound(out.result, *in.stats, so.gain, true, out.extra);
      return out;
    }

    pathq::PruneOptions po;
    po.spfq = so;
    po.seed = spfq_seed(a);
    const std::string mode = a.text("mode").value_or("stochastic");
    if (mode == "stochastic") po.mode = pathq::PruneMode::Stochastic;
    else if (mode == "l1") po.mode = pathq::PruneMode::L1;
    else if (mode == "l0") po.mode = pathq::PruneMode::L0;
    else throw option_error{"--mode must be 'stochastic', 'l1' or 'l0', got '" + mode + "'"};
    const auto threshold = a.real("threshold", true);
    const auto sparsity = a.real("sparsity", false);
    if (threshold && sparsity) throw option_error{"give --threshold or --sparsity, not both"};
    if (!threshold && !sparsity) throw option_error{"--method prune needs --threshold LAMBDA or --sparsity S"};
    if (sparsity && !(*sparsity > 0 && *sparsity < 1))
      throw option_error{"--sparsity must be in (0, 1), got " + *a.text("sparsity")};
    if (threshold) po.threshold = *threshold;
    if (sparsity) po.target_sparsity = *sparsity;
    if (a.has("levels") || a.has("bits")) po.levels = alphabet.levels_per_side();
    po.step = alphabet.rule();
    out.result = pathq::Prune<Scalar>(po).quantize(in.W, *in.stats);
    out.extra["operator"] = pathq::to_string(po.mode);
    out.extra["search_runs"] = int(out.result.info.extra.at("search_runs"));
    out.extra["levels_per_side"] = po.levels;
    if (sparsity) out.extra["target_sparsity"] = *sparsity;
    out.bound = spfq_reported_bound(out.result, *in.stats, so.gain, po.mode == pathq::PruneMode::Stochastic, out.extra);
    return out;
  }
  static MethodSpec spec() {
    return make_method_spec<PruneMethod>("prune", true,
                                         {"threads", "block", "order", "gain", "threshold", "sparsity", "mode"},
                                         {"act-order", "one-bit"});
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_PRUNE_HPP
