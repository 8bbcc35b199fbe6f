// `pathq model`: quantize a whole network (description + safetensors) on calibration data.
#ifndef PATHQ_TOOLS_MODEL_COMMAND_HPP
#define PATHQ_TOOLS_MODEL_COMMAND_HPP

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <pathq/io/atomic_file.hpp>
#include <pathq/io/idx.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/io/npz.hpp>
#include <pathq/io/safetensors.hpp>
#include <pathq/core/grid_accounting.hpp>
#include <pathq/network/bit_allocation.hpp>
#include <pathq/network/model_io.hpp>
#include <pathq/network/quantize_network.hpp>

#include "tool_names.hpp"
#include "layer_command.hpp"

#include "network_json.hpp"

namespace pathq_tool {

inline const char* model_usage() {
  return "usage: pathq model --network NET.json --weights MODEL.safetensors --calibration X.{npy,npz,idx[.gz]}\n"
         "                  [--calibration-key K] [--samples M] [--input-scale S]\n"
         "                  [--test-inputs X.{npy,npz,idx[.gz]} [--test-key K] [--test-labels Y.{npy,npz,idx[.gz]}]\n"
         "                   [--test-samples N]]\n"
         "                  --method NAME [--levels K | --bits B] [--step DELTA | --scale C [--step-rule layer|column]]\n"
         "                  [--skip NAME,...] [--layer-bits NAME=B,...] [--bias-correction] [--batch-size N]\n"
         "                  [--patches all|kernel-stride] [--retain P] [--frame-ratio R] [--seed S] [--quiet]\n"
         "                  [--scale-search none|clip|radius|column] [--refine-passes P] [--refit-steps]\n"
         "                  [--independent] [--bits-budget B [--bits-choices 2,3,4,8]]\n"
         "                  [method options] --out QUANTIZED.safetensors [--report REPORT.json]\n";
}

namespace model_detail {

inline const std::set<std::string>& model_valued() {
  static const std::set<std::string> s = {
      "network", "weights",     "calibration", "calibration-key", "samples",    "input-scale", "test-inputs",
      "test-key", "test-labels", "test-samples", "method",         "levels",     "bits",        "step",
      "scale",   "step-rule",   "seed",        "skip",            "layer-bits", "batch-size",  "patches",
      "retain",  "frame-ratio", "out",         "report",          "scale-search", "refine-passes",
      "bits-budget", "bits-choices"};
  return s;
}
inline const std::set<std::string>& model_switches() {
  static const std::set<std::string> s = {"bias-correction", "quiet", "refit-steps", "independent"};
  return s;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// An array of any rank as a matrix with one row per item (the first dimension).
inline pathq::io::NpyArray flattened(pathq::io::NpyArray a) {
  if (a.shape.size() > 2) {
    std::int64_t rest = 1;
    for (std::size_t i = 1; i < a.shape.size(); ++i) rest *= a.shape[i];
    a.shape = {a.shape[0], rest};
  }
  return a;
}

// The array of a .npz: `key`, or its only member.
inline pathq::io::NpyArray npz_member(const std::string& path, const std::optional<std::string>& key, const char* flag) {
  const auto npz = pathq::io::read_npz(path);
  if (key) return npz.array(*key);
  if (npz.size() != 1) {
    std::string names;
    for (const auto& n : npz.names()) names += (names.empty() ? "" : ", ") + n;
    throw UsageError{std::string(path) + " holds " + std::to_string(npz.size()) + " arrays (" + names + "): choose one with --" +
                     flag};
  }
  return npz.array(npz.names().front());
}

// Samples from .npy, .npz or IDX (plain or gzip), one per row, scaled.
inline Eigen::MatrixXf load_samples(const std::string& path, const std::optional<std::string>& key, const char* key_flag,
                                    double scale) {
  Eigen::MatrixXf X;
  if (ends_with(path, ".npy")) X = pathq::io::to_matrix<float>(flattened(pathq::io::read_npy(path)), path);
  else if (ends_with(path, ".npz")) X = pathq::io::to_matrix<float>(flattened(npz_member(path, key, key_flag)), path);
  else X = pathq::io::load_idx_matrix<float>(path);
  if (scale != 1.0) X *= float(scale);
  pathq::detail::check_finite("model", ("samples of " + path).c_str(), X);
  return X;
}

inline Eigen::VectorXi load_labels(const std::string& path, const std::optional<std::string>& key) {
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic> y;
  if (ends_with(path, ".npy")) y = pathq::io::to_matrix<std::int64_t>(pathq::io::read_npy(path), path);
  else if (ends_with(path, ".npz")) y = pathq::io::to_matrix<std::int64_t>(npz_member(path, key, "test-key"), path);
  else return pathq::io::load_idx_labels(path);
  if (y.cols() != 1) throw UsageError{"--test-labels " + path + " must be 1-D (one integer label per sample)"};
  return y.col(0).cast<int>();
}

// "a,b,c" -> {a, b, c}.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t next = s.find(sep, at);
    out.push_back(s.substr(at, next == std::string::npos ? std::string::npos : next - at));
    if (next == std::string::npos) break;
    at = next + 1;
  }
  return out;
}

// The command line as (flag, value) tokens, to rebuild per-layer Args with some flags replaced.
struct Tokens {
  std::vector<std::pair<std::string, std::optional<std::string>>> items;

  // `replace` sets valued flags; a switch among `switches` is set by "true" and removed by "false".
  Tokens with(const std::map<std::string, std::string>& replace, const std::set<std::string>& drop,
              const std::set<std::string>& switches) const {
    Tokens t;
    for (const auto& it : items)
      if (!replace.count(it.first) && !drop.count(it.first)) t.items.push_back(it);
    for (const auto& kv : replace) {
      if (!switches.count(kv.first)) {
        t.items.push_back({kv.first, kv.second});
      } else if (kv.second == "true") {
        t.items.push_back({kv.first, std::nullopt});
      } else if (kv.second != "false") {
        throw UsageError{"option \"" + kv.first + "\" is a switch: give it true or false, not " + kv.second};
      }
    }
    return t;
  }
  Args args(const std::set<std::string>& valued, const std::set<std::string>& switches) const {
    std::vector<std::string> words;
    for (const auto& it : items) {
      words.push_back("--" + it.first);
      if (it.second) words.push_back(*it.second);
    }
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    return Args(int(argv.size()), argv.data(), 0, valued, switches);
  }
};

inline nlohmann::json layer_json(const pathq::LayerReport& r) {
  nlohmann::json j;
  j["name"] = r.name;
  j["layer"] = r.layer;
  j["kind"] = r.kind;
  j["shortcut"] = r.shortcut;
  j["shape"] = {r.n_in, r.n_out};
  j["groups"] = r.groups;
  j["method"] = r.method;
  j["skipped"] = r.skipped;
  if (r.skipped) return j;
  j["status"] = pathq::to_string(r.status);
  if (!r.message.empty()) j["message"] = r.message;
  j["levels"] = r.levels;
  j["bits_per_code"] = r.bits;
  j["samples"] = r.samples;
  j["quantized_inputs"] = r.quantized_inputs;
  j["error"] = r.error;
  j["reference"] = r.reference;
  j["relative_error"] = r.relative_error;
  j["norm_ratio"] = r.norm_ratio;
  j["relative_error_on_x"] = r.relative_error_on_x;
  j["relative_error_upstream"] = r.relative_error_upstream;
  j["weight_relative_error"] = r.weight_relative_error;
  j["saturated"] = r.saturated;
  j["dead_inputs"] = r.dead_inputs;
  j["bias_corrected"] = r.bias_corrected;
  if (r.bound) {
    j["bound"] = {{"name", r.bound->name},
                  {"error", r.bound->error},
                  {"relative_error", r.reference > 0 ? r.bound->error / r.reference : 0.0},
                  {"applicable", r.bound->applicable},
                  {"holds", r.error <= r.bound->error}};
    if (!r.bound->note.empty()) j["bound"]["note"] = r.bound->note;
  } else {
    j["bound"] = nullptr;
  }
  for (const auto& kv : r.extra) j[kv.first] = kv.second;
  j["seconds"] = {{"statistics", r.seconds_statistics}, {"quantization", r.seconds_quantization}};
  return j;
}

}  // namespace model_detail

/// Runs `pathq model` on `argv[first..argc)`. Returns the exit status; throws UsageError or
/// pathq exceptions on bad input.
inline int model_command(int argc, const char* const* argv, int first) {
  using namespace model_detail;
  const auto t_start = std::chrono::steady_clock::now();
  std::set<std::string> valued = model_valued(), switches = model_switches();
  for (const auto& m : method_registry()) {
    valued.insert(m.valued_options.begin(), m.valued_options.end());
    switches.insert(m.switch_options.begin(), m.switch_options.end());
  }
  const Args a(argc, argv, first, valued, switches);
  Tokens tokens;
  for (int i = first; i < argc; ++i) {
    const std::string name = std::string(argv[i]).substr(2);
    if (switches.count(name)) tokens.items.push_back({name, std::nullopt});
    else tokens.items.push_back({name, std::string(argv[++i])});
  }
  auto find_spec = [&](const std::string& name) -> const MethodSpec& {
    std::string known;
    for (const auto& m : method_registry()) {
      if (m.name == name) return m;
      known += (known.empty() ? "" : ", ") + m.name;
    }
    throw UsageError{"unknown method '" + name + "' (known: " + known + ")"};
  };
  const MethodSpec& spec = find_spec(a.required_text("method"));
  for (const auto& g : a.given())
    if (!model_valued().count(g) && !model_switches().count(g) && !spec.valued_options.count(g) &&
        !spec.switch_options.count(g))
      throw UsageError{"--" + g + " is not an option of pathq model or of --method " + spec.name};

  const std::string net_path = a.required_text("network"), w_path = a.required_text("weights");
  const std::string cal_path = a.required_text("calibration"), out_path = a.required_text("out");
  std::vector<std::string> inputs = {net_path, w_path, cal_path};
  for (const char* k : {"test-inputs", "test-labels"})
    if (auto p = a.text(k)) inputs.push_back(*p);
  std::vector<std::pair<std::string, std::string>> outputs = {{"out", out_path}};
  if (auto p = a.text("report")) outputs.push_back({"report", *p});
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    for (const auto& in : inputs)
      if (detail::canonical(outputs[i].second) == detail::canonical(in))
        throw UsageError{"--" + outputs[i].first + " " + outputs[i].second + " would overwrite an input"};
    if (i > 0 && detail::canonical(outputs[i].second) == detail::canonical(outputs[0].second))
      throw UsageError{"--report and --out name the same file"};
  }
  if (a.has("test-labels") && !a.has("test-inputs")) throw UsageError{"--test-labels needs --test-inputs"};
  const bool quiet = a.has("quiet");

  // The network, its weights (batch norms folded into their neighbours) and the data.
  const auto weights = pathq::io::read_safetensors(w_path);
  LoadedNetwork loaded = load_network(net_path, weights);
  const pathq::Sequential<float> net = pathq::fold_batch_norm(loaded.net);
  const double input_scale = a.real("input-scale", true).value_or(loaded.input_scale);
  Eigen::MatrixXf calibration = load_samples(cal_path, a.text("calibration-key"), "calibration-key", input_scale);
  if (auto m = a.integer("samples", 1, 1LL << 40); m && *m < calibration.rows())
    calibration = Eigen::MatrixXf(calibration.topRows(Eigen::Index(*m)));
  if (calibration.cols() != net.input_shape().size())
    throw UsageError{"--calibration " + cal_path + " has " + std::to_string(calibration.cols()) +
                     " features per sample but the network's input shape " + net.input_shape().text() + " has " +
                     std::to_string(net.input_shape().size())};
  if (calibration.rows() == 0) throw UsageError{"--calibration " + cal_path + " holds no samples"};
  Eigen::MatrixXf test_x;
  Eigen::VectorXi test_y;
  if (auto p = a.text("test-inputs")) {
    test_x = load_samples(*p, a.text("test-key"), "test-key", input_scale);
    if (test_x.cols() != net.input_shape().size())
      throw UsageError{"--test-inputs " + *p + " has " + std::to_string(test_x.cols()) +
                       " features per sample but the network expects " + std::to_string(net.input_shape().size())};
    if (auto lp = a.text("test-labels")) {
      test_y = load_labels(*lp, a.text("test-key"));
      if (test_y.size() != test_x.rows())
        throw UsageError{"--test-labels " + *lp + " has " + std::to_string(test_y.size()) + " labels for " +
                         std::to_string(test_x.rows()) + " test inputs"};
    }
    if (auto n = a.integer("test-samples", 1, 1LL << 40); n && *n < test_x.rows()) {
      test_x = Eigen::MatrixXf(test_x.topRows(Eigen::Index(*n)));
      if (test_y.size()) test_y = Eigen::VectorXi(test_y.head(Eigen::Index(*n)));
    }
  }

  // Options of the driver.
  pathq::NetworkQuantizerOptions<float> opt;
  opt.batch_size = Eigen::Index(a.integer("batch-size", 1, 1 << 20).value_or(256));
  opt.bias_correction = a.has("bias-correction");
  const std::string patches = a.text("patches").value_or("all");
  if (patches == "kernel-stride") opt.patches = pathq::PatchMode::KernelStride;
  else if (patches != "all") throw UsageError{"--patches must be 'all' or 'kernel-stride', got '" + patches + "'"};
  opt.retain = a.real("retain", true).value_or(0.25);
  if (opt.retain > 1) throw UsageError{"--retain must be in (0, 1], got " + std::to_string(opt.retain)};
  opt.seed = std::uint64_t(a.integer("seed", 0, (1LL << 62)).value_or(0));
  // Sequential mode unless --independent: every layer on its float inputs alone. (--mode is
  // --method prune's option, so this one is a switch.)
  const std::string mode = a.has("independent") ? "independent" : "sequential";
  opt.sequential = mode == "sequential";
  detail::check_polish_options(a, spec.name);
  (void)detail::scale_search_mode(a, spec, true);
  const std::optional<double> frame_ratio = a.real("frame-ratio", true);

  // Per-layer settings from --skip, --layer-bits and the description.
  for (const auto& name : a.text("skip") ? split(*a.text("skip"), ',') : std::vector<std::string>{}) {
    if (!loaded.layers.count(name)) throw UsageError{"--skip names '" + name + "', which is not a dense or conv layer"};
    loaded.layers[name].skip = true;
  }
  for (const auto& item : a.text("layer-bits") ? split(*a.text("layer-bits"), ',') : std::vector<std::string>{}) {
    const std::size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (eq == std::string::npos || !loaded.layers.count(name))
      throw UsageError{"--layer-bits expects NAME=BITS with a dense or conv layer's name, got '" + item + "'"};
    loaded.layers[name].bits = std::atoll(item.c_str() + eq + 1);
    loaded.layers[name].levels.reset();
  }

  // Each layer's method: a registry entry run with the command line, plus the layer's own flags.
  auto make_method = [&](const std::string& layer_name, const LayerSettings& s) {
    const MethodSpec& m = s.method.empty() ? spec : find_spec(s.method);
    std::map<std::string, std::string> replace = s.options;
    std::set<std::string> drop;
    for (const auto& kv : replace)
      if (!m.valued_options.count(kv.first) && !m.switch_options.count(kv.first) && !detail::common_valued().count(kv.first))
        throw UsageError{"layer '" + layer_name + "': option \"" + kv.first + "\" is not an option of method " + m.name};
    if (s.bits) {
      replace["bits"] = std::to_string(*s.bits);
      drop.insert("levels");
    }
    if (s.levels) {
      replace["levels"] = std::to_string(*s.levels);
      drop.insert("bits");
    }
    // Options of other methods and of the model command are not passed on.
    std::set<std::string> keep = m.valued_options;
    keep.insert(m.switch_options.begin(), m.switch_options.end());
    for (const auto& k : detail::common_valued()) keep.insert(k);
    keep.insert("refit-steps");
    for (const auto& it : tokens.items)
      if (!keep.count(it.first)) drop.insert(it.first);
    const Tokens layer_tokens = tokens.with(replace, drop, m.switch_options);
    const MethodSpec* mp = &m;
    const auto valued_all = valued, switches_all = switches;
    return pathq::LayerMethod<float>{
        m.name, [mp, layer_tokens, frame_ratio, valued_all, switches_all](const pathq::LayerProblem<float>& p) {
          Tokens t = layer_tokens;
          if (frame_ratio && mp->valued_options.count("frame-size")) {
            bool given = false;
            for (const auto& it : t.items) given = given || it.first == "frame-size";
            const bool rows = [&] {
              for (const auto& it : t.items)
                if (it.first == "rows") return true;
              return false;
            }();
            const Eigen::Index n = rows ? p.W.cols() : p.W.rows();
            if (!given)
              t.items.push_back({"frame-size", std::to_string(std::max<Eigen::Index>(
                                                   n + 1, Eigen::Index(std::ceil(*frame_ratio * double(n)))))});
          }
          const Args la = t.args(valued_all, switches_all);
          LayerInput<float> in;
          in.W = p.W;
          in.stats = p.stats;
          in.quantized_inputs = p.quantized_inputs;
          in.scale_search = detail::scale_search_mode(la, *mp, true);
          // The driver's alphabet for this layer: the command line's, a per-layer width, or a
          // width of --bits-budget (the same rule as alphabet_from(la) otherwise).
          MethodOutcome<float> o = detail::run_searched(la, *mp, in, p.alphabet).out;
          pathq::LayerSolution<float> sol;
          sol.result = std::move(o.result);
          if (o.weights) sol.values = *o.weights;
          if (o.bound) sol.bound = pathq::LayerBound{o.bound->name, o.bound->absolute, o.bound->applicable, o.bound->note};
          for (auto it = o.extra.begin(); it != o.extra.end(); ++it)
            if (it.value().is_number()) sol.result.info.extra[it.key()] = it.value().get<double>();
          return sol;
        }};
  };
  opt.method = make_method("", LayerSettings{});
  for (const auto& kv : loaded.layers) {
    const LayerSettings& s = kv.second;
    if (s.skip) {
      opt.layers[kv.first].skip = true;
    } else if (s.bits || s.levels || !s.method.empty() || !s.options.empty()) {
      opt.layers[kv.first].method = make_method(kv.first, s);
      opt.layers[kv.first].alphabet = detail::alphabet_from<float>(
          tokens.with(s.bits ? std::map<std::string, std::string>{{"bits", std::to_string(*s.bits)}}
                      : s.levels ? std::map<std::string, std::string>{{"levels", std::to_string(*s.levels)}}
                                 : std::map<std::string, std::string>{},
                      s.bits ? std::set<std::string>{"levels"} : s.levels ? std::set<std::string>{"bits"} : std::set<std::string>{},
                      {})
              .args(valued, switches));
    }
  }
  opt.alphabet = detail::alphabet_from<float>(a);

  // --bits-budget B [--bits-choices 2,3,4,8]: a width per layer by measurement (bit_allocation.hpp).
  std::optional<pathq::BitAllocation> allocation;
  if (a.has("bits-choices") && !a.has("bits-budget")) throw UsageError{"--bits-choices goes with --bits-budget"};
  if (auto budget = a.real("bits-budget", true)) {
    pathq::BitAllocationOptions ba;
    ba.budget = *budget;
    if (auto c = a.text("bits-choices")) {
      ba.choices.clear();
      for (const auto& item : split(*c, ',')) {
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 1 || v > 24)
          throw UsageError{"--bits-choices must be a comma-separated list of widths in [1, 24], got '" + *c + "'"};
        ba.choices.push_back(int(v));
      }
    }
    if (!(ba.budget > 0)) throw UsageError{"--bits-budget must be positive, got " + *a.text("bits-budget")};
    if (!quiet)
      std::fprintf(stderr, "pathq model: measuring every layer at %zu widths for --bits-budget %g\n", ba.choices.size(),
                   ba.budget);
    allocation = pathq::allocate_bits(net, calibration, opt, ba);
    opt = pathq::with_allocation(opt, *allocation);
    if (!quiet) {
      std::fprintf(stderr, "pathq model: widths");
      for (const auto& l : allocation->layers) std::fprintf(stderr, " %s=%d", l.name.c_str(), l.bits);
      std::fprintf(stderr, " (%.4g bits per weight)\n", allocation->bits_per_weight);
    }
  }

  // Progress on stderr: a bar while the statistics stream (on a terminal), a line per finished layer.
  const bool tty = ::isatty(2);
  opt.progress = [&](const pathq::NetworkProgress& p) {
    if (quiet) return;
    if (p.stage == pathq::NetworkProgress::Stage::Statistics && tty) {
      const int width = 30, filled = int(p.fraction * width);
      std::fprintf(stderr, "\r[%ld/%ld] %-18s statistics [%s%s] %3d%%", long(p.site + 1), long(p.sites), p.name.c_str(),
                   std::string(std::size_t(filled), '=').c_str(), std::string(std::size_t(width - filled), ' ').c_str(),
                   int(100 * p.fraction));
    }
    if (p.stage != pathq::NetworkProgress::Stage::Done || !p.report) return;
    if (tty) std::fprintf(stderr, "\r%78s\r", "");
    const pathq::LayerReport& r = *p.report;
    if (r.skipped) {
      std::fprintf(stderr, "[%ld/%ld] %-18s %-6s skipped (kept in float)\n", long(p.site + 1), long(p.sites),
                   r.name.c_str(), r.kind.c_str());
      return;
    }
    // Squared relative errors: against X (the layer's own error), against the float outputs (what
    // the method targets) and, in sequential mode, what the earlier layers handed down.
    std::fprintf(stderr,
                 "[%ld/%ld] %-18s %-6s %5ldx%-5ld %-11s %4lld levels  error vs X %.3e  vs float outputs %.3e"
                 "  (upstream %.3e)  %.2f s\n",
                 long(p.site + 1), long(p.sites), r.name.c_str(), r.kind.c_str(), long(r.n_in), long(r.n_out),
                 r.method.c_str(), static_cast<long long>(r.levels), r.relative_error_on_x, r.relative_error,
                 r.relative_error_upstream, r.seconds_statistics + r.seconds_quantization);
  };
  if (!quiet)
    std::fprintf(stderr, "pathq model: %ld layers to quantize, %ld calibration samples, method %s\n",
                 long(pathq::quantizable_sites(net).size()), long(calibration.rows()), spec.name.c_str());
  const pathq::NetworkQuantization<float> q = pathq::quantize_network(net, calibration, opt);

  // Report.
  nlohmann::json rep;
  rep["method"] = spec.name;
  rep["network"] = net_path;
  rep["weights"] = w_path;
  rep["calibration_samples"] = calibration.rows();
  rep["bias_correction"] = opt.bias_correction;
  rep["patches"] = pathq::to_string(opt.patches);
  rep["mode"] = mode;
  rep["input_scale"] = input_scale;
  nlohmann::json layers = nlohmann::json::array();
  bool failed = false;
  for (const auto& r : q.layers) {
    layers.push_back(layer_json(r));
    failed = failed || (!r.skipped && r.status == pathq::Info::Failed);
  }
  rep["layers"] = layers;
  // Bits per weight (codes plus steps and zero points) of each quantized layer and on average.
  const auto storage = pathq::layer_storage(q);
  double bit_sum = 0, weight_count = 0;
  for (const auto& kv : storage) {
    bit_sum += kv.second.bits;
    weight_count += kv.second.weights;
  }
  for (auto& j : rep["layers"])
    if (!j["skipped"].get<bool>()) {
      const auto it = storage.find({j["layer"].get<Eigen::Index>(), j["shortcut"].get<bool>()});
      j["bits"] = j["bits_per_code"];
      j["bits_per_weight"] = it == storage.end() ? 0.0 : it->second.bits_per_weight();
    }
  rep["bits_per_weight"] = weight_count > 0 ? bit_sum / weight_count : 0.0;
  if (allocation) {
    nlohmann::json al;
    al["budget"] = allocation->budget;
    al["choices"] = allocation->choices;
    al["method"] = "greedy on each layer's lower convex hull of (bits, relative error), errors measured in independent mode";
    al["proxy_error"] = allocation->proxy_error;
    nlohmann::json ls = nlohmann::json::array();
    for (const auto& l : allocation->layers) {
      nlohmann::json m = nlohmann::json::array();
      for (const auto& c : l.measured)
        m.push_back({{"bits", c.bits}, {"bits_per_weight", c.bits_per_weight}, {"relative_error", c.relative_error}});
      ls.push_back({{"name", l.name}, {"bits", l.bits}, {"fixed", l.fixed}, {"measured", m}});
    }
    al["layers"] = ls;
    rep["bit_allocation"] = al;
  }
  nlohmann::json model;
  if (test_x.rows() > 0) {
    const pathq::Batch<float> Yf = net.forward(test_x), Yq = q.network.forward(test_x);
    model["test_samples"] = test_x.rows();
    model["output_relative_error"] = double((Yq - Yf).norm() / std::max(Yf.norm(), 1e-30f));
    if (test_y.size()) {
      auto acc = [&](const pathq::Batch<float>& Y) {
        Eigen::Index right = 0;
        for (Eigen::Index r = 0; r < Y.rows(); ++r) {
          Eigen::Index c;
          Y.row(r).maxCoeff(&c);
          right += (c == test_y(r));
        }
        return double(right) / double(Y.rows());
      };
      model["float_accuracy"] = acc(Yf);
      model["quantized_accuracy"] = acc(Yq);
    }
  }
  model["bits_per_weight"] = rep["bits_per_weight"];
  rep["model"] = model;
  rep["error_definitions"] = {
      {"relative_error", "squared relative error ||XW - XqQ||_F^2 / ||XW||_F^2 on the calibration samples"},
      {"norm_ratio", "||XW - XqQ||_F / ||XW||_F"},
      {"relative_error_on_x", "squared relative error ||XW - XQ||_F^2 / ||XW||_F^2 (the layer's own error, float inputs)"},
      {"relative_error_upstream", "||XW - XqW||_F^2 / ||XW||_F^2 (the error handed down by the earlier layers)"},
      {"weight_relative_error", "||W - Q||_F^2 / ||W||_F^2"},
      {"output_relative_error", "||f_q(X) - f(X)||_F / ||f(X)||_F on the test inputs (network outputs)"}};
  rep["seconds"] = {{"quantization", q.seconds}, {"total", detail::seconds_since(t_start)}};

  // Output: quantized tensors under the description's names, and a description of the (folded) network.
  auto names = [&](const pathq::Sequential<float>& n, Eigen::Index i, const std::string& param) {
    const auto it = loaded.layers.find(n.name(i));
    if (it != loaded.layers.end() && param == "weight") return it->second.weight;
    if (it != loaded.layers.end() && param == "bias") return it->second.bias;
    return n.name(i) + "." + param;
  };
  pathq::io::SafetensorsFile file;
  pathq::add_quantized_tensors<float>(file, q, names);
  nlohmann::json desc = nlohmann::json::parse(pathq::network_description(q.network, input_scale));
  for (auto& e : desc["layers"]) {
    const auto it = loaded.layers.find(e["name"].get<std::string>());
    if (it == loaded.layers.end()) continue;
    if (it->second.weight != e["name"].get<std::string>() + ".weight") e["weight"] = it->second.weight;
    if (it->second.bias != e["name"].get<std::string>() + ".bias") e["bias"] = it->second.bias;
  }
  file.set_metadata("pathq.network", desc.dump());
  file.set_metadata("pathq.method", spec.name);
  file.set_metadata("pathq.version", pathq::version_string);
  std::vector<std::pair<std::string, std::string>> files = {{out_path, pathq::io::to_safetensors_bytes(file)}};
  if (auto p = a.text("report")) files.push_back({*p, rep.dump(2) + "\n"});
  pathq::io::write_files_atomically(files);

  if (!quiet) {
    if (model.contains("float_accuracy"))
      std::fprintf(stderr, "accuracy on %ld test samples: float %.2f%%, quantized %.2f%%\n", long(test_x.rows()),
                   100 * model["float_accuracy"].get<double>(), 100 * model["quantized_accuracy"].get<double>());
    else if (model.contains("output_relative_error"))
      std::fprintf(stderr, "output relative error on %ld test samples: %.3e\n", long(test_x.rows()),
                   model["output_relative_error"].get<double>());
  }
  return failed ? 1 : 0;
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_MODEL_COMMAND_HPP
