// Errors: bad input throws pathq::invalid_argument, numerical trouble is an Info status.
#ifndef PATHQ_CORE_ERROR_HPP
#define PATHQ_CORE_ERROR_HPP

#include <cassert>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <Eigen/Core>

namespace pathq {

/// Thrown for bad input at a public boundary. The message names the function, the argument
/// and the offending value, e.g. `pathq::gpfq: X has 256 columns but W has 512 rows`.
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Thrown by the one-call forms when a computation did not succeed (see `Info`).
class numerical_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Outcome of a computation, in the manner of `Eigen::ComputationInfo`.
enum class Info {
  Success,         ///< finished as asked
  NumericalIssue,  ///< finished, but with a numerical repair that the result's message names
  Failed           ///< could not finish; the result is not usable
};

/// Name of an `Info` value, for reports.
inline const char* to_string(Info info) {
  switch (info) {
    case Info::Success: return "success";
    case Info::NumericalIssue: return "numerical_issue";
    case Info::Failed: return "failed";
  }
  return "unknown";
}

namespace detail {

/// Builds a message from any streamable parts.
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

/// Cold path for input checks: throws pathq::invalid_argument "pathq::<where>: <what>".
template <class... Parts>
[[noreturn]] void throw_invalid(const char* where, const Parts&... parts) {
  throw invalid_argument(concat("pathq::", where, ": ", parts...));
}

/// Throws unless every entry of `A` is finite; names the first offending entry.
template <class Derived>
void check_finite(const char* where, const char* name, const Eigen::MatrixBase<Derived>& A) {
  for (Eigen::Index j = 0; j < A.cols(); ++j)
    for (Eigen::Index i = 0; i < A.rows(); ++i)
      if (!std::isfinite(static_cast<double>(A(i, j))))
        throw_invalid(where, name, " has a non-finite entry (", static_cast<double>(A(i, j)),
                      ") at (", i, ", ", j, ")");
}

/// Throws unless `A` has at least one row and one column.
template <class Derived>
void check_nonempty(const char* where, const char* name, const Eigen::MatrixBase<Derived>& A) {
  if (A.rows() == 0 || A.cols() == 0)
    throw_invalid(where, name, " is empty (", A.rows(), " x ", A.cols(), ")");
}

}  // namespace detail
}  // namespace pathq

/// Always-on check of user input: throws pathq::invalid_argument naming `where` unless `cond`.
#define PATHQ_CHECK(cond, where, ...)                     \
  do {                                                    \
    if (!(cond)) ::pathq::detail::throw_invalid(where, __VA_ARGS__); \
  } while (false)

/// Internal invariant, checked in debug builds only. Never used for user input.
#define PATHQ_ASSERT(cond) assert(cond)

#endif  // PATHQ_CORE_ERROR_HPP
