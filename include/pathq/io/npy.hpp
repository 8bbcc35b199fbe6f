// Reading and writing NumPy .npy files (format 1.0, 2.0, 3.0) to and from Eigen matrices.
#ifndef PATHQ_IO_NPY_HPP
#define PATHQ_IO_NPY_HPP

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>
#include <pathq/io/atomic_file.hpp>

static_assert(CHAR_BIT == 8, "pathq/io/npy.hpp needs 8-bit bytes.");
static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "pathq/io/npy.hpp needs IEEE 754 float and double.");
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "pathq/io/npy.hpp reads and writes little-endian data and needs a little-endian host.");
#endif

namespace pathq::io {

/// Element types of .npy files that pathq reads and writes (always little-endian).
enum class DType { Float32, Float64, Int8, Int16, Int32, Int64, UInt8 };

/// NumPy's name of a dtype: "float32", "float64", "int8", "int16", "int32", "int64", "uint8".
inline const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int8: return "int8";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "unknown";
}

/// The `descr` string pathq writes for a dtype: '<f4', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1'.
inline const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Int8: return "|i1";
    case DType::Int16: return "<i2";
    case DType::Int32: return "<i4";
    case DType::Int64: return "<i8";
    case DType::UInt8: return "|u1";
  }
  return "?";
}

/// Bytes per element of a dtype.
inline std::size_t item_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int8: return 1;
    case DType::Int16: return 2;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  return 0;
}

/// True for the C++ scalar types that map onto a DType: float, double, signed integers of
/// 1, 2, 4 or 8 bytes, and unsigned integers of 1 byte.
template <class Scalar>
inline constexpr bool is_npy_scalar =
    !std::is_same_v<Scalar, bool> &&
    ((std::is_floating_point_v<Scalar> && (sizeof(Scalar) == 4 || sizeof(Scalar) == 8)) ||
     (std::is_integral_v<Scalar> && std::is_signed_v<Scalar> &&
      (sizeof(Scalar) == 1 || sizeof(Scalar) == 2 || sizeof(Scalar) == 4 || sizeof(Scalar) == 8)) ||
     (std::is_integral_v<Scalar> && std::is_unsigned_v<Scalar> && sizeof(Scalar) == 1));

/// The DType stored for a C++ scalar type, e.g. `dtype_of<float>() == DType::Float32`.
template <class Scalar>
constexpr DType dtype_of() {
  static_assert(is_npy_scalar<Scalar>,
                "A .npy matrix must hold float, double, int8, int16, int32, int64 or uint8.");
  if constexpr (std::is_floating_point_v<Scalar>) {
    return sizeof(Scalar) == 4 ? DType::Float32 : DType::Float64;
  } else if constexpr (std::is_unsigned_v<Scalar>) {
    return DType::UInt8;
  } else {
    return sizeof(Scalar) == 1 ? DType::Int8
         : sizeof(Scalar) == 2 ? DType::Int16
         : sizeof(Scalar) == 4 ? DType::Int32
                               : DType::Int64;
  }
}

/// The contents of a .npy file: dtype, shape, memory order, and the raw little-endian bytes of
/// the elements (C order: last index fastest; Fortran order: first index fastest).
struct NpyArray {
  DType dtype = DType::Float64;       ///< element type
  std::vector<std::int64_t> shape;    ///< dimensions; empty for a 0-d (scalar) array
  bool fortran_order = false;         ///< true when the first index varies fastest
  std::string data;                   ///< size() * item_size(dtype) bytes

  /// Number of elements: the product of the dimensions (1 for a 0-d array), or -1 when a
  /// dimension is negative or the product overflows int64 (never for an array from parse_npy).
  std::int64_t size() const { return pathq::detail::npy_checked_count(shape); }
};

}  // namespace pathq::io

namespace pathq::detail {

/// Throws unless the host stores integers little-endian (for compilers without __BYTE_ORDER__).
inline void check_little_endian_host(const char* where) {
  const std::uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  if (first != 1) throw_invalid(where, "this host is big-endian; pathq reads little-endian .npy only");
}

/// Maps a header's 'descr' to a DType; rejects big-endian and unsupported dtypes, naming them.
/// Single-byte types take any byte-order mark ('|i1', '<i1', '>u1', ...).
inline io::DType npy_parse_descr(const std::string& descr, const std::string& name) {
  if (descr.size() == 3) {
    const char order = descr[0];
    const std::string code = descr.substr(1);
    if ((order == '|' || order == '<' || order == '>') && code == "i1") return io::DType::Int8;
    if ((order == '|' || order == '<' || order == '>') && code == "u1") return io::DType::UInt8;
    if (order == '<' && code == "f4") return io::DType::Float32;
    if (order == '<' && code == "f8") return io::DType::Float64;
    if (order == '<' && code == "i2") return io::DType::Int16;
    if (order == '<' && code == "i4") return io::DType::Int32;
    if (order == '<' && code == "i8") return io::DType::Int64;
  }
  if (!descr.empty() && descr[0] == '>')
    npy_fail(name, "big-endian dtype ", npy_quoted(descr, 24),
             " is not supported (pathq reads little-endian data)");
  npy_fail(name, "unsupported dtype ", npy_quoted(descr, 24),
           " (supported: '<f4', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1')");
}

/// Throws "pathq::<where>: <name>: ..." unless `array.data` holds exactly the shape's elements.
inline void npy_check_data_size(const char* where, const std::string& name, const io::NpyArray& array) {
  const std::int64_t count = npy_checked_count(array.shape);
  const std::size_t item = io::item_size(array.dtype);
  if (count < 0 || static_cast<std::uint64_t>(count) > array.data.size() / item ||
      static_cast<std::uint64_t>(count) * item != array.data.size())
    throw_invalid(where, name, ": ", array.data.size(), " bytes of data do not match shape ",
                  npy_shape_text(array.shape), " of ", io::to_string(array.dtype));
}

/// Converts one element; false when an integer `Scalar` cannot hold it exactly (out of range,
/// not a whole number, NaN or infinite). Floating-point targets round to nearest.
template <class Scalar, class Source>
bool npy_convert(Source value, Scalar& out) {
  if constexpr (std::is_floating_point_v<Scalar>) {
    out = static_cast<Scalar>(value);
  } else if constexpr (std::is_floating_point_v<Source>) {
    const double v = static_cast<double>(value);
    const double high = std::ldexp(1.0, std::numeric_limits<Scalar>::digits);  // max + 1, exact
    const double low = std::is_signed_v<Scalar> ? -high : 0.0;
    if (!(v >= low && v < high) || v != std::trunc(v)) return false;
    out = static_cast<Scalar>(v);
  } else {
    const auto v = static_cast<std::int64_t>(value);  // every supported source fits in int64
    if constexpr (std::is_signed_v<Scalar>) {
      if (v < std::numeric_limits<Scalar>::min() || v > std::numeric_limits<Scalar>::max()) return false;
    } else {
      if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<Scalar>::max()) return false;
    }
    out = static_cast<Scalar>(v);
  }
  return true;
}

/// Fills `out` (already rows x cols) from the elements of `array`, stored as `Source`.
template <class Source, class Scalar>
void npy_fill_matrix(const io::NpyArray& array, Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out,
                     const std::string& name) {
  const Eigen::Index rows = out.rows(), cols = out.cols();
  if (rows == 0 || cols == 0) return;  // e.g. shape (6016360163, 0): no loop over empty rows
  const char* bytes = array.data.data();
  if constexpr (std::is_same_v<Source, Scalar>) {
    const std::size_t size = static_cast<std::size_t>(out.size()) * sizeof(Scalar);
    if (size == 0) return;
    if (array.fortran_order) {
      std::memcpy(out.data(), bytes, size);
    } else {
      Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major(rows, cols);
      std::memcpy(row_major.data(), bytes, size);
      out = row_major;
    }
  } else {
    for (Eigen::Index i = 0; i < rows; ++i) {
      for (Eigen::Index j = 0; j < cols; ++j) {
        const Eigen::Index k = array.fortran_order ? j * rows + i : i * cols + j;
        Source value;
        std::memcpy(&value, bytes + static_cast<std::size_t>(k) * sizeof(Source), sizeof(Source));
        if (npy_convert(value, out(i, j))) continue;
        using Printed = std::conditional_t<std::is_floating_point_v<Source>, double, long long>;
        throw_invalid("to_matrix", name, ": entry (", i, ", ", j, ") = ", static_cast<Printed>(value),
                      " of a ", io::to_string(array.dtype), " array does not fit exactly in ",
                      io::to_string(io::dtype_of<Scalar>()));
      }
    }
  }
}

}  // namespace pathq::detail

namespace pathq::io {

/// Parses the bytes of a .npy file (format 1.0, 2.0 or 3.0; any supported dtype; any rank).
/// \param bytes the whole file; arbitrary bytes are safe (every problem is reported, none crash).
/// \param name  names the input in error messages (usually its path).
/// \throws pathq::invalid_argument "pathq::read_npy: <name>: <problem>" for a bad magic string,
///         an unknown version, a header that overruns the file or is not a valid dictionary, a
///         missing or repeated key, an unsupported or big-endian dtype, a negative dimension, an
///         element count that overflows, or data that is shorter or longer than the shape says.
/// Complexity: linear in the size of the file (one copy of the data).
inline NpyArray parse_npy(const std::string& bytes, const std::string& name) {
  using pathq::detail::npy_fail;
  pathq::detail::check_little_endian_host("read_npy");
  static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 6 || std::memcmp(bytes.data(), magic, 6) != 0)
    npy_fail(name, "bad magic: not an .npy file (it does not begin with \\x93NUMPY)");
  if (bytes.size() < 8) npy_fail(name, "truncated: the file ends inside the version bytes");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (minor != 0 || major < 1 || major > 3)
    npy_fail(name, "unsupported .npy format version ", major, ".", minor, " (supported: 1.0, 2.0, 3.0)");
  const std::size_t prefix = major == 1 ? 10 : 12;  // magic, version, 2- or 4-byte header length
  if (bytes.size() < prefix) npy_fail(name, "truncated: the file ends inside the header length field");
  std::uint64_t header_length = 0;
  for (std::size_t i = 8; i < prefix; ++i)
    header_length |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * (i - 8));
  if (header_length > bytes.size() - prefix)
    npy_fail(name, "header length ", header_length, " extends beyond the end of the file (",
             bytes.size(), " bytes)");

  const std::string_view text(bytes.data() + prefix, static_cast<std::size_t>(header_length));
  pathq::detail::NpyHeader header = pathq::detail::NpyHeaderParser(text, name).parse();
  NpyArray array;
  array.dtype = pathq::detail::npy_parse_descr(header.descr, name);
  array.fortran_order = header.fortran_order;
  array.shape = std::move(header.shape);

  const std::int64_t count = pathq::detail::npy_checked_count(array.shape);
  const std::uint64_t item = item_size(array.dtype);
  if (count < 0 || static_cast<std::uint64_t>(count) > std::numeric_limits<std::uint64_t>::max() / item)
    npy_fail(name, "the data size of shape ", pathq::detail::npy_shape_text(array.shape),
             " overflows 64-bit integers");
  const std::uint64_t expected = static_cast<std::uint64_t>(count) * item;
  const std::size_t offset = prefix + static_cast<std::size_t>(header_length);
  const std::uint64_t found = bytes.size() - offset;
  if (found < expected) npy_fail(name, "truncated: expected ", expected, " bytes of data, found ", found);
  if (found > expected) npy_fail(name, "trailing data: expected ", expected, " bytes of data, found ", found);
  array.data = bytes.substr(offset);
  return array;
}

/// Reads a .npy file (see parse_npy).
/// \throws pathq::io_error when the file cannot be read; pathq::invalid_argument as parse_npy.
inline NpyArray read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

/// A 1-D or 2-D array as a matrix: shape (r, c) gives r x c, read in the stored C or Fortran
/// order; shape (n,) gives n x 1. Every supported dtype converts to `Scalar`.
/// \tparam Scalar float, double, or a signed 8/16/32/64-bit or unsigned 8-bit integer.
/// \param name   names the input in error messages.
/// \throws pathq::invalid_argument "pathq::to_matrix: <name>: ..." for another rank, data whose
///         length does not match the shape, or (integer `Scalar`) an entry it cannot hold exactly.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> to_matrix(const NpyArray& array,
                                                                const std::string& name) {
  static_assert(is_npy_scalar<Scalar>,
                "to_matrix converts to float, double, int8, int16, int32, int64 or uint8.");
  if (array.shape.size() != 1 && array.shape.size() != 2)
    pathq::detail::throw_invalid("to_matrix", name, ": expected a 1-D or 2-D array, found shape ",
                                 pathq::detail::npy_shape_text(array.shape));
  pathq::detail::npy_check_data_size("to_matrix", name, array);
  const auto rows = static_cast<Eigen::Index>(array.shape[0]);
  const auto cols = static_cast<Eigen::Index>(array.shape.size() == 2 ? array.shape[1] : 1);
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> out(rows, cols);
  switch (array.dtype) {
    case DType::Float32: pathq::detail::npy_fill_matrix<float>(array, out, name); break;
    case DType::Float64: pathq::detail::npy_fill_matrix<double>(array, out, name); break;
    case DType::Int8: pathq::detail::npy_fill_matrix<std::int8_t>(array, out, name); break;
    case DType::Int16: pathq::detail::npy_fill_matrix<std::int16_t>(array, out, name); break;
    case DType::Int32: pathq::detail::npy_fill_matrix<std::int32_t>(array, out, name); break;
    case DType::Int64: pathq::detail::npy_fill_matrix<std::int64_t>(array, out, name); break;
    case DType::UInt8: pathq::detail::npy_fill_matrix<std::uint8_t>(array, out, name); break;
  }
  return out;
}

/// Reads a 1-D or 2-D .npy file as a matrix of `Scalar` (read_npy, then to_matrix).
/// \throws as read_npy and to_matrix.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> load_matrix(const std::string& path) {
  return to_matrix<Scalar>(read_npy(path), path);
}

/// The bytes of a .npy file holding `array` as it is (any rank, C or Fortran order).
/// \throws pathq::invalid_argument "pathq::to_npy_bytes: ..." when a dimension is negative or
///         the data length does not match the shape.
inline std::string to_npy_bytes(const NpyArray& array) {
  pathq::detail::check_little_endian_host("to_npy_bytes");
  pathq::detail::npy_check_data_size("to_npy_bytes", "array", array);
  return pathq::detail::npy_preamble(npy_descr(array.dtype), array.fortran_order, array.shape) +
         array.data;
}

/// The bytes of a .npy file holding matrix `M`: format 1.0 (2.0 only if the header needs it),
/// C order, shape (rows, cols), dtype from the scalar type (float -> '<f4', double -> '<f8', ...).
/// The header is padded with spaces and ends in '\n' so that the data starts at a multiple of 64.
/// Complexity: one copy of `M`, in row-major order, straight into the bytes (by tiles of 64 x 64).
template <class Derived>
std::string to_npy_bytes(const Eigen::MatrixBase<Derived>& M) {
  using Scalar = typename Derived::Scalar;
  static_assert(is_npy_scalar<Scalar>,
                "to_npy_bytes writes float, double, int8, int16, int32, int64 or uint8 matrices.");
  pathq::detail::check_little_endian_host("to_npy_bytes");
  const auto& P = M.derived().eval();  // a plain matrix: itself; an expression: evaluated once
  const Eigen::Index rows = P.rows(), cols = P.cols();
  const std::vector<std::int64_t> shape = {rows, cols};
  std::string out = pathq::detail::npy_preamble(npy_descr(dtype_of<Scalar>()), false, shape);
  const std::size_t start = out.size();
  out.resize(start + static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols) * sizeof(Scalar));
  char* data = &out[0] + start;
  constexpr Eigen::Index tile = 64;
  for (Eigen::Index i0 = 0; i0 < rows; i0 += tile)
    for (Eigen::Index j0 = 0; j0 < cols; j0 += tile) {
      const Eigen::Index i1 = std::min(rows, i0 + tile), j1 = std::min(cols, j0 + tile);
      for (Eigen::Index j = j0; j < j1; ++j)
        for (Eigen::Index i = i0; i < i1; ++i) {
          const Scalar v = P.coeff(i, j);
          std::memcpy(data + static_cast<std::size_t>(i * cols + j) * sizeof(Scalar), &v, sizeof(Scalar));
        }
    }
  return out;
}

/// Writes matrix `M` to a .npy file (see to_npy_bytes), completely or not at all.
/// \throws pathq::io_error when the file cannot be written (see write_file_atomically).
template <class Derived>
void write_npy(const std::string& path, const Eigen::MatrixBase<Derived>& M) {
  write_file_atomically(path, to_npy_bytes(M));
}

/// Writes an NpyArray to a .npy file as it is (any rank, either order), completely or not at all.
/// \throws as to_npy_bytes(const NpyArray&) and write_file_atomically.
inline void write_npy(const std::string& path, const NpyArray& array) {
  write_file_atomically(path, to_npy_bytes(array));
}

}  // namespace pathq::io

#endif  // PATHQ_IO_NPY_HPP
