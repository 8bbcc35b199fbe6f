// Reading and writing NumPy .npz archives (zip files of .npy members, stored or deflated). Needs zlib (-lz).
#ifndef PATHQ_IO_NPZ_HPP
#define PATHQ_IO_NPZ_HPP

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>
#include <pathq/detail/zip.hpp>
#include <pathq/io/atomic_file.hpp>
#include <pathq/io/npy.hpp>

namespace pathq::io {

/// How write_npz and to_npz_bytes store the members.
struct NpzOptions {
  bool compress =
      false;           ///< deflate every member (numpy.savez_compressed) instead of storing it (numpy.savez)
  int level = 6;       ///< zlib's deflate level when compressing, 1 (fastest) to 9 (smallest)
  bool zip64 = false;  ///< write zip64 records for every member; they are written anyway past 4 GiB

  /// \throws pathq::invalid_argument "pathq::NpzOptions: level must be in 1..9, got <level>".
  void validate() const {
    PATHQ_CHECK(level >= 1 && level <= 9, "NpzOptions", "level must be in 1..9, got ", level);
  }
};

class NpzFile;
inline NpzFile parse_npz(std::string_view bytes, const std::string& name);

/// The arrays of a .npz archive, by key: member "W.npy" has key "W". Read by read_npz/parse_npz
/// (keys in archive order) or built by add() for writing (keys in the order added).
class NpzFile {
 public:
  NpzFile() = default;

  /// The keys in archive order (or the order they were added).
  const std::vector<std::string>& names() const { return m_names; }
  /// Number of arrays.
  std::size_t size() const { return m_names.size(); }
  /// True when an array has this key.
  bool contains(const std::string& key) const { return m_arrays.count(key) != 0; }
  /// The file this was read from (or the name given to parse_npz); empty when built by hand.
  const std::string& source() const { return m_source; }

  /// The array stored under `key`.
  /// \throws pathq::invalid_argument "pathq::NpzFile::array: <source>: no array named '<key>'
  ///         (arrays: ...)" listing the first keys present.
  const NpyArray& array(const std::string& key) const {
    const auto it = m_arrays.find(key);
    if (it != m_arrays.end()) return it->second;
    std::string listing;
    for (std::size_t i = 0; i < m_names.size(); ++i) {
      if (i == 12) {
        listing += ", ...";
        break;
      }
      listing += (i ? ", " : "") + pathq::detail::npy_quoted(m_names[i], 64);
    }
    pathq::detail::throw_invalid("NpzFile::array", m_source.empty() ? std::string("(in memory)") : m_source,
                                 ": no array named ", pathq::detail::npy_quoted(key, 64), " (",
                                 m_names.empty() ? std::string("the archive is empty") : "arrays: " + listing,
                                 ")");
  }

  /// The array under `key` as a matrix (see io::to_matrix for .npy arrays).
  template <class Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> matrix(const std::string& key) const {
    return to_matrix<Scalar>(array(key), (m_source.empty() ? std::string() : m_source + ": ") + "array " +
                                             pathq::detail::npy_quoted(key, 64));
  }

  /// Adds an array under a new key (stored as member "<key>.npy").
  /// \throws pathq::invalid_argument "pathq::NpzFile::add: ..." for a key already present, a
  ///         member name longer than zip allows, a negative dimension, or data whose length does
  ///         not match the shape.
  void add(const std::string& key, NpyArray array) {
    PATHQ_CHECK(!contains(key), "NpzFile::add", "an array named ", pathq::detail::npy_quoted(key, 64),
                " already exists");
    PATHQ_CHECK(key.size() + 4 <= 0xffff, "NpzFile::add", "key of ", key.size(),
                " bytes is too long for a zip member name");
    pathq::detail::npy_check_data_size("NpzFile::add", "array " + pathq::detail::npy_quoted(key, 64), array);
    m_names.push_back(key);
    m_arrays.emplace(key, std::move(array));
  }
  /// Adds matrix `M` under a new key, as a C-order (rows, cols) array of its scalar type.
  template <class Derived>
  void add(const std::string& key, const Eigen::MatrixBase<Derived>& M) {
    using Scalar = typename Derived::Scalar;
    static_assert(is_npy_scalar<Scalar>,
                  "NpzFile::add takes float, double, int8, int16, int32, int64 or uint8 matrices.");
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = M;
    NpyArray array;
    array.dtype = dtype_of<Scalar>();
    array.shape = {static_cast<std::int64_t>(row_major.rows()), static_cast<std::int64_t>(row_major.cols())};
    array.data.assign(reinterpret_cast<const char*>(row_major.data()),
                      static_cast<std::size_t>(row_major.size()) * sizeof(Scalar));
    add(key, std::move(array));
  }

 private:
  friend NpzFile parse_npz(std::string_view bytes, const std::string& name);

  std::vector<std::string> m_names;
  std::map<std::string, NpyArray> m_arrays;
  std::string m_source;
};

/// Parses the bytes of a .npz archive: a zip file whose members "<key>.npy" are .npy files,
/// stored (method 0) or deflated (method 8), with or without zip64 records (NumPy writes zip64
/// local headers). Every member's size and CRC-32 are checked.
/// \param bytes the whole archive; arbitrary bytes are safe (every problem is reported, none
///              crash or read outside `bytes`).
/// \param name  names the input in error messages (usually its path).
/// \throws pathq::invalid_argument "pathq::read_npz: <name>: <problem>", e.g. a bad zip
///         signature, no end of central directory record, a truncated central directory,
///         multi-disk or encrypted archives, "member 'W.npy': unsupported compression method 12
///         (bzip2)", "member 'W.npy': CRC mismatch (stored ..., computed ...)", corrupt or
///         truncated deflate data, a member whose name does not end in ".npy", two members with
///         the same key, and any problem of a member's .npy data as parse_npy reports it
///         ("pathq::read_npz: <name>: member 'W.npy': bad magic ...").
/// Complexity: linear in the size of the archive and of the uncompressed data.
inline NpzFile parse_npz(std::string_view bytes, const std::string& name) {
  const char* where = "read_npz";
  const std::vector<pathq::detail::ZipMember> members = pathq::detail::zip_list(bytes, where, name);
  NpzFile file;
  file.m_source = name;
  for (const pathq::detail::ZipMember& m : members) {
    const std::string member = "member " + pathq::detail::npy_quoted(m.name, 64);
    if (m.name.size() < 4 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0)
      pathq::detail::throw_invalid(where, name, ": ", member,
                                   " is not a .npy file (an .npz archive holds only '<key>.npy' members)");
    const std::string key = m.name.substr(0, m.name.size() - 4);
    if (file.contains(key))
      pathq::detail::throw_invalid(where, name, ": ", member, " appears twice in the archive");
    const std::string data = pathq::detail::zip_extract(bytes, m, where, name);
    NpyArray array;
    try {
      array = parse_npy(data, name + ": " + member);
    } catch (const pathq::invalid_argument& e) {
      // parse_npy reports "pathq::read_npy: <name>: ..."; say which function the caller called.
      const std::string text = e.what();
      const std::string prefix = "pathq::read_npy: ";
      throw pathq::invalid_argument(text.compare(0, prefix.size(), prefix) == 0
                                        ? "pathq::read_npz: " + text.substr(prefix.size())
                                        : text);
    }
    file.m_names.push_back(key);
    file.m_arrays.emplace(key, std::move(array));
  }
  return file;
}

/// Reads a .npz archive (see parse_npz).
/// \throws pathq::io_error when the file cannot be read; pathq::invalid_argument as parse_npz.
inline NpzFile read_npz(const std::string& path) { return parse_npz(read_file(path), path); }

/// The bytes of a .npz archive holding every array of `file` as member "<key>.npy", in the
/// order of names(), stored or deflated as `options` says. Timestamps are fixed, so the same
/// arrays and options always give the same bytes.
/// \throws pathq::invalid_argument "pathq::NpzOptions: ..." for invalid options.
/// Complexity: one copy of the data, plus deflate when compressing.
inline std::string to_npz_bytes(const NpzFile& file, const NpzOptions& options = {}) {
  options.validate();
  std::vector<std::pair<std::string, std::string>> members;
  members.reserve(file.size());
  for (const std::string& key : file.names())
    members.emplace_back(key + ".npy", to_npy_bytes(file.array(key)));
  return pathq::detail::zip_archive(members, options.compress, options.level, options.zip64, "to_npz_bytes");
}

/// Writes `file` as a .npz archive (see to_npz_bytes), completely or not at all (see
/// write_file_atomically).
/// \throws pathq::io_error naming the path when it cannot be written; pathq::invalid_argument
///         for invalid options.
inline void write_npz(const std::string& path, const NpzFile& file, const NpzOptions& options = {}) {
  write_file_atomically(path, to_npz_bytes(file, options));
}

}  // namespace pathq::io

#endif  // PATHQ_IO_NPZ_HPP
