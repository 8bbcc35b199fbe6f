// Reading the IDX files of (Fashion-)MNIST, plain or gzip-compressed, into Eigen matrices.
#ifndef PATHQ_IO_IDX_HPP
#define PATHQ_IO_IDX_HPP

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <zlib.h>

#include "pathq/core/error.hpp"
#include "pathq/io/atomic_file.hpp"

static_assert(CHAR_BIT == 8, "pathq/io/idx.hpp needs 8-bit bytes.");

namespace pathq::io {

/// Element types of the IDX format (LeCun's MNIST format): the third byte of the magic number.
enum class IdxType : std::uint8_t {
  UInt8 = 0x08,
  Int8 = 0x09,
  Int16 = 0x0B,
  Int32 = 0x0C,
  Float32 = 0x0D,
  Float64 = 0x0E
};

inline const char* to_string(IdxType t) {
  switch (t) {
    case IdxType::UInt8: return "uint8";
    case IdxType::Int8: return "int8";
    case IdxType::Int16: return "int16";
    case IdxType::Int32: return "int32";
    case IdxType::Float32: return "float32";
    case IdxType::Float64: return "float64";
  }
  return "unknown";
}

/// Bytes per element of an IDX type.
inline std::size_t item_size(IdxType t) {
  switch (t) {
    case IdxType::UInt8:
    case IdxType::Int8: return 1;
    case IdxType::Int16: return 2;
    case IdxType::Int32:
    case IdxType::Float32: return 4;
    case IdxType::Float64: return 8;
  }
  return 0;
}

/// The contents of an IDX file: type, dimensions and the raw big-endian element bytes
/// (row-major: the last dimension varies fastest).
struct IdxArray {
  IdxType type = IdxType::UInt8;
  std::vector<std::int64_t> shape;  ///< 1 to 255 dimensions
  std::string data;                 ///< product(shape) * item_size(type) bytes, big-endian

  std::int64_t size() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  /// Element `k` (row-major), converted to double.
  double at(std::int64_t k) const;
};

}  // namespace pathq::io

namespace pathq::detail {

[[noreturn]] inline void idx_fail(const std::string& name, const std::string& what) {
  throw_invalid("read_idx", name, ": ", what);
}

inline std::uint64_t idx_big_endian(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// The number of bytes an IDX file can hold, judged from its first bytes `head`: `{4 + 4 n +
/// product(dims) * item size, true}` once the dimensions are in, `{head.size(), false}` when
/// they already cannot start a valid IDX file (parse_idx says why), `{npos, false}` before that.
/// It lets gunzip stop a small stream that inflates far beyond what its header declares.
inline std::pair<std::size_t, bool> idx_needed_bytes(const std::string& head) {
  if (head.size() < 4) return {std::string::npos, false};
  const int type = static_cast<unsigned char>(head[2]);
  const std::size_t item = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0C || type == 0x0D ? 4
                           : type == 0x0E                ? 8
                                                         : 0;
  const std::size_t ndim = static_cast<unsigned char>(head[3]);
  if (head[0] != 0 || head[1] != 0 || item == 0 || ndim == 0) return {4, false};
  const std::size_t header = 4 + 4 * ndim;
  if (head.size() < header) return {std::string::npos, false};
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    const std::uint64_t d = idx_big_endian(head.data() + 4 + 4 * i, 4);
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / 16 / d) return {header, false};
    count *= d;
  }
  return {static_cast<std::size_t>(header + count * item), true};
}

/// Inflates a gzip stream held in memory. \throws invalid_argument naming `name` when the
/// stream is corrupt or truncated, would inflate beyond `limit` bytes, or inflates to more than
/// the IDX header at its start declares (see idx_needed_bytes; inflating stops there).
inline std::string gunzip(const std::string& bytes, const std::string& name,
                          std::size_t limit = std::size_t(1) << 34) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) idx_fail(name, "cannot initialise zlib");
  std::string out;
  char buffer[1 << 16];
  std::size_t offset = 0;
  int status = Z_OK;
  // Feed the input in chunks small enough for zlib's 32-bit counters.
  while (status != Z_STREAM_END) {
    if (z.avail_in == 0 && offset < bytes.size()) {
      const std::size_t chunk = std::min<std::size_t>(bytes.size() - offset, 1u << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + offset));
      z.avail_in = static_cast<uInt>(chunk);
      offset += chunk;
    }
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    status = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = sizeof buffer - z.avail_out;
    out.append(buffer, produced);
    if (status == Z_STREAM_END) break;
    if (status == Z_BUF_ERROR && z.avail_in == 0 && offset >= bytes.size()) {
      inflateEnd(&z);
      idx_fail(name, "truncated gzip stream (it ends before its end marker)");
    }
    if (status != Z_OK && status != Z_BUF_ERROR) {
      const std::string msg = z.msg ? z.msg : "unknown error";
      inflateEnd(&z);
      idx_fail(name, "corrupt gzip stream (" + msg + ")");
    }
    if (out.size() > limit) {
      inflateEnd(&z);
      idx_fail(name, "gzip stream inflates beyond " + std::to_string(limit) + " bytes");
    }
    const auto [needed, declared] = idx_needed_bytes(out);
    if (needed != std::string::npos && out.size() > needed) {
      inflateEnd(&z);
      if (declared)
        idx_fail(name, "trailing data: the gzip stream inflates to more than the " + std::to_string(needed) +
                           " bytes that its header declares");
      out.resize(needed);  // not an IDX header: parse_idx reports the problem
      return out;
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace pathq::detail

namespace pathq::io {

inline double IdxArray::at(std::int64_t k) const {
  const std::size_t n = item_size(type);
  const std::uint64_t v = pathq::detail::idx_big_endian(data.data() + std::size_t(k) * n, n);
  switch (type) {
    case IdxType::UInt8: return double(std::uint8_t(v));
    case IdxType::Int8: return double(std::int8_t(std::uint8_t(v)));
    case IdxType::Int16: return double(std::int16_t(std::uint16_t(v)));
    case IdxType::Int32: return double(std::int32_t(std::uint32_t(v)));
    case IdxType::Float32: {
      const std::uint32_t u = std::uint32_t(v);
      float f;
      std::memcpy(&f, &u, 4);
      return double(f);
    }
    case IdxType::Float64: {
      double d;
      std::memcpy(&d, &v, 8);
      return d;
    }
  }
  return 0;
}

/// Parses the bytes of an IDX file; gzip-compressed bytes (magic 1f 8b) are inflated first.
/// The format: two zero bytes, a type byte (08 uint8, 09 int8, 0B int16, 0C int32, 0D float32,
/// 0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the
/// elements, big-endian, row-major.
/// \param name names the input in error messages (usually its path).
/// \throws pathq::invalid_argument "pathq::read_idx: <name>: <problem>" for a bad magic number,
///         an unknown type, zero dimensions, a corrupt or truncated gzip stream, or data shorter
///         or longer than the dimensions say.
/// Complexity: linear in the size of the (inflated) file.
inline IdxArray parse_idx(const std::string& raw, const std::string& name) {
  using pathq::detail::idx_fail;
  const bool gz = raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
                  static_cast<unsigned char>(raw[1]) == 0x8b;
  const std::string inflated = gz ? pathq::detail::gunzip(raw, name) : std::string();
  const std::string& bytes = gz ? inflated : raw;
  if (bytes.size() < 4) idx_fail(name, "truncated: shorter than the 4-byte magic number");
  if (bytes[0] != 0 || bytes[1] != 0)
    idx_fail(name, "bad magic: not an IDX file (it does not begin with two zero bytes)");
  const int type_byte = static_cast<unsigned char>(bytes[2]);
  IdxArray a;
  switch (type_byte) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E:
      a.type = static_cast<IdxType>(type_byte);
      break;
    default:
      idx_fail(name, "unknown element type byte 0x" + std::string(1, "0123456789abcdef"[type_byte / 16]) +
                         std::string(1, "0123456789abcdef"[type_byte % 16]));
  }
  const std::size_t ndim = static_cast<unsigned char>(bytes[3]);
  if (ndim == 0) idx_fail(name, "zero dimensions");
  const std::size_t header = 4 + 4 * ndim;
  if (bytes.size() < header) idx_fail(name, "truncated: the file ends inside the dimensions");
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    const std::uint64_t d = pathq::detail::idx_big_endian(bytes.data() + 4 + 4 * i, 4);
    a.shape.push_back(static_cast<std::int64_t>(d));
    if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / 16 / d)
      idx_fail(name, "the dimensions overflow 64-bit integers");
    count *= d;
  }
  const std::uint64_t expected = count * item_size(a.type);
  const std::uint64_t found = bytes.size() - header;
  if (found < expected)
    idx_fail(name, "truncated: expected " + std::to_string(expected) + " bytes of data, found " +
                       std::to_string(found));
  if (found > expected)
    idx_fail(name, "trailing data: expected " + std::to_string(expected) + " bytes of data, found " +
                       std::to_string(found));
  a.data = bytes.substr(header);
  return a;
}

/// Reads an IDX file, plain or gzip-compressed (see parse_idx).
/// \throws pathq::io_error when the file cannot be read; invalid_argument as parse_idx.
inline IdxArray read_idx(const std::string& path) { return parse_idx(read_file(path), path); }

/// An IDX array as a matrix with one row per item: shape (n, d1, d2, ...) gives
/// n x (d1 d2 ...), each row the item in row-major order (an image's pixels row by row);
/// shape (n,) gives n x 1. `scale` multiplies every element (1/255 maps pixels to [0, 1]).
/// \tparam Scalar float or double.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> idx_to_matrix(const IdxArray& a, double scale = 1.0) {
  static_assert(std::is_floating_point<Scalar>::value, "idx_to_matrix converts to float or double.");
  PATHQ_CHECK(!a.shape.empty(), "idx_to_matrix", "the array has no dimensions");
  const Eigen::Index rows = static_cast<Eigen::Index>(a.shape[0]);
  const Eigen::Index cols = rows > 0 ? static_cast<Eigen::Index>(a.size() / a.shape[0]) : 0;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> M(rows, cols);
  if (a.type == IdxType::UInt8) {
    const auto* p = reinterpret_cast<const unsigned char*>(a.data.data());
    for (Eigen::Index k = 0; k < M.size(); ++k) M.data()[k] = Scalar(double(p[k]) * scale);
  } else {
    for (Eigen::Index k = 0; k < M.size(); ++k) M.data()[k] = Scalar(a.at(k) * scale);
  }
  return M;
}

/// Reads an IDX file of images (or any items) as an `n x d` matrix (see idx_to_matrix).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> load_idx_matrix(const std::string& path,
                                                                       double scale = 1.0) {
  return idx_to_matrix<Scalar>(read_idx(path), scale);
}

/// Reads an IDX file of integer labels (shape (n,)) as a vector.
/// \throws invalid_argument unless the file is 1-D with an integer type.
inline Eigen::VectorXi load_idx_labels(const std::string& path) {
  const IdxArray a = read_idx(path);
  if (a.shape.size() != 1 || a.type == IdxType::Float32 || a.type == IdxType::Float64)
    pathq::detail::idx_fail(path, std::string("expected a 1-D integer array of labels, found ") +
                                      std::to_string(a.shape.size()) + " dimensions of " + to_string(a.type));
  Eigen::VectorXi y(static_cast<Eigen::Index>(a.shape[0]));
  for (Eigen::Index k = 0; k < y.size(); ++k) y(k) = static_cast<int>(a.at(k));
  return y;
}

}  // namespace pathq::io

#endif  // PATHQ_IO_IDX_HPP
