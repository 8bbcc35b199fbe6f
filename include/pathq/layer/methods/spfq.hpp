// `pathq layer --method spfq`: stochastic path-following quantization with data alignment.
#ifndef PATHQ_LAYER_METHODS_SPFQ_HPP
#define PATHQ_LAYER_METHODS_SPFQ_HPP

#include <cmath>
#include <limits>
#include <string>

#include <pathq/bounds/spfq.hpp>
#include <pathq/methods/spfq.hpp>

#include <pathq/layer/method.hpp>

namespace pathq {
namespace layer {

/// `--order R|inf` (alignment order, default 1), `--gain KAPPA` in [0, 2] (default 1).
inline int spfq_order(const Options& a) {
  const auto text = a.text("order");
  if (!text) return 1;
  if (*text == "inf") return pathq::SpfqOptions::infinite_order;
  return int(*a.integer("order", 1, 1000000));
}

inline double spfq_gain(const Options& a) {
  const double g = a.real("gain", false).value_or(1.0);
  if (!(g >= 0 && g <= 2)) throw option_error{"--gain must be in [0, 2], got " + *a.text("gain")};
  return g;
}

inline std::uint64_t spfq_seed(const Options& a) {
  return std::uint64_t(a.integer("seed", 0, std::numeric_limits<long long>::max()).value_or(0));
}

/// The report's bound for a stochastic phase 2 (SPFQ's tail bound with the operator's D):
/// `(sqrt(alignment error) + sqrt(N_out) D sqrt(2 pi p m log N_in) max ||Xq_t||)^2`, with p chosen
/// so that it holds with probability >= 0.99. It assumes kappa = 1 and no clipped step.
template <class Scalar>
ReportedBound spfq_reported_bound(const pathq::Result<Scalar>& r, const pathq::LayerStats<double>& stats, double gain,
                                  bool stochastic, nlohmann::json& extra) {
  ReportedBound b{"spfq_tail", 0, true, ""};
  const double n_in = double(stats.n_in()), m = double(stats.samples()), n_out = double(r.grid.n_out());
  if (n_in < 2) {
    b.applicable = false;
    b.note = "does not apply: N_in < 2";
    return b;
  }
  const double p = std::max(2.0, std::log(std::sqrt(2.0) * m * n_out / 0.01) / std::log(n_in));
  const auto tail = pathq::bounds::spfq_layer_tail(r.grid, stats, p);
  const auto it = r.info.extra.find("alignment_error");
  const double align = it == r.info.extra.end() ? 0.0 : it->second;
  b.absolute = std::pow(std::sqrt(align) + std::sqrt(tail.layer), 2);
  b.note = "holds with probability >= " + std::to_string(tail.probability) + " (p = " + std::to_string(p) +
           "): alignment residual plus D sqrt(2 pi p m log N_in) max ||Xq_t|| per neuron, D = " +
           std::to_string(tail.deviation);
  extra["bound_probability"] = tail.probability;
  extra["bound_p"] = p;
  if (!stochastic) {
    b.applicable = false;
    b.note = "does not apply: a deterministic operator is outside the operator contract";
  } else if (gain != 1.0) {
    b.applicable = false;
    b.note = "does not apply: the correction gain is not 1";
  } else if (r.info.saturated > 0) {
    b.applicable = false;
    b.note = "does not apply: some steps were clipped";
  } else if (it == r.info.extra.end()) {
    b.applicable = false;
    b.note = "does not apply: the alignment residual was not computed";
  }
  return b;
}

/// Options: `--order R|inf`, `--gain KAPPA`, `--seed S` (common), `--act-order`, `--threads`,
/// `--block`, and `--auto-levels P`: with `--step DELTA`, the number of levels K from the
/// finite-alphabet rule (no clipping with probability >= 1 - sqrt(2) N_in N_out N^-P,
/// N = max(N_in, N_out)) instead of `--levels`/`--bits`.
struct SpfqMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
    pathq::SpfqOptions opt;
    opt.engine = engine_options(a);
    opt.order = spfq_order(a);
    opt.gain = spfq_gain(a);
    opt.alignment_residual = true;  // for the report and the bound
    if (a.has("act-order")) opt.feature_order = pathq::FeatureOrder::DescendingEnergy;
    const pathq::Spfq<Scalar> q(opt, pathq::StochasticRounding(spfq_seed(a)));
    nlohmann::json extra = nlohmann::json::object();
    pathq::Result<Scalar> r;
    if (auto p = a.real("auto-levels", true)) {
      if (a.has("levels") || a.has("bits")) throw option_error{"give --auto-levels or --levels/--bits, not both"};
      const auto delta = a.real("step", true);
      if (!delta) throw option_error{"--auto-levels needs --step DELTA"};
      const auto aligned = q.align(in.W, *in.stats);
      const int K = pathq::spfq_levels_for_no_clipping(aligned.W, *in.stats, *delta, *p);
      const double N = double(std::max(in.W.rows(), in.W.cols()));
      r = q.quantize_aligned(aligned, *in.stats, pathq::Alphabet<Scalar>::symmetric(K, Scalar(*delta)).resolve(in.W));
      extra["auto_levels"] = {{"p", *p}, {"levels_per_side", K},
                              {"promised_probability", pathq::bounds::spfq_no_clipping_probability(
                                                           *p, N, double(in.W.rows()), double(in.W.cols()))}};
    } else {
      r = q.quantize(in.W, *in.stats, alphabet);
    }
    MethodOutcome<Scalar> out{std::move(r), std::nullopt, extra};
    out.extra["order"] = opt.order == pathq::SpfqOptions::infinite_order ? nlohmann::json("inf") : nlohmann::json(opt.order);
    out.extra["seed"] = spfq_seed(a);
    out.extra["feature_order"] = pathq::to_string(opt.feature_order);
    out.bound = spfq_reported_bound(out.result, *in.stats, opt.gain, true, out.extra);
    return out;
  }
  static MethodSpec spec() {
    return make_method_spec<SpfqMethod>("spfq", true, {"threads", "block", "order", "gain", "auto-levels"},
                                        {"act-order"});
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_SPFQ_HPP
