// IEEE binary16 (F16) and bfloat16 (BF16) bit patterns to and from double, rounding to nearest even.
#ifndef PATHQ_DETAIL_FLOAT16_HPP
#define PATHQ_DETAIL_FLOAT16_HPP

#include <cmath>
#include <cstdint>
#include <limits>

namespace pathq::detail {

/// A 16-bit binary floating-point format: 1 sign bit, `ExpBits` exponent bits (bias
/// 2^(ExpBits-1) - 1), `MantBits` stored significand bits, subnormals, infinities and NaNs, laid
/// out as IEEE 754 does. `SmallFloat<5, 10>` is IEEE binary16, `SmallFloat<8, 7>` is bfloat16.
/// Every value of both formats is exactly a float (and a double).
template <int ExpBits, int MantBits>
struct SmallFloat {
  static_assert(1 + ExpBits + MantBits == 16, "A SmallFloat format has exactly 16 bits.");
  static constexpr int exponent_bits = ExpBits;
  static constexpr int mantissa_bits = MantBits;
  static constexpr int bias = (1 << (ExpBits - 1)) - 1;
  static constexpr int min_exponent = 1 - bias;                    ///< exponent of the smallest normal number
  static constexpr std::uint32_t max_field = (1u << ExpBits) - 1;  ///< exponent field of inf/NaN
  static constexpr std::uint16_t sign_mask = 0x8000;
  static constexpr std::uint16_t exponent_mask = static_cast<std::uint16_t>(max_field << MantBits);
  static constexpr std::uint16_t mantissa_mask = static_cast<std::uint16_t>((1u << MantBits) - 1);

  /// The value of a bit pattern, exactly. NaN patterns give a quiet NaN of the same sign.
  static double decode(std::uint16_t bits) {
    const std::uint32_t field = (bits & exponent_mask) >> MantBits;
    const std::uint32_t mantissa = bits & mantissa_mask;
    double magnitude = 0.0;
    if (field == max_field) {
      magnitude =
          mantissa != 0 ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    } else if (field == 0) {
      magnitude = std::ldexp(static_cast<double>(mantissa), min_exponent - MantBits);
    } else {
      magnitude = std::ldexp(static_cast<double>(mantissa | (1u << MantBits)),
                             static_cast<int>(field) - bias - MantBits);
    }
    return (bits & sign_mask) != 0 ? -magnitude : magnitude;
  }

  /// The bit pattern nearest to `x`, ties to the even significand (IEEE 754 roundTiesToEven,
  /// independent of the floating-point environment). Infinities and signed zeros map to
  /// themselves, a NaN to the quiet NaN of its sign; a finite `x` at or beyond the rounding
  /// threshold above the largest finite value becomes infinity and sets `overflow`.
  static std::uint16_t encode(double x, bool& overflow) {
    overflow = false;
    const std::uint16_t sign = std::signbit(x) ? sign_mask : 0;
    if (std::isnan(x)) return static_cast<std::uint16_t>(sign | exponent_mask | (1u << (MantBits - 1)));
    if (std::isinf(x)) return static_cast<std::uint16_t>(sign | exponent_mask);
    const double magnitude = std::fabs(x);
    if (magnitude == 0.0) return sign;
    int binary_exponent = 0;
    std::frexp(magnitude, &binary_exponent);  // magnitude = f 2^binary_exponent, f in [0.5, 1)
    int exponent = binary_exponent - 1 < min_exponent ? min_exponent : binary_exponent - 1;
    // The significand in units of the last place: [2^M, 2^(M+1)) for normal numbers, [0, 2^M)
    // for subnormal ones. Scaling by a power of two is exact here, and so is the fraction.
    const double scaled = std::ldexp(magnitude, MantBits - exponent);
    double rounded = std::floor(scaled);
    const double fraction = scaled - rounded;
    if (fraction > 0.5 || (fraction == 0.5 && std::fmod(rounded, 2.0) != 0.0)) rounded += 1.0;
    auto significand = static_cast<std::uint32_t>(rounded);
    if (significand == (2u << MantBits)) {  // rounded up to the next binade
      significand >>= 1;
      ++exponent;
    }
    // A subnormal that rounds up to 2^M becomes the smallest normal number: field 1.
    const std::uint32_t field =
        significand >= (1u << MantBits) ? static_cast<std::uint32_t>(exponent + bias) : 0u;
    if (field >= max_field) {
      overflow = true;
      return static_cast<std::uint16_t>(sign | exponent_mask);
    }
    return static_cast<std::uint16_t>(sign | (field << MantBits) | (significand & mantissa_mask));
  }

  /// The largest finite value: 65504 for binary16, about 3.3895e38 for bfloat16.
  static double max_finite() {
    return decode(static_cast<std::uint16_t>(exponent_mask - 1));  // field max_field - 1, all ones
  }
};

/// IEEE 754 binary16 ("F16", NumPy's float16): 5 exponent bits, 10 significand bits.
using Binary16 = SmallFloat<5, 10>;
/// bfloat16 ("BF16"): the upper half of a float32, 8 exponent bits, 7 significand bits.
using BFloat16 = SmallFloat<8, 7>;

}  // namespace pathq::detail

#endif  // PATHQ_DETAIL_FLOAT16_HPP
