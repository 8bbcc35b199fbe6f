// Test scratch space: a fresh temporary directory, and whether Debian's NumPy can be run.
#ifndef PATHQ_TESTS_SUPPORT_TEMP_DIR_HPP
#define PATHQ_TESTS_SUPPORT_TEMP_DIR_HPP

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace pathq_test {

/// A fresh directory under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  /// `tag` goes into the directory's name (which test made it).
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<unsigned> serial{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    m_path = std::filesystem::temp_directory_path() /
             ("pathq_" + tag + "_" + std::to_string(stamp) + "_" + std::to_string(serial++));
    std::filesystem::create_directories(m_path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
  }
  std::string file(const std::string& name) const { return (m_path / name).string(); }
  const std::filesystem::path& path() const { return m_path; }
  /// Names of the entries in the directory (to check that no temporary file was left behind).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(m_path))
      names.push_back(entry.path().filename().string());
    return names;
  }

 private:
  std::filesystem::path m_path;
};

/// Whether /usr/bin/python3 can import NumPy (the interoperability checks need it).
inline bool numpy_available() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

}  // namespace pathq_test

#endif  // PATHQ_TESTS_SUPPORT_TEMP_DIR_HPP
