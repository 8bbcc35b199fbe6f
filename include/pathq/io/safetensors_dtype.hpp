// Element types of safetensors files and the exact conversions between them and C++ scalars.
#ifndef PATHQ_IO_SAFETENSORS_DTYPE_HPP
#define PATHQ_IO_SAFETENSORS_DTYPE_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <pathq/core/error.hpp>
#include <pathq/detail/float16.hpp>

namespace pathq::io {

/// Element types of safetensors files, named as in the header ("F32", "BF16", ...), all
/// little-endian. F16 is IEEE binary16, BF16 is bfloat16 (the upper half of a float32), BOOL is
/// one byte holding 0 or 1.
enum class SafetensorsDType { Bool, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64 };

/// The header's name of a dtype: "BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64",
/// "F16", "BF16", "F32", "F64".
inline const char* to_string(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::Bool: return "BOOL";
    case SafetensorsDType::U8: return "U8";
    case SafetensorsDType::I8: return "I8";
    case SafetensorsDType::U16: return "U16";
    case SafetensorsDType::I16: return "I16";
    case SafetensorsDType::U32: return "U32";
    case SafetensorsDType::I32: return "I32";
    case SafetensorsDType::U64: return "U64";
    case SafetensorsDType::I64: return "I64";
    case SafetensorsDType::F16: return "F16";
    case SafetensorsDType::BF16: return "BF16";
    case SafetensorsDType::F32: return "F32";
    case SafetensorsDType::F64: return "F64";
  }
  return "unknown";
}

/// Bytes per element of a dtype (1, 2, 4 or 8).
inline std::size_t item_size(SafetensorsDType dtype) {
  switch (dtype) {
    case SafetensorsDType::Bool:
    case SafetensorsDType::U8:
    case SafetensorsDType::I8: return 1;
    case SafetensorsDType::U16:
    case SafetensorsDType::I16:
    case SafetensorsDType::F16:
    case SafetensorsDType::BF16: return 2;
    case SafetensorsDType::U32:
    case SafetensorsDType::I32:
    case SafetensorsDType::F32: return 4;
    case SafetensorsDType::U64:
    case SafetensorsDType::I64:
    case SafetensorsDType::F64: return 8;
  }
  return 0;
}

/// The dtype whose header name is `text` ("F32", ...); false when there is none.
inline bool parse_safetensors_dtype(std::string_view text, SafetensorsDType& dtype) {
  static const SafetensorsDType all[] = {
      SafetensorsDType::Bool, SafetensorsDType::U8,  SafetensorsDType::I8,   SafetensorsDType::U16,
      SafetensorsDType::I16,  SafetensorsDType::U32, SafetensorsDType::I32,  SafetensorsDType::U64,
      SafetensorsDType::I64,  SafetensorsDType::F16, SafetensorsDType::BF16, SafetensorsDType::F32,
      SafetensorsDType::F64};
  for (const SafetensorsDType d : all)
    if (text == to_string(d)) {
      dtype = d;
      return true;
    }
  return false;
}

/// True for the C++ scalar types that matrices are read into and written from: float, double,
/// and signed or unsigned integers of 1, 2, 4 or 8 bytes (not bool or plain char).
template <class Scalar>
inline constexpr bool is_safetensors_scalar =
    !std::is_same_v<Scalar, bool> && !std::is_same_v<Scalar, char> &&
    ((std::is_floating_point_v<Scalar> && (sizeof(Scalar) == 4 || sizeof(Scalar) == 8)) ||
     (std::is_integral_v<Scalar> &&
      (sizeof(Scalar) == 1 || sizeof(Scalar) == 2 || sizeof(Scalar) == 4 || sizeof(Scalar) == 8)));

/// The dtype that holds a C++ scalar type as it is: float -> F32, double -> F64,
/// std::int32_t -> I32, std::uint8_t -> U8, ...
template <class Scalar>
constexpr SafetensorsDType safetensors_dtype_of() {
  static_assert(is_safetensors_scalar<Scalar>,
                "A safetensors matrix holds float, double, or a signed or unsigned 8/16/32/64-bit integer.");
  if constexpr (std::is_floating_point_v<Scalar>) {
    return sizeof(Scalar) == 4 ? SafetensorsDType::F32 : SafetensorsDType::F64;
  } else if constexpr (std::is_signed_v<Scalar>) {
    return sizeof(Scalar) == 1   ? SafetensorsDType::I8
           : sizeof(Scalar) == 2 ? SafetensorsDType::I16
           : sizeof(Scalar) == 4 ? SafetensorsDType::I32
                                 : SafetensorsDType::I64;
  } else {
    return sizeof(Scalar) == 1   ? SafetensorsDType::U8
           : sizeof(Scalar) == 2 ? SafetensorsDType::U16
           : sizeof(Scalar) == 4 ? SafetensorsDType::U32
                                 : SafetensorsDType::U64;
  }
}

}  // namespace pathq::io

namespace pathq::detail {

/// `value` as `Scalar`; false when an integer `Scalar` cannot hold it exactly (not a whole
/// number, NaN, infinite or out of range). Floating-point targets round to nearest.
template <class Scalar>
bool st_from_double(double value, Scalar& out) {
  if constexpr (std::is_floating_point_v<Scalar>) {
    out = static_cast<Scalar>(value);
  } else {
    const double high = std::ldexp(1.0, std::numeric_limits<Scalar>::digits);  // max + 1, exact
    const double low = std::is_signed_v<Scalar> ? -high : 0.0;
    if (!(value >= low && value < high) || value != std::trunc(value)) return false;
    out = static_cast<Scalar>(value);
  }
  return true;
}

/// `value` as `Scalar`; false when an integer `Scalar` cannot hold it.
template <class Scalar>
bool st_from_int64(std::int64_t value, Scalar& out) {
  if constexpr (std::is_integral_v<Scalar>) {
    if constexpr (std::is_signed_v<Scalar>) {
      if (value < std::numeric_limits<Scalar>::min() || value > std::numeric_limits<Scalar>::max())
        return false;
    } else {
      if (value < 0 || static_cast<std::uint64_t>(value) > std::numeric_limits<Scalar>::max()) return false;
    }
  }
  out = static_cast<Scalar>(value);
  return true;
}

/// `value` as `Scalar`; false when an integer `Scalar` cannot hold it.
template <class Scalar>
bool st_from_uint64(std::uint64_t value, Scalar& out) {
  if constexpr (std::is_integral_v<Scalar>) {
    if (value > static_cast<std::uint64_t>(std::numeric_limits<Scalar>::max())) return false;
  }
  out = static_cast<Scalar>(value);
  return true;
}

template <class T>
T st_load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

/// Converts the element stored at `p` as `dtype` to `out`; false when it does not fit exactly
/// (see st_from_double), or for a BOOL byte other than 0 or 1.
template <class Scalar>
bool st_read_element(const char* p, io::SafetensorsDType dtype, Scalar& out) {
  using io::SafetensorsDType;
  switch (dtype) {
    case SafetensorsDType::Bool: {
      const auto byte = st_load<std::uint8_t>(p);
      return byte <= 1 && st_from_uint64(byte, out);
    }
    case SafetensorsDType::U8: return st_from_uint64(st_load<std::uint8_t>(p), out);
    case SafetensorsDType::I8: return st_from_int64(st_load<std::int8_t>(p), out);
    case SafetensorsDType::U16: return st_from_uint64(st_load<std::uint16_t>(p), out);
    case SafetensorsDType::I16: return st_from_int64(st_load<std::int16_t>(p), out);
    case SafetensorsDType::U32: return st_from_uint64(st_load<std::uint32_t>(p), out);
    case SafetensorsDType::I32: return st_from_int64(st_load<std::int32_t>(p), out);
    case SafetensorsDType::U64: return st_from_uint64(st_load<std::uint64_t>(p), out);
    case SafetensorsDType::I64: return st_from_int64(st_load<std::int64_t>(p), out);
    case SafetensorsDType::F16: return st_from_double(Binary16::decode(st_load<std::uint16_t>(p)), out);
    case SafetensorsDType::BF16: return st_from_double(BFloat16::decode(st_load<std::uint16_t>(p)), out);
    case SafetensorsDType::F32: return st_from_double(st_load<float>(p), out);
    case SafetensorsDType::F64: return st_from_double(st_load<double>(p), out);
  }
  return false;
}

/// The element stored at `p` as `dtype`, as text for an error message.
inline std::string st_element_text(const char* p, io::SafetensorsDType dtype) {
  using io::SafetensorsDType;
  switch (dtype) {
    case SafetensorsDType::Bool: return concat("byte ", static_cast<int>(st_load<std::uint8_t>(p)));
    case SafetensorsDType::U8: return std::to_string(st_load<std::uint8_t>(p));
    case SafetensorsDType::I8: return std::to_string(st_load<std::int8_t>(p));
    case SafetensorsDType::U16: return std::to_string(st_load<std::uint16_t>(p));
    case SafetensorsDType::I16: return std::to_string(st_load<std::int16_t>(p));
    case SafetensorsDType::U32: return std::to_string(st_load<std::uint32_t>(p));
    case SafetensorsDType::I32: return std::to_string(st_load<std::int32_t>(p));
    case SafetensorsDType::U64: return std::to_string(st_load<std::uint64_t>(p));
    case SafetensorsDType::I64: return std::to_string(st_load<std::int64_t>(p));
    case SafetensorsDType::F16: return concat(Binary16::decode(st_load<std::uint16_t>(p)));
    case SafetensorsDType::BF16: return concat(BFloat16::decode(st_load<std::uint16_t>(p)));
    case SafetensorsDType::F32: return concat(st_load<float>(p));
    case SafetensorsDType::F64: return concat(st_load<double>(p));
  }
  return "?";
}

/// Outcome of storing one value in a dtype.
enum class StStore { Ok, Inexact, Overflow };

/// Stores `value` at `p` as `dtype`. Floating-point dtypes round to nearest even (`Overflow` when
/// a finite value rounds to infinity); integer dtypes and BOOL need the exact value (`Inexact`).
/// Integers beyond 2^53 are rounded to double first on their way to F16 or BF16.
template <class Source>
StStore st_store_element(Source value, io::SafetensorsDType dtype, char* p) {
  using io::SafetensorsDType;
  const auto store = [p](auto v) { std::memcpy(p, &v, sizeof v); };
  const auto exact = [&](auto target) {
    bool ok = false;
    if constexpr (std::is_floating_point_v<Source>)
      ok = st_from_double(static_cast<double>(value), target);
    else if constexpr (std::is_signed_v<Source>)
      ok = st_from_int64(static_cast<std::int64_t>(value), target);
    else
      ok = st_from_uint64(static_cast<std::uint64_t>(value), target);
    if (ok) store(target);
    return ok ? StStore::Ok : StStore::Inexact;
  };
  switch (dtype) {
    case SafetensorsDType::Bool: {
      std::uint8_t byte = 0;
      if (exact(byte) != StStore::Ok || static_cast<std::uint8_t>(*p) > 1) return StStore::Inexact;
      return StStore::Ok;
    }
    case SafetensorsDType::U8: return exact(std::uint8_t{});
    case SafetensorsDType::I8: return exact(std::int8_t{});
    case SafetensorsDType::U16: return exact(std::uint16_t{});
    case SafetensorsDType::I16: return exact(std::int16_t{});
    case SafetensorsDType::U32: return exact(std::uint32_t{});
    case SafetensorsDType::I32: return exact(std::int32_t{});
    case SafetensorsDType::U64: return exact(std::uint64_t{});
    case SafetensorsDType::I64: return exact(std::int64_t{});
    case SafetensorsDType::F16:
    case SafetensorsDType::BF16: {
      bool overflow = false;
      const auto v = static_cast<double>(value);
      store(dtype == SafetensorsDType::F16 ? Binary16::encode(v, overflow) : BFloat16::encode(v, overflow));
      return overflow ? StStore::Overflow : StStore::Ok;
    }
    case SafetensorsDType::F32: {
      if constexpr (std::is_floating_point_v<Source>) {
        // 2^128 - 2^103: halfway between FLT_MAX and 2^128, where rounding reaches infinity.
        if (std::isfinite(value) && std::fabs(static_cast<double>(value)) >= 0x1.ffffffp127)
          return StStore::Overflow;
      }
      store(static_cast<float>(value));
      return StStore::Ok;
    }
    case SafetensorsDType::F64: store(static_cast<double>(value)); return StStore::Ok;
  }
  return StStore::Inexact;
}

}  // namespace pathq::detail

#endif  // PATHQ_IO_SAFETENSORS_DTYPE_HPP
