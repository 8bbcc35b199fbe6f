// Reading a 2-D .npy file a batch of rows at a time, in memory independent of its row count.
#ifndef PATHQ_IO_NPY_STREAM_HPP
#define PATHQ_IO_NPY_STREAM_HPP

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Eigen/Core>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>
#include <pathq/io/atomic_file.hpp>
#include <pathq/io/npy.hpp>

namespace pathq::detail {

/// Reads exactly `size` bytes at `offset`; false when the file ends first.
/// \throws pathq::io_error on a read error.
inline bool npy_pread_all(int fd, char* out, std::size_t size, std::uint64_t offset, const std::string& path) {
  while (size > 0) {
    const ::ssize_t n = ::pread(fd, out, size, static_cast<::off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io_error("NpyRowReader", "cannot read", path, errno);
    }
    if (n == 0) return false;
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

/// Converts `rows x cols` elements of type `Source` at `bytes` (element (i, j) at index
/// `i * row_stride + j * col_stride`) into `out` (already sized); floating-point `Scalar` only,
/// so every conversion succeeds (rounding to nearest). In tiles of 64 x 64, so that neither the
/// row-major file order nor the column-major matrix is walked across its order for long.
template <class Source, class Scalar>
void npy_convert_block(const char* bytes, Eigen::Index rows, Eigen::Index cols, std::int64_t row_stride,
                       std::int64_t col_stride, Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) {
  constexpr Eigen::Index tile = 64;
  for (Eigen::Index j0 = 0; j0 < cols; j0 += tile)
    for (Eigen::Index i0 = 0; i0 < rows; i0 += tile) {
      const Eigen::Index i1 = std::min(rows, i0 + tile), j1 = std::min(cols, j0 + tile);
      for (Eigen::Index i = i0; i < i1; ++i)
        for (Eigen::Index j = j0; j < j1; ++j) {
          Source value;
          std::memcpy(&value, bytes + static_cast<std::size_t>(i * row_stride + j * col_stride) * sizeof(Source),
                      sizeof(Source));
          out(i, j) = static_cast<Scalar>(value);
        }
    }
}

}  // namespace pathq::detail

namespace pathq::io {

/// Reads the rows of a 1-D or 2-D .npy file (any dtype of DType) in batches, so that a matrix
/// of `m x n` entries can be consumed in memory `O(batch * n)` whatever `m` is (for instance to
/// accumulate LayerStats from a calibration set larger than memory). Shape `(m, n)` is read as
/// `m x n`, shape `(m,)` as `m x 1`, as load_matrix does.
///
/// Only the header is read when the reader is built; each read_rows call reads its rows from
/// the file (C order: one contiguous read per batch). A Fortran-order file stores each column
/// contiguously, so rows are not contiguous: the reader then loads the whole file once and
/// serves the batches from memory (memory `O(m * n)`, as load_matrix).
///
/// The reader owns an open file descriptor; it is movable, not copyable.
class NpyRowReader {
 public:
  /// Opens `path` and reads its header.
  /// \throws pathq::io_error when the file cannot be opened or read; pathq::invalid_argument
  ///         "pathq::read_npy: <path>: ..." for a bad header or a data size that does not match
  ///         the shape (the messages of parse_npy), "pathq::to_matrix: <path>: expected a 1-D or
  ///         2-D array, found shape ..." for another rank.
  explicit NpyRowReader(const std::string& path) : m_path(path) {
    using pathq::detail::npy_fail;
    pathq::detail::check_little_endian_host("read_npy");
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) pathq::detail::throw_io_error("read_file", "cannot open", path, errno);
    m_fd = std::make_unique<pathq::detail::FileDescriptor>(raw);
    struct ::stat info {};
    if (::fstat(raw, &info) != 0) pathq::detail::throw_io_error("read_file", "cannot stat", path, errno);
    if (S_ISDIR(info.st_mode)) pathq::detail::throw_io_error("read_file", "cannot read", path, EISDIR);
    if (!S_ISREG(info.st_mode)) {  // a pipe or device: no size to check against, read it whole
      load_whole(read_file(path));
      return;
    }
    const auto file_size = static_cast<std::uint64_t>(info.st_size);
    char head[12] = {};
    const std::size_t got = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, sizeof head));
    pathq::detail::npy_pread_all(raw, head, got, 0, path);
    static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
    if (got < 6 || std::memcmp(head, magic, 6) != 0)
      npy_fail(path, "bad magic: not an .npy file (it does not begin with \\x93NUMPY)");
    if (got < 8) npy_fail(path, "truncated: the file ends inside the version bytes");
    const int major = static_cast<unsigned char>(head[6]);
    const int minor = static_cast<unsigned char>(head[7]);
    if (minor != 0 || major < 1 || major > 3)
      npy_fail(path, "unsupported .npy format version ", major, ".", minor, " (supported: 1.0, 2.0, 3.0)");
    const std::size_t prefix = major == 1 ? 10 : 12;
    if (got < prefix) npy_fail(path, "truncated: the file ends inside the header length field");
    std::uint64_t header_length = 0;
    for (std::size_t i = 8; i < prefix; ++i)
      header_length |= std::uint64_t{static_cast<unsigned char>(head[i])} << (8 * (i - 8));
    if (header_length > file_size - prefix)
      npy_fail(path, "header length ", header_length, " extends beyond the end of the file (", file_size,
               " bytes)");
    std::string text(static_cast<std::size_t>(header_length), '\0');
    if (!pathq::detail::npy_pread_all(raw, text.data(), text.size(), prefix, path))
      npy_fail(path, "truncated: the file ends inside the header");
    pathq::detail::NpyHeader header = pathq::detail::NpyHeaderParser(text, path).parse();
    m_dtype = pathq::detail::npy_parse_descr(header.descr, path);
    m_fortran = header.fortran_order;
    const std::int64_t count = pathq::detail::npy_checked_count(header.shape);
    const std::uint64_t item = item_size(m_dtype);
    if (count < 0 || static_cast<std::uint64_t>(count) > std::numeric_limits<std::uint64_t>::max() / item)
      npy_fail(path, "the data size of shape ", pathq::detail::npy_shape_text(header.shape),
               " overflows 64-bit integers");
    const std::uint64_t expected = static_cast<std::uint64_t>(count) * item;
    m_offset = prefix + header_length;
    const std::uint64_t found = file_size - m_offset;
    if (found < expected) npy_fail(path, "truncated: expected ", expected, " bytes of data, found ", found);
    if (found > expected) npy_fail(path, "trailing data: expected ", expected, " bytes of data, found ", found);
    set_shape(header.shape);
    if (m_fortran) {  // columns are contiguous: load once, serve batches from memory
      m_data.resize(static_cast<std::size_t>(expected));
      if (!pathq::detail::npy_pread_all(raw, m_data.data(), m_data.size(), m_offset, path))
        npy_fail(path, "truncated: the file shrank while it was read");
      m_loaded = true;
    }
  }

  /// Rows `m` of the matrix.
  Eigen::Index rows() const { return m_rows; }
  /// Columns `n` of the matrix (1 for a 1-D array).
  Eigen::Index cols() const { return m_cols; }
  /// The stored element type.
  DType dtype() const { return m_dtype; }
  /// True when the file is in Fortran order (then it was loaded whole).
  bool fortran_order() const { return m_fortran; }
  /// Index of the next row read_rows returns (the number of rows read so far).
  Eigen::Index position() const { return m_next; }
  /// Rows not yet read.
  Eigen::Index rows_left() const { return m_rows - m_next; }
  /// Makes `row` the next row read_rows returns (0 <= row <= rows()).
  /// \throws pathq::invalid_argument for a row outside that range.
  void seek(Eigen::Index row) {
    PATHQ_CHECK(row >= 0 && row <= m_rows, "NpyRowReader::seek", m_path, ": row ", row, " is outside [0, ", m_rows, "]");
    m_next = row;
  }

  /// Reads the next `min(max_rows, rows_left())` rows into `out` (resized to that many rows and
  /// cols() columns), converted to `Scalar` (rounded to nearest). Returns the number of rows read,
  /// 0 once every row has been read.
  /// \tparam Scalar float or double.
  /// \param max_rows at least 1.
  /// \throws pathq::invalid_argument for `max_rows < 1`; pathq::io_error on a read error or a
  ///         file that shrank since the header was read.
  /// Complexity: `O(rows read * cols())` time; a buffer of that many stored elements.
  template <class Scalar>
  Eigen::Index read_rows(Eigen::Index max_rows, Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) {
    static_assert(std::is_floating_point_v<Scalar> && (sizeof(Scalar) == 4 || sizeof(Scalar) == 8),
                  "NpyRowReader::read_rows converts to float or double.");
    PATHQ_CHECK(max_rows >= 1, "NpyRowReader::read_rows", "max_rows must be at least 1, got ", max_rows);
    const Eigen::Index count = std::min<Eigen::Index>(max_rows, rows_left());
    out.resize(count, m_cols);
    if (count == 0) return 0;
    const std::size_t item = item_size(m_dtype);
    const char* bytes = nullptr;
    std::int64_t row_stride = m_cols, col_stride = 1;
    if (m_loaded) {
      if (m_fortran) {
        bytes = m_data.data() + static_cast<std::size_t>(m_next) * item;
        row_stride = 1;
        col_stride = m_rows;
      } else {
        bytes = m_data.data() + static_cast<std::size_t>(m_next) * static_cast<std::size_t>(m_cols) * item;
      }
    } else {
      const std::size_t size = static_cast<std::size_t>(count) * static_cast<std::size_t>(m_cols) * item;
      m_buffer.resize(size);
      const std::uint64_t at = m_offset + static_cast<std::uint64_t>(m_next) * static_cast<std::uint64_t>(m_cols) * item;
      if (size > 0 && !pathq::detail::npy_pread_all(m_fd->get(), m_buffer.data(), size, at, m_path))
        pathq::detail::throw_io_error("NpyRowReader", "cannot read", m_path, EIO);
      bytes = m_buffer.data();
    }
    if (m_cols > 0) convert(bytes, count, row_stride, col_stride, out);
    m_next += count;
    return count;
  }

 private:
  void set_shape(const std::vector<std::int64_t>& shape) {
    if (shape.size() != 1 && shape.size() != 2)
      pathq::detail::throw_invalid("to_matrix", m_path, ": expected a 1-D or 2-D array, found shape ",
                                   pathq::detail::npy_shape_text(shape));
    m_rows = static_cast<Eigen::Index>(shape[0]);
    m_cols = static_cast<Eigen::Index>(shape.size() == 2 ? shape[1] : 1);
  }

  void load_whole(const std::string& bytes) {
    NpyArray array = parse_npy(bytes, m_path);
    m_dtype = array.dtype;
    m_fortran = array.fortran_order;
    set_shape(array.shape);
    m_data = std::move(array.data);
    m_loaded = true;
  }

  template <class Scalar>
  void convert(const char* bytes, Eigen::Index count, std::int64_t rs, std::int64_t cs,
               Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) const {
    using pathq::detail::npy_convert_block;
    switch (m_dtype) {
      case DType::Float32: npy_convert_block<float>(bytes, count, m_cols, rs, cs, out); break;
      case DType::Float64: npy_convert_block<double>(bytes, count, m_cols, rs, cs, out); break;
      case DType::Int8: npy_convert_block<std::int8_t>(bytes, count, m_cols, rs, cs, out); break;
      case DType::Int16: npy_convert_block<std::int16_t>(bytes, count, m_cols, rs, cs, out); break;
      case DType::Int32: npy_convert_block<std::int32_t>(bytes, count, m_cols, rs, cs, out); break;
      case DType::Int64: npy_convert_block<std::int64_t>(bytes, count, m_cols, rs, cs, out); break;
      case DType::UInt8: npy_convert_block<std::uint8_t>(bytes, count, m_cols, rs, cs, out); break;
    }
  }

  std::string m_path;
  std::unique_ptr<pathq::detail::FileDescriptor> m_fd;
  DType m_dtype = DType::Float64;
  bool m_fortran = false;
  bool m_loaded = false;         ///< the data is in m_data (Fortran order, or not a regular file)
  std::uint64_t m_offset = 0;    ///< where the data starts in the file
  Eigen::Index m_rows = 0, m_cols = 0, m_next = 0;
  std::string m_data;            ///< the whole data when m_loaded
  std::string m_buffer;          ///< one batch of stored bytes
};

}  // namespace pathq::io

#endif  // PATHQ_IO_NPY_STREAM_HPP
