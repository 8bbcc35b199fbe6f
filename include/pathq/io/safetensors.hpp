// Reading and writing safetensors files: named tensors (F64, F32, F16, BF16, integers, BOOL) and metadata.
#ifndef PATHQ_IO_SAFETENSORS_HPP
#define PATHQ_IO_SAFETENSORS_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include <pathq/core/error.hpp>
#include <pathq/detail/float16.hpp>
#include <pathq/detail/npy_header.hpp>
#include <pathq/detail/safetensors_header.hpp>
#include <pathq/io/atomic_file.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/io/safetensors_dtype.hpp>

namespace pathq::detail {

/// Throws "pathq::<where>: <name>: ..." unless `data` holds exactly the shape's elements.
inline void st_check_data_size(const char* where, const std::string& name, io::SafetensorsDType dtype,
                               const std::vector<std::int64_t>& shape, std::size_t data_size) {
  const std::int64_t count = npy_checked_count(shape);
  const std::size_t item = io::item_size(dtype);
  if (count < 0)
    throw_invalid(where, name, ": shape ", safetensors_shape_text(shape),
                  " is invalid (a negative dimension or an overflowing size)");
  if (static_cast<std::uint64_t>(count) > data_size / item ||
      static_cast<std::uint64_t>(count) * item != data_size)
    throw_invalid(where, name, ": ", data_size, " bytes of data do not match shape ",
                  safetensors_shape_text(shape), " of ", io::to_string(dtype));
}

}  // namespace pathq::detail

namespace pathq::io {

/// One tensor: dtype, shape and the raw little-endian bytes of its elements in C order (last
/// index fastest), exactly as a safetensors file stores them.
struct SafetensorsTensor {
  SafetensorsDType dtype = SafetensorsDType::F32;  ///< element type
  std::vector<std::int64_t> shape;                 ///< dimensions; empty for a 0-d (scalar) tensor
  std::string data;                                ///< size() * item_size(dtype) bytes

  /// Number of elements: the product of the dimensions (1 for a 0-d tensor), or -1 when a
  /// dimension is negative or the product overflows int64.
  std::int64_t size() const { return pathq::detail::npy_checked_count(shape); }

  /// Matrix `M` as a tensor of shape [rows, cols] (C order) with the dtype of its scalar type.
  /// Complexity: one copy of `M`.
  template <class Derived>
  static SafetensorsTensor from_matrix(const Eigen::MatrixBase<Derived>& M) {
    return from_matrix(M, safetensors_dtype_of<typename Derived::Scalar>());
  }

  /// Matrix `M` as a tensor of shape [rows, cols] (C order) converted to `dtype`: floating-point
  /// dtypes (F64, F32, F16, BF16) round to nearest even; integer dtypes and BOOL (0 or 1) need
  /// every entry to be exactly representable.
  /// \throws pathq::invalid_argument "pathq::SafetensorsTensor::from_matrix: entry (i, j) = v ..."
  ///         naming the first entry that does not fit exactly in an integer dtype, or that is
  ///         finite but rounds to infinity in a floating-point one (e.g. 70000 in F16).
  template <class Derived>
  static SafetensorsTensor from_matrix(const Eigen::MatrixBase<Derived>& M, SafetensorsDType dtype) {
    using Scalar = typename Derived::Scalar;
    static_assert(
        is_safetensors_scalar<Scalar>,
        "from_matrix takes matrices of float, double, or signed or unsigned 8/16/32/64-bit integers.");
    pathq::detail::check_little_endian_host("SafetensorsTensor::from_matrix");
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = M;
    SafetensorsTensor tensor;
    tensor.dtype = dtype;
    tensor.shape = {static_cast<std::int64_t>(row_major.rows()), static_cast<std::int64_t>(row_major.cols())};
    const std::size_t count = static_cast<std::size_t>(row_major.size());
    const std::size_t item = item_size(dtype);
    tensor.data.assign(count * item, '\0');
    if (count == 0) return tensor;
    if (dtype == safetensors_dtype_of<Scalar>()) {
      std::memcpy(&tensor.data[0], row_major.data(), count * item);
      return tensor;
    }
    for (std::size_t k = 0; k < count; ++k) {
      const Scalar value = row_major.data()[k];
      const pathq::detail::StStore outcome =
          pathq::detail::st_store_element(value, dtype, &tensor.data[k * item]);
      if (outcome == pathq::detail::StStore::Ok) continue;
      using Printed =
          std::conditional_t<std::is_floating_point_v<Scalar>, double,
                             std::conditional_t<std::is_signed_v<Scalar>, long long, unsigned long long>>;
      const auto cols = static_cast<std::size_t>(row_major.cols());
      const std::string entry =
          pathq::detail::concat("entry (", k / cols, ", ", k % cols, ") = ", static_cast<Printed>(value));
      if (outcome == pathq::detail::StStore::Overflow) {
        double largest = static_cast<double>(std::numeric_limits<float>::max());
        if (dtype == SafetensorsDType::F16) largest = pathq::detail::Binary16::max_finite();
        if (dtype == SafetensorsDType::BF16) largest = pathq::detail::BFloat16::max_finite();
        pathq::detail::throw_invalid("SafetensorsTensor::from_matrix", entry, " overflows ", to_string(dtype),
                                     " (largest finite value ", largest, ")");
      }
      pathq::detail::throw_invalid("SafetensorsTensor::from_matrix", entry, " does not fit exactly in ",
                                   to_string(dtype));
    }
    return tensor;
  }
};

}  // namespace pathq::io

namespace pathq::detail {

/// Converts every element of `tensor` to `Scalar` into `out` (C order), naming the first that
/// does not fit; `cols` > 0 reports positions as (row, column) of a matrix with that many columns.
template <class Scalar>
void st_convert_all(const char* where, const io::SafetensorsTensor& tensor, Scalar* out, std::size_t cols,
                    const std::string& name) {
  const std::size_t item = io::item_size(tensor.dtype);
  const std::size_t count = tensor.data.size() / item;
  if (count == 0) return;
  if (tensor.dtype == io::safetensors_dtype_of<Scalar>()) {
    std::memcpy(out, tensor.data.data(), count * item);
    return;
  }
  for (std::size_t k = 0; k < count; ++k) {
    const char* p = tensor.data.data() + k * item;
    if (st_read_element(p, tensor.dtype, out[k])) continue;
    const std::string at =
        cols > 0 ? concat("entry (", k / cols, ", ", k % cols, ")") : concat("element ", k);
    if (tensor.dtype == io::SafetensorsDType::Bool)
      throw_invalid(where, name, ": ", at, " of a BOOL tensor is ", st_element_text(p, tensor.dtype),
                    ", not 0 or 1");
    throw_invalid(where, name, ": ", at, " = ", st_element_text(p, tensor.dtype), " of a ",
                  io::to_string(tensor.dtype), " tensor does not fit exactly in ",
                  io::to_string(io::safetensors_dtype_of<Scalar>()));
  }
}

}  // namespace pathq::detail

namespace pathq::io {

/// A 0-D, 1-D or 2-D tensor as a matrix: shape [r, c] gives r x c, [n] gives n x 1, [] gives
/// 1 x 1. Every dtype converts to `Scalar`: F16 and BF16 exactly to float or double, any value to
/// a floating-point `Scalar` rounding to nearest, to an integer `Scalar` only exactly.
/// PyTorch stores a linear layer's weight as (N_out, N_in), which is W^T in pathq's convention.
/// \tparam Scalar float, double, or a signed or unsigned 8/16/32/64-bit integer.
/// \param name   names the tensor in error messages.
/// \throws pathq::invalid_argument "pathq::to_matrix: <name>: ..." for another rank, data whose
///         length does not match the shape, a BOOL byte other than 0 or 1, or (integer `Scalar`)
///         an entry it cannot hold exactly.
/// Complexity: one pass over the elements.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> to_matrix(const SafetensorsTensor& tensor,
                                                                const std::string& name) {
  static_assert(is_safetensors_scalar<Scalar>,
                "to_matrix converts to float, double, or a signed or unsigned 8/16/32/64-bit integer.");
  pathq::detail::check_little_endian_host("to_matrix");
  if (tensor.shape.size() > 2)
    pathq::detail::throw_invalid("to_matrix", name, ": expected a 0-D, 1-D or 2-D tensor, found shape ",
                                 pathq::detail::safetensors_shape_text(tensor.shape));
  pathq::detail::st_check_data_size("to_matrix", name, tensor.dtype, tensor.shape, tensor.data.size());
  const auto rows = static_cast<Eigen::Index>(tensor.shape.empty() ? 1 : tensor.shape[0]);
  const auto cols = static_cast<Eigen::Index>(tensor.shape.size() == 2 ? tensor.shape[1] : 1);
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major(rows, cols);
  pathq::detail::st_convert_all("to_matrix", tensor, row_major.data(), static_cast<std::size_t>(cols), name);
  return row_major;
}

/// All elements of a tensor of any rank, in C order (last index fastest), as a column vector;
/// conversions as to_matrix. Use it with the shape to unpack, e.g., a (out, in, kh, kw) kernel.
/// \throws pathq::invalid_argument "pathq::to_vector: <name>: ..." as to_matrix, except for rank.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> to_vector(const SafetensorsTensor& tensor, const std::string& name) {
  static_assert(is_safetensors_scalar<Scalar>,
                "to_vector converts to float, double, or a signed or unsigned 8/16/32/64-bit integer.");
  pathq::detail::check_little_endian_host("to_vector");
  pathq::detail::st_check_data_size("to_vector", name, tensor.dtype, tensor.shape, tensor.data.size());
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> out(
      static_cast<Eigen::Index>(tensor.data.size() / item_size(tensor.dtype)));
  pathq::detail::st_convert_all("to_vector", tensor, out.data(), 0, name);
  return out;
}

class SafetensorsFile;
inline SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);

/// The contents of a safetensors file: named tensors and the `__metadata__` string map. Built
/// by read_safetensors/parse_safetensors, or by hand with add() and set_metadata() for writing.
/// Names are kept in byte order, so a file's listing and its written form are deterministic.
class SafetensorsFile {
 public:
  SafetensorsFile() = default;

  /// The tensor names in byte order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(m_tensors.size());
    for (const auto& entry : m_tensors) out.push_back(entry.first);
    return out;
  }
  /// Number of tensors.
  std::size_t size() const { return m_tensors.size(); }
  /// True when a tensor has this name.
  bool contains(const std::string& name) const { return m_tensors.count(name) != 0; }
  /// The file this was read from (or the name given to parse_safetensors); empty when built by hand.
  const std::string& source() const { return m_source; }
  /// The `__metadata__` map (string to string).
  const std::map<std::string, std::string>& metadata() const { return m_metadata; }

  /// The tensor called `name`.
  /// \throws pathq::invalid_argument "pathq::SafetensorsFile::tensor: <source>: no tensor named
  ///         '<name>' (tensors: ...)" listing the first names present.
  const SafetensorsTensor& tensor(const std::string& name) const {
    const auto it = m_tensors.find(name);
    if (it != m_tensors.end()) return it->second;
    std::string listing;
    std::size_t shown = 0;
    for (const auto& entry : m_tensors) {
      if (shown == 12) {
        listing += ", ...";
        break;
      }
      listing += (shown++ ? ", " : "") + pathq::detail::npy_quoted(entry.first, 64);
    }
    pathq::detail::throw_invalid(
        "SafetensorsFile::tensor", m_source.empty() ? std::string("(in memory)") : m_source,
        ": no tensor named ", pathq::detail::npy_quoted(name, 64), " (",
        m_tensors.empty() ? std::string("the file holds no tensors") : "tensors: " + listing, ")");
  }

  /// The tensor called `name` as a matrix (see to_matrix); messages name the file and tensor.
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> matrix(const std::string& name) const {
    return to_matrix<Scalar>(tensor(name), (m_source.empty() ? std::string() : m_source + ": ") + "tensor " +
                                               pathq::detail::npy_quoted(name, 64));
  }

  /// Adds a tensor under a new name.
  /// \param name any valid UTF-8 string except "__metadata__", not already present.
  /// \throws pathq::invalid_argument "pathq::SafetensorsFile::add: ..." for a repeated or reserved
  ///         name, a name that is not valid UTF-8, a negative dimension, or data whose length does
  ///         not match the shape.
  void add(const std::string& name, SafetensorsTensor tensor) {
    const char* where = "SafetensorsFile::add";
    PATHQ_CHECK(name != "__metadata__", where, "the name '__metadata__' is reserved for the metadata map");
    PATHQ_CHECK(pathq::detail::utf8_invalid_at(name) == std::string_view::npos, where, "tensor name ",
                pathq::detail::npy_quoted(name, 64), " is not valid UTF-8");
    PATHQ_CHECK(!contains(name), where, "a tensor named ", pathq::detail::npy_quoted(name, 64),
                " already exists");
    pathq::detail::st_check_data_size(where, "tensor " + pathq::detail::npy_quoted(name, 64), tensor.dtype,
                                      tensor.shape, tensor.data.size());
    m_tensors.emplace(name, std::move(tensor));
  }
  /// Adds matrix `M` as a [rows, cols] tensor with the dtype of its scalar type (see from_matrix).
  template <class Derived>
  void add(const std::string& name, const Eigen::MatrixBase<Derived>& M) {
    add(name, SafetensorsTensor::from_matrix(M));
  }
  /// Adds matrix `M` as a [rows, cols] tensor converted to `dtype` (see from_matrix).
  template <class Derived>
  void add(const std::string& name, const Eigen::MatrixBase<Derived>& M, SafetensorsDType dtype) {
    add(name, SafetensorsTensor::from_matrix(M, dtype));
  }

  /// Sets (or replaces) one metadata entry. Keys and values must be valid UTF-8.
  /// \throws pathq::invalid_argument "pathq::SafetensorsFile::set_metadata: ..." otherwise.
  void set_metadata(const std::string& key, const std::string& value) {
    PATHQ_CHECK(pathq::detail::utf8_invalid_at(key) == std::string_view::npos,
                "SafetensorsFile::set_metadata", "key ", pathq::detail::npy_quoted(key, 64),
                " is not valid UTF-8");
    PATHQ_CHECK(pathq::detail::utf8_invalid_at(value) == std::string_view::npos,
                "SafetensorsFile::set_metadata", "the value of key ", pathq::detail::npy_quoted(key, 64),
                " is not valid UTF-8");
    m_metadata[key] = value;
  }

  /// All tensors by name (byte order).
  const std::map<std::string, SafetensorsTensor>& tensors() const { return m_tensors; }

 private:
  friend SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);

  std::map<std::string, SafetensorsTensor> m_tensors;
  std::map<std::string, std::string> m_metadata;
  std::string m_source;
};

/// The largest JSON header pathq reads, in bytes (the limit of the reference implementation).
inline constexpr std::uint64_t safetensors_max_header = 100000000;

/// Parses the bytes of a safetensors file: an 8-byte little-endian header length N, N bytes of
/// JSON header, then the data buffer, which the tensors' `data_offsets` (relative to its start)
/// must cover exactly, without gaps or overlaps.
/// \param bytes the whole file; arbitrary bytes are safe (every problem is reported, none crash
///              or read outside `bytes`).
/// \param name  names the input in error messages (usually its path).
/// \throws pathq::invalid_argument "pathq::read_safetensors: <name>: <problem>" for a file
///         shorter than 8 bytes, a header length past the end of the file or above
///         safetensors_max_header, a header that is not valid UTF-8 or not well-formed JSON of the
///         safetensors schema (see detail::SafetensorsHeaderParser), an unknown dtype, a shape
///         whose byte size overflows, data_offsets that end before they begin, run past the data
///         buffer, disagree with shape x item size, overlap another tensor, or leave bytes of the
///         buffer that belong to no tensor.
/// Complexity: linear in the size of the file, plus sorting the tensors by offset.
inline SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  using pathq::detail::npy_quoted;
  using pathq::detail::safetensors_fail;
  using pathq::detail::safetensors_shape_text;
  pathq::detail::check_little_endian_host("read_safetensors");
  if (bytes.size() < 8)
    safetensors_fail(name, "truncated: the file has ", bytes.size(),
                     " bytes, fewer than the 8-byte header length");
  std::uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) header_length |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  if (header_length > safetensors_max_header)
    safetensors_fail(name, "header length ", header_length, " exceeds the limit of ", safetensors_max_header,
                     " bytes (is this a safetensors file?)");
  if (header_length > bytes.size() - 8)
    safetensors_fail(name, "truncated: header length ", header_length,
                     " extends beyond the end of the file (", bytes.size(), " bytes)");
  if (header_length < 2)
    safetensors_fail(name, "header length ", header_length, " is too short for a JSON object");

  const std::string_view text = bytes.substr(8, static_cast<std::size_t>(header_length));
  pathq::detail::SafetensorsHeader header = pathq::detail::SafetensorsHeaderParser(text, name).parse();
  const std::string_view buffer = bytes.substr(8 + static_cast<std::size_t>(header_length));

  std::vector<SafetensorsDType> dtypes(header.tensors.size());
  for (std::size_t t = 0; t < header.tensors.size(); ++t) {
    const pathq::detail::SafetensorsEntry& e = header.tensors[t];
    const std::string tensor = "tensor " + npy_quoted(e.name, 64);
    if (!parse_safetensors_dtype(e.dtype, dtypes[t]))
      safetensors_fail(name, tensor, ": unknown dtype ", npy_quoted(e.dtype, 24),
                       " (supported: BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64)");
    const std::int64_t count = pathq::detail::npy_checked_count(e.shape);
    const std::uint64_t item = item_size(dtypes[t]);
    if (count < 0 || static_cast<std::uint64_t>(count) > std::numeric_limits<std::uint64_t>::max() / item)
      safetensors_fail(name, tensor, ": the byte size of shape ", safetensors_shape_text(e.shape), " of ",
                       e.dtype, " overflows 64-bit integers");
    const std::string offsets = pathq::detail::concat("data_offsets [", e.begin, ", ", e.end, "]");
    if (e.end < e.begin) safetensors_fail(name, tensor, ": ", offsets, " end before they begin");
    if (e.end > buffer.size())
      safetensors_fail(name, "truncated: ", tensor, ": ", offsets, " extend beyond the data buffer (",
                       buffer.size(), " bytes)");
    const std::uint64_t expected = static_cast<std::uint64_t>(count) * item;
    if (e.end - e.begin != expected)
      safetensors_fail(name, tensor, ": ", offsets, " hold ", e.end - e.begin, " bytes but shape ",
                       safetensors_shape_text(e.shape), " of ", e.dtype, " needs ", expected);
  }

  // The tensors must tile the data buffer: sorted by offsets, each begins where the last ended.
  std::vector<std::size_t> order(header.tensors.size());
  for (std::size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = header.tensors[a];
    const auto& y = header.tensors[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  std::uint64_t covered = 0;
  const pathq::detail::SafetensorsEntry* previous = nullptr;
  for (const std::size_t t : order) {
    const pathq::detail::SafetensorsEntry& e = header.tensors[t];
    if (e.begin < covered)
      safetensors_fail(name, "tensors ", npy_quoted(previous->name, 64), " (data_offsets [", previous->begin,
                       ", ", previous->end, "]) and ", npy_quoted(e.name, 64), " (data_offsets [", e.begin,
                       ", ", e.end, "]) overlap");
    if (e.begin > covered)
      safetensors_fail(name, "bytes [", covered, ", ", e.begin, ") of the data buffer belong to no tensor");
    covered = e.end;
    previous = &e;
  }
  if (covered != buffer.size())
    safetensors_fail(name, "trailing data: bytes [", covered, ", ", buffer.size(),
                     ") of the data buffer belong to no tensor");

  SafetensorsFile file;
  file.m_source = name;
  for (auto& pair : header.metadata) file.m_metadata.emplace(std::move(pair.first), std::move(pair.second));
  for (std::size_t t = 0; t < header.tensors.size(); ++t) {
    pathq::detail::SafetensorsEntry& e = header.tensors[t];
    SafetensorsTensor tensor;
    tensor.dtype = dtypes[t];
    tensor.shape = std::move(e.shape);
    tensor.data.assign(buffer.data() + e.begin, static_cast<std::size_t>(e.end - e.begin));
    file.m_tensors.emplace(std::move(e.name), std::move(tensor));
  }
  return file;
}

/// Reads a safetensors file (see parse_safetensors).
/// \throws pathq::io_error when the file cannot be read; pathq::invalid_argument as parse_safetensors.
inline SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

/// The bytes of a safetensors file holding `file`: the header JSON is compact, lists
/// `__metadata__` first (only when there is metadata) and the tensors in byte order of their names,
/// and is padded with spaces so that the data buffer starts at a multiple of 8 bytes. The data
/// buffer holds the tensors by decreasing item size, then by name, so every tensor is aligned to
/// its item size. The same contents always give the same bytes.
/// Complexity: one copy of every tensor's data.
inline std::string to_safetensors_bytes(const SafetensorsFile& file) {
  using pathq::detail::json_quoted;
  std::vector<const std::pair<const std::string, SafetensorsTensor>*> layout;
  for (const auto& entry : file.tensors()) layout.push_back(&entry);
  std::stable_sort(layout.begin(), layout.end(), [](const auto* a, const auto* b) {
    return item_size(a->second.dtype) > item_size(b->second.dtype);
  });
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> offsets;
  std::uint64_t total = 0;
  for (const auto* entry : layout) {
    offsets[entry->first] = {total, total + entry->second.data.size()};
    total += entry->second.data.size();
  }

  std::string json = "{";
  if (!file.metadata().empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : file.metadata()) {
      json += (first ? "" : ",") + json_quoted(key) + ":" + json_quoted(value);
      first = false;
    }
    json += "}";
  }
  for (const auto& [name, tensor] : file.tensors()) {
    if (json.size() > 1) json += ",";
    json += json_quoted(name) + ":{\"dtype\":\"" + to_string(tensor.dtype) + "\",\"shape\":[";
    for (std::size_t i = 0; i < tensor.shape.size(); ++i)
      json += (i ? "," : "") + std::to_string(tensor.shape[i]);
    const auto& [begin, end] = offsets[name];
    json += "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + static_cast<std::size_t>(total));
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((static_cast<std::uint64_t>(json.size()) >> (8 * i)) & 0xff);
  out += json;
  for (const auto* entry : layout) out += entry->second.data;
  return out;
}

/// Writes `file` in the safetensors format (see to_safetensors_bytes), completely or not at all
/// (see write_file_atomically).
/// \throws pathq::io_error naming the path when it cannot be written.
inline void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  write_file_atomically(path, to_safetensors_bytes(file));
}

}  // namespace pathq::io

#endif  // PATHQ_IO_SAFETENSORS_HPP
