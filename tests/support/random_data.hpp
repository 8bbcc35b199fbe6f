// Test data: seeded Gaussian matrices, independent of the standard library's distributions.
#ifndef PATHQ_TESTS_SUPPORT_RANDOM_DATA_HPP
#define PATHQ_TESTS_SUPPORT_RANDOM_DATA_HPP

#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#include <pathq/core/random.hpp>

namespace pathq_test {

/// An `rows x cols` matrix of iid N(0, 1) entries (Box-Muller on pathq's counter-based stream).
inline Eigen::MatrixXd gaussian(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  Eigen::MatrixXd A(rows, cols);
  const pathq::RandomStream s(seed, 0x7e57);
  for (Eigen::Index k = 0; k < A.size(); ++k) {
    const double u1 = 1.0 - s.uniform(std::uint64_t(2 * k));
    const double u2 = s.uniform(std::uint64_t(2 * k + 1));
    A.data()[k] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  return A;
}

}  // namespace pathq_test

#endif  // PATHQ_TESTS_SUPPORT_RANDOM_DATA_HPP
