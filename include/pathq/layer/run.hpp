// One layer, end to end in memory: the options of `pathq layer` (by name) turned into a method
// run, the scale search and polishing they ask for, and the report `pathq layer --report`
// writes. `pathq layer`, `pathq model` and the Python module call this; reading and writing
// files is theirs.
#ifndef PATHQ_LAYER_RUN_HPP
#define PATHQ_LAYER_RUN_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <pathq/pathq.hpp>
#include <pathq/layer/method.hpp>
#include <pathq/layer/methods/registry.hpp>
#include <pathq/layer/options.hpp>

namespace pathq {
namespace layer {

namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A matrix of steps or zero points for the report: one number when all entries are equal, a row
/// when there is one row, else rows.
inline nlohmann::json matrix_or_scalar(const Eigen::MatrixXd& M) {
  if (M.size() > 0 && (M.array() == M(0, 0)).all()) return M(0, 0);
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index g = 0; g < M.rows(); ++g) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index j = 0; j < M.cols(); ++j) row.push_back(M(g, j));
    rows.push_back(row);
  }
  return M.rows() == 1 ? rows[0] : rows;
}

}  // namespace detail

// Options common to every method.
inline const std::set<std::string>& common_valued() {
  static const std::set<std::string> s = {"method", "weights", "inputs", "quantized-inputs", "levels", "bits",
                                          "step", "scale", "step-rule", "seed", "precision", "out", "codes",
                                          "report", "max-memory-mb", "scale-search", "refine-passes", "statistics"};
  return s;
}

// --refine-passes P and --refit-steps: polishing after the method, for the methods whose result is
// codes on a grid with no accumulator constraint.
inline bool polish_requested(const Options& a) { return a.has("refine-passes") || a.has("refit-steps"); }
inline void check_polish_options(const Options& a, const std::string& method) {
  if (!polish_requested(a)) return;
  (void)a.integer("refine-passes", 1, 1000);
  if (method != "msq" && method != "gpfq" && method != "spfq" && method != "optq")
    throw option_error{"--refine-passes and --refit-steps apply to --method msq, gpfq, spfq and optq, not " + method};
  if (a.has("accumulator-bits"))
    throw option_error{"--refine-passes and --refit-steps ignore the accumulator constraint: not with --accumulator-bits"};
}

// The method's result, polished: with --refit-steps the least-squares steps for its codes
// (refit_steps), with --refine-passes P coordinate descent on the codes (refine_codes); with both,
// refine, refit, refine. Each never raises the layer error.
template <class Scalar>
void polish(const Options& a, const LayerInput<Scalar>& in, MethodOutcome<Scalar>& out) {
  if (!polish_requested(a)) return;
  if (!in.stats) throw option_error{"--refine-passes and --refit-steps need --inputs X.npy"};
  const auto passes = a.integer("refine-passes", 1, 1000);
  pathq::CodeRefinementOptions o;
  if (passes) o.passes = int(*passes);
  auto& r = out.result;
  if (passes) r = pathq::refine_codes(in.W, *in.stats, std::move(r), o);
  if (a.has("refit-steps")) {
    const auto t0 = std::chrono::steady_clock::now();
    r = pathq::refit_steps(in.W, *in.stats, std::move(r));
    r.info.seconds += detail::seconds_since(t0);
    if (passes) r = pathq::refine_codes(in.W, *in.stats, std::move(r), o);
  }
}

template <class Scalar>
pathq::Alphabet<Scalar> alphabet_from(const Options& a) {
  if (a.has("levels") && a.has("bits")) throw option_error{"give --levels or --bits, not both"};
  if (a.has("step") && a.has("scale")) throw option_error{"give --step or --scale, not both"};
  if (a.has("step-rule") && !a.has("scale")) throw option_error{"--step-rule goes with --scale"};
  // Without --step or --scale: pathq's default step rule, each neuron's largest level at its own
  // max |w| (the same as --scale 1 --step-rule column; the evidence is in docs/defaults.md). The
  // pruning grids need one threshold for the layer, so --method prune keeps the layer rule.
  // --scale C alone keeps its meaning: the layer rule with C.
  const bool one_threshold = a.text("method").value_or("") == "prune";
  pathq::StepRule rule = one_threshold ? pathq::StepRule::layer_radius(1.0) : pathq::StepRule::column_radius(1.0);
  if (auto d = a.real("step", true)) rule = pathq::StepRule::fixed(*d);
  if (auto c = a.real("scale", true)) {
    const std::string r = a.text("step-rule").value_or("layer");
    if (r == "layer") rule = pathq::StepRule::layer_radius(*c);
    else if (r == "column") rule = pathq::StepRule::column_radius(*c);
    else throw option_error{"--step-rule must be 'layer' or 'column', got '" + r + "'"};
  }
  if (auto K = a.integer("levels", 1, (1 << 30) - 1)) return pathq::Alphabet<Scalar>::symmetric(int(*K), rule);
  const int bits = int(a.integer("bits", 2, 24).value_or(4));
  return pathq::Alphabet<Scalar>::from_bits(bits, rule);
}

// --statistics double|float: the products of H, G, K in double, or in float over chunks of rows
// added up in double (pathq::StatsProducts::FloatChunks). Default: the working precision
// (--precision), measured in bench/RESULTS.md ("The whole `pathq layer` job").
inline pathq::StatsProducts statistics_products(const Options& a) {
  const std::string s = a.text("statistics").value_or(a.text("precision").value_or("float"));
  if (s == "double") return pathq::StatsProducts::Accumulation;
  if (s == "float") return pathq::StatsProducts::FloatChunks;
  throw option_error{"--statistics must be 'double' or 'float', got '" + s + "'"};
}

// The layer error of an outcome: the method's own figures when it left them (a trace identity,
// no product), else from the statistics.
template <class Scalar>
pathq::LayerError outcome_error(const LayerInput<Scalar>& in, const MethodOutcome<Scalar>& o) {
  return o.weights ? pathq::layer_error(*in.stats, in.W, *o.weights) : pathq::layer_error(*in.stats, in.W, o.result);
}

inline MethodOutcome<float> run_spec(const MethodSpec& s, const Options& a, const LayerInput<float>& in,
                                     const pathq::Alphabet<float>& al) {
  return s.run_float(a, in, al);
}
inline MethodOutcome<double> run_spec(const MethodSpec& s, const Options& a, const LayerInput<double>& in,
                                      const pathq::Alphabet<double>& al) {
  return s.run_double(a, in, al);
}

// --scale-search: "none", "clip", "radius" or "column", for the methods that build their grid
// with layer_grid (scale_search_options.hpp): msq, gpfq, optq. Default: "none" (the measured
// default, see docs/defaults.md).
inline std::string scale_search_mode(const Options& a, const MethodSpec& spec, bool have_inputs) {
  const bool searchable = spec.name == "msq" || spec.name == "gpfq" || spec.name == "optq";
  const std::string mode = a.text("scale-search").value_or("none");
  if (mode != "none" && mode != "clip" && mode != "radius" && mode != "column")
    throw option_error{"--scale-search must be 'none', 'clip', 'radius' or 'column', got '" + mode + "'"};
  if (mode != "none" && !searchable)
    throw option_error{"--scale-search applies to --method msq, gpfq and optq, not " + spec.name};
  if ((mode == "radius" || mode == "column") && !have_inputs)
    throw option_error{"--scale-search " + mode + " needs --inputs X.npy"};
  return mode;
}

/// A method's outcome after the scale search and the polishing the options ask for.
template <class Scalar>
struct SearchedOutcome {
  MethodOutcome<Scalar> out;
  double radius_scale = 1.0;        ///< "radius": the chosen C
  std::vector<double> radius_errors;  ///< "radius"/"column": ||XW - XqQ||^2 per candidate C
  Eigen::VectorXd column_scale;     ///< "column": each neuron's C
};

/// Runs `spec` on `in` with the scale search `in.scale_search` and then the polishing of
/// --refine-passes/--refit-steps. "radius" keeps the run of least layer error over the
/// candidates C (pathq::RadiusSearchOptions' list, 1 among them); "column" picks each neuron's C
/// of least error from the same runs and runs the method once more on those steps, keeping that
/// run when it is no worse than the best single C (so neither ever loses to no search).
template <class Scalar>
SearchedOutcome<Scalar> run_searched(const Options& a, const MethodSpec& spec, LayerInput<Scalar>& in,
                                     const pathq::Alphabet<Scalar>& alphabet) {
  SearchedOutcome<Scalar> s;
  if (in.scale_search == "radius" || in.scale_search == "column") {
    const bool per_column = in.scale_search == "column";
    const std::vector<double> candidates = pathq::RadiusSearchOptions{}.candidates;
    double best = HUGE_VAL;
    Eigen::VectorXd column_best = Eigen::VectorXd::Constant(in.W.cols(), HUGE_VAL);
    if (per_column) s.column_scale = Eigen::VectorXd::Ones(in.W.cols());
    for (double C : candidates) {
      in.radius_scale = C;
      MethodOutcome<Scalar> o = run_spec(spec, a, in, alphabet);
      const auto le = outcome_error(in, o);
      if (per_column)
        for (Eigen::Index j = 0; j < in.W.cols(); ++j)
          if (le.column_error(j) < column_best(j)) {
            column_best(j) = le.column_error(j);
            s.column_scale(j) = C;
          }
      if (le.error() < best) {
        best = le.error();
        s.out = std::move(o);
        s.radius_scale = C;
      }
      s.radius_errors.push_back(le.error());
    }
    in.radius_scale = 1.0;
    if (per_column) {
      in.column_scale = s.column_scale;
      MethodOutcome<Scalar> o = run_spec(spec, a, in, alphabet);
      in.column_scale.resize(0);
      const double e = outcome_error(in, o).error();
      if (e <= best) s.out = std::move(o);
      else s.column_scale.setConstant(s.radius_scale);
    }
  } else {
    s.out = run_spec(spec, a, in, alphabet);
  }
  polish(a, in, s.out);
  return s;
}


/// The method named `name` in the registry.
/// \throws option_error "unknown --method ..." listing the known ones.
inline const MethodSpec& find_method(const std::string& name) {
  std::string known;
  for (const auto& m : method_registry()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw option_error{"unknown --method '" + name + "' (known: " + known + ")"};
}

/// Every option name a layer job may take: the common ones and every method's.
inline void all_option_names(std::set<std::string>& valued, std::set<std::string>& switches) {
  valued = common_valued();
  switches.clear();
  for (const auto& m : method_registry()) {
    valued.insert(m.valued_options.begin(), m.valued_options.end());
    switches.insert(m.switch_options.begin(), m.switch_options.end());
  }
  switches.insert("refit-steps");
  switches.insert("mpi");  // `pathq layer --mpi` (pathq/layer/mpi.hpp); the layer job itself ignores it
}

/// Checks `a` against method `a["method"]` without touching data: every option known to that
/// method, the polishing options consistent, the precision valid. Returns the method.
/// \throws option_error naming the problem.
inline const MethodSpec& check_options(const Options& a) {
  std::set<std::string> valued, switches;
  all_option_names(valued, switches);
  a.check_names(valued, switches);
  const std::string name = a.required_text("method");
  const MethodSpec& spec = find_method(name);
  for (const auto& g : a.given())
    if (!common_valued().count(g) && !spec.valued_options.count(g) && !spec.switch_options.count(g) &&
        g != "refit-steps" && g != "mpi")
      throw option_error{"--" + g + " is not an option of --method " + name};
  check_polish_options(a, name);
  const std::string precision = a.text("precision").value_or("float");
  if (precision != "float" && precision != "double")
    throw option_error{"--precision must be 'float' or 'double', got '" + precision + "'"};
  return spec;
}

/// What `quantize` returns: the method's outcome after the search and polishing, the weights it
/// stands for (`Q`), and the report (every field of `pathq layer --report` except `seconds`'
/// `statistics` and `total`, which belong to whoever read the data).
template <class Scalar>
struct Outcome {
  SearchedOutcome<Scalar> searched;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> Q;
  nlohmann::json report;
  const Result<Scalar>& result() const { return searched.out.result; }
};

template <class Scalar>
void write_report(const MethodSpec& spec, const LayerInput<Scalar>& in, Outcome<Scalar>& o);

/// Quantizes `in.W` (with `in.stats` and `in.quantized_inputs` as the data) by the method and
/// options of `a` (checked by `check_options`), in the precision `Scalar`.
/// \throws option_error for options the method refuses, pathq exceptions for bad data.
template <class Scalar>
Outcome<Scalar> quantize(const Options& a, LayerInput<Scalar>& in) {
  const MethodSpec& spec = check_options(a);
  if (!in.stats && spec.needs_inputs) throw option_error{"--method " + spec.name + " needs --inputs X.npy"};
  const auto alphabet = alphabet_from<Scalar>(a);
  in.scale_search = scale_search_mode(a, spec, in.stats.has_value());
  Outcome<Scalar> o;
  o.searched = run_searched(a, spec, in, alphabet);
  o.Q = o.searched.out.weights ? *o.searched.out.weights : o.searched.out.result.values();
  write_report(spec, in, o);
  return o;
}

/// Fills `o.report` from `o.searched` and `o.Q` for the layer `in` (its W and statistics).
template <class Scalar>
void write_report(const MethodSpec& spec, const LayerInput<Scalar>& in, Outcome<Scalar>& o) {
  const MethodOutcome<Scalar>& out = o.searched.out;
  const auto& r = out.result;
  const auto& Q = o.Q;
  nlohmann::json& rep = o.report;
  rep = nlohmann::json::object();
  rep["method"] = spec.name;
  rep["shape"] = {in.W.rows(), in.W.cols()};
  rep["precision"] = std::is_same<Scalar, float>::value ? "float" : "double";
  rep["status"] = to_string(r.info.status);
  if (!r.info.message.empty()) rep["message"] = r.info.message;
  rep["grid"] = grid_name(r.grid);
  rep["levels"] = r.grid.levels();
  rep["bits_per_code"] = r.grid.bits();
  // Codes plus fp16 steps (and zero points), per weight of W.
  rep["bits_per_weight"] = bits_per_weight(r.grid, std::max<Eigen::Index>(r.codes.rows(), 1)).total *
                           double(r.codes.size()) / double(in.W.size());
  if (r.grid.kind == GridKind::Asymmetric) rep["zero_point"] = detail::matrix_or_scalar(r.grid.zero.template cast<double>());
  rep["code_range"] = {r.grid.code_lo, r.grid.code_hi};
  rep["step"] = detail::matrix_or_scalar(r.grid.step.template cast<double>());
  rep["group_size"] = r.grid.group_size;
  rep["saturated"] = r.info.saturated;
  rep["dead_inputs"] = r.info.dead_inputs;
  rep["sparsity"] = r.sparsity();
  nlohmann::json defs;
  defs["relative_error"] = "squared relative error ||XW - XqQ||_F^2 / ||XW||_F^2";
  defs["norm_ratio"] = "||XW - XqQ||_F / ||XW||_F (square root of relative_error)";
  defs["weight_relative_error"] = "||W - Q||_F^2 / ||W||_F^2 (no data)";
  rep["error_definitions"] = defs;
  const double w_norm = in.W.template cast<double>().squaredNorm();
  rep["weight_relative_error"] = w_norm > 0 ? (in.W - Q).template cast<double>().squaredNorm() / w_norm : 0.0;
  if (in.stats) {
    const auto e = outcome_error(in, out);
    rep["samples"] = in.stats->samples();
    rep["statistics"] = in.stats->products() == StatsProducts::FloatChunks ? "float" : "double";
    rep["quantized_inputs"] = in.quantized_inputs;
    rep["error"] = e.error();
    rep["reference"] = e.reference();
    rep["relative_error"] = e.squared_relative();
    rep["norm_ratio"] = e.norm_ratio();
    if (out.bound) {
      nlohmann::json b;
      b["name"] = out.bound->name;
      b["error"] = out.bound->absolute;
      b["relative_error"] = e.reference() > 0 ? out.bound->absolute / e.reference() : 0.0;
      b["applicable"] = out.bound->applicable;
      b["holds"] = e.error() <= out.bound->absolute;
      if (!out.bound->note.empty()) b["note"] = out.bound->note;
      rep["bound"] = b;
    } else {
      rep["bound"] = nullptr;
    }
  } else {
    rep["relative_error"] = nullptr;
    rep["norm_ratio"] = nullptr;
    rep["bound"] = nullptr;
  }
  for (auto it = r.info.extra.begin(); it != r.info.extra.end(); ++it) rep[it->first] = it->second;
  for (auto it = out.extra.begin(); it != out.extra.end(); ++it) rep[it.key()] = it.value();
  rep["scale_search"] = in.scale_search;
  const auto& searched = o.searched;
  if (in.scale_search == "radius" || in.scale_search == "column") {
    rep["radius_scale"] = searched.radius_scale;
    rep["radius_candidates"] = RadiusSearchOptions{}.candidates;
    rep["radius_errors"] = searched.radius_errors;
  }
  if (in.scale_search == "column")
    rep["column_scale"] = std::vector<double>(searched.column_scale.data(),
                                              searched.column_scale.data() + searched.column_scale.size());
  rep["seconds"] = {{"quantization", r.info.seconds}};
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_RUN_HPP
