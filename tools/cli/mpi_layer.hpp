// `mpirun -np R pathq layer --mpi ...`: each rank reads its contiguous share of the rows of
// --inputs/--quantized-inputs, the statistics are summed across ranks, the neurons are split
// across ranks (pathq/layer/mpi.hpp), and rank 0 writes --out, --codes and --report.
#ifndef PATHQ_TOOLS_MPI_LAYER_HPP
#define PATHQ_TOOLS_MPI_LAYER_HPP

#include <chrono>
#include <climits>
#include <cstdio>
#include <new>
#include <string>

#include <mpi.h>

#include <pathq/distributed/mpi.hpp>
#include <pathq/io/npy_stream.hpp>
#include <pathq/layer/input_checks.hpp>
#include <pathq/layer/mpi.hpp>
#include <pathq/layer/npy_stats.hpp>

#include "tool_names.hpp"

namespace pathq_tool {
namespace detail {

/// MPI for the duration of one command.
struct MpiSession {
  MpiSession() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) MPI_Init(nullptr, nullptr);
  }
  ~MpiSession() {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

/// Thrown once every rank knows that a step failed somewhere: the exit status to return.
struct MpiStop {
  int status;
};

/// Runs `step` on every rank, then agrees: if it failed on any rank, the lowest failing rank
/// prints its message (one line) and every rank throws MpiStop with the worst status (2 for a
/// usage error, 1 otherwise). Every rank must call it, in the same order.
template <class Step>
void collective_step(Step&& step, MPI_Comm comm) {
  int status = 0;
  std::string message;
  try {
    step();
  } catch (const UsageError& e) {
    status = 2;
    message = e.message;
  } catch (const std::bad_alloc&) {
    status = 1;
    message = "out of memory";
  } catch (const std::exception& e) {
    status = 1;
    message = e.what();
  }
  int worst = 0;
  MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm);
  if (worst == 0) return;
  const int me = pathq::distributed::rank(comm);
  int first = status ? me : INT_MAX, lowest = INT_MAX;
  MPI_Allreduce(&first, &lowest, 1, MPI_INT, MPI_MIN, comm);
  if (me == lowest) {
    for (char& c : message)
      if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "pathq: %s%s\n", pathq::distributed::ranks(comm) > 1 ? ("rank " + std::to_string(me) + ": ").c_str() : "",
                 message.c_str());
  }
  throw MpiStop{worst};
}

template <class Scalar>
int run_layer_mpi_ranks(const Args& a, const MethodSpec& spec, std::chrono::steady_clock::time_point t_start) {
  namespace dist = pathq::distributed;
  const MPI_Comm comm = MPI_COMM_WORLD;
  const int me = dist::rank(comm);
  const std::string out_path = a.required_text("out");
  const std::string w_path = a.required_text("weights");
  LayerInput<Scalar> in;
  double stats_seconds = 0;
  auto t_stats = std::chrono::steady_clock::now();
  // Each step is either local (no MPI call inside, so a rank may fail alone) or collective (every
  // rank makes the same MPI calls, and a check that fails, fails on every rank).
  Eigen::Index m = 0;
  collective_step([&] {  // local: the files' headers and W
    in.W = pathq::io::load_matrix<Scalar>(w_path);
    if (auto xp = a.text("inputs")) m = pathq::io::NpyRowReader(*xp).rows();
  }, comm);
  collective_step([&] {  // collective: every rank sees the same shapes
    dist::detail::check_same(in.W.rows(), "pathq layer --mpi", "--weights' row count", comm);
    dist::detail::check_same(in.W.cols(), "pathq layer --mpi", "--weights' column count", comm);
    dist::detail::check_same(m, "pathq layer --mpi", "--inputs' row count", comm);
  }, comm);
  collective_step([&] {  // local: this rank's rows
    t_stats = std::chrono::steady_clock::now();
    if (auto xp = a.text("inputs")) {
      const dist::Range rows = dist::split_rows(m, me, dist::ranks(comm));
      in.stats = pathq::layer::stream_layer_stats(*xp, a.text("quantized-inputs"), in.W.rows(),
                                                  pathq::layer::statistics_products(a),
                                                  std::make_pair(rows.begin, rows.end));
      in.quantized_inputs = a.has("quantized-inputs");
    } else if (a.has("quantized-inputs")) {
      throw UsageError{"--quantized-inputs needs --inputs"};
    } else if (spec.needs_inputs) {
      throw UsageError{"--method " + spec.name + " needs --inputs X.npy"};
    }
  }, comm);
  collective_step([&] {  // collective: the sum over ranks; the checks after it agree on every rank
    if (!in.stats) return;
    pathq::distributed::allreduce(*in.stats, comm);
    if (in.stats->samples() == 0) throw UsageError{"--inputs " + *a.text("inputs") + " has no rows"};
    pathq::layer::check_live_layer(*in.stats, in.quantized_inputs ? "--quantized-inputs " + *a.text("quantized-inputs")
                                                                   : "--inputs " + *a.text("inputs"));
    stats_seconds = pathq::layer::detail::seconds_since(t_stats);
  }, comm);
  std::optional<pathq::layer::Outcome<Scalar>> o;
  collective_step([&] { o = pathq::layer::quantize_across_ranks(a, in, comm); }, comm);  // agrees on failure itself
  // Rank 0 writes (local); the others wait in the agreement.
  int status = 0;
  collective_step([&] {
    if (!o) return;
    const auto& r = o->result();
    nlohmann::json& rep = o->report;
    rep["seconds"] = {{"statistics", stats_seconds}, {"quantization", r.info.seconds},
                      {"total", pathq::layer::detail::seconds_since(t_start)}};
    std::vector<std::pair<std::string, std::string>> files = {{out_path, pathq::io::to_npy_bytes(o->Q)}};
    if (auto p = a.text("codes")) files.push_back({*p, pathq::io::to_npy_bytes(r.codes)});
    if (auto p = a.text("report")) files.push_back({*p, rep.dump(2) + "\n"});
    pathq::io::write_files_atomically(files);
    status = r.info.status == pathq::Info::Failed ? 1 : 0;
  }, comm);
  MPI_Bcast(&status, 1, MPI_INT, 0, comm);
  return status;
}

/// `pathq layer --mpi`: the job across the ranks of MPI_COMM_WORLD. Returns the exit status.
template <class Scalar>
int run_layer_mpi(const Args& a, const MethodSpec& spec, std::chrono::steady_clock::time_point t_start) {
  MpiSession session;
  try {
    return run_layer_mpi_ranks<Scalar>(a, spec, t_start);
  } catch (const MpiStop& stop) {
    return stop.status;
  }
}

}  // namespace detail
}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_MPI_LAYER_HPP
