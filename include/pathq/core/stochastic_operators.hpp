// Operators of the stochastic quantization + pruning framework, their grids and their contract.
#ifndef PATHQ_CORE_STOCHASTIC_OPERATORS_HPP
#define PATHQ_CORE_STOCHASTIC_OPERATORS_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/rounding.hpp"

namespace pathq {

// The operator contract (H. Zhang & R. Saab, arXiv 2412.18184;
// docs/algorithms.md#stochastic-framework-operator-contract).
//
// An operator T of the framework maps the value c_t that SPFQ's phase 2 asks for to a level of
// the grid. The convex-order argument behind every SPFQ bound needs two things of it, for every
// z inside the grid's range:
//
//     E[T(z)] = z            (unbiased)          |T(z) - z| <= D          (bounded deviation)
//
// and then gives the SPFQ bounds with delta replaced by D (`bounds::operator_tail`). All the
// stochastic operators of the framework are stochastic rounding (`StochasticRounding`, which
// moves to one of the two neighbouring levels with the probabilities that keep the mean) on a
// suitable grid:
//
// | operator                          | grid                                   | D            |
// |-----------------------------------|----------------------------------------|--------------|
// | quantization                      | symmetric `{k delta : |k| <= K}`       | delta        |
// | stochastic pruning, threshold lam | `pruning_grid`: `{0} U {|v| >= lam}`   | lam          |
// | quantization + pruning            | `dead_zone_grid`: `{0} U {+-(lam + k delta)}` | max(lam, delta) |
// | 1-bit                             | `one_bit_grid`: `{-alpha, +alpha}`     | 2 alpha      |
//
// Stochastic pruning keeps `z` when `|z| > lam` and otherwise returns `sign(z) lam` with
// probability `|z| / lam`, 0 else; on `pruning_grid` the kept values are themselves stochastically
// rounded to a resolution of a few float ulps of the largest weight (see there), which keeps the
// mean and D. The 1-bit operator returns `+alpha` with probability `(1 + z/alpha) / 2`.
// Outside the grid's range an operator must clip, which breaks the contract: quantizers count
// those steps as saturated.
//
// The deterministic thresholded quantizers of sparse GPFQ ("L1" and "L0",
// docs/algorithms.md#alphabets-rounding-operators) are operators too, but biased: they fall outside
// the contract and carry no SPFQ guarantee.

/// True when the rounding operator `Op` declares `static constexpr bool is_stochastic = true`.
template <class Op, class = void>
struct is_stochastic_operator : std::false_type {};
template <class Op>
struct is_stochastic_operator<Op, std::void_t<decltype(Op::is_stochastic)>>
    : std::integral_constant<bool, Op::is_stochastic> {};

/// The sparse-GPFQ "L1" quantizer on a symmetric grid: soft-threshold, then round to nearest,
/// `q = sign(z) delta min(|floor(s_lam(z)/delta + 1/2)|, K)` with `s_lam(z) = sign(z) max(|z| - lam, 0)`
/// (docs/algorithms.md#alphabets-rounding-operators; Zhang, Zhou & Saab, SIMODS 2023, code
/// `_soft_thresholding`).
/// A rounding operator (see `Nearest` for the interface); ties go up, as everywhere in pathq.
/// Deterministic and biased toward 0: outside the operator contract.
/// \param threshold `lam / delta`, the threshold in units of the step, finite and >= 0.
struct SoftThresholdNearest {
  static constexpr bool is_stochastic = false;
  double threshold = 0;

  SoftThresholdNearest() = default;
  explicit SoftThresholdNearest(double threshold_in_steps) : threshold(threshold_in_steps) {
    PATHQ_CHECK(std::isfinite(threshold_in_steps) && threshold_in_steps >= 0, "SoftThresholdNearest",
                "threshold (in steps) must be finite and >= 0, got ", threshold_in_steps);
  }

  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const {
    const Scalar th = Scalar(threshold);
    const Scalar s = u > th ? u - th : (u < -th ? u + th : Scalar(0));
    return Nearest()(s, lo, hi, t, j);
  }
};

/// The sparse-GPFQ "L0" quantizer on a `dead_zone_grid`: 0 when `|z| <= lam`, else the nearest
/// level `+-(lam + k delta)`, i.e. `q = sign(z) (lam + delta min(|floor(s_lam(z)/delta + 1/2)|, K))`
/// (docs/algorithms.md#alphabets-rounding-operators; SIMODS code `_hard_thresholding_msq`). On the
/// dead-zone grid's code axis (`Grid::position`) `|z| <= lam` is `|u| <= 1`, and beyond it the
/// levels are evenly spaced, so the operator is "0 inside [-1, 1], round to nearest outside".
/// Deterministic and biased: outside the operator contract. On any other grid it is a plain dead
/// zone of one code.
struct DeadZoneNearest {
  static constexpr bool is_stochastic = false;

  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const {
    if (u >= Scalar(-1) && u <= Scalar(1) && lo <= 0 && hi >= 0) return 0;
    return Nearest()(u, lo, hi, t, j);
  }
};

/// The quantization + pruning alphabet `{0} U {+-(lam + k delta) : 0 <= k < K}` (2K+1 levels,
/// codes -K..K, `value(c) = sign(c) (lam + (|c| - 1) delta)`), one step for all neurons.
/// With `lam = delta` it is the symmetric alphabet `A_K^delta`; K = 1 gives the ternary `{0, +-lam}`.
/// (The SIMODS code's "L0" alphabet `{0} U {+-(lam + k delta) : 0 <= k <= K'}` is K = K' + 1 here.)
/// \param n_out neurons, >= 1. \param K nonzero levels per side, in [1, 2^30).
/// \param lambda the threshold, finite and > 0. \param delta the spacing beyond it, finite and > 0.
/// \throws invalid_argument on any other value.
template <class Scalar>
Grid<Scalar> dead_zone_grid(Eigen::Index n_out, int K, Scalar lambda, Scalar delta) {
  PATHQ_CHECK(n_out >= 1, "dead_zone_grid", "N_out must be >= 1, got ", n_out);
  PATHQ_CHECK(K >= 1 && K < (1 << 30), "dead_zone_grid", "levels per side K must be in [1, 2^30), got ", K);
  PATHQ_CHECK(std::isfinite(double(lambda)) && lambda > 0, "dead_zone_grid",
              "threshold lambda must be finite and positive, got ", lambda);
  PATHQ_CHECK(std::isfinite(double(delta)) && delta > 0, "dead_zone_grid",
              "step delta must be finite and positive, got ", delta);
  Grid<Scalar> g;
  g.kind = GridKind::DeadZone;
  g.code_lo = -K;
  g.code_hi = K;
  g.bounded = true;
  g.step = Grid<Scalar>::Matrix::Constant(1, n_out, delta);
  g.zero = Grid<Scalar>::Matrix::Zero(1, n_out);
  g.group_size = 0;
  g.threshold = lambda / delta;
  return g;
}

/// The pruning alphabet: `{0}` and every value of magnitude at least `lam`, resolved as a
/// dead-zone grid whose spacing beyond `lam` is `lam / 2^s`, with `s` the largest integer (at most
/// 40) for which levels up to `4 max(max_abs, lam)` stay exact integers in `Scalar` (2^24 for
/// float) and in the int32 codes (2^30). Stochastic rounding on it is stochastic pruning: for
/// float weights the kept values move by at most `2^-21 max(max_abs, lam)` (a few float ulps of
/// the largest weight; in double, `2^-27`); saturation (values beyond the last level) is reported.
/// \param n_out neurons, >= 1. \param lambda the threshold, finite and > 0.
/// \param max_abs the largest magnitude expected (e.g. `max |W~|`), finite and >= 0.
template <class Scalar>
Grid<Scalar> pruning_grid(Eigen::Index n_out, Scalar lambda, Scalar max_abs) {
  PATHQ_CHECK(std::isfinite(double(lambda)) && lambda > 0, "pruning_grid",
              "threshold lambda must be finite and positive, got ", lambda);
  PATHQ_CHECK(std::isfinite(double(max_abs)) && max_abs >= 0, "pruning_grid",
              "max_abs must be finite and >= 0, got ", max_abs);
  const double exact = std::is_same<Scalar, float>::value ? 16777216.0 : 1073741823.0;
  const double span = 4.0 * std::max(double(max_abs), double(lambda)) / double(lambda);  // in units of lam
  const int s = std::max(0, std::min(40, int(std::floor(std::log2(exact / span)))));
  const double delta = double(lambda) / std::ldexp(1.0, s);
  const int K = int(std::min(1073741823.0, std::floor(exact - std::ldexp(1.0, s)) + 1));
  return dead_zone_grid<Scalar>(n_out, std::max(K, 1), lambda, Scalar(delta));
}

/// The 1-bit alphabet `{-alpha, +alpha}`: the binary midrise grid of step `2 alpha` (codes -1, 0).
/// \param alpha finite and > 0.
template <class Scalar>
Grid<Scalar> one_bit_grid(Eigen::Index n_out, Scalar alpha) {
  PATHQ_CHECK(n_out >= 1, "one_bit_grid", "N_out must be >= 1, got ", n_out);
  PATHQ_CHECK(std::isfinite(double(alpha)) && alpha > 0, "one_bit_grid",
              "alpha must be finite and positive, got ", alpha);
  Grid<Scalar> g;
  g.kind = GridKind::Midrise;
  g.code_lo = -1;
  g.code_hi = 0;
  g.bounded = true;
  g.step = Grid<Scalar>::Matrix::Constant(1, n_out, Scalar(2) * alpha);
  g.zero = Grid<Scalar>::Matrix::Constant(1, n_out, Scalar(-0.5));
  g.group_size = 0;
  return g;
}

/// `D` of the operator contract for stochastic rounding on `grid`: the widest gap between
/// neighbouring levels, over all columns and groups (stochastic rounding moves a value inside the
/// range by less than the gap around it). `step` for uniform grids, `max(lam, delta)` on a
/// dead-zone grid (`lam` alone when K = 1).
template <class Scalar>
double contract_deviation(const Grid<Scalar>& grid) {
  PATHQ_CHECK(grid.step.size() > 0, "contract_deviation", "the grid has no steps");
  const double step = double(grid.step.maxCoeff());
  if (grid.kind != GridKind::DeadZone) return step;
  const double first = double(grid.threshold) * step;
  return grid.code_hi >= 2 ? std::max(first, step) : first;
}

/// Checks what the framework needs of a grid beyond `detail::check_grid`: a dead-zone grid has
/// zero points 0 and a finite positive threshold.
/// \throws invalid_argument naming `where` otherwise.
template <class Scalar>
void check_operator_grid(const char* where, const Grid<Scalar>& grid) {
  if (grid.kind != GridKind::DeadZone) return;
  PATHQ_CHECK(std::isfinite(double(grid.threshold)) && grid.threshold > 0, where,
              "a dead-zone grid needs a finite positive threshold, got ", grid.threshold);
  PATHQ_CHECK(grid.zero.size() == 0 || grid.zero.cwiseAbs().maxCoeff() == Scalar(0), where,
              "a dead-zone grid has zero points 0");
}

}  // namespace pathq

#endif  // PATHQ_CORE_STOCHASTIC_OPERATORS_HPP
