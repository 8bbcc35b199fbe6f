// What a grid is and what it costs to store: its family's name and the bits per weight, scales included.
#ifndef PATHQ_CORE_GRID_ACCOUNTING_HPP
#define PATHQ_CORE_GRID_ACCOUNTING_HPP

#include <cstdint>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {

/// The name of a grid's family as reports print it:
/// - "symmetric": `{k*step : |k| <= K}`, codes -K..K, 2K+1 levels;
/// - "even": the same formula on codes -K..K-1, 2K levels (the signed b-bit grid, K = 2^(b-1));
/// - "midrise": `{(j + 1/2)*step : -L <= j < L}`;
/// - "asymmetric": `{(k - z)*step : 0 <= k < levels}` with integer zero points z;
/// - "dead_zone": `{0} U {+-(lambda + k*step)}` (pruning).
/// A symmetric-kind grid whose code range is neither of the two above is "symmetric_range".
inline const char* grid_name(GridKind kind, int code_lo, int code_hi) {
  switch (kind) {
    case GridKind::Midrise: return "midrise";
    case GridKind::Asymmetric: return "asymmetric";
    case GridKind::DeadZone: return "dead_zone";
    case GridKind::Symmetric:
      if (std::int64_t(code_lo) == -std::int64_t(code_hi)) return "symmetric";
      if (std::int64_t(code_lo) == -std::int64_t(code_hi) - 1) return "even";
      return "symmetric_range";
  }
  return "unknown";
}

template <class Scalar>
const char* grid_name(const Grid<Scalar>& grid) {
  return grid_name(grid.kind, grid.code_lo, grid.code_hi);
}

/// How the side information of a grid is stored.
struct ScaleStorage {
  int scale_bits = 16;       ///< bits per step (16: fp16 or bf16), in [0, 64]
  int zero_point_bits = 0;   ///< bits per zero point of an asymmetric grid; 0: as many as a code; in [0, 64]

  /// \throws invalid_argument naming the field and its valid range.
  void validate(const char* where) const {
    PATHQ_CHECK(scale_bits >= 0 && scale_bits <= 64, where, "scale_bits must be in [0, 64], got ", scale_bits);
    PATHQ_CHECK(zero_point_bits >= 0 && zero_point_bits <= 64, where,
                "zero_point_bits must be in [0, 64], got ", zero_point_bits);
  }
};

/// The storage of a quantized layer, per weight.
struct BitsPerWeight {
  int code_bits = 0;              ///< ceil(log2(levels)) bits per code
  Eigen::Index scales = 0;        ///< steps stored: 1 if the whole layer shares one, else groups x N_out
  Eigen::Index zero_points = 0;   ///< zero points stored (asymmetric grids; 1 if all are equal)
  double overhead = 0;            ///< (scales * scale_bits + zero_points * zero_point_bits) / (N_in N_out)
  double total = 0;               ///< code_bits + overhead
};

/// Bits per weight of a layer of `n_in` features quantized onto `grid`, scales and zero points
/// included: a code costs `ceil(log2(levels))` bits (2K+1 levels need `ceil(log2(2K+1))`); the
/// steps cost `storage.scale_bits` each, one for the layer when they are all equal, else one per
/// group and column; asymmetric grids add a zero point per group and column (one if all equal).
/// Example: 4-bit codes with an fp16 step per group of 32 features cost 4 + 16/32 = 4.5 bits.
/// \throws invalid_argument if `n_in < 1` or `storage` is out of range.
/// Complexity `O(groups N_out)`.
template <class Scalar>
BitsPerWeight bits_per_weight(const Grid<Scalar>& grid, Eigen::Index n_in, const ScaleStorage& storage = {}) {
  storage.validate("bits_per_weight");
  PATHQ_CHECK(n_in >= 1, "bits_per_weight", "N_in must be at least 1, got ", n_in);
  BitsPerWeight b;
  b.code_bits = grid.bits();
  const Eigen::Index n_out = grid.step.cols();
  if (grid.step.size() == 0 || n_out == 0) {
    b.total = b.code_bits;
    return b;
  }
  const bool one_step = (grid.step.array() == grid.step(0, 0)).all();
  b.scales = one_step ? 1 : grid.step.size();
  if (grid.kind == GridKind::Asymmetric && grid.zero.size() > 0) {
    const bool one_zero = (grid.zero.array() == grid.zero(0, 0)).all();
    b.zero_points = one_zero ? 1 : grid.zero.size();
  }
  const int zero_bits = storage.zero_point_bits > 0 ? storage.zero_point_bits : b.code_bits;
  b.overhead = (double(b.scales) * storage.scale_bits + double(b.zero_points) * zero_bits) /
               (double(n_in) * double(n_out));
  b.total = b.code_bits + b.overhead;
  return b;
}

}  // namespace pathq

#endif  // PATHQ_CORE_GRID_ACCOUNTING_HPP
