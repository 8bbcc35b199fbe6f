// Command-line arguments of the pathq tool: `--flag value` pairs and switches, checked strictly.
#ifndef PATHQ_TOOLS_ARGS_HPP
#define PATHQ_TOOLS_ARGS_HPP

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pathq/core/error.hpp>

namespace pathq_tool {

/// A usage error: the tool prints "pathq: <message>" and exits with status 2.
struct UsageError {
  std::string message;
};

/// Parsed `--name value` options and `--switch` flags.
class Args {
 public:
  /// Parses `argv[first..argc)`. `switches` take no value; every other known flag takes one.
  Args(int argc, const char* const* argv, int first, const std::set<std::string>& valued,
       const std::set<std::string>& switches) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.size() < 3 || a.compare(0, 2, "--") != 0) throw UsageError{"unexpected argument '" + a + "'"};
      const std::string name = a.substr(2);
      if (switches.count(name)) {
        if (m_values.count(name)) throw UsageError{"--" + name + " given twice"};
        m_values[name] = "";
        continue;
      }
      if (!valued.count(name)) throw UsageError{"unknown option --" + name};
      if (i + 1 >= argc) throw UsageError{"--" + name + " needs a value"};
      if (m_values.count(name)) throw UsageError{"--" + name + " given twice"};
      m_values[name] = argv[++i];
    }
  }

  bool has(const std::string& name) const { return m_values.count(name) != 0; }
  std::optional<std::string> text(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
  }
  std::string required_text(const std::string& name) const {
    auto v = text(name);
    if (!v || v->empty()) throw UsageError{"--" + name + " is required"};
    return *v;
  }
  /// An integer option in [lo, hi].
  std::optional<long long> integer(const std::string& name, long long lo, long long hi) const {
    auto v = text(name);
    if (!v) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE)
      throw UsageError{"--" + name + " expects an integer, got '" + *v + "'"};
    if (x < lo || x > hi)
      throw UsageError{"--" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "], got " + *v};
    return x;
  }
  /// A finite real option, strictly positive if `positive`.
  std::optional<double> real(const std::string& name, bool positive) const {
    auto v = text(name);
    if (!v) return std::nullopt;
    char* end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(x))
      throw UsageError{"--" + name + " expects a finite number, got '" + *v + "'"};
    if (positive && !(x > 0)) throw UsageError{"--" + name + " must be positive, got " + *v};
    return x;
  }
  /// Names of the options given.
  std::vector<std::string> given() const {
    std::vector<std::string> out;
    for (const auto& kv : m_values) out.push_back(kv.first);
    return out;
  }

 private:
  std::map<std::string, std::string> m_values;
};

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_ARGS_HPP
