// Proof by integers: exact worst-case accumulator values and integer inference that counts overflows.
#ifndef PATHQ_METHODS_INTEGER_CHECK_HPP
#define PATHQ_METHODS_INTEGER_CHECK_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "pathq/bounds/accumulator.hpp"
#include "pathq/constraints/accumulator.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/result.hpp"

namespace pathq {

/// 64-bit integer matrix (accumulator values).
using Int64Matrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic>;
/// Integer inputs, `m x N_in`, one row per sample.
using IntegerInputs = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic>;

namespace detail {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

/// a + b, saturated to the int64 range (values that large are reported as overflows anyway).
inline std::int64_t add_saturated(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > int64_max - b) return int64_max;
  if (b < 0 && a < int64_min - b) return int64_min;
  return a + b;
}

/// a * b for a, b >= 0, saturated at INT64_MAX.
inline std::int64_t mul_saturated(std::int64_t a, std::int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > int64_max / b ? int64_max : a * b;
}

/// |v| for v > INT64_MIN, else INT64_MAX.
inline std::int64_t abs_saturated(std::int64_t v) { return v == int64_min ? int64_max : (v < 0 ? -v : v); }

}  // namespace detail

/// The exact worst case of every accumulator of a quantized layer over all integer inputs.
struct AccumulatorWorstCase {
  std::int64_t limit = 0;          ///< M = 2^(P-1) - 1
  Eigen::Index tile = 0;           ///< T, features per inner accumulator
  Eigen::Index tiles = 0;          ///< ceil(N_in / T)
  Int64Matrix tile_max;            ///< tiles x N_out: largest value of the tile's sum, `x_max p + x_min n`
  Int64Matrix tile_min;            ///< tiles x N_out: smallest value, `x_min p + x_max n`
  std::vector<std::int64_t> neuron;  ///< N_out: worst |inner accumulator| of the neuron over its tiles
  std::vector<std::int64_t> outer;   ///< N_out: worst |whole dot product| (the outer accumulator)
  std::int64_t worst = 0;          ///< max over neurons of `neuron`
  std::int64_t outer_worst = 0;    ///< max over neurons of `outer`
  int bits_needed = 1;             ///< inner width the worst tile needs
  int outer_bits_needed = 1;       ///< width the worst whole dot product needs
  Eigen::Index neurons_over = 0;   ///< neurons with some tile beyond ±M
  Eigen::Index tiles_over = 0;     ///< (tile, neuron) pairs beyond ±M

  /// True when no input in range can overflow any inner P-bit accumulator.
  bool fits() const { return worst <= limit; }
};

/// Exact worst-case accumulator values of a layer whose integer weights are `codes`
/// (`N_in x N_out`, symmetric grid with zero point 0), on integer inputs in
/// `[x_min, x_max]` (docs/algorithms.md#axe-accumulator-bounds). For each neuron and tile, with `p`
/// the sum of the tile's positive codes and `n` that of its negative codes, the tile's dot product
/// ranges exactly over `[x_min p + x_max n, x_max p + x_min n]` (both ends are attained: take
/// `x_i = x_max` where `q_i > 0` and `x_min` elsewhere, or the reverse), and every partial sum, in
/// any order, lies in the same interval, since adding a term moves each end outward or not at all.
/// The outer accumulator of a multi-stage datapath sums whole tiles, so its partial sums lie in the
/// interval of the whole column. Arithmetic saturates at the int64 range.
/// \throws invalid_argument on bad options or empty codes.
/// Complexity `O(N_in N_out)`.
inline AccumulatorWorstCase accumulator_worst_case(const Codes& codes, const AccumulatorOptions& options) {
  options.validate("accumulator_worst_case");
  PATHQ_CHECK(codes.rows() > 0 && codes.cols() > 0, "accumulator_worst_case", "codes are empty (",
              codes.rows(), " x ", codes.cols(), ")");
  using Index = Eigen::Index;
  const Index n_in = codes.rows(), n_out = codes.cols();
  AccumulatorWorstCase w;
  w.limit = options.limit();
  w.tile = options.tile_size(n_in);
  w.tiles = options.tiles(n_in);
  w.tile_max.resize(w.tiles, n_out);
  w.tile_min.resize(w.tiles, n_out);
  w.neuron.assign(std::size_t(n_out), 0);
  w.outer.assign(std::size_t(n_out), 0);
  const std::int64_t xmax = options.input_max(), axmin = -options.input_min();
  // Extremes from the positive and negative code sums p >= 0 >= n (nn = -n).
  auto hi_of = [&](std::int64_t p, std::int64_t nn) {
    return detail::add_saturated(detail::mul_saturated(xmax, p), detail::mul_saturated(axmin, nn));
  };
  auto lo_of = [&](std::int64_t p, std::int64_t nn) {
    return -detail::add_saturated(detail::mul_saturated(axmin, p), detail::mul_saturated(xmax, nn));
  };
  for (Index j = 0; j < n_out; ++j) {
    std::int64_t P = 0, NN = 0;
    bool over = false;
    for (Index k = 0; k < w.tiles; ++k) {
      std::int64_t p = 0, nn = 0;
      for (Index t = k * w.tile; t < std::min(n_in, (k + 1) * w.tile); ++t) {
        const std::int64_t q = codes(t, j);
        if (q > 0) p += q;
        else nn -= q;
      }
      P += p;
      NN += nn;
      w.tile_max(k, j) = hi_of(p, nn);
      w.tile_min(k, j) = lo_of(p, nn);
      const std::int64_t a = std::max(w.tile_max(k, j), detail::abs_saturated(w.tile_min(k, j)));
      w.neuron[std::size_t(j)] = std::max(w.neuron[std::size_t(j)], a);
      w.tiles_over += a > w.limit;
      over = over || a > w.limit;
    }
    w.outer[std::size_t(j)] = std::max(hi_of(P, NN), detail::abs_saturated(lo_of(P, NN)));
    w.neurons_over += over;
    w.worst = std::max(w.worst, w.neuron[std::size_t(j)]);
    w.outer_worst = std::max(w.outer_worst, w.outer[std::size_t(j)]);
  }
  w.bits_needed = bounds::accumulator_bits_needed(w.worst);
  w.outer_bits_needed = bounds::accumulator_bits_needed(w.outer_worst);
  return w;
}

/// The same for a quantization result, after checking that its grid has integer weights
/// (symmetric, zero point 0).
/// \throws invalid_argument on another kind of grid.
template <class Scalar>
AccumulatorWorstCase accumulator_worst_case(const Result<Scalar>& result, const AccumulatorOptions& options) {
  detail::check_accumulator_grid("accumulator_worst_case", result.grid);
  return accumulator_worst_case(result.codes, options);
}

/// What integer inference saw.
struct IntegerInference {
  Int64Matrix Y;                       ///< m x N_out: the exact outputs `X codes`
  Eigen::Index overflow_outputs = 0;   ///< (sample, neuron) pairs whose inner accumulator left ±M
  Eigen::Index overflow_steps = 0;     ///< single additions after which an inner accumulator was beyond ±M
  std::int64_t max_partial = 0;        ///< largest |inner partial sum| over all steps
  std::int64_t max_outer_partial = 0;  ///< largest |outer partial sum| (after each tile)
  Eigen::Index outer_overflow_outputs = 0;  ///< pairs whose outer accumulator left ±(2^(Po-1) - 1),
                                            ///< Po = P + ceil(log2 tiles)
};

/// Runs a quantized layer on integer inputs the way an integer datapath does, and counts the
/// overflows of its P-bit accumulators ("proof by integers"). For every sample and neuron, tile
/// by tile in the natural feature order, an inner accumulator starts at 0 and adds
/// `x_t * code_t` for each feature of the tile; after the tile, the outer accumulator adds the
/// inner one. Every partial sum is exact (int64, saturating) and compared with the limits.
/// \param X     `m x N_in` integer inputs, each in `[x_min, x_max]` of `options`.
/// \param codes `N_in x N_out` integer weights.
/// \throws invalid_argument on bad options, mismatched shapes or inputs out of range.
/// Complexity `O(m N_in N_out)`.
inline IntegerInference integer_inference(const IntegerInputs& X, const Codes& codes,
                                          const AccumulatorOptions& options) {
  using Index = Eigen::Index;
  options.validate("integer_inference");
  PATHQ_CHECK(X.cols() == codes.rows(), "integer_inference", "X has ", X.cols(), " columns but the codes have ",
              codes.rows(), " rows");
  const std::int64_t xmin = options.input_min(), xmax = options.input_max();
  for (Index t = 0; t < X.cols(); ++t)
    for (Index i = 0; i < X.rows(); ++i)
      PATHQ_CHECK(X(i, t) >= xmin && X(i, t) <= xmax, "integer_inference", "input (", i, ", ", t, ") = ",
                  X(i, t), " is outside the ", options.input_bits, "-bit ",
                  options.input_signed ? "signed" : "unsigned", " range [", xmin, ", ", xmax, "]");
  const Index m = X.rows(), n_in = codes.rows(), n_out = codes.cols();
  const Index T = options.tile_size(n_in), tiles = options.tiles(n_in);
  const std::int64_t M = options.limit();
  const int outer_bits = bounds::outer_accumulator_bits(options.accumulator_bits, tiles);
  const std::int64_t M_outer =
      outer_bits >= 64 ? detail::int64_max : (std::int64_t(1) << (outer_bits - 1)) - 1;
  IntegerInference r;
  r.Y.setZero(m, n_out);
  std::vector<std::int64_t> x(static_cast<std::size_t>(n_in));
  for (Index i = 0; i < m; ++i) {
    for (Index t = 0; t < n_in; ++t) x[std::size_t(t)] = X(i, t);
    for (Index j = 0; j < n_out; ++j) {
      const std::int32_t* q = codes.data() + j * n_in;
      std::int64_t outer = 0;
      bool overflow = false, outer_overflow = false;
      for (Index k = 0; k < tiles; ++k) {
        std::int64_t acc = 0;
        for (Index t = k * T; t < std::min(n_in, (k + 1) * T); ++t) {
          acc = detail::add_saturated(acc, x[std::size_t(t)] * std::int64_t(q[t]));
          const std::int64_t a = detail::abs_saturated(acc);
          r.max_partial = std::max(r.max_partial, a);
          if (a > M) {
            ++r.overflow_steps;
            overflow = true;
          }
        }
        outer = detail::add_saturated(outer, acc);
        const std::int64_t a = detail::abs_saturated(outer);
        r.max_outer_partial = std::max(r.max_outer_partial, a);
        outer_overflow = outer_overflow || a > M_outer;
      }
      r.Y(i, j) = outer;
      r.overflow_outputs += overflow;
      r.outer_overflow_outputs += outer_overflow;
    }
  }
  return r;
}

/// The inputs that attain each neuron's extremes: row `2j` has `x_max` where `codes(t, j) > 0`
/// and `x_min` elsewhere (the largest value of every tile's sum and of each of its partial
/// sums); row `2j + 1` has `x_min` where `codes(t, j) > 0` and `x_max` elsewhere (the smallest).
/// \returns `2 N_out x N_in` integer inputs.
inline IntegerInputs adversarial_inputs(const Codes& codes, const AccumulatorOptions& options) {
  options.validate("adversarial_inputs");
  const auto xmin = std::int32_t(options.input_min()), xmax = std::int32_t(options.input_max());
  IntegerInputs X(2 * codes.cols(), codes.rows());
  for (Eigen::Index j = 0; j < codes.cols(); ++j)
    for (Eigen::Index t = 0; t < codes.rows(); ++t) {
      X(2 * j, t) = codes(t, j) > 0 ? xmax : xmin;
      X(2 * j + 1, t) = codes(t, j) > 0 ? xmin : xmax;
    }
  return X;
}

/// Real inputs as N-bit integers with one per-tensor scale, the simplest activation quantizer:
/// `scale = max|X| / x_max` (signed; `max(X, 0) / x_max` unsigned, negative inputs clip to 0),
/// `x = clip(floor(X / scale + 1/2), x_min, x_max)`. An all-zero X gets scale 1.
struct QuantizedInputs {
  IntegerInputs X;     ///< m x N_in integers
  double scale = 1.0;  ///< X ~ scale * integers
};

/// \throws invalid_argument on bad options or non-finite X.
template <class D>
QuantizedInputs quantize_inputs(const Eigen::MatrixBase<D>& X, const AccumulatorOptions& options) {
  options.validate("quantize_inputs");
  detail::check_finite("quantize_inputs", "X", X);
  const double xmin = double(options.input_min()), xmax = double(options.input_max());
  double top = 0;
  for (Eigen::Index t = 0; t < X.cols(); ++t)
    for (Eigen::Index i = 0; i < X.rows(); ++i)
      top = std::max(top, options.input_signed ? std::abs(double(X(i, t))) : double(X(i, t)));
  QuantizedInputs q;
  q.scale = top > 0 ? top / xmax : 1.0;
  q.X.resize(X.rows(), X.cols());
  for (Eigen::Index t = 0; t < X.cols(); ++t)
    for (Eigen::Index i = 0; i < X.rows(); ++i)
      q.X(i, t) = std::int32_t(std::min(xmax, std::max(xmin, std::floor(double(X(i, t)) / q.scale + 0.5))));
  return q;
}

}  // namespace pathq

#endif  // PATHQ_METHODS_INTEGER_CHECK_HPP
