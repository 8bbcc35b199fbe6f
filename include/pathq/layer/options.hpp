// The options of a one-layer job, by name: `pathq layer`'s flags (`--bits 4` is "bits" = "4",
// `--act-order` the switch "act-order"), checked strictly. The tool parses them from argv; the
// Python module from keyword arguments; a C++ program sets them one by one.
#ifndef PATHQ_LAYER_OPTIONS_HPP
#define PATHQ_LAYER_OPTIONS_HPP

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <pathq/core/error.hpp>

namespace pathq {
namespace layer {

/// An option that is unknown, malformed, out of range or inconsistent with another; the message
/// names the option as a flag (`--bits must be in [2, 24], got 40`). The tool prints it and
/// exits with status 2; Python raises ValueError.
class option_error : public std::invalid_argument {
 public:
  explicit option_error(const std::string& what) : std::invalid_argument(what), message(what) {}
  std::string message;
};

/// Named options: `name -> value` pairs, and switches (a name with an empty value).
class Options {
 public:
  Options() = default;
  /// Sets option `name` to `value` (a switch: an empty value).
  /// \throws option_error when `name` was set already.
  void set(const std::string& name, const std::string& value = "") {
    if (m_values.count(name)) throw option_error{"--" + name + " given twice"};
    m_values[name] = value;
  }
  /// Refuses every option not in `valued` or `switches`, and a switch given a value.
  void check_names(const std::set<std::string>& valued, const std::set<std::string>& switches) const {
    for (const auto& kv : m_values) {
      if (switches.count(kv.first)) {
        if (!kv.second.empty()) throw option_error{"--" + kv.first + " is a switch and takes no value"};
        continue;
      }
      if (!valued.count(kv.first)) throw option_error{"unknown option --" + kv.first};
    }
  }
  /// Parses `argv[first..argc)`. `switches` take no value; every other known flag takes one.
  Options(int argc, const char* const* argv, int first, const std::set<std::string>& valued,
          const std::set<std::string>& switches) {
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.size() < 3 || a.compare(0, 2, "--") != 0) throw option_error{"unexpected argument '" + a + "'"};
      const std::string name = a.substr(2);
      if (switches.count(name)) {
        if (m_values.count(name)) throw option_error{"--" + name + " given twice"};
        m_values[name] = "";
        continue;
      }
      if (!valued.count(name)) throw option_error{"unknown option --" + name};
      if (i + 1 >= argc) throw option_error{"--" + name + " needs a value"};
      if (m_values.count(name)) throw option_error{"--" + name + " given twice"};
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
    if (!v || v->empty()) throw option_error{"--" + name + " is required"};
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
      throw option_error{"--" + name + " expects an integer, got '" + *v + "'"};
    if (x < lo || x > hi)
      throw option_error{"--" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
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
      throw option_error{"--" + name + " expects a finite number, got '" + *v + "'"};
    if (positive && !(x > 0)) throw option_error{"--" + name + " must be positive, got " + *v};
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

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_OPTIONS_HPP
