// Test helper: the accumulator datapath options of AXE and the integer check, in one call.
#ifndef PATHQ_TESTS_SUPPORT_DATAPATH_HPP
#define PATHQ_TESTS_SUPPORT_DATAPATH_HPP

#include <Eigen/Core>

#include <pathq/constraints/accumulator.hpp>

namespace pathq_test {

/// A P-bit accumulator fed N-bit inputs (signed or not), tiles of T features (0: one tile),
/// soft thresholding on or off.
inline pathq::AccumulatorOptions datapath(int P, int N, bool is_signed, Eigen::Index T = 0, bool soft = true) {
  pathq::AccumulatorOptions o;
  o.accumulator_bits = P;
  o.input_bits = N;
  o.input_signed = is_signed;
  o.tile = T;
  o.soft_threshold = soft;
  return o;
}

}  // namespace pathq_test

#endif  // PATHQ_TESTS_SUPPORT_DATAPATH_HPP
