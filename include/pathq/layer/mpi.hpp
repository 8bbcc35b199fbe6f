// The layer job across MPI ranks (`pathq layer --mpi`; docs/library.md#across-processes-mpi):
// every rank holds the summed statistics (pathq/distributed/mpi.hpp) and W; the ranks quantize
// disjoint ranges of whole neuron panels and rank 0 assembles the layer's result and report, equal
// to one process's. Configurations whose neurons depend on each other run on rank 0 alone.
#ifndef PATHQ_LAYER_MPI_HPP
#define PATHQ_LAYER_MPI_HPP

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <pathq/distributed/mpi.hpp>
#include <pathq/layer/run.hpp>

namespace pathq {
namespace layer {

/// Why the neurons of a layer job cannot be split across ranks with the result of one process,
/// or "" when they can: each neuron's codes and steps must depend on its own column of W and on
/// the statistics only, and the reported bound must be a sum over neurons.
inline std::string neuron_split_refusal(const Options& a, const MethodSpec& spec) {
  if (spec.name != "msq" && spec.name != "gpfq" && spec.name != "optq")
    return "--method " + spec.name + " runs on rank 0 (the neuron split covers msq, gpfq and optq)";
  if (a.text("scale-search").value_or("none") != "none")
    return "--scale-search compares whole-layer errors: the layer runs on rank 0";
  if (polish_requested(a)) return "--refine-passes/--refit-steps run on rank 0";
  if (a.has("accumulator-bits")) return "--accumulator-bits runs on rank 0";
  if (a.has("scale") && a.text("step-rule").value_or("layer") == "layer")
    return "the layer step rule (--scale without --step-rule column) takes one step from every neuron: the layer "
           "runs on rank 0";
  return "";
}

namespace detail {

// The strings of every rank, in rank order, on rank 0 (empty elsewhere). Collective.
inline std::vector<std::string> gather_strings(const std::string& s, MPI_Comm comm) {
  const auto lengths = pathq::distributed::detail::all_values(static_cast<long long>(s.size()), comm);
  std::vector<int> counts(lengths.size()), offsets(lengths.size());
  long long total = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    counts[r] = int(lengths[r]);
    offsets[r] = int(total);
    total += lengths[r];
  }
  std::string all(static_cast<std::size_t>(pathq::distributed::rank(comm) == 0 ? total : 0), '\0');
  MPI_Gatherv(s.data(), int(s.size()), MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR, 0, comm);
  std::vector<std::string> out;
  if (pathq::distributed::rank(comm) == 0)
    for (std::size_t r = 0; r < lengths.size(); ++r) out.push_back(all.substr(std::size_t(offsets[r]), std::size_t(counts[r])));
  return out;
}

template <class T>
T reduce_value(T v, MPI_Op op, MPI_Comm comm) {
  T out{};
  MPI_Allreduce(&v, &out, 1, pathq::distributed::detail::mpi_type<T>(), op, comm);
  return out;
}

}  // namespace detail

/// Quantizes the layer `in` (its whole W and the statistics of all the ranks' rows, the same on
/// every rank: see pathq::distributed::allreduce) across the ranks of `comm`. When
/// `neuron_split_refusal` allows, rank r quantizes the neurons of
/// `pathq::distributed::split_neurons` and rank 0 gathers codes, steps, zero points, weights and
/// per-neuron errors; otherwise rank 0 quantizes the whole layer. Returns the outcome on rank 0
/// (report fields `ranks`, `neuron_split`, and `neuron_split_note` when it was refused), nothing
/// elsewhere. Collective. Codes, steps and errors equal one process's on the same statistics.
/// \throws what `quantize` throws, on the ranks where it happened; the other ranks then return
///         nothing (the caller must agree on failure across ranks before its next collective call).
template <class Scalar>
std::optional<Outcome<Scalar>> quantize_across_ranks(const Options& a, LayerInput<Scalar>& in,
                                                     MPI_Comm comm = MPI_COMM_WORLD) {
  namespace dist = pathq::distributed;
  const MethodSpec& spec = check_options(a);
  const int me = dist::rank(comm), R = dist::ranks(comm);
  const std::string refusal = neuron_split_refusal(a, spec);
  std::optional<Outcome<Scalar>> o;
  if (R == 1 || !refusal.empty()) {
    if (me == 0) {
      o.emplace(quantize(a, in));
      o->report["ranks"] = R;
      o->report["neuron_split"] = false;
      if (R > 1) o->report["neuron_split_note"] = refusal;
    }
    return o;
  }

  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::Index n_in = in.W.rows();
  const dist::Range cols = dist::split_neurons(in.W.cols(), engine_options(a).panel_width, me, R);
  LayerInput<Scalar> part;
  part.W = in.W.middleCols(cols.begin, cols.size());
  part.stats = std::move(in.stats);  // moved back below: one copy of the statistics per rank
  part.quantized_inputs = in.quantized_inputs;
  std::optional<Outcome<Scalar>> mine;
  std::exception_ptr failure;
  try {
    if (cols.size() > 0) mine.emplace(quantize(a, part));
  } catch (...) {
    failure = std::current_exception();
  }
  in.stats = std::move(part.stats);
  // Every rank learns whether any failed before the gathers: the failing ones rethrow, the others
  // return nothing, and no rank waits in a collective call the others never make.
  if (detail::reduce_value<int>(failure ? 1 : 0, MPI_MAX, comm)) {
    if (failure) std::rethrow_exception(failure);
    return o;
  }

  // Everything a rank computed for its neurons; ranks without neurons send empty blocks.
  const Result<Scalar>* r = mine ? &mine->result() : nullptr;
  const auto& info = r ? r->info : QuantInfo{};
  const Matrix Q = dist::gather_columns<Scalar>(mine ? mine->Q : Matrix(n_in, 0), comm);
  const Codes codes = dist::gather_columns<std::int32_t>(r ? r->codes : Codes(n_in, 0), comm);
  const Matrix step = dist::gather_columns<Scalar>(r ? r->grid.step : Matrix(0, 0), comm);
  const Matrix zero = dist::gather_columns<Scalar>(r ? r->grid.zero : Matrix(0, 0), comm);
  const bool all_errors = detail::reduce_value<int>(!r || info.column_error.size() == r->codes.cols(), MPI_MIN, comm);
  Eigen::MatrixXd col_err, col_ref;
  if (all_errors) {
    col_err = dist::gather_columns<double>(r ? Eigen::MatrixXd(info.column_error.transpose()) : Eigen::MatrixXd(1, 0), comm);
    col_ref = dist::gather_columns<double>(r ? Eigen::MatrixXd(info.column_reference.transpose()) : Eigen::MatrixXd(1, 0),
                                           comm);
  }
  const long long saturated = detail::reduce_value<long long>(info.saturated, MPI_SUM, comm);
  const int status = detail::reduce_value<int>(int(info.status), MPI_MAX, comm);
  const double seconds = detail::reduce_value<double>(info.seconds, MPI_MAX, comm);
  const auto& bound = mine ? mine->searched.out.bound : std::optional<ReportedBound>{};
  const double bound_sum = detail::reduce_value<double>(bound ? bound->absolute : 0.0, MPI_SUM, comm);
  const auto notes = detail::gather_strings(bound && !bound->applicable ? bound->note : std::string(), comm);
  const auto messages = detail::gather_strings(info.message, comm);
  if (me != 0) return o;

  // Rank 0 always has the first panel: its outcome is the frame the others' parts fill in.
  o = std::move(mine);
  MethodOutcome<Scalar>& out = o->searched.out;
  Result<Scalar>& res = out.result;
  res.codes = codes;
  res.grid.step = step;
  res.grid.zero = zero;
  res.info.saturated = Eigen::Index(saturated);
  res.info.status = Info(status);
  res.info.seconds = seconds;
  if (all_errors) {
    res.info.column_error = col_err.transpose();
    res.info.column_reference = col_ref.transpose();
  } else {
    res.info.forget_layer_error();
  }
  for (std::size_t k = 0; k < messages.size(); ++k)
    if (!messages[k].empty() && messages[k] != res.info.message)
      res.info.message += (res.info.message.empty() ? "" : "; ") + std::string("rank ") + std::to_string(k) + ": " +
                          messages[k];
  if (out.bound) {
    out.bound->absolute = bound_sum;
    for (const auto& note : notes)
      if (!note.empty()) {
        out.bound->applicable = false;
        out.bound->note = note;
        break;
      }
  }
  o->Q = Q;
  write_report(spec, in, *o);
  o->report["ranks"] = R;
  o->report["neuron_split"] = true;
  return o;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_MPI_HPP
