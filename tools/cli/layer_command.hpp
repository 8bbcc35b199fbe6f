// `pathq layer`: quantize one layer from .npy files (the contract of docs/design.md#the-pathq-tool).
#ifndef PATHQ_TOOLS_LAYER_COMMAND_HPP
#define PATHQ_TOOLS_LAYER_COMMAND_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pathq/io/atomic_file.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/pathq.hpp>

#include "args.hpp"
#include "input_checks.hpp"
#include "input_stream.hpp"
#include "memory_limit.hpp"
#include "methods/registry.hpp"

namespace pathq_tool {

inline const char* layer_usage() {
  return "usage: pathq layer --method NAME --weights W.npy [--inputs X.npy] [--quantized-inputs Xq.npy]\n"
         "                  [--levels K | --bits B] [--step DELTA | --scale C [--step-rule layer|column]]\n"
         "                  [--seed S] [--precision float|double] [--statistics double|float] [--threads T]\n"
         "                  [method options]\n"
         "                  [--scale-search none|clip|radius|column]  (msq, gpfq, optq)\n"
         "                  [--refine-passes P] [--refit-steps]  (msq, gpfq, spfq, optq; with --inputs)\n"
         "                  [--accumulator-bits P --input-bits N [--input-signed] [--tile T] [--unconstrained]]\n"
         "                                                     (AXE: gpfq, optq)\n"
         "                  [--max-memory-mb M] --out Q.npy [--codes CODES.npy] [--report REPORT.json]\n";
}

namespace detail {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Options common to every method.
inline const std::set<std::string>& common_valued() {
  static const std::set<std::string> s = {"method", "weights", "inputs", "quantized-inputs", "levels", "bits",
                                          "step", "scale", "step-rule", "seed", "precision", "out", "codes",
                                          "report", "max-memory-mb", "scale-search", "refine-passes", "statistics"};
  return s;
}

// --refine-passes P and --refit-steps: polishing after the method, for the methods whose result is
// codes on a grid with no accumulator constraint.
inline bool polish_requested(const Args& a) { return a.has("refine-passes") || a.has("refit-steps"); }
inline void check_polish_options(const Args& a, const std::string& method) {
  if (!polish_requested(a)) return;
  (void)a.integer("refine-passes", 1, 1000);
  if (method != "msq" && method != "gpfq" && method != "spfq" && method != "optq")
    throw UsageError{"--refine-passes and --refit-steps apply to --method msq, gpfq, spfq and optq, not " + method};
  if (a.has("accumulator-bits"))
    throw UsageError{"--refine-passes and --refit-steps ignore the accumulator constraint: not with --accumulator-bits"};
}

// The method's result, polished: with --refit-steps the least-squares steps for its codes
// (refit_steps), with --refine-passes P coordinate descent on the codes (refine_codes); with both,
// refine, refit, refine. Each never raises the layer error.
template <class Scalar>
void polish(const Args& a, const LayerInput<Scalar>& in, MethodOutcome<Scalar>& out) {
  if (!polish_requested(a)) return;
  if (!in.stats) throw UsageError{"--refine-passes and --refit-steps need --inputs X.npy"};
  const auto passes = a.integer("refine-passes", 1, 1000);
  pathq::CodeRefinementOptions o;
  if (passes) o.passes = int(*passes);
  auto& r = out.result;
  if (passes) r = pathq::refine_codes(in.W, *in.stats, std::move(r), o);
  if (a.has("refit-steps")) {
    const auto t0 = std::chrono::steady_clock::now();
    r = pathq::refit_steps(in.W, *in.stats, std::move(r));
    r.info.seconds += seconds_since(t0);
    if (passes) r = pathq::refine_codes(in.W, *in.stats, std::move(r), o);
  }
}

template <class Scalar>
pathq::Alphabet<Scalar> alphabet_from(const Args& a) {
  if (a.has("levels") && a.has("bits")) throw UsageError{"give --levels or --bits, not both"};
  if (a.has("step") && a.has("scale")) throw UsageError{"give --step or --scale, not both"};
  if (a.has("step-rule") && !a.has("scale")) throw UsageError{"--step-rule goes with --scale"};
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
    else throw UsageError{"--step-rule must be 'layer' or 'column', got '" + r + "'"};
  }
  if (auto K = a.integer("levels", 1, (1 << 30) - 1)) return pathq::Alphabet<Scalar>::symmetric(int(*K), rule);
  const int bits = int(a.integer("bits", 2, 24).value_or(4));
  return pathq::Alphabet<Scalar>::from_bits(bits, rule);
}

// --statistics double|float: the products of H, G, K in double, or in float over chunks of rows
// added up in double (pathq::StatsProducts::FloatChunks). Default: the working precision
// (--precision), measured in bench/RESULTS.md ("The whole `pathq layer` job").
inline pathq::StatsProducts statistics_products(const Args& a) {
  const std::string s = a.text("statistics").value_or(a.text("precision").value_or("float"));
  if (s == "double") return pathq::StatsProducts::Accumulation;
  if (s == "float") return pathq::StatsProducts::FloatChunks;
  throw UsageError{"--statistics must be 'double' or 'float', got '" + s + "'"};
}

inline std::string canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

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

// The layer error of an outcome: the method's own figures when it left them (a trace identity,
// no product), else from the statistics.
template <class Scalar>
pathq::LayerError outcome_error(const LayerInput<Scalar>& in, const MethodOutcome<Scalar>& o) {
  return o.weights ? pathq::layer_error(*in.stats, in.W, *o.weights) : pathq::layer_error(*in.stats, in.W, o.result);
}

inline MethodOutcome<float> run_spec(const MethodSpec& s, const Args& a, const LayerInput<float>& in,
                                     const pathq::Alphabet<float>& al) {
  return s.run_float(a, in, al);
}
inline MethodOutcome<double> run_spec(const MethodSpec& s, const Args& a, const LayerInput<double>& in,
                                      const pathq::Alphabet<double>& al) {
  return s.run_double(a, in, al);
}

// --scale-search: "none", "clip", "radius" or "column", for the methods that build their grid
// with layer_grid (scale_search_options.hpp): msq, gpfq, optq. Default: "none" (the measured
// default, see docs/defaults.md).
inline std::string scale_search_mode(const Args& a, const MethodSpec& spec, bool have_inputs) {
  const bool searchable = spec.name == "msq" || spec.name == "gpfq" || spec.name == "optq";
  const std::string mode = a.text("scale-search").value_or("none");
  if (mode != "none" && mode != "clip" && mode != "radius" && mode != "column")
    throw UsageError{"--scale-search must be 'none', 'clip', 'radius' or 'column', got '" + mode + "'"};
  if (mode != "none" && !searchable)
    throw UsageError{"--scale-search applies to --method msq, gpfq and optq, not " + spec.name};
  if ((mode == "radius" || mode == "column") && !have_inputs)
    throw UsageError{"--scale-search " + mode + " needs --inputs X.npy"};
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
SearchedOutcome<Scalar> run_searched(const Args& a, const MethodSpec& spec, LayerInput<Scalar>& in,
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

template <class Scalar>
int run_layer(const Args& a, const MethodSpec& spec) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const auto t_start = std::chrono::steady_clock::now();
  const std::string out_path = a.required_text("out");
  const std::string w_path = a.required_text("weights");

  // Outputs must be distinct and must not overwrite an input.
  std::vector<std::string> inputs = {w_path};
  for (const char* k : {"inputs", "quantized-inputs"})
    if (auto p = a.text(k)) inputs.push_back(*p);
  std::vector<std::pair<std::string, std::string>> outputs = {{"out", out_path}};
  for (const char* k : {"codes", "report"})
    if (auto p = a.text(k)) outputs.push_back({k, *p});
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    for (const auto& in : inputs)
      if (canonical(outputs[i].second) == canonical(in))
        throw UsageError{"--" + outputs[i].first + " " + outputs[i].second + " would overwrite an input"};
    for (std::size_t k = 0; k < i; ++k)
      if (canonical(outputs[i].second) == canonical(outputs[k].second))
        throw UsageError{"--" + outputs[i].first + " and --" + outputs[k].first + " name the same file"};
  }

  check_memory_limit(a, sizeof(Scalar));  // from the files' headers, before reading any data
#if defined(_OPENMP)
  // --threads T bounds the whole job: the statistics and the factorization too, not only the panels.
  if (a.has("threads"))
    if (auto t = a.integer("threads", 0, 4096); t && *t > 0) omp_set_num_threads(int(*t));
#endif
  LayerInput<Scalar> in;
  in.W = pathq::io::load_matrix<Scalar>(w_path);
  const auto t_stats = std::chrono::steady_clock::now();
  if (auto xp = a.text("inputs")) {
    // Streamed in batches of rows (input_stream.hpp): memory independent of the row count.
    in.stats = stream_layer_stats(*xp, a.text("quantized-inputs"), in.W.rows(), statistics_products(a));
    in.quantized_inputs = a.has("quantized-inputs");
    if (in.stats->samples() == 0) throw UsageError{"--inputs " + *xp + " has no rows"};
    check_live_layer(*in.stats, in.quantized_inputs ? "--quantized-inputs " + *a.text("quantized-inputs")
                                                    : "--inputs " + *xp);
  } else if (a.has("quantized-inputs")) {
    throw UsageError{"--quantized-inputs needs --inputs"};
  } else if (spec.needs_inputs) {
    throw UsageError{"--method " + spec.name + " needs --inputs X.npy"};
  }
  const double stats_seconds = in.stats ? seconds_since(t_stats) : 0.0;

  const auto alphabet = alphabet_from<Scalar>(a);
  in.scale_search = scale_search_mode(a, spec, in.stats.has_value());
  SearchedOutcome<Scalar> searched = run_searched(a, spec, in, alphabet);
  MethodOutcome<Scalar>& out = searched.out;
  const auto& r = out.result;
  const Matrix Q = out.weights ? *out.weights : r.values();

  nlohmann::json rep;
  rep["method"] = spec.name;
  rep["shape"] = {in.W.rows(), in.W.cols()};
  rep["precision"] = std::is_same<Scalar, float>::value ? "float" : "double";
  rep["status"] = pathq::to_string(r.info.status);
  if (!r.info.message.empty()) rep["message"] = r.info.message;
  rep["grid"] = pathq::grid_name(r.grid);
  rep["levels"] = r.grid.levels();
  rep["bits_per_code"] = r.grid.bits();
  // Codes plus fp16 steps (and zero points), per weight of W.
  rep["bits_per_weight"] = pathq::bits_per_weight(r.grid, std::max<Eigen::Index>(r.codes.rows(), 1)).total *
                           double(r.codes.size()) / double(in.W.size());
  if (r.grid.kind == pathq::GridKind::Asymmetric) rep["zero_point"] = matrix_or_scalar(r.grid.zero.template cast<double>());
  rep["code_range"] = {r.grid.code_lo, r.grid.code_hi};
  rep["step"] = matrix_or_scalar(r.grid.step.template cast<double>());
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
    rep["statistics"] = in.stats->products() == pathq::StatsProducts::FloatChunks ? "float" : "double";
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
  if (in.scale_search == "radius" || in.scale_search == "column") {
    rep["radius_scale"] = searched.radius_scale;
    rep["radius_candidates"] = pathq::RadiusSearchOptions{}.candidates;
    rep["radius_errors"] = searched.radius_errors;
  }
  if (in.scale_search == "column")
    rep["column_scale"] = std::vector<double>(searched.column_scale.data(),
                                              searched.column_scale.data() + searched.column_scale.size());
  rep["seconds"] = {{"statistics", stats_seconds}, {"quantization", r.info.seconds},
                    {"total", seconds_since(t_start)}};

  // Everything is computed; now write. Each file appears whole or not at all.
  std::vector<std::pair<std::string, std::string>> files = {{out_path, pathq::io::to_npy_bytes(Q)}};
  if (auto p = a.text("codes")) files.push_back({*p, pathq::io::to_npy_bytes(r.codes)});
  if (auto p = a.text("report")) files.push_back({*p, rep.dump(2) + "\n"});
  pathq::io::write_files_atomically(files);
  return r.info.status == pathq::Info::Failed ? 1 : 0;
}

}  // namespace detail

/// The command line of `pathq layer`, checked: its options, the method and the precision.
struct LayerCommandLine {
  Args args;
  const MethodSpec* spec;
  std::string precision;  ///< "float" or "double"
};

/// Parses `pathq layer`'s `argv[first..argc)` without touching any file: every option known and
/// given once, the method known and taking the options given, the precision valid.
/// \throws UsageError naming the problem.
inline LayerCommandLine parse_layer_command(int argc, const char* const* argv, int first) {
  std::set<std::string> valued = detail::common_valued();
  std::set<std::string> switches;
  for (const auto& m : method_registry()) {
    valued.insert(m.valued_options.begin(), m.valued_options.end());
    switches.insert(m.switch_options.begin(), m.switch_options.end());
  }
  switches.insert("refit-steps");
  const Args a(argc, argv, first, valued, switches);
  const std::string name = a.required_text("method");
  const MethodSpec* spec = nullptr;
  std::string known;
  for (const auto& m : method_registry()) {
    known += (known.empty() ? "" : ", ") + m.name;
    if (m.name == name) spec = &m;
  }
  if (!spec) throw UsageError{"unknown --method '" + name + "' (known: " + known + ")"};
  for (const auto& g : a.given())
    if (!detail::common_valued().count(g) && !spec->valued_options.count(g) && !spec->switch_options.count(g) &&
        g != "refit-steps")
      throw UsageError{"--" + g + " is not an option of --method " + name};
  detail::check_polish_options(a, name);
  const std::string precision = a.text("precision").value_or("float");
  if (precision != "float" && precision != "double")
    throw UsageError{"--precision must be 'float' or 'double', got '" + precision + "'"};
  return {a, spec, precision};
}

/// Runs `pathq layer` on `argv[first..argc)`. Returns the exit status; throws UsageError or
/// pathq exceptions on bad input.
inline int layer_command(int argc, const char* const* argv, int first) {
  const LayerCommandLine c = parse_layer_command(argc, argv, first);
  if (c.precision == "float") return detail::run_layer<float>(c.args, *c.spec);
  return detail::run_layer<double>(c.args, *c.spec);
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_LAYER_COMMAND_HPP
