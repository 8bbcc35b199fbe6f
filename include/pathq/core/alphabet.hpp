// Alphabets (the sets of levels a weight may take) and the rules that pick their step.
#ifndef PATHQ_CORE_ALPHABET_HPP
#define PATHQ_CORE_ALPHABET_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"

namespace pathq {

/// How an alphabet's step is chosen.
/// - `fixed(delta)`: the step is `delta`.
/// - `layer_radius(C)`: the released GPFQ rule (docs/algorithms.md#alphabets-step-rules): with `R`
///   the mean over neurons of `max_t |W_tj|`, the largest level is `C * R`; one step for the layer.
/// - `column_radius(C)`: per neuron, the largest level is `C * max_t |W_tj|`; one step per column.
struct StepRule {
  enum class Kind { Fixed, LayerRadius, ColumnRadius };
  Kind kind = Kind::LayerRadius;
  double value = 1.0;  ///< the step for Fixed, the radius scalar C otherwise

  static StepRule fixed(double delta) { return {Kind::Fixed, delta}; }
  static StepRule layer_radius(double C) { return {Kind::LayerRadius, C}; }
  static StepRule column_radius(double C) { return {Kind::ColumnRadius, C}; }

  /// \throws invalid_argument unless the value is finite and positive.
  void validate(const char* where) const {
    if (!(std::isfinite(value) && value > 0))
      detail::throw_invalid(where, kind == Kind::Fixed ? "step" : "radius scale C",
                            " must be finite and positive, got ", value);
  }
};

/// A uniform alphabet: its kind, its number of levels and its step rule. `resolve(W)` turns it
/// into the `Grid` a quantizer rounds onto, with integer codes and step(s).
///
/// - symmetric(K): `{k*delta : |k| <= K}`, 2K+1 levels, codes -K..K (docs/algorithms.md#alphabets-grids).
/// - even(b): the signed b-bit integer grid `{k*delta : -2^(b-1) <= k <= 2^(b-1) - 1}`, 2^b
///   levels, zero included (a symmetric grid with one extra negative level; GPTQ's `sym` grid).
/// - midrise(L): `{(j + 1/2)*delta : -L <= j < L}`, 2L levels, codes -L..L-1.
/// - binary(): midrise with L = 1, levels `±delta/2` (codes -1, 0).
/// - asymmetric(b): `{(k - z)*delta : 0 <= k < 2^b}` with an integer zero point z per column
///   (or group), fitted min-max: the span `[min(w, 0), max(w, 0)]`, scaled by a clipping ratio C,
///   is cut into 2^b - 1 steps and `z = round(-min / delta)` (GPTQ's default grid,
///   docs/algorithms.md#alphabets-step-rules).
/// - unbounded(): symmetric with no clipping (the "infinite alphabet" of the theory).
/// The radius rules map the radius to the largest level: `delta = C R / K` (symmetric),
/// `delta = C R / (L - 1/2)` (midrise), `delta = C R / (2^(b-1) - 1/2)` (even: the radius sits
/// half a step inside the outermost levels, as in GPTQ's `sym` rule `delta = 2 max|w| / (2^b - 1)`).
///
/// `with_group_size(g)` asks for one step (and zero point) per group of g consecutive features
/// and per column: the rule is applied to each group's rows on their own
/// (docs/algorithms.md#optq-grids-and-groups).
/// \tparam Scalar float or double.
template <class Scalar>
class Alphabet {
 public:
  /// Codes of an unbounded alphabet are clipped here (and counted as saturated).
  static constexpr int unbounded_code_limit = 1 << 30;

  /// `{k*delta : |k| <= K}`, 1 <= K <= 2^30 - 1, delta > 0.
  static Alphabet symmetric(int K, Scalar delta) { return symmetric(K, StepRule::fixed(delta)); }
  static Alphabet symmetric(int K, StepRule rule) {
    PATHQ_CHECK(K >= 1 && K < unbounded_code_limit, "Alphabet::symmetric",
                "levels per side K must be in [1, 2^30), got ", K);
    rule.validate("Alphabet::symmetric");
    return Alphabet(GridKind::Symmetric, K, rule);
  }
  /// `bits` in [2, 24]: the symmetric alphabet with K = 2^(bits-1) - 1 (2^bits - 1 levels).
  /// The default step rule is pathq's default, `StepRule::column_radius(1.0)` (each neuron's
  /// largest level at its own max |w|; the evidence is in docs/defaults.md), the same as
  /// `pathq layer --bits B` without --step or --scale.
  static Alphabet from_bits(int bits, StepRule rule = StepRule::column_radius(1.0)) {
    PATHQ_CHECK(bits >= 2 && bits <= 24, "Alphabet::from_bits",
                "bits must be in [2, 24] (use binary() for 1 bit), got ", bits);
    return symmetric((1 << (bits - 1)) - 1, rule);
  }
  /// `{(j + 1/2)*delta : -L <= j < L}`, 1 <= L <= 2^30 - 1.
  static Alphabet midrise(int L, Scalar delta) { return midrise(L, StepRule::fixed(delta)); }
  static Alphabet midrise(int L, StepRule rule) {
    PATHQ_CHECK(L >= 1 && L < unbounded_code_limit, "Alphabet::midrise",
                "levels per side L must be in [1, 2^30), got ", L);
    rule.validate("Alphabet::midrise");
    return Alphabet(GridKind::Midrise, L, rule);
  }
  /// `{-delta/2, +delta/2}`.
  static Alphabet binary(Scalar delta) { return midrise(1, delta); }
  static Alphabet binary(StepRule rule) { return midrise(1, rule); }
  /// The signed `bits`-bit grid, codes `-2^(bits-1)..2^(bits-1)-1` (2^bits levels), `bits` in
  /// [2, 24]; the radius rules put the radius at `2^(bits-1) - 1/2` steps.
  static Alphabet even(int bits, Scalar delta) { return even(bits, StepRule::fixed(delta)); }
  static Alphabet even(int bits, StepRule rule) {
    PATHQ_CHECK(bits >= 2 && bits <= 24, "Alphabet::even", "bits must be in [2, 24], got ", bits);
    rule.validate("Alphabet::even");
    Alphabet a(GridKind::Symmetric, 1 << (bits - 1), rule);
    a.m_even = true;
    return a;
  }
  /// Min-max asymmetric grid with 2^bits levels, `bits` in [1, 24], per column (or group): codes
  /// `0..2^bits - 1`, `value = (code - z) * delta`, `delta = clip (max(w, 0) - min(w, 0)) / (2^bits - 1)`,
  /// `z = floor(-min(w, 0) / (max(w, 0) - min(w, 0)) * (2^bits - 1) + 1/2)`, so that 0 is exactly
  /// a level. `clip` in (0, inf) shrinks (< 1) or widens the span; an all-zero column gets
  /// delta = 1, z = 0.
  static Alphabet asymmetric(int bits, double clip = 1.0) {
    PATHQ_CHECK(bits >= 1 && bits <= 24, "Alphabet::asymmetric", "bits must be in [1, 24], got ", bits);
    PATHQ_CHECK(std::isfinite(clip) && clip > 0, "Alphabet::asymmetric",
                "clipping ratio must be finite and positive, got ", clip);
    return Alphabet(GridKind::Asymmetric, 1 << (bits - 1), StepRule::column_radius(clip));
  }
  /// `delta * Z` (clipped at ±2^30 codes, which is reported as saturation).
  static Alphabet unbounded(Scalar delta) {
    StepRule rule = StepRule::fixed(delta);
    rule.validate("Alphabet::unbounded");
    Alphabet a(GridKind::Symmetric, unbounded_code_limit - 1, rule);
    a.m_bounded = false;
    return a;
  }

  GridKind kind() const { return m_kind; }
  /// K for symmetric, L for midrise, 2^(b-1) for even and asymmetric grids of b bits.
  int levels_per_side() const { return m_K; }
  bool bounded() const { return m_bounded; }
  /// True for the even grid (symmetric kind, codes -K..K-1).
  bool even() const { return m_even; }
  const StepRule& rule() const { return m_rule; }
  /// Features per group (0: one step per column, the default).
  Eigen::Index group_size() const { return m_group_size; }
  /// A copy with one step (and zero point) per group of `g` consecutive features, `g >= 0`
  /// (0: per column).
  Alphabet with_group_size(Eigen::Index g) const {
    PATHQ_CHECK(g >= 0, "Alphabet::with_group_size", "group size must be >= 0 (0: per column), got ", g);
    Alphabet a = *this;
    a.m_group_size = g;
    return a;
  }
  /// Number of levels: 2K+1 (symmetric), 2L (midrise), 2^b (even, asymmetric).
  /// The same kind of alphabet, step rule and groups with `bits` bits per code: `2^b - 1` levels
  /// for the odd symmetric kind (as `from_bits`), `2^b` for the even, midrise and asymmetric kinds.
  /// \throws invalid_argument for bits outside [2, 24] (midrise, asymmetric: [1, 24]) or an
  ///         unbounded alphabet.
  Alphabet with_bits(int bits) const {
    const int lo = m_kind == GridKind::Symmetric ? 2 : 1;
    PATHQ_CHECK(bits >= lo && bits <= 24, "Alphabet::with_bits", "bits must be in [", lo, ", 24], got ", bits);
    PATHQ_CHECK(m_bounded, "Alphabet::with_bits", "an unbounded alphabet has no bit width");
    Alphabet a = *this;
    a.m_K = m_kind == GridKind::Symmetric && !m_even ? (1 << (bits - 1)) - 1 : 1 << (bits - 1);
    return a;
  }
  std::int64_t levels() const {
    return m_kind == GridKind::Symmetric && !m_even ? 2 * std::int64_t(m_K) + 1 : 2 * std::int64_t(m_K);
  }
  /// Bits needed to store a code: ceil(log2(levels)).
  int bits() const { return bits_for_levels(levels()); }
  int code_min() const { return m_kind == GridKind::Asymmetric ? 0 : -m_K; }
  int code_max() const {
    if (m_kind == GridKind::Asymmetric) return 2 * m_K - 1;
    return m_kind == GridKind::Symmetric && !m_even ? m_K : m_K - 1;
  }
  /// `value = (code - zero) * step`: 0 for symmetric and even, -1/2 for midrise; asymmetric
  /// grids fit theirs per column (0 here).
  Scalar zero_offset() const { return m_kind == GridKind::Midrise ? Scalar(-0.5) : Scalar(0); }
  /// The radius in units of the step: K (symmetric), L - 1/2 (midrise), 2^(b-1) - 1/2 (even; and
  /// asymmetric, where it is half the span).
  double radius_in_steps() const {
    return m_kind == GridKind::Symmetric && !m_even ? double(m_K) : double(m_K) - 0.5;
  }

  /// The step and zero point a rule gives to a block of values (one row per feature).
  struct Fit {
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> step;  ///< 1 x cols
    Eigen::Matrix<Scalar, 1, Eigen::Dynamic> zero;  ///< 1 x cols
  };

  /// The step(s) this alphabet gives for weights `W` (N_in x N_out): a 1 x N_out row.
  /// A radius rule applied to an all-zero layer or column gives the step 1 there (every code
  /// of a symmetric alphabet is then 0).
  /// \throws invalid_argument if W is empty or not finite.
  template <class Derived>
  Eigen::Matrix<Scalar, 1, Eigen::Dynamic> steps_for(const Eigen::MatrixBase<Derived>& W) const {
    return fit(W, "Alphabet::steps_for").step;
  }

  /// The rule applied to the values `V` (`rows x cols`: the features of one group, or all of
  /// them): a fixed step; one step for all columns from the mean of the column maxima (layer
  /// radius); one per column (column radius); or the min-max step and zero point per column
  /// (asymmetric). Zero points are `zero_offset()` except for asymmetric grids.
  /// \throws invalid_argument if V is empty or not finite (unless the step is fixed).
  /// Complexity `O(rows cols)`.
  template <class Derived>
  Fit fit(const Eigen::MatrixBase<Derived>& V, const char* where = "Alphabet::fit") const {
    const Eigen::Index n_out = V.cols();
    Fit f{Eigen::Matrix<Scalar, 1, Eigen::Dynamic>(n_out),
          Eigen::Matrix<Scalar, 1, Eigen::Dynamic>::Constant(n_out, zero_offset())};
    if (m_rule.kind == StepRule::Kind::Fixed) {
      f.step.setConstant(Scalar(m_rule.value));
      return f;
    }
    detail::check_nonempty(where, "W", V);
    detail::check_finite(where, "W", V);
    if (m_kind == GridKind::Asymmetric) {
      const double span_codes = double(code_max());
      for (Eigen::Index j = 0; j < n_out; ++j) {
        const double lo = std::min(0.0, double(V.col(j).minCoeff()));
        const double hi = std::max(0.0, double(V.col(j).maxCoeff()));
        if (!(hi - lo > 0)) {
          f.step(j) = Scalar(1);
          f.zero(j) = Scalar(0);
          continue;
        }
        f.step(j) = Scalar(m_rule.value * (hi - lo) / span_codes);
        f.zero(j) = Scalar(std::min(span_codes, std::floor(-lo / (hi - lo) * span_codes + 0.5)));
      }
      return f;
    }
    const auto colmax = V.cwiseAbs().colwise().maxCoeff().template cast<double>().eval();
    const double scale = m_rule.value / radius_in_steps();
    if (m_rule.kind == StepRule::Kind::LayerRadius) {
      const double R = colmax.mean();
      f.step.setConstant(Scalar(R > 0 ? scale * R : 1.0));
    } else {
      for (Eigen::Index j = 0; j < n_out; ++j)
        f.step(j) = Scalar(colmax(j) > 0 ? scale * colmax(j) : 1.0);
    }
    return f;
  }

  /// The grid for weights `W`: codes in [code_min, code_max], one step (and zero point) per
  /// column, or per group of `group_size()` features and column.
  /// \throws invalid_argument if W is empty or not finite (unless the step is fixed).
  template <class Derived>
  Grid<Scalar> resolve(const Eigen::MatrixBase<Derived>& W) const {
    Grid<Scalar> g;
    g.kind = m_kind;
    g.code_lo = code_min();
    g.code_hi = code_max();
    g.bounded = m_bounded;
    g.group_size = m_group_size;
    if (m_group_size == 0) {
      Fit f = fit(W, "Alphabet::resolve");
      g.step = f.step;
      g.zero = f.zero;
      return g;
    }
    detail::check_nonempty("Alphabet::resolve", "W", W);
    const Eigen::Index n = W.rows(), groups = (n + m_group_size - 1) / m_group_size;
    g.step.resize(groups, W.cols());
    g.zero.resize(groups, W.cols());
    for (Eigen::Index k = 0; k < groups; ++k) {
      const Eigen::Index t0 = k * m_group_size;
      Fit f = fit(W.middleRows(t0, std::min(m_group_size, n - t0)), "Alphabet::resolve");
      g.step.row(k) = f.step;
      g.zero.row(k) = f.zero;
    }
    return g;
  }

 private:
  Alphabet(GridKind kind, int K, StepRule rule) : m_kind(kind), m_K(K), m_rule(rule) {}

  GridKind m_kind;
  int m_K;
  StepRule m_rule;
  bool m_bounded = true;
  bool m_even = false;
  Eigen::Index m_group_size = 0;
};

}  // namespace pathq

#endif  // PATHQ_CORE_ALPHABET_HPP
