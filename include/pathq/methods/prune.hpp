// Quantization + pruning on SPFQ (Zhang-Saab 2024): stochastic pruning, dead-zone alphabets, L1/L0.
#ifndef PATHQ_METHODS_PRUNE_HPP
#define PATHQ_METHODS_PRUNE_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pathq/constraints/none.hpp"
#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/core/stochastic_operators.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/methods/spfq.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// The operator that decides which weights become 0.
enum class PruneMode {
  Stochastic,  ///< stochastic rounding on the dead-zone / pruning alphabet: unbiased, D = max(lambda, delta)
  L1,          ///< sparse GPFQ "L1": soft threshold, then round to nearest (deterministic, biased)
  L0           ///< sparse GPFQ "L0": 0 inside [-lambda, lambda], nearest level outside (deterministic, biased)
};

inline const char* to_string(PruneMode m) {
  switch (m) {
    case PruneMode::Stochastic: return "stochastic";
    case PruneMode::L1: return "l1";
    case PruneMode::L0: return "l0";
  }
  return "unknown";
}

/// Options of `Prune`.
struct PruneOptions {
  PruneMode mode = PruneMode::Stochastic;
  double threshold = 0;          ///< lambda > 0, in weight units (unless target_sparsity is set)
  double target_sparsity = 0;    ///< in [0, 1): 0 = use `threshold`; else lambda is searched for
  double sparsity_tolerance = 0.01;  ///< |sparsity - target| accepted by the search, in (0, 0.5]
  int max_search_runs = 40;      ///< phase-2 runs the search may spend, in [1, 1000]
  int levels = 0;                ///< K nonzero levels per side (2K+1 levels); 0: prune only
  /// The spacing beyond lambda: `fixed(delta)`, or `layer_radius(C)`: the largest level is `C R`
  /// with `R` the mean over neurons of `max_t |W_tj|` (of W for r = 1, of W~ for r > 1).
  StepRule step = StepRule::layer_radius(1.0);
  std::uint64_t seed = 0;        ///< streams of the stochastic operator
  SpfqOptions spfq;              ///< alignment order, gain kappa, feature order, engine

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(std::isfinite(target_sparsity) && target_sparsity >= 0 && target_sparsity < 1, "PruneOptions",
                "target_sparsity must be in [0, 1), got ", target_sparsity);
    PATHQ_CHECK(target_sparsity > 0 || (std::isfinite(threshold) && threshold > 0), "PruneOptions",
                "threshold must be finite and positive (or set target_sparsity), got ", threshold);
    PATHQ_CHECK(std::isfinite(sparsity_tolerance) && sparsity_tolerance > 0 && sparsity_tolerance <= 0.5,
                "PruneOptions", "sparsity_tolerance must be in (0, 0.5], got ", sparsity_tolerance);
    PATHQ_CHECK(max_search_runs >= 1 && max_search_runs <= 1000, "PruneOptions",
                "max_search_runs must be in [1, 1000], got ", max_search_runs);
    PATHQ_CHECK(levels >= 0 && levels < (1 << 30), "PruneOptions", "levels must be in [0, 2^30), got ", levels);
    PATHQ_CHECK(step.kind != StepRule::Kind::ColumnRadius, "PruneOptions",
                "step must be a fixed step or the layer radius rule (one threshold for the layer)");
    step.validate("PruneOptions");
    spfq.validate();
  }
};

/// Post-training quantization and pruning in one pass (H. Zhang & R. Saab, arXiv 2412.18184;
/// docs/algorithms.md#stochastic-framework): SPFQ's alignment and phase 2 with an operator that sends
/// small values to 0.
///
/// - `levels = 0`, prune only: `Stochastic` keeps `c_t` when `|c_t| > lambda` and otherwise
///   returns `sign(c_t) lambda` with probability `|c_t| / lambda`, 0 else (kept values are resolved
///   on `pruning_grid`, to a few float ulps); `L0` is hard thresholding, `L1` soft thresholding.
/// - `levels = K >= 1`: the values are quantized too, on `dead_zone_grid` `{0} U {+-(lambda + k delta)}`
///   (`Stochastic`, `L0`) or on `{k delta : |k| <= K}` after a soft threshold (`L1`); K = 1 with
///   `Stochastic` is the ternary alphabet `{0, +-lambda}`.
/// `Stochastic` meets the operator contract (`E[T(z)] = z`, `|T(z) - z| <= max(lambda, delta)`),
/// so SPFQ's bounds hold with D in place of delta (`bounds::spfq_operator_tail`); L1 and L0 are
/// the deterministic sparse-GPFQ quantizers (docs/algorithms.md#alphabets-rounding-operators), without
/// that guarantee.
/// With `target_sparsity` the threshold is searched for (bisection on lambda, one phase-2 run
/// per try, the alignment computed once) until the fraction of zero weights is within
/// `sparsity_tolerance`; if it cannot be met the closest result is returned with
/// `Info::NumericalIssue`. `info.extra` adds `threshold`, `search_runs` and, from Spfq, `sparsity`.
/// The 1-bit operator of the framework is `Spfq` on `Alphabet::binary` (docs/library.md#quantization--pruning-stochastic-framework-sparse-gpfq).
/// \tparam Scalar float or double. \tparam Constraint `NoConstraint` or an accumulator constraint.
/// Complexity: SPFQ's, times the number of search runs for phase 2.
template <class Scalar, class Constraint = NoConstraint>
class Prune {
  static_assert(std::is_floating_point<Scalar>::value, "Prune computes in a floating-point type: use float or double.");

 public:
  using scalar_type = Scalar;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  explicit Prune(PruneOptions options = {}, Constraint constraint = {})
      : m_options(options), m_constraint(constraint) {
    m_options.validate();
  }

  const PruneOptions& options() const { return m_options; }

  /// Prunes (and quantizes, if `levels > 0`) `W` (`N_in x N_out`).
  /// \throws invalid_argument on bad W or statistics, or a threshold at or above the largest
  ///         level `C R` of the layer radius rule when `levels >= 2`.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats) const {
    const auto start = std::chrono::steady_clock::now();
    const Spfq<Scalar, StochasticRounding, Constraint> spfq(m_options.spfq, StochasticRounding(m_options.seed),
                                                            m_constraint);
    const Alignment<Scalar> aligned = spfq.align(W, stats);
    const Matrix radius_source = m_options.spfq.order == 1 ? Matrix(W.template cast<Scalar>()) : aligned.W;
    const double R = radius_source.cwiseAbs().colwise().maxCoeff().template cast<double>().mean();
    const double w_max = double(aligned.W.cwiseAbs().maxCoeff());
    Result<Scalar> r;
    int runs = 0;
    double lambda = m_options.threshold;
    if (m_options.target_sparsity <= 0) {
      r = run(aligned, stats, lambda, R, w_max, true);
      runs = 1;
    } else {
      r = search(aligned, stats, R, w_max, lambda, runs);
    }
    r.info.extra["threshold"] = lambda;
    r.info.extra["search_runs"] = runs;
    r.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  /// The grid for threshold `lambda`, given the layer radius `R` and `max |W~|`.
  Grid<Scalar> grid_for(double lambda, double R, double w_max, Eigen::Index n_out) const {
    const int K = m_options.levels;
    const Scalar lam = Scalar(lambda);
    if (K == 0) {
      Grid<Scalar> g = pruning_grid<Scalar>(n_out, lam, Scalar(w_max));
      if (m_options.mode == PruneMode::L1) {  // the same fine spacing, no dead zone in the levels
        const double limit = std::is_same<Scalar, float>::value ? 16777216.0 : 1073741823.0;
        g.kind = GridKind::Symmetric;
        g.code_hi = int(std::min(limit, std::floor(4.0 * std::max(w_max, lambda) / double(g.step(0, 0)))));
        g.code_lo = -g.code_hi;
        g.threshold = 0;
      }
      return g;
    }
    double delta = m_options.step.value;
    if (m_options.step.kind == StepRule::Kind::LayerRadius) {
      const double radius = m_options.step.value * (R > 0 ? R : 1.0);
      if (m_options.mode == PruneMode::L1) {
        delta = radius / K;
      } else if (K == 1) {
        delta = lambda;
      } else {
        PATHQ_CHECK(lambda < radius, "prune", "threshold ", lambda, " must lie below the largest level C R = ",
                    radius, " (raise the scale C or lower the threshold)");
        delta = (radius - lambda) / (K - 1);
      }
    }
    Grid<Scalar> g = dead_zone_grid<Scalar>(n_out, K, lam, Scalar(delta));
    if (m_options.mode == PruneMode::L1) {  // {k delta : |k| <= K}
      g.kind = GridKind::Symmetric;
      g.threshold = 0;
    }
    return g;
  }

 private:
  // One phase-2 run at threshold lambda. `strict`: a threshold the rule cannot take throws;
  // otherwise (inside the search) it is reported as an empty result with Failed status.
  template <class Acc>
  Result<Scalar> run(const Alignment<Scalar>& a, const LayerStats<Acc>& stats, double lambda, double R,
                     double w_max, bool strict) const {
    Grid<Scalar> grid;
    if (strict) {
      grid = grid_for(lambda, R, w_max, a.W.cols());
    } else {
      try {
        grid = grid_for(lambda, R, w_max, a.W.cols());
      } catch (const invalid_argument& e) {
        Result<Scalar> failed;
        failed.info.status = Info::Failed;
        failed.info.message = e.what();
        return failed;
      }
    }
    switch (m_options.mode) {
      case PruneMode::L1: {
        const double theta = lambda / double(grid.step(0, 0));
        return Spfq<Scalar, SoftThresholdNearest, Constraint>(m_options.spfq, SoftThresholdNearest(theta), m_constraint)
            .quantize_aligned(a, stats, grid);
      }
      case PruneMode::L0:
        return Spfq<Scalar, DeadZoneNearest, Constraint>(m_options.spfq, DeadZoneNearest(), m_constraint)
            .quantize_aligned(a, stats, grid);
      case PruneMode::Stochastic:
      default:
        return Spfq<Scalar, StochasticRounding, Constraint>(m_options.spfq, StochasticRounding(m_options.seed),
                                                            m_constraint)
            .quantize_aligned(a, stats, grid);
    }
  }

  // Bisection on lambda for the target sparsity; `lambda` and `runs` report what was used.
  template <class Acc>
  Result<Scalar> search(const Alignment<Scalar>& a, const LayerStats<Acc>& stats, double R, double w_max,
                        double& lambda, int& runs) const {
    const double target = m_options.target_sparsity, tol = m_options.sparsity_tolerance;
    // The rule's ceiling on lambda (levels >= 2 with the radius rule), and a first guess from W~:
    // the threshold that would give the target sparsity if c_t were w~_t.
    double ceiling = std::numeric_limits<double>::infinity();
    if (m_options.levels >= 2 && m_options.step.kind == StepRule::Kind::LayerRadius && m_options.mode != PruneMode::L1)
      ceiling = m_options.step.value * (R > 0 ? R : 1.0) * (1 - 1e-6);
    double guess = first_guess(a.W, target);
    if (!(guess > 0)) guess = w_max > 0 ? w_max * target : 1.0;
    guess = std::min(guess, 0.5 * ceiling);
    Result<Scalar> best;
    double best_gap = std::numeric_limits<double>::infinity(), best_lambda = guess;
    double lo = 0, hi = 0;
    auto attempt = [&](double lam) -> double {
      ++runs;
      Result<Scalar> r = run(a, stats, lam, R, w_max, false);
      if (r.info.status == Info::Failed) return std::numeric_limits<double>::quiet_NaN();
      const double s = r.sparsity();
      if (std::abs(s - target) < best_gap) {
        best_gap = std::abs(s - target);
        best_lambda = lam;
        best = std::move(r);
      }
      return s;
    };
    // Bracket: find hi with sparsity >= target.
    double lam = guess;
    while (runs < m_options.max_search_runs) {
      const double s = attempt(lam);
      if (best_gap <= tol) break;
      if (std::isnan(s) || s >= target) {
        hi = lam;
        break;
      }
      lo = lam;
      if (lam >= ceiling) break;
      lam = std::min(2 * lam, ceiling);
    }
    // Bisect between lo (too sparse-free) and hi (sparse enough).
    while (best_gap > tol && hi > 0 && runs < m_options.max_search_runs) {
      const double mid = 0.5 * (lo + hi);
      const double s = attempt(mid);
      if (std::isnan(s) || s >= target) hi = mid;
      else lo = mid;
    }
    lambda = best_lambda;
    if (best_gap > tol) {
      if (best.codes.size() == 0) best = run(a, stats, guess, R, w_max, true);
      best.info.status = Info::NumericalIssue;
      best.info.message = detail::concat("target sparsity ", target, " not reached within ", tol, " in ", runs,
                                         " runs: got ", best.sparsity(), " at threshold ", best_lambda);
    }
    return best;
  }

  // The lambda at which the operator would prune a fraction `target` of W~ itself: the target
  // quantile of |w~| (deterministic modes), or the root of mean((1 - |w~|/lambda)_+) = target
  // (stochastic pruning's expected sparsity).
  double first_guess(const Matrix& Wt, double target) const {
    const Eigen::MatrixXd A = Wt.cwiseAbs().template cast<double>();
    if (A.size() == 0) return 0;
    const Eigen::ArrayXd mags = Eigen::Map<const Eigen::ArrayXd>(A.data(), A.size());
    if (m_options.mode != PruneMode::Stochastic) {
      std::vector<double> sorted(A.data(), A.data() + A.size());
      std::sort(sorted.begin(), sorted.end());
      return sorted[std::min(sorted.size() - 1, std::size_t(target * double(sorted.size())))];
    }
    double lo = 0, hi = std::max(mags.maxCoeff(), mags.mean() / (1 - target)) * 2;
    for (int k = 0; k < 60; ++k) {
      const double mid = 0.5 * (lo + hi);
      const double expected = mid > 0 ? (1.0 - mags / mid).max(0.0).mean() : 0.0;
      (expected < target ? lo : hi) = mid;
    }
    return hi;
  }

  PruneOptions m_options;
  Constraint m_constraint;
};

}  // namespace pathq

#endif  // PATHQ_METHODS_PRUNE_HPP
