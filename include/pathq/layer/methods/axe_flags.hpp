// AXE flags for the engine methods: --accumulator-bits P --input-bits N [--input-signed] [--tile T].
#ifndef PATHQ_LAYER_METHODS_AXE_FLAGS_HPP
#define PATHQ_LAYER_METHODS_AXE_FLAGS_HPP

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include <pathq/bounds/accumulator.hpp>
#include <pathq/constraints/accumulator.hpp>
#include <pathq/constraints/none.hpp>
#include <pathq/methods/integer_check.hpp>

#include <pathq/layer/method.hpp>

namespace pathq {
namespace layer {

/// The valued AXE options, to add to a method's spec.
inline std::set<std::string> axe_valued_options() { return {"accumulator-bits", "input-bits", "tile"}; }
/// The AXE switches: `--input-signed`, and `--unconstrained` (report the accumulator only).
inline std::set<std::string> axe_switch_options() { return {"input-signed", "unconstrained"}; }

/// What the AXE flags ask for.
struct AxeRequest {
  pathq::AccumulatorOptions options;
  bool constrain = true;  ///< false with --unconstrained: quantize as usual, report the overflow risk
};

/// Reads the AXE flags: none given means no request. `--accumulator-bits P` needs `--input-bits N`;
/// `--input-signed`, `--tile T` and `--unconstrained` need `--accumulator-bits`.
inline std::optional<AxeRequest> axe_request(const Options& a) {
  if (!a.has("accumulator-bits")) {
    for (const char* f : {"input-bits", "input-signed", "tile", "unconstrained"})
      if (a.has(f)) throw option_error{std::string("--") + f + " goes with --accumulator-bits P"};
    return std::nullopt;
  }
  if (!a.has("input-bits"))
    throw option_error{"--accumulator-bits needs --input-bits N, the bit width of the layer's integer inputs"};
  AxeRequest r;
  r.options.input_signed = a.has("input-signed");
  r.options.accumulator_bits = int(*a.integer("accumulator-bits", 2, 62));
  r.options.input_bits = int(*a.integer("input-bits", r.options.input_signed ? 2 : 1, 30));
  if (auto t = a.integer("tile", 1, 1LL << 40)) r.options.tile = *t;
  r.constrain = !a.has("unconstrained");
  return r;
}

/// Runs `quantize(constraint)` with the AXE constraint built from `W` and `grid` when `axe` asks
/// for it, else with `pathq::NoConstraint`. `quantize` is a generic callable that instantiates
/// the method with the constraint's type and must quantize onto `grid` (or the alphabet that
/// resolves to it). The time to build the constraint counts as quantization time.
template <class Scalar, class Quantize>
pathq::Result<Scalar> quantize_with_axe(const std::optional<AxeRequest>& axe,
                                        const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& W,
                                        const pathq::Grid<Scalar>& grid, Quantize&& quantize) {
  if (!axe || !axe->constrain) return quantize(pathq::NoConstraint{});
  const auto start = std::chrono::steady_clock::now();
  const pathq::AccumulatorConstraint<Scalar> constraint(axe->options, W, grid);
  const double setup = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pathq::Result<Scalar> r = quantize(constraint);
  r.info.seconds += setup;
  return r;
}

/// Adds the `accumulator` report field: per neuron, the exact worst case of its accumulator(s)
/// over every integer input in range, its maximum, the widths needed, and whether the layer fits
/// P bits (`fits`; `overflow_risk` is its negation).
template <class Scalar>
void add_accumulator_report(nlohmann::json& extra, const pathq::Result<Scalar>& r, const AxeRequest& axe) {
  const auto& o = axe.options;
  const auto wc = pathq::accumulator_worst_case(r, o);
  nlohmann::json j;
  j["constrained"] = axe.constrain;
  j["accumulator_bits"] = o.accumulator_bits;
  j["input_bits"] = o.input_bits;
  j["input_signed"] = o.input_signed;
  j["input_range"] = {o.input_min(), o.input_max()};
  j["limit"] = wc.limit;
  j["tile"] = wc.tile;
  j["tiles"] = wc.tiles;
  j["worst_case"] = wc.neuron;
  j["worst_case_max"] = wc.worst;
  j["bits_needed"] = wc.bits_needed;
  j["fits"] = wc.fits();
  j["overflow_risk"] = !wc.fits();
  j["neurons_over"] = wc.neurons_over;
  j["outer_worst_case"] = wc.outer;
  j["outer_worst_case_max"] = wc.outer_worst;
  j["outer_bits_needed"] = wc.outer_bits_needed;
  j["outer_accumulator_bits"] = pathq::bounds::outer_accumulator_bits(o.accumulator_bits, wc.tiles);
  std::int64_t l1 = 0;
  for (Eigen::Index c = 0; c < r.codes.cols(); ++c)
    l1 = std::max<std::int64_t>(l1, r.codes.col(c).template cast<std::int64_t>().cwiseAbs().sum());
  j["l1_norm_max"] = l1;
  j["a2q_l1_bound"] = pathq::bounds::a2q_l1_bound(o.accumulator_bits, o.input_bits, o.input_signed);
  j["a2q_plus_l1_bound"] = pathq::bounds::a2q_plus_l1_bound(o.accumulator_bits, o.input_bits);
  extra["accumulator"] = j;
}

/// A constrained run no longer rounds to nearest: the method's rounding bound does not apply.
inline void axe_bound_note(std::optional<ReportedBound>& bound, const std::optional<AxeRequest>& axe) {
  if (!bound || !axe || !axe->constrain) return;
  bound->applicable = false;
  bound->note = "does not apply: the accumulator constraint moves and clamps values before rounding";
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_AXE_FLAGS_HPP
