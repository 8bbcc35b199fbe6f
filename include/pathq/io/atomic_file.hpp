// Whole-file reads, and writes that leave a file complete or untouched (temporary file + rename).
#ifndef PATHQ_IO_ATOMIC_FILE_HPP
#define PATHQ_IO_ATOMIC_FILE_HPP

#if defined(_WIN32)
#error "pathq/io/atomic_file.hpp needs a POSIX system (open, fsync, rename)."
#endif

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace pathq {

/// Thrown when the operating system refuses a file operation. The message names the function,
/// the path and the system's reason, e.g.
/// `pathq::read_file: cannot open 'W.npy': No such file or directory`.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// The system's text for an `errno` value.
inline std::string errno_message(int err) { return std::generic_category().message(err); }

/// Cold path: throws pathq::io_error "pathq::<where>: <what> '<path>': <errno text>".
[[noreturn]] inline void throw_io_error(const char* where, const char* what,
                                        const std::string& path, int err) {
  throw io_error(std::string("pathq::") + where + ": " + what + " '" + path +
                 "': " + errno_message(err));
}

/// Owns a POSIX file descriptor; closes it (ignoring errors) unless released first.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : m_fd(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (m_fd >= 0) ::close(m_fd);
  }
  int get() const { return m_fd; }
  /// Closes now and returns 0, or the `errno` of a failed close (which may report a lost write).
  int close_now() {
    const int fd = m_fd;
    m_fd = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int m_fd;
};

/// Writes all of `size` bytes to `fd`, retrying partial writes and EINTR. Returns 0 or errno.
inline int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ::ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

/// Flushes a directory's entries to disk (makes a rename durable). Best effort: errors ignored,
/// because the rename has already happened and the file is complete either way.
inline void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// A process-wide counter that keeps concurrent temporary names apart.
inline unsigned next_temp_serial() {
  static std::atomic<unsigned> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail

namespace io {

/// Reads the whole file at `path` into a string of bytes.
/// \throws pathq::io_error naming the path and the system's reason when the file is missing,
///         is a directory, or cannot be read.
inline std::string read_file(const std::string& path) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) detail::throw_io_error("read_file", "cannot open", path, errno);
  detail::FileDescriptor fd(raw);
  struct ::stat info {};
  if (::fstat(fd.get(), &info) != 0) detail::throw_io_error("read_file", "cannot stat", path, errno);
  if (S_ISDIR(info.st_mode)) detail::throw_io_error("read_file", "cannot read", path, EISDIR);
  std::string bytes;
  if (S_ISREG(info.st_mode) && info.st_size > 0) bytes.reserve(static_cast<std::size_t>(info.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ::ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      detail::throw_io_error("read_file", "cannot read", path, errno);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  return bytes;
}

}  // namespace io

namespace detail {

/// Writes `bytes` to a new temporary file beside `path` (`.<name>.pathq-tmp-<pid>-<n>`), flushed
/// to disk and closed, and returns its name. On failure nothing is left behind.
inline std::string stage_file(const char* where, const std::string& path, const std::string& bytes) {
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") throw_io_error(where, "cannot write to", path, EISDIR);

  // A file that did not exist before (O_EXCL), beside the target so that the rename stays within
  // one file system. Long names are shortened to stay under NAME_MAX.
  const std::string stem = dir + "." + base.substr(0, 100) + ".pathq-tmp-" +
                           std::to_string(static_cast<long long>(::getpid())) + "-";
  std::string temp;
  int raw = -1;
  for (int attempt = 0; raw < 0; ++attempt) {
    temp = stem + std::to_string(next_temp_serial());
    raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw < 0 && !((errno == EEXIST || errno == EINTR) && attempt < 100))
      throw_io_error(where, "cannot create a temporary file to write", path, errno);
  }
  FileDescriptor fd(raw);
  const auto fail = [&](const char* what, int err) {
    if (fd.get() >= 0) fd.close_now();
    ::unlink(temp.c_str());
    throw_io_error(where, what, path, err);
  };
  if (const int err = write_all(fd.get(), bytes.data(), bytes.size()))
    fail("cannot write the temporary file for", err);
  if (::fsync(fd.get()) != 0) fail("cannot flush the temporary file for", errno);
  if (const int err = fd.close_now()) fail("cannot close the temporary file for", err);
  return temp;
}

/// The directory part of `path` ("" for a bare name).
inline std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace detail

namespace io {

/// Replaces the file at `path` with exactly `bytes`, all or nothing: the bytes go to a new
/// temporary file in the same directory, which is flushed to disk (`fsync`) and then renamed over
/// `path`. Readers see either the old file or the complete new one, never a partial file; on any
/// failure the temporary file is removed and `path` is left as it was. A new file gets the usual
/// permissions (0666 minus the umask).
/// \param path  the file to create or replace; its directory must exist.
/// \throws pathq::io_error naming the path and the system's reason (missing directory, no
///         permission, disk full, `path` is a directory, ...).
/// Complexity: one pass over `bytes`, plus one fsync of the file and of its directory.
inline void write_file_atomically(const std::string& path, const std::string& bytes) {
  const char* where = "write_file_atomically";
  const std::string temp = detail::stage_file(where, path, bytes);
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    detail::throw_io_error(where, "cannot rename the temporary file onto", path, err);
  }
  detail::sync_directory(detail::directory_of(path));
}

/// Writes several files as one step: every file is first staged completely in a temporary file
/// (see `write_file_atomically`); only when all are staged are they renamed into place. A failure
/// while staging (missing directory, disk full, ...) leaves every target untouched and no
/// temporary file behind. Only a failing rename, after all the data is safely on disk, can leave
/// the earlier targets replaced and the later ones not.
/// \param files (path, bytes) pairs. \throws pathq::io_error as `write_file_atomically`.
inline void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
  const char* where = "write_files_atomically";
  std::vector<std::string> temps;
  try {
    for (const auto& f : files) temps.push_back(detail::stage_file(where, f.first, f.second));
  } catch (...) {
    for (const auto& t : temps) ::unlink(t.c_str());
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (std::rename(temps[i].c_str(), files[i].first.c_str()) != 0) {
      const int err = errno;
      for (std::size_t k = i; k < temps.size(); ++k) ::unlink(temps[k].c_str());
      detail::throw_io_error(where, "cannot rename the temporary file onto", files[i].first, err);
    }
    detail::sync_directory(detail::directory_of(files[i].first));
  }
}

}  // namespace io
}  // namespace pathq

#endif  // PATHQ_IO_ATOMIC_FILE_HPP
