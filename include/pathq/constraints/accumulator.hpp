// AXE: the accumulator-aware constraint policy (single- and multi-stage accumulators).
#ifndef PATHQ_CONSTRAINTS_ACCUMULATOR_HPP
#define PATHQ_CONSTRAINTS_ACCUMULATOR_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "pathq/bounds/accumulator.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/detail/checks.hpp"

namespace pathq {

/// The integer datapath a layer must fit: signed `P`-bit accumulators fed `N`-bit integer inputs,
/// optionally split into tiles of `T` features, each summed in its own `P`-bit inner accumulator
/// (multi-stage accumulation). docs/algorithms.md#axe-accumulator-bounds.
struct AccumulatorOptions {
  int accumulator_bits = 16;   ///< P, in [2, 62]: the accumulator holds `±(2^(P-1) - 1)`
  int input_bits = 8;          ///< N, in [1, 30] ([2, 30] when signed)
  bool input_signed = false;   ///< inputs in `[-2^(N-1), 2^(N-1) - 1]`, else `[0, 2^N - 1]`
  Eigen::Index tile = 0;       ///< T >= 1 features per inner accumulator; 0: one tile (single-stage)
  /// AXE's l1 soft threshold (docs/algorithms.md#axe-constrained-step, step 1); the guarantee does
  /// not need it
  bool soft_threshold = true;

  /// \throws invalid_argument naming the field and its valid range.
  void validate(const char* where = "AccumulatorOptions") const {
    detail::check_accumulator_bits(where, accumulator_bits, input_bits, input_signed);
    PATHQ_CHECK(tile >= 0, where, "tile must be >= 0 (0: single-stage), got ", tile);
  }
  /// Smallest integer input: `-2^(N-1)` (signed) or 0.
  std::int64_t input_min() const { return input_signed ? -(std::int64_t(1) << (input_bits - 1)) : 0; }
  /// Largest integer input: `2^(N-1) - 1` (signed) or `2^N - 1`.
  std::int64_t input_max() const {
    return input_signed ? (std::int64_t(1) << (input_bits - 1)) - 1 : (std::int64_t(1) << input_bits) - 1;
  }
  /// The accumulator limit `M = 2^(P-1) - 1`.
  std::int64_t limit() const { return (std::int64_t(1) << (accumulator_bits - 1)) - 1; }
  /// Features per tile for a layer of `n_in` features (`n_in` when single-stage).
  Eigen::Index tile_size(Eigen::Index n_in) const { return tile > 0 ? tile : std::max<Eigen::Index>(n_in, 1); }
  /// Number of tiles, `ceil(n_in / T)`; feature `t` (original order) lies in tile `t / T`.
  Eigen::Index tiles(Eigen::Index n_in) const { return (n_in + tile_size(n_in) - 1) / tile_size(n_in); }
};

namespace detail {

/// Threshold of the Euclidean projection of a non-negative vector `a` onto the l1 ball of radius
/// `z > 0`: 0 if `sum(a) <= z`, else the unique `theta` with `sum_i max(a_i - theta, 0) = z`.
/// This is Duchi, Shalev-Shwartz, Singer, Chandra (ICML 2008, Fig. 1): with `u` = `a` sorted in
/// decreasing order and `rho = max{j : u_j j > sum_{i<=j} u_i - z}`,
/// `theta = (sum_{i<=rho} u_i - z) / rho`. Computed without the sort by Michelot's fixed point
/// (J. Optim. Theory Appl. 50, 1986): `theta <- (sum_{a_i > theta} a_i - z) / #{a_i > theta}`
/// from `theta = (sum(a) - z) / n`; theta only grows, the active set only shrinks, and the
/// iteration stops, at Duchi's theta, when the active set stops changing. `a` is reordered.
/// Complexity `O(n)` per pass, a few passes in practice, `O(n^2)` at worst.
inline double l1_ball_threshold(std::vector<double>& a, double z) {
  double total = 0;
  for (double v : a) total += v;
  if (total <= z) return 0.0;
  std::size_t k = a.size();
  double theta = (total - z) / double(k);
  for (;;) {
    std::size_t kept = 0;
    double sum = 0;
    for (std::size_t i = 0; i < k; ++i)
      if (a[i] > theta) {
        sum += a[i];
        a[kept++] = a[i];
      }
    if (kept == k) return theta;
    k = kept;
    theta = (sum - z) / double(k);
  }
}

/// AXE works on integer weights: the grid must be symmetric with zero point 0.
template <class Scalar>
void check_accumulator_grid(const char* where, const Grid<Scalar>& grid) {
  PATHQ_CHECK(grid.kind == GridKind::Symmetric, where,
              "accumulator constraints need a symmetric grid with zero point 0 (integer weights = codes), got kind ",
              to_string(grid.kind));
  for (Eigen::Index j = 0; j < grid.zero.cols(); ++j)
    for (Eigen::Index g = 0; g < grid.zero.rows(); ++g)
      PATHQ_CHECK(grid.zero(g, j) == Scalar(0), where,
                  "accumulator constraints need zero point 0, got ", double(grid.zero(g, j)), " for group ", g,
                  " of column ", j);
}

}  // namespace detail

/// AXE, the accumulator-aware constraint (Colbert, Franco, Grob, Zhang, Saab, "Accumulator-Aware
/// Post-Training Quantization", TMLR 2025, arXiv 2409.17092, Algorithms 1 and 2; docs/algorithms.md#axe).
/// A constraint policy for the engine: any method on it (GPFQ, OPTQ, ...) becomes
/// accumulator-aware with `Method<Scalar, Nearest, AccumulatorConstraint<Scalar>>`.
///
/// For every neuron and tile (features `t` with `t / T = k`, original order) it keeps the running
/// sums of the positive and negative codes chosen so far, `p >= 0 >= n`, and keeps, after every
/// step, the exact worst case of the tile's dot product over all integer inputs in
/// `[x_min, x_max]` inside the accumulator:
///
///     x_max p + x_min n <= M   and   x_min p + x_max n >= -M,      M = 2^(P-1) - 1.
///
/// Every partial sum, in any order, is bounded by these two extremes, so no input vector can
/// overflow a tile's P-bit accumulator (docs/algorithms.md#axe-accumulator-bounds). Per step, on the
/// base method's value `a`:
/// 1. soft threshold `a <- sign(a) max(|a| - step theta, 0)`, with `theta` computed once from the
///    original weights: the l1-ball projection threshold (radius `Z = (2^P - 2)/(x_max - x_min)`,
///    the A2Q+ bound) of the tile's integer-domain weights `W/step`, zero-padded to T and centred;
/// 2. hard constraint: the admissible codes become `[ceil(Lo), floor(Up)]` with
///    `Up = min((M - x_max p - x_min n)/x_max, (-M - x_min p - x_max n)/x_min)` and
///    `Lo = max((-M - x_max n - x_min p)/x_max, (M - x_max p - x_min n)/x_min)` (the second terms
///    for signed inputs only), computed in exact integer arithmetic. The reference implementation
///    (Brevitas) clamps the value to `[step (Lo + 1/2), step (Up - 1/2)]` and rounds to nearest;
///    the ±1/2 margins are there so that the rounded code lands in this same interval. Narrowing
///    the codes instead is the same for round-to-nearest (away from exact ties) and keeps the
///    guarantee for any rounding operator that respects its limits (stochastic rounding too);
/// 3. after rounding, the code is added to `p` or `n`.
/// The base method's feedback uses the final codes (for GPFQ the original weights and the final
/// q, as in the paper), so threshold and clamp errors are corrected by later features.
///
/// The constraint belongs to one layer: build it from the layer's weights and the grid it will be
/// quantized onto, then pass both to the method. Tiles, thresholds and per-group steps are taken
/// in the original feature order (feature t, group `t / group_size`), whatever order the method
/// walks. During the scan the threshold is scaled by the step the engine rounds with, and the
/// hard constraint works on codes alone, so a grid whose steps are refitted during the scan
/// (OPTQ's dynamic groups) keeps the guarantee; its thresholds still come from the grid given
/// here. AXE assumes fixed scales (docs/algorithms.md#axe-assumptions): prefer grids fixed before the pass.
///
/// \tparam Scalar float or double, the method's precision.
/// \throws invalid_argument on bad options, empty or non-finite W, a grid that is not symmetric
///         with zero point 0 or does not match W, and (when the engine runs) a grid other than
///         the one given here.
/// Complexity: `O(N_in N_out)` once for the thresholds (a few linear passes per tile, see
/// `detail::l1_ball_threshold`); `O(1)` per weight in the scan (a few 64-bit integer divisions);
/// memory `O(N_out ceil(N_in / T))`.
template <class Scalar>
class AccumulatorConstraint {
 public:
  using Index = Eigen::Index;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  /// \param options the datapath (validated here).
  /// \param W       the layer's original weights, `N_in x N_out` (for the soft thresholds).
  /// \param grid    the grid the layer will be quantized onto (fixed steps, symmetric, zero 0).
  template <class D>
  AccumulatorConstraint(const AccumulatorOptions& options, const Eigen::MatrixBase<D>& W, const Grid<Scalar>& grid)
      : m_options(options) {
    const char* where = "AccumulatorConstraint";
    m_options.validate(where);
    detail::check_weights(where, W);
    detail::check_grid(where, grid, W);
    detail::check_accumulator_grid(where, grid);
    m_n_in = W.rows();
    m_tile = m_options.tile_size(m_n_in);
    m_tiles = m_options.tiles(m_n_in);
    m_step = grid.step;
    m_group_size = grid.group_size;
    m_theta = Matrix::Zero(m_tiles, W.cols());
    if (m_options.soft_threshold) compute_thresholds(W);
  }

  const AccumulatorOptions& options() const { return m_options; }
  /// Features per tile, T (N_in when single-stage).
  Index tile_size() const { return m_tile; }
  /// Number of tiles, `ceil(N_in / T)`.
  Index tiles() const { return m_tiles; }
  /// Soft thresholds in code units, `tiles x N_out` (zero where the tile's l1 norm is within Z
  /// or the soft threshold is off).
  const Matrix& theta() const { return m_theta; }

  /// The per-panel state: running positive and negative code sums per (neuron, tile).
  class Panel {
   public:
    Panel(const AccumulatorConstraint& c, Index c0, Index w)
        : m_c(&c), m_c0(c0), m_w(w), m_pos(std::size_t(c.m_tiles * w), 0), m_neg(std::size_t(c.m_tiles * w), 0) {}

    /// The soft threshold `step theta`, in weight units.
    Scalar adjust(Index, Index t, Index j, Scalar x, Scalar step) const {
      const Scalar theta = m_c->m_theta(t / m_c->m_tile, j);
      if (!(theta > Scalar(0))) return x;
      const Scalar mag = std::abs(x) - step * theta;
      return mag > Scalar(0) ? (x < Scalar(0) ? -mag : mag) : Scalar(0);
    }

    /// The hard constraint: narrows [lo, hi] to the codes that keep both extremes within M.
    void limits(Index, Index t, Index j, int& lo, int& hi) const {
      const std::size_t s = slot(t, j);
      const std::int64_t M = m_c->m_options.limit();
      const std::int64_t xmax = m_c->m_options.input_max();
      const std::int64_t axmin = -m_c->m_options.input_min();
      const std::int64_t p = m_pos[s], nn = -m_neg[s];
      const std::int64_t head_max = M - xmax * p - axmin * nn;  // M - (x_max p + x_min n) >= 0
      const std::int64_t head_min = M - axmin * p - xmax * nn;  // M + (x_min p + x_max n) >= 0
      PATHQ_ASSERT(head_max >= 0 && head_min >= 0);
      std::int64_t up = head_max / xmax, down = head_min / xmax;
      if (axmin > 0) {
        up = std::min(up, head_min / axmin);
        down = std::min(down, head_max / axmin);
      }
      if (std::int64_t(hi) > up) hi = int(up);
      if (std::int64_t(lo) < -down) lo = int(-down);
    }

    /// Adds the chosen code to the running sums of its tile.
    void commit(Index, Index t, Index j, int code) {
      const std::size_t s = slot(t, j);
      if (code > 0) m_pos[s] += code;
      else m_neg[s] += code;
    }

   private:
    std::size_t slot(Index t, Index j) const { return std::size_t((t / m_c->m_tile) * m_w + (j - m_c0)); }

    const AccumulatorConstraint* m_c;
    Index m_c0, m_w;
    std::vector<std::int64_t> m_pos, m_neg;
  };

  /// The state for neurons `[c0, c0 + w)`.
  Panel panel(Index c0, Index w) const { return Panel(*this, c0, w); }

  /// Called by the engine before it runs: the grid must be the one this constraint was built
  /// for, on `n = N_in` features (any feature order).
  template <class S>
  void validate(const Grid<S>& grid, Index n, const std::vector<Index>&) const {
    const char* where = "AccumulatorConstraint";
    detail::check_accumulator_grid(where, grid);
    PATHQ_CHECK(n == m_n_in, where, "built for N_in = ", m_n_in, " but the layer has ", n, " features");
    PATHQ_CHECK(grid.step.rows() == m_step.rows() && grid.step.cols() == m_step.cols() &&
                    grid.group_size == m_group_size &&
                    (grid.step.template cast<Scalar>().array() == m_step.array()).all(),
                where, "the grid being quantized onto is not the grid the constraint was built for");
  }

 private:
  template <class D>
  void compute_thresholds(const Eigen::MatrixBase<D>& W) {
    const double z = bounds::a2q_plus_l1_bound(m_options.accumulator_bits, m_options.input_bits);
    const Index n_out = W.cols();
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
    for (Index j = 0; j < n_out; ++j) {
      std::vector<double> a(static_cast<std::size_t>(m_tile));
      for (Index k = 0; k < m_tiles; ++k) {
        const Index t0 = k * m_tile, t1 = std::min(m_n_in, t0 + m_tile);
        double mean = 0;
        for (Index t = t0; t < t1; ++t) {
          const Index g = m_group_size > 0 ? t / m_group_size : 0;
          a[std::size_t(t - t0)] = double(W(t, j)) / double(m_step(g, j));
          mean += a[std::size_t(t - t0)];
        }
        for (Index t = t1 - t0; t < m_tile; ++t) a[std::size_t(t)] = 0.0;  // zero padding to T
        mean /= double(m_tile);
        for (double& v : a) v = std::abs(v - mean);
        m_theta(k, j) = Scalar(detail::l1_ball_threshold(a, z));
      }
    }
  }

  AccumulatorOptions m_options;
  Index m_n_in = 0, m_tile = 1, m_tiles = 1;
  Matrix m_step;
  Index m_group_size = 0;
  Matrix m_theta;
};

}  // namespace pathq

#endif  // PATHQ_CONSTRAINTS_ACCUMULATOR_HPP
