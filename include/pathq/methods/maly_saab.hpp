// Maly-Saab: a deterministic null-space walk that puts all but rank(X) weights on the grid, then MSQ.
#ifndef PATHQ_METHODS_MALY_SAAB_HPP
#define PATHQ_METHODS_MALY_SAAB_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Dense>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/detail/checks.hpp"
#include "pathq/detail/maly_saab_walk.hpp"
#include "pathq/engine/feature_order.hpp"
#include "pathq/engine/scan.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// A factor `R` (`r x N_in`, full row rank `r`) with `R^T R = K = X^T X` up to a dropped tail of
/// relative size `<= tolerance`. `null(R) = null(X)`, so a walk on `R` keeps `X w` fixed while its
/// cost does not depend on the number of samples `m` (docs/algorithms.md#maly-saab-gram-form).
struct GramFactor {
  Eigen::MatrixXd R;   ///< r x N_in
  double dropped = 0;  ///< the largest part left out, relative to max_t K_tt (0 if none)

  Eigen::Index rank() const { return R.rows(); }
  Eigen::Index n_in() const { return R.cols(); }

  /// Pivoted (left-looking) Cholesky of `K`: pivot on the largest remaining diagonal, stop when it
  /// is `<= tolerance * max_t K_tt`. Reads the lower triangle of K only.
  /// \param K `N_in x N_in`, symmetric positive semidefinite, finite. \param tolerance in [0, 1).
  /// \throws invalid_argument on an empty, non-square or non-finite K or a bad tolerance.
  /// Complexity: `O(N_in r^2)`; memory `O(N_in r)`.
  template <class D>
  static GramFactor from_gram(const Eigen::MatrixBase<D>& K, double tolerance = 1e-12) {
    using Index = Eigen::Index;
    const char* where = "GramFactor::from_gram";
    detail::check_nonempty(where, "K", K);
    PATHQ_CHECK(K.rows() == K.cols(), where, "K must be square, got ", K.rows(), " x ", K.cols());
    detail::check_finite(where, "K", K);
    PATHQ_CHECK(tolerance >= 0 && tolerance < 1, where, "tolerance must be in [0, 1), got ", tolerance);
    const Index n = K.rows();
    Eigen::VectorXd d = K.diagonal().template cast<double>().cwiseMax(0.0);
    const double top = d.maxCoeff();
    std::vector<char> used(std::size_t(n), 0);
    Eigen::MatrixXd Rt(n, std::min<Index>(n, 64));  // R^T, grown as the rank reveals itself
    Eigen::VectorXd col(n);
    Index r = 0;
    GramFactor f;
    for (; r < n; ++r) {
      Index p = -1;
      for (Index i = 0; i < n; ++i)
        if (!used[std::size_t(i)] && (p < 0 || d(i) > d(p))) p = i;
      if (!(d(p) > tolerance * top) || top <= 0) break;
      for (Index i = 0; i < n; ++i) col(i) = double(i >= p ? K(i, p) : K(p, i));
      if (r > 0) col.noalias() -= Rt.leftCols(r) * Rt.row(p).head(r).transpose();
      const double piv = std::sqrt(d(p));
      col /= piv;
      for (Index i = 0; i < n; ++i)
        if (used[std::size_t(i)]) col(i) = 0;
      col(p) = piv;
      if (r == Rt.cols()) Rt.conservativeResize(n, std::min<Index>(n, 2 * r));
      Rt.col(r) = col;
      used[std::size_t(p)] = 1;
      d -= col.cwiseAbs2();
      d(p) = 0;
      d = d.cwiseMax(0.0);
    }
    f.R = Rt.leftCols(r).transpose();
    for (Index i = 0; i < n; ++i)
      if (!used[std::size_t(i)] && top > 0) f.dropped = std::max(f.dropped, d(i) / top);
    return f;
  }

  /// Householder QR of `X` with column pivoting (more accurate than going through `K`, when all
  /// samples are at hand): keeps the leading rows of R while `|R_kk|^2 > tolerance * |R_00|^2`
  /// (`|R_00|` is the largest column norm of X), and undoes the column permutation.
  /// \param X `m x N_in`, finite, non-empty. \param tolerance in [0, 1).
  /// Complexity: `O(m N_in min(m, N_in))`.
  template <class D>
  static GramFactor from_data(const Eigen::MatrixBase<D>& X, double tolerance = 1e-12) {
    const char* where = "GramFactor::from_data";
    detail::check_nonempty(where, "X", X);
    detail::check_finite(where, "X", X);
    PATHQ_CHECK(tolerance >= 0 && tolerance < 1, where, "tolerance must be in [0, 1), got ", tolerance);
    const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(X.template cast<double>());
    const Eigen::MatrixXd& RR = qr.matrixQR();
    const Eigen::Index kmax = std::min(RR.rows(), RR.cols());
    const double top = std::abs(RR(0, 0)) * std::abs(RR(0, 0));
    Eigen::Index r = 0;
    while (r < kmax && top > 0 && RR(r, r) * RR(r, r) > tolerance * top) ++r;
    GramFactor f;
    const Eigen::MatrixXd Rtop = RR.topRows(r).template triangularView<Eigen::Upper>();
    f.R = Rtop * qr.colsPermutation().transpose();
    if (r < kmax && top > 0) f.dropped = RR(r, r) * RR(r, r) / top;
    return f;
  }
};

/// The cells inside which the walk moves each weight.
enum class MalySaabCells {
  Grid,  ///< between the two grid levels around the weight (docs/algorithms.md#maly-saab-walk)
  Box    ///< between the lowest and the highest level: the 1-bit box `[-r, r]`, for any grid
};

inline const char* to_string(MalySaabCells c) { return c == MalySaabCells::Grid ? "grid" : "box"; }

/// Options of the Maly-Saab walk.
struct MalySaabOptions {
  MalySaabCells cells = MalySaabCells::Grid;
  FeatureOrder order = FeatureOrder::Natural;  ///< natural, or decreasing ||X_t||^2 (leaves small-norm features free)
  double rank_tolerance = 1e-12;        ///< factor of K: pivots <= tol * max_t K_tt are null; in [0, 1)
  double dependence_tolerance = 1e-10;  ///< walk: residual <= tol * max_t ||R_t|| step_t is dependent; in [0, 1)
  double grid_tolerance = 1e-12;        ///< an entry within tol * max(1, |code|) steps of a code is on it; in [0, 0.25)
  int threads = 0;                      ///< 0: OpenMP's default; n >= 1: at most n threads

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(rank_tolerance >= 0 && rank_tolerance < 1, "MalySaabOptions",
                "rank_tolerance must be in [0, 1), got ", rank_tolerance);
    PATHQ_CHECK(dependence_tolerance >= 0 && dependence_tolerance < 1, "MalySaabOptions",
                "dependence_tolerance must be in [0, 1), got ", dependence_tolerance);
    PATHQ_CHECK(grid_tolerance >= 0 && grid_tolerance < 0.25, "MalySaabOptions",
                "grid_tolerance must be in [0, 0.25), got ", grid_tolerance);
    PATHQ_CHECK(threads >= 0, "MalySaabOptions", "threads must be >= 0, got ", threads);
  }
};

/// The walked weights, before MSQ.
struct MalySaabWalk {
  Eigen::MatrixXd W_tilde;  ///< N_in x N_out: `X W_tilde = X W`, every entry in its cell
  std::vector<std::vector<Eigen::Index>> off_grid;  ///< per neuron: features of W_tilde off the grid, increasing
  Eigen::Index rank = 0;    ///< rank of the data (rows of the factor)
  Eigen::Index moves = 0;   ///< null-space moves, all neurons together
  Eigen::Index stuck = 0;   ///< weights beyond the grid stopped at their own value (off the grid)
  QuantInfo info;           ///< status (NumericalIssue: no null space, plain MSQ), message, seconds

  /// Off-grid weights in the whole layer, and in the worst neuron (each <= rank + stuck weights).
  Eigen::Index off_grid_count() const {
    Eigen::Index s = 0;
    for (const auto& v : off_grid) s += Eigen::Index(v.size());
    return s;
  }
  Eigen::Index off_grid_max() const {
    Eigen::Index s = 0;
    for (const auto& v : off_grid) s = std::max(s, Eigen::Index(v.size()));
    return s;
  }
};

/// Deterministic pre-processing + MSQ (J. Maly & R. Saab, "A simple approach for quantizing neural
/// networks", ACHA 66 (2023) 138-150, arXiv 2209.03487; docs/algorithms.md#maly-saab). For each
/// neuron `w`, the walk moves `w` along null vectors of the data, each entry inside its cell of the
/// grid, until at most `rank(X)` entries are off the grid, keeping `X w~ = X w`; then MSQ rounds
/// the few free entries. With round-to-nearest, `w - q` is supported on the off-grid set `S` with
/// `|e_i| <= delta/2`, so `||X(w - q)|| <= sigma_max(X_S) sqrt(|S|) delta / 2`
/// (`bounds::maly_saab_neuron`).
///
/// The paper's text was not at hand: the walk is the polytope-vertex construction that matches its
/// abstract (checked: "simple deterministic pre-processing", "memoryless scalar quantization",
/// "no hyper-parameter tuning"); the paper's exact algorithm and constants are not reproduced.
/// Choices made here: features are walked in `options.order` (the null vector is that of the
/// lowest-order free features that have one); the entering feature moves toward its nearer grid
/// face (up on a tie); a ratio-test tie fixes every entry that hits; a weight beyond the grid may
/// move back toward it but never further out (it stops at its own value: `stuck`, then clipped by
/// MSQ and counted as saturated). It works from a Gram factor (`GramFactor`), not from X, so
/// statistics streamed into `LayerStats` suffice; it uses `K = X^T X` (the float inputs) only.
/// When the data leave no null space (`rank = N_in`, e.g. `m >= N_in` samples), nothing moves:
/// the result is plain MSQ, with status `NumericalIssue` and a message saying so. Use a subset of
/// `m' < N_in` samples to make the walk act on a real layer.
///
/// \tparam Scalar float or double (the grid's type; the walk computes in double).
/// \tparam Rounding the rounding of the free entries: `Nearest` (the paper) or `StochasticRounding`.
/// Complexity: factor `O(N_in r^2)` from K once per layer, then `O(N_in r^2)` per neuron
/// (`r = rank(X) <= m`): `O(N_out N_in r^2)` per layer, on OpenMP threads across neurons.
template <class Scalar, class Rounding = Nearest>
class MalySaab {
  static_assert(std::is_floating_point<Scalar>::value, "MalySaab's grid is floating point: use float or double.");

 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  explicit MalySaab(MalySaabOptions options = {}, Rounding round = {}) : m_options(options), m_round(round) {
    m_options.validate();
  }

  const MalySaabOptions& options() const { return m_options; }

  /// The walk alone, on a Gram factor.
  /// \param W `N_in x N_out`, finite. \param factor with `factor.n_in() == N_in`. \param grid for W.
  /// \throws invalid_argument on a bad W, a grid that does not fit W, or a factor of another size.
  template <class D>
  MalySaabWalk preprocess(const Eigen::MatrixBase<D>& W, const GramFactor& factor, const Grid<Scalar>& grid) const {
    using Index = Eigen::Index;
    detail::check_weights("maly_saab", W);
    detail::check_grid("maly_saab", grid, W);
    PATHQ_CHECK(factor.n_in() == W.rows(), "maly_saab", "W has ", W.rows(), " rows but the factor has N_in = ",
                factor.n_in(), " columns");
    detail::check_finite("maly_saab", "factor R", factor.R);
    const auto start = std::chrono::steady_clock::now();
    const Index n = W.rows(), n_out = W.cols();
    const std::vector<Index> perm =
        feature_permutation(m_options.order, factor.R.colwise().squaredNorm().transpose().eval());
    detail::WalkSettings s;
    s.code_lo = grid.code_lo;
    s.code_hi = grid.code_hi;
    s.box = m_options.cells == MalySaabCells::Box;
    s.grid_tolerance = m_options.grid_tolerance;
    s.dependence_tolerance = m_options.dependence_tolerance;

    MalySaabWalk out;
    out.rank = factor.rank();
    out.W_tilde.resize(n, n_out);
    out.off_grid.assign(std::size_t(n_out), {});
    std::vector<Index> moves(std::size_t(n_out), 0), stuck(std::size_t(n_out), 0);
    EngineOptions eo;
    eo.panel_width = 8;
    eo.threads = m_options.threads;
    for_each_panel(n_out, eo, [&](Index c0, Index w) {
      detail::NullSpaceWalk walker(factor.R, perm);
      Eigen::VectorXd u(n), u0(n), step(n);
      std::vector<detail::WalkState> state;
      std::vector<int> code;
      for (Index j = c0; j < c0 + w; ++j) {
        for (Index t = 0; t < n; ++t) {
          const Index g = grid.group_of(t);
          step(t) = double(grid.step(g, j));
          u0(t) = double(W(t, j)) / step(t) + double(grid.zero(g, j));
        }
        u = u0;
        moves[std::size_t(j)] = walker.run(u, step, s, state, code);
        auto& off = out.off_grid[std::size_t(j)];
        for (Index t = 0; t < n; ++t) {
          const auto st = state[std::size_t(t)];
          if (st == detail::WalkState::OnGrid) {
            out.W_tilde(t, j) = (double(code[std::size_t(t)]) - double(grid.zero(grid.group_of(t), j))) * step(t);
          } else {
            out.W_tilde(t, j) = double(W(t, j)) + (u(t) - u0(t)) * step(t);
            off.push_back(t);
            stuck[std::size_t(j)] += st == detail::WalkState::Stuck;
          }
        }
      }
    });
    for (Index j = 0; j < n_out; ++j) {
      out.moves += moves[std::size_t(j)];
      out.stuck += stuck[std::size_t(j)];
    }
    if (factor.rank() == n) {
      out.info.status = Info::NumericalIssue;
      out.info.message = detail::concat(
          "the data leave no null space (rank = N_in = ", n,
          "): nothing moved and the result is plain MSQ; use fewer samples than inputs (a subset of m' < N_in rows)");
    }
    out.info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }

  /// The walk alone, on the statistics' `K` (factored here with `options.rank_tolerance`).
  /// \throws invalid_argument as above, or if the statistics hold no samples.
  template <class D, class Acc>
  MalySaabWalk preprocess(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, const Grid<Scalar>& grid) const {
    PATHQ_CHECK(W.rows() == stats.n_in(), "maly_saab", "W has ", W.rows(), " rows but the inputs have N_in = ",
                stats.n_in(), " columns");
    PATHQ_CHECK(stats.samples() > 0, "maly_saab", "the statistics hold no samples");
    const auto start = std::chrono::steady_clock::now();
    const GramFactor f = GramFactor::from_gram(stats.K(), m_options.rank_tolerance);
    const double factor_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MalySaabWalk out = preprocess(W, f, grid);
    out.info.seconds += factor_seconds;
    return out;
  }

  /// MSQ of a walk: on-grid entries keep their code, off-grid ones go through the rounding operator.
  /// The result's `info.extra` holds `rank`, `off_grid`, `off_grid_max`, `moves`, `stuck`,
  /// `null_space` (`N_in - rank`) and `msq_fallback` (1 when nothing could move).
  /// \throws invalid_argument if the grid does not fit the walk.
  Result<Scalar> quantize_walk(const MalySaabWalk& walk, const Grid<Scalar>& grid) const {
    using Index = Eigen::Index;
    detail::check_weights("maly_saab", walk.W_tilde);
    detail::check_grid("maly_saab", grid, walk.W_tilde);
    PATHQ_CHECK(Index(walk.off_grid.size()) == walk.W_tilde.cols(), "maly_saab", "the walk has ",
                walk.off_grid.size(), " off-grid lists for ", walk.W_tilde.cols(), " neurons");
    const auto start = std::chrono::steady_clock::now();
    const Index n = walk.W_tilde.rows(), n_out = walk.W_tilde.cols();
    Result<Scalar> r;
    r.grid = grid;
    r.info = walk.info;
    r.codes.resize(n, n_out);
    std::vector<char> off(static_cast<std::size_t>(n));
    for (Index j = 0; j < n_out; ++j) {
      std::fill(off.begin(), off.end(), 0);
      for (Index t : walk.off_grid[std::size_t(j)]) {
        PATHQ_CHECK(t >= 0 && t < n, "maly_saab", "off-grid feature ", t, " of neuron ", j, " is out of range");
        off[std::size_t(t)] = 1;
      }
      for (Index t = 0; t < n; ++t) {
        const Index g = grid.group_of(t);
        const double u = walk.W_tilde(t, j) / double(grid.step(g, j)) + double(grid.zero(g, j));
        r.info.saturated += (u < grid.code_lo - 0.5) || (u > grid.code_hi + 0.5);
        r.codes(t, j) = off[std::size_t(t)] ? m_round(u, grid.code_lo, grid.code_hi, t, j)
                                            : Nearest{}(u, grid.code_lo, grid.code_hi, t, j);
      }
    }
    r.info.extra["rank"] = double(walk.rank);
    r.info.extra["off_grid"] = double(walk.off_grid_count());
    r.info.extra["off_grid_max"] = double(walk.off_grid_max());
    r.info.extra["moves"] = double(walk.moves);
    r.info.extra["stuck"] = double(walk.stuck);
    r.info.extra["null_space"] = double(n - walk.rank);
    r.info.extra["msq_fallback"] = walk.rank == n ? 1.0 : 0.0;
    r.info.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  /// Walk + MSQ on a Gram factor, onto `alphabet` (its step(s) picked from W) or a resolved grid.
  template <class D>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const GramFactor& factor, const Alphabet<Scalar>& alphabet) const {
    detail::check_weights("maly_saab", W);
    return quantize(W, factor, alphabet.resolve(W));
  }
  template <class D>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const GramFactor& factor, const Grid<Scalar>& grid) const {
    return quantize_walk(preprocess(W, factor, grid), grid);
  }
  /// Walk + MSQ on the statistics' `K`.
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, const Alphabet<Scalar>& alphabet) const {
    detail::check_weights("maly_saab", W);
    return quantize(W, stats, alphabet.resolve(W));
  }
  template <class D, class Acc>
  Result<Scalar> quantize(const Eigen::MatrixBase<D>& W, const LayerStats<Acc>& stats, const Grid<Scalar>& grid) const {
    return quantize_walk(preprocess(W, stats, grid), grid);
  }

 private:
  MalySaabOptions m_options;
  Rounding m_round;
};

/// One call: Maly-Saab of `W` on the samples `X` (`m x N_in`), factored by QR of X.
/// \throws invalid_argument on shapes that do not match, or bad W, X or options.
template <class Scalar, class D1, class D2>
Result<Scalar> maly_saab(const Eigen::MatrixBase<D1>& W, const Eigen::MatrixBase<D2>& X, const Alphabet<Scalar>& alphabet,
                         const MalySaabOptions& options = {}) {
  PATHQ_CHECK(X.cols() == W.rows(), "maly_saab", "X has ", X.cols(), " columns but W has ", W.rows(), " rows");
  options.validate();
  return MalySaab<Scalar>(options).quantize(W, GramFactor::from_data(X, options.rank_tolerance), alphabet);
}

}  // namespace pathq

#endif  // PATHQ_METHODS_MALY_SAAB_HPP
