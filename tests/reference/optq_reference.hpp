// Naive reference: OPTQ/GPTQ one feature at a time, inverting the trailing block of H at every step.
#ifndef PATHQ_TESTS_REFERENCE_OPTQ_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_OPTQ_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <Eigen/Dense>

namespace pathq_reference {

/// How the reference builds its grid, per column or per group of `group_size` features:
/// - "symmetric": codes -K..K, step = C max|v| / K (or `fixed_step` when > 0);
/// - "even": codes -2^(b-1)..2^(b-1)-1, step = C max|v| / (2^(b-1) - 1/2);
/// - "asymmetric": codes 0..2^b-1, lo = min(v, 0), hi = max(v, 0), step = C (hi - lo)/(2^b - 1),
///   zero = round(-lo / (hi - lo) (2^b - 1)).
/// An all-zero block gets step 1 (and zero 0).
struct OptqReferenceGrid {
  std::string kind = "symmetric";
  int K = 7;                  ///< symmetric
  int bits = 4;               ///< even, asymmetric
  double C = 1.0;
  double fixed_step = 0;      ///< symmetric with this step when > 0
  long group_size = 0;        ///< 0: per column
  bool static_groups = true;  ///< false: refit from the current weights at each group start
};

struct OptqReferenceOptions {
  double damping = 0.01;
  bool act_order = false;
  double dead_tol = 1e-12;
};

struct OptqTrace {
  Eigen::MatrixXd Q;      ///< N_in x N_out quantized weights (original order)
  Eigen::MatrixXi codes;  ///< their codes
  Eigen::MatrixXd U;      ///< the rounded values in code units, w'/step + zero (original order)
  Eigen::MatrixXd step;   ///< groups x N_out
  Eigen::MatrixXd zero;   ///< groups x N_out
};

namespace detail_ref {

inline int code_lo(const OptqReferenceGrid& g) {
  if (g.kind == "symmetric") return -g.K;
  if (g.kind == "even") return -(1 << (g.bits - 1));
  return 0;
}
inline int code_hi(const OptqReferenceGrid& g) {
  if (g.kind == "symmetric") return g.K;
  if (g.kind == "even") return (1 << (g.bits - 1)) - 1;
  return (1 << g.bits) - 1;
}

// Step and zero point of one column of values v.
inline void fit(const OptqReferenceGrid& g, const Eigen::VectorXd& v, double& step, double& zero) {
  zero = 0;
  if (g.kind == "symmetric" && g.fixed_step > 0) {
    step = g.fixed_step;
    return;
  }
  if (g.kind == "asymmetric") {
    const double lo = std::min(0.0, v.minCoeff()), hi = std::max(0.0, v.maxCoeff());
    const double levels = double((1 << g.bits) - 1);
    if (hi - lo == 0) {
      step = 1;
      return;
    }
    step = g.C * (hi - lo) / levels;
    zero = std::round(-lo / (hi - lo) * levels);
    return;
  }
  const double m = v.cwiseAbs().maxCoeff();
  const double radius = g.kind == "symmetric" ? double(g.K) : double(1 << (g.bits - 1)) - 0.5;
  step = m > 0 ? g.C * m / radius : 1.0;
}

}  // namespace detail_ref

/// docs/algorithms.md#optq-algorithm (the naive form), literally, with all neurons side by side, on
/// the Gram matrix H of the layer's inputs (`Xq^T Xq`), walking the weights `W_walk` with a grid
/// fitted to `W0`:
///   dead features (H_tt <= tol max H_ss): H row/col 0, H_tt = 1, W row 0;
///   act-order: stable sort by diag(H) (before the repair) descending;
///   H += damping * mean(diag H) I;
///   for j = 0..n-1 (walk order): Hinv = (H_{j:,j:})^-1 (solved afresh);
///     q_j = nearest grid level to w_j (brute force over the codes);
///     w_{j+1:} -= (w_j - q_j) / Hinv_00 * Hinv_{0,1:}.
/// Static grids are fitted to W0 (groups in the original order); dynamic ones to the current w
/// at each group start in walk order (natural order only).
inline OptqTrace optq_reference_gram(const Eigen::MatrixXd& W0, const Eigen::MatrixXd& W_walk, Eigen::MatrixXd H,
                                     const OptqReferenceGrid& grid, const OptqReferenceOptions& opt) {
  using Eigen::Index;
  const Index n = W0.rows(), N = W0.cols();
  const long g = grid.group_size;
  const Index groups = g > 0 ? (n + g - 1) / g : 1;
  OptqTrace tr{Eigen::MatrixXd::Zero(n, N), Eigen::MatrixXi::Zero(n, N), Eigen::MatrixXd::Zero(n, N),
               Eigen::MatrixXd::Zero(groups, N), Eigen::MatrixXd::Zero(groups, N)};
  // Static grid from the original weights.
  for (Index k = 0; k < groups; ++k) {
    const Index t0 = g > 0 ? k * g : 0, len = g > 0 ? std::min<Index>(g, n - t0) : n;
    for (Index c = 0; c < N; ++c)
      detail_ref::fit(grid, W0.col(c).segment(t0, len), tr.step(k, c), tr.zero(k, c));
  }

  Eigen::MatrixXd W = W_walk;
  const Eigen::VectorXd diag0 = H.diagonal();
  const double cut = opt.dead_tol * diag0.maxCoeff();
  for (Index t = 0; t < n; ++t)
    if (!(diag0(t) > cut)) {
      H.row(t).setZero();
      H.col(t).setZero();
      H(t, t) = 1;
      W.row(t).setZero();
    }
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  if (opt.act_order)
    std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) { return diag0(a) > diag0(b); });
  const double lambda = opt.damping * H.diagonal().mean();
  Eigen::MatrixXd Hp(n, n), Wp(n, N);
  for (Index i = 0; i < n; ++i) {
    Wp.row(i) = W.row(order[std::size_t(i)]);
    for (Index k = 0; k < n; ++k) Hp(i, k) = H(order[std::size_t(i)], order[std::size_t(k)]);
    Hp(i, i) += lambda;
  }

  const int lo = detail_ref::code_lo(grid), hi = detail_ref::code_hi(grid);
  for (Index j = 0; j < n; ++j) {
    const Index t = order[std::size_t(j)];
    if (g > 0 && !grid.static_groups && j % g == 0)
      for (Index c = 0; c < N; ++c)
        detail_ref::fit(grid, Wp.col(c).segment(j, std::min<Index>(g, n - j)), tr.step(j / g, c), tr.zero(j / g, c));
    const Index k = g > 0 ? (grid.static_groups ? t / g : j / g) : 0;
    const Index r = n - j;
    Eigen::VectorXd e0 = Eigen::VectorXd::Zero(r);
    e0(0) = 1;
    const Eigen::VectorXd hinv0 = Hp.block(j, j, r, r).partialPivLu().solve(e0);  // row 0 of the inverse
    for (Index c = 0; c < N; ++c) {
      const double s = tr.step(k, c), z = tr.zero(k, c);
      const double w = Wp(j, c);
      int best = lo;
      for (int code = lo; code <= hi; ++code)
        if (std::abs(w - (code - z) * s) < std::abs(w - (best - z) * s)) best = code;
      const double q = (best - z) * s;
      tr.U(t, c) = w / s + z;
      tr.codes(t, c) = best;
      tr.Q(t, c) = q;
      const double err = (w - q) / hinv0(0);
      for (Index i = 1; i < r; ++i) Wp(j + i, c) -= err * hinv0(i);
    }
  }
  return tr;
}

/// OPTQ of W0 with `H = X^T X` (Xq = X).
inline OptqTrace optq_reference(const Eigen::MatrixXd& W0, const Eigen::MatrixXd& X, const OptqReferenceGrid& grid,
                                const OptqReferenceOptions& opt = {}) {
  return optq_reference_gram(W0, W0, X.transpose() * X, grid, opt);
}

/// The float-outputs target of OPTQ, literally: H = Xq^T Xq, G = Xq^T X; dead features
/// (H_tt <= tol max H_ss) get H's row and column removed and a unit diagonal, and G's row zeroed;
/// lambda = damping * mean(diag H) after that repair; then, by a dense solve,
///   W* = (H + lambda I)^-1 (G W + lambda W),
/// the minimiser of ||X W - Xq V||^2 + lambda ||V - W||^2 (with damping 0: H^-1 G W).
inline Eigen::MatrixXd optq_float_outputs_target(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X,
                                                 const Eigen::MatrixXd& Xq, const OptqReferenceOptions& opt = {}) {
  const Eigen::Index n = W.rows();
  Eigen::MatrixXd H = Xq.transpose() * Xq;
  Eigen::MatrixXd G = Xq.transpose() * X;
  const Eigen::VectorXd diag0 = H.diagonal();
  const double cut = opt.dead_tol * diag0.maxCoeff();
  for (Eigen::Index t = 0; t < n; ++t)
    if (!(diag0(t) > cut)) {
      H.row(t).setZero();
      H.col(t).setZero();
      H(t, t) = 1;
      G.row(t).setZero();
    }
  const double lambda = opt.damping * H.diagonal().mean();
  const Eigen::MatrixXd A = H + lambda * Eigen::MatrixXd::Identity(n, n);
  return A.partialPivLu().solve(G * W + lambda * W);
}

/// OPTQ with the float-outputs objective, literally: the reference walk above with
/// `H = Xq^T Xq` on the target `optq_float_outputs_target(W0, X, Xq)`, the grid fitted to W0.
inline OptqTrace optq_reference_outputs(const Eigen::MatrixXd& W0, const Eigen::MatrixXd& X, const Eigen::MatrixXd& Xq,
                                        const OptqReferenceGrid& grid, const OptqReferenceOptions& opt = {}) {
  return optq_reference_gram(W0, optq_float_outputs_target(W0, X, Xq, opt), Xq.transpose() * Xq, grid, opt);
}

/// Smallest distance of u from a rounding tie (a half-integer), over all entries.
inline double code_tie_margin(const Eigen::MatrixXd& U) {
  double margin = std::numeric_limits<double>::infinity();
  for (Eigen::Index k = 0; k < U.size(); ++k) {
    const double u = U.data()[k];
    margin = std::min(margin, std::abs(u - std::floor(u) - 0.5));
  }
  return margin;
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_OPTQ_REFERENCE_HPP
