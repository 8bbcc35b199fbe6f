// Rounding operators: the policy that turns a value (in code units) into an integer code.
#ifndef PATHQ_CORE_ROUNDING_HPP
#define PATHQ_CORE_ROUNDING_HPP

#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#include "pathq/core/random.hpp"

namespace pathq {

/// Round to nearest. The rounding-operator interface, in its simplest model:
///
///     int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const;
///
/// `u` is the value to round in code units (`x / step + zero`), `[lo, hi]` the admissible codes,
/// `t` the feature (in the layer's original order) and `j` the neuron. Returns a code in
/// `[lo, hi]`. An operator must be a pure function of its arguments and its own fields, so that
/// neurons can be processed on any thread in any order.
///
/// Tie rule (fixed for all of pathq): an exact half goes up, toward +infinity:
/// `code = floor(u + 1/2)`, then clipped to `[lo, hi]` (docs/algorithms.md#alphabets-rounding-operators).
struct Nearest {
  static constexpr bool is_stochastic = false;
  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index, Eigen::Index) const {
    const Scalar c = std::floor(u + Scalar(0.5));
    if (!(c > Scalar(lo))) return lo;  // also maps NaN to lo; callers check finiteness
    if (c >= Scalar(hi)) return hi;
    return static_cast<int>(c);
  }
};

/// Stochastic rounding onto the integers: `floor(u) + 1` with probability `u - floor(u)`, else
/// `floor(u)`, so `E[code] = u` when no clipping occurs; the draw for weight (t, j) is
/// `RandomStream(seed, j).uniform(t)` (docs/algorithms.md#alphabets-rounding-operators).
/// Out-of-range values are clipped after rounding (a biased step, which quantizers count as
/// saturation).
struct StochasticRounding {
  static constexpr bool is_stochastic = true;
  std::uint64_t seed = 0;

  StochasticRounding() = default;
  explicit StochasticRounding(std::uint64_t s) : seed(s) {}

  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const {
    const Scalar f = std::floor(u);
    const double p = static_cast<double>(u - f);
    const double r = RandomStream(seed, static_cast<std::uint64_t>(j)).uniform(static_cast<std::uint64_t>(t));
    const Scalar c = f + (r < p ? Scalar(1) : Scalar(0));
    if (!(c > Scalar(lo))) return lo;
    if (c >= Scalar(hi)) return hi;
    return static_cast<int>(c);
  }
};

}  // namespace pathq

#endif  // PATHQ_CORE_ROUNDING_HPP
