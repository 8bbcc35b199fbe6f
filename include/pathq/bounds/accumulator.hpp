// Accumulator bounds: the A2Q and A2Q+ l1 conditions and the accumulator widths they imply.
#ifndef PATHQ_BOUNDS_ACCUMULATOR_HPP
#define PATHQ_BOUNDS_ACCUMULATOR_HPP

#include <cmath>
#include <cstdint>
#include <limits>

#include "pathq/core/error.hpp"

namespace pathq {
namespace detail {

/// Throws unless P is in [2, 62] and N in [1, 30] ([2, 30] for signed inputs).
inline void check_accumulator_bits(const char* where, int accumulator_bits, int input_bits, bool input_signed) {
  PATHQ_CHECK(accumulator_bits >= 2 && accumulator_bits <= 62, where,
              "accumulator_bits must be in [2, 62], got ", accumulator_bits);
  PATHQ_CHECK(input_bits >= (input_signed ? 2 : 1) && input_bits <= 30, where, "input_bits must be in [",
              input_signed ? 2 : 1, ", 30] for ", input_signed ? "signed" : "unsigned", " inputs, got ",
              input_bits);
}

}  // namespace detail

namespace bounds {

/// The largest value a signed `P`-bit accumulator holds under the sign-magnitude convention,
/// `2^(P-1) - 1` (it also covers two's complement). docs/algorithms.md#axe-accumulator-bounds.
/// \param accumulator_bits P in [2, 62].
inline std::int64_t accumulator_limit(int accumulator_bits) {
  PATHQ_CHECK(accumulator_bits >= 2 && accumulator_bits <= 62, "bounds::accumulator_limit",
              "accumulator_bits must be in [2, 62], got ", accumulator_bits);
  return (std::int64_t(1) << (accumulator_bits - 1)) - 1;
}

/// The fewest accumulator bits P with `|value| <= 2^(P-1) - 1`, i.e. the signed width a dot
/// product whose extreme is `value` needs. Returns 1 for 0 (nothing to hold).
inline int accumulator_bits_needed(std::int64_t value) {
  PATHQ_CHECK(value > std::numeric_limits<std::int64_t>::min(), "bounds::accumulator_bits_needed",
              "value must be > INT64_MIN");
  const std::uint64_t a = std::uint64_t(value < 0 ? -value : value);
  int bits = 1;
  while (bits < 64 && (std::uint64_t(1) << (bits - 1)) - 1 < a) ++bits;
  return bits;
}

/// Width of the outer accumulator of a multi-stage datapath: `tiles` inner results of at most
/// `2^(P-1) - 1` each sum to at most `tiles (2^(P-1) - 1) <= 2^(P - 1 + ceil(log2 tiles)) - 1`,
/// so `P + ceil(log2 tiles)` bits suffice (docs/algorithms.md#axe-multi-stage-accumulation; derived here).
/// \param accumulator_bits P (inner width) in [2, 62]; \param tiles >= 1.
inline int outer_accumulator_bits(int accumulator_bits, std::int64_t tiles) {
  PATHQ_CHECK(accumulator_bits >= 2 && accumulator_bits <= 62, "bounds::outer_accumulator_bits",
              "accumulator_bits must be in [2, 62], got ", accumulator_bits);
  PATHQ_CHECK(tiles >= 1, "bounds::outer_accumulator_bits", "tiles must be >= 1, got ", tiles);
  int extra = 0;
  while ((std::int64_t(1) << extra) < tiles) ++extra;
  return accumulator_bits + extra;
}

/// The A2Q bound (Colbert et al., A2Q, ICCV 2023; Brevitas `get_upper_bound_on_l1_norm`):
/// integer weights with
///
///     ||q||_1 <= (2^(P-1) - 1) * 2^(1[signed] - N)
///
/// never overflow a signed P-bit accumulator on N-bit inputs, in any summation order, because
/// every partial sum is at most `||q||_1 max|x|` and `max|x| <= 2^(N - 1[signed])`.
/// It is tight for signed inputs and slightly conservative for unsigned ones (`2^N` against the
/// true `2^N - 1`). docs/algorithms.md#axe-accumulator-bounds.
/// \param accumulator_bits P in [2, 62]; \param input_bits N in [1, 30] ([2, 30] when signed).
/// \returns the largest admissible `||q||_1` (real).
inline double a2q_l1_bound(int accumulator_bits, int input_bits, bool input_signed) {
  pathq::detail::check_accumulator_bits("bounds::a2q_l1_bound", accumulator_bits, input_bits, input_signed);
  return double(accumulator_limit(accumulator_bits)) * std::ldexp(1.0, (input_signed ? 1 : 0) - input_bits);
}

/// The A2Q+ zero-centred bound (Colbert, Pappalardo, Petri-Koenig, Umuroglu, A2Q+, ICML 2024;
/// Brevitas `AccumulatorAwareZeroCenterParameterPreScaling.calc_max_l1_norm`): integer weights
/// that sum to zero and satisfy
///
///     ||q||_1 <= (2^P - 2) / (2^N - 1)
///
/// never overflow a signed P-bit accumulator on N-bit inputs (signed or unsigned: in both cases
/// `x_max - x_min = 2^N - 1`), since the extremes of the dot product are
/// `±(||q||_1 / 2)(x_max - x_min)`. AXE uses this radius for its soft threshold
/// (docs/algorithms.md#axe-constrained-step, step 1).
/// About twice the A2Q bound: P = 12, N = 4 gives 272.9 against 127.9.
/// docs/algorithms.md#axe-accumulator-bounds.
/// \param accumulator_bits P in [2, 62]; \param input_bits N in [1, 30].
inline double a2q_plus_l1_bound(int accumulator_bits, int input_bits) {
  pathq::detail::check_accumulator_bits("bounds::a2q_plus_l1_bound", accumulator_bits, input_bits, false);
  return (std::ldexp(1.0, accumulator_bits) - 2.0) / (std::ldexp(1.0, input_bits) - 1.0);
}

}  // namespace bounds
}  // namespace pathq

#endif  // PATHQ_BOUNDS_ACCUMULATOR_HPP
