// Shared by the libFuzzer harnesses: the contract every reader keeps on arbitrary bytes.
#ifndef PATHQ_FUZZ_FUZZ_SUPPORT_HPP
#define PATHQ_FUZZ_FUZZ_SUPPORT_HPP

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include <pathq/core/error.hpp>

namespace pathq_fuzz {

/// Prints `what` and aborts, so that libFuzzer records the input as a crash.
[[noreturn]] inline void violation(const std::string& what) {
  std::fprintf(stderr, "pathq fuzz: contract violated: %s\n", what.c_str());
  std::abort();
}

/// Runs `body` on one input. The readers' contract: any bytes either parse or throw
/// `pathq::invalid_argument` with a message "pathq::<function>: ..."; every other exception
/// (and, through the sanitizers, every memory error, leak or undefined behaviour) is a finding.
template <class Body>
void expect_contract(Body&& body) {
  try {
    body();
  } catch (const pathq::invalid_argument& e) {
    const std::string message = e.what();
    if (message.compare(0, 7, "pathq::") != 0) violation("message does not name the function: " + message);
  } catch (const std::bad_alloc&) {
    violation("std::bad_alloc: a size taken from the input was allocated before it was checked");
  } catch (const std::exception& e) {
    violation(std::string("unexpected exception: ") + e.what());
  }
}

/// The same, for a step inside a parsed input that may legitimately reject it (a conversion
/// that is not exact, a rank that does not fit): only `pathq::invalid_argument` is allowed.
template <class Body>
void allow_invalid(Body&& body) {
  try {
    body();
  } catch (const pathq::invalid_argument&) {
  }
}

}  // namespace pathq_fuzz

#endif  // PATHQ_FUZZ_FUZZ_SUPPORT_HPP
