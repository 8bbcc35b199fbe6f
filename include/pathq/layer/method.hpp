// What a `pathq layer --method` entry provides: its name, its options and how it runs.
#ifndef PATHQ_LAYER_METHOD_HPP
#define PATHQ_LAYER_METHOD_HPP

#include <functional>
#include <optional>
#include <set>
#include <string>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/result.hpp>
#include <pathq/stats/layer_stats.hpp>

#include <pathq/layer/options.hpp>

namespace pathq {
namespace layer {

/// The loaded layer: weights in the working precision and, when inputs were given, the
/// statistics of X and Xq.
template <class Scalar>
struct LayerInput {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> W;
  std::optional<pathq::LayerStats<double>> stats;
  bool quantized_inputs = false;  ///< Xq was given apart from X
  /// --scale-search: "none", "clip" (per column/group clipping ratio, see scale_search.hpp, a
  /// proxy), "radius" (the tool reruns the method for each radius scalar and keeps the best run)
  /// or "column" (a radius scalar per neuron, each by the error the method reaches).
  std::string scale_search = "none";
  double radius_scale = 1.0;  ///< the factor on every step that a radius search is trying
  Eigen::VectorXd column_scale;  ///< when set: one more factor per column (the column search's choice)
};

/// A bound on the absolute layer error `||XW - XqQ||_F^2`, as the report shows it.
struct ReportedBound {
  std::string name;         ///< the theorem, e.g. "gpfq_unsaturated"
  double absolute = 0;      ///< bound on ||XW - XqQ||_F^2
  bool applicable = true;   ///< false when the theorem's hypotheses fail for this run
  std::string note;         ///< why it does not apply, or what it assumes
};

/// What a method returns to the tool.
template <class Scalar>
struct MethodOutcome {
  pathq::Result<Scalar> result;
  std::optional<ReportedBound> bound;
  nlohmann::json extra = nlohmann::json::object();  ///< method-specific report fields
  /// The weights --out writes when they are not `result.values()` (frame methods, whose codes
  /// are coefficients in another basis); --codes still writes `result.codes`.
  std::optional<Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>> weights = std::nullopt;
};

/// A `pathq layer --method` entry.
struct MethodSpec {
  std::string name;
  bool needs_inputs = false;                ///< --inputs is required
  std::set<std::string> valued_options;     ///< method-specific `--flag value` options
  std::set<std::string> switch_options;     ///< method-specific `--switch` options
  std::function<MethodOutcome<float>(const Options&, const LayerInput<float>&, const pathq::Alphabet<float>&)> run_float;
  std::function<MethodOutcome<double>(const Options&, const LayerInput<double>&, const pathq::Alphabet<double>&)> run_double;
};

/// Builds a spec from a method type `M` with a static `template <class Scalar> run(...)`.
template <class M>
MethodSpec make_method_spec(std::string name, bool needs_inputs, std::set<std::string> valued,
                            std::set<std::string> switches) {
  MethodSpec s;
  s.name = std::move(name);
  s.needs_inputs = needs_inputs;
  s.valued_options = std::move(valued);
  s.switch_options = std::move(switches);
  s.run_float = [](const Options& a, const LayerInput<float>& in, const pathq::Alphabet<float>& al) {
    return M::template run<float>(a, in, al);
  };
  s.run_double = [](const Options& a, const LayerInput<double>& in, const pathq::Alphabet<double>& al) {
    return M::template run<double>(a, in, al);
  };
  return s;
}

/// Engine options shared by the engine-based methods: --threads, --block.
inline pathq::EngineOptions engine_options(const Options& a) {
  pathq::EngineOptions e;
  if (auto t = a.integer("threads", 0, 4096)) e.threads = int(*t);
  if (auto b = a.integer("block", 1, 1 << 20)) e.block_size = *b;
  return e;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHOD_HPP
