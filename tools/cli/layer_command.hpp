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

#include <pathq/layer/input_checks.hpp>
#include <pathq/layer/npy_stats.hpp>
#include <pathq/layer/run.hpp>

#include "memory_limit.hpp"
#include "tool_names.hpp"
#ifdef PATHQ_TOOL_MPI
#include "mpi_layer.hpp"
#endif

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
         "                  [--max-memory-mb M] --out Q.npy [--codes CODES.npy] [--report REPORT.json]\n"
         "                  [--mpi]  (under mpirun: rows and neurons split across the ranks; rank 0 writes)\n";
}

namespace detail {

inline std::string canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

template <class Scalar>
int run_layer(const Args& a, const MethodSpec& spec) {
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
  if (a.has("mpi")) {
#ifdef PATHQ_TOOL_MPI
    return run_layer_mpi<Scalar>(a, spec, t_start);
#else
    throw UsageError{"--mpi: this pathq was built without MPI (Debian: apt-get install libopenmpi-dev openmpi-bin, "
                     "then configure and build again)"};
#endif
  }
  LayerInput<Scalar> in;
  in.W = pathq::io::load_matrix<Scalar>(w_path);
  const auto t_stats = std::chrono::steady_clock::now();
  if (auto xp = a.text("inputs")) {
    // Streamed in batches of rows (input_stream.hpp): memory independent of the row count.
    in.stats = pathq::layer::stream_layer_stats(*xp, a.text("quantized-inputs"), in.W.rows(),
                                                pathq::layer::statistics_products(a));
    in.quantized_inputs = a.has("quantized-inputs");
    if (in.stats->samples() == 0) throw UsageError{"--inputs " + *xp + " has no rows"};
    pathq::layer::check_live_layer(*in.stats, in.quantized_inputs ? "--quantized-inputs " + *a.text("quantized-inputs")
                                                    : "--inputs " + *xp);
  } else if (a.has("quantized-inputs")) {
    throw UsageError{"--quantized-inputs needs --inputs"};
  } else if (spec.needs_inputs) {
    throw UsageError{"--method " + spec.name + " needs --inputs X.npy"};
  }
  const double stats_seconds = in.stats ? seconds_since(t_stats) : 0.0;

  pathq::layer::Outcome<Scalar> o = pathq::layer::quantize(a, in);
  const auto& r = o.result();
  nlohmann::json& rep = o.report;
  rep["seconds"] = {{"statistics", stats_seconds}, {"quantization", r.info.seconds},
                    {"total", pathq::layer::detail::seconds_since(t_start)}};

  // Everything is computed; now write. Each file appears whole or not at all.
  std::vector<std::pair<std::string, std::string>> files = {{out_path, pathq::io::to_npy_bytes(o.Q)}};
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
  std::set<std::string> valued, switches;
  pathq::layer::all_option_names(valued, switches);
  const Args a(argc, argv, first, valued, switches);
  const MethodSpec& spec = pathq::layer::check_options(a);
  return {a, &spec, a.text("precision").value_or("float")};
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
