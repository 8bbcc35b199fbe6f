// Naive reference: accumulator-aware GPFQ (AXE) one neuron at a time, in the data domain.
#ifndef PATHQ_TESTS_REFERENCE_AXE_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_AXE_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Dense>

namespace pathq_reference {

/// The datapath: P-bit accumulator, N-bit inputs, tile size T (0: one tile).
struct AxeSetting {
  int P = 16;
  int N = 8;
  bool is_signed = false;
  long T = 0;
  bool soft = true;
};

/// theta with sum_i max(a_i - theta, 0) = z (0 if sum(a) <= z), by bisection: an independent
/// way to the l1-ball projection threshold.
inline double l1_threshold_bisection(const std::vector<double>& a, double z) {
  double total = 0, top = 0;
  for (double v : a) {
    total += v;
    top = std::max(top, v);
  }
  if (total <= z) return 0;
  double lo = 0, hi = top;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    double s = 0;
    for (double v : a) s += std::max(v - mid, 0.0);
    (s > z ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

struct AxeTrace {
  Eigen::MatrixXd Q;      ///< N_in x N_out quantized weights
  Eigen::MatrixXi codes;  ///< N_in x N_out codes
  Eigen::MatrixXd theta;  ///< tiles x N_out soft thresholds (code units)
  double margin = std::numeric_limits<double>::infinity();  ///< distance of any rounding from a tie
};

/// GPFQ (docs/algorithms.md#gpfq-per-neuron-loop) with the AXE step
/// (docs/algorithms.md#axe-constrained-step) written as the reference implementation states it:
/// thresholds from the original weights (W/step per tile, zero-padded to T, centred,
/// projected onto the l1 ball of radius (2^P - 2)/(x_max - x_min)); per step the soft threshold,
/// then the clamp to [step min(Lo + 1/2, 0), step max(Up - 1/2, 0)], then round to nearest
/// (ties up, except at the lower clamp, see below) onto {-K..K}; the residual uses the
/// original weight and the final q. `margin` is the smallest distance of a value before the clamp
/// from a rounding tie (callers keep away from ties).
/// `order` is the walk (original feature indices); the tile of feature t is t / T.
inline AxeTrace axe_gpfq_reference(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X, const Eigen::MatrixXd& Xq,
                                   const Eigen::VectorXd& step, int K, const AxeSetting& s,
                                   std::vector<long> order = {}) {
  const long n_in = long(W.rows()), n_out = long(W.cols()), m = long(X.rows());
  if (order.empty())
    for (long t = 0; t < n_in; ++t) order.push_back(t);
  const long T = s.T > 0 ? s.T : n_in;
  const long tiles = (n_in + T - 1) / T;
  const double M = std::pow(2.0, s.P - 1) - 1;
  const double xmin = s.is_signed ? -std::pow(2.0, s.N - 1) : 0.0;
  const double xmax = s.is_signed ? std::pow(2.0, s.N - 1) - 1 : std::pow(2.0, s.N) - 1;
  const double Z = (std::pow(2.0, s.P) - 2) / (xmax - xmin);
  AxeTrace tr{Eigen::MatrixXd::Zero(n_in, n_out), Eigen::MatrixXi::Zero(n_in, n_out),
              Eigen::MatrixXd::Zero(tiles, n_out)};
  auto frac_margin = [](double v) { return std::abs(v - std::floor(v) - 0.5); };
  for (long j = 0; j < n_out; ++j) {
    for (long k = 0; k < tiles && s.soft; ++k) {
      std::vector<double> v(std::size_t(T), 0.0);
      for (long t = k * T; t < std::min(n_in, (k + 1) * T); ++t) v[std::size_t(t - k * T)] = W(t, j) / step(j);
      double mean = 0;
      for (double x : v) mean += x / double(T);
      for (double& x : v) x = std::abs(x - mean);
      tr.theta(k, j) = l1_threshold_bisection(v, Z);
    }
    std::vector<double> p(std::size_t(tiles), 0.0), n(std::size_t(tiles), 0.0);
    Eigen::VectorXd u = Eigen::VectorXd::Zero(m);
    for (long t : order) {
      const long k = t / T;
      const double nt = Xq.col(t).squaredNorm();
      const double c = Xq.col(t).dot(u + W(t, j) * X.col(t)) / nt;
      double a = c / step(j);
      a = (a < 0 ? -1.0 : 1.0) * std::max(std::abs(a) - tr.theta(k, j), 0.0);
      const double pk = p[std::size_t(k)], nk = n[std::size_t(k)];
      double up = (M - xmax * pk - xmin * nk) / xmax;
      double lo = (-M - xmax * nk - xmin * pk) / xmax;
      if (xmin < 0) {
        up = std::min(up, (-M - xmin * pk - xmax * nk) / xmin);
        lo = std::max(lo, (M - xmax * pk - xmin * nk) / xmin);
      }
      const double a_max = std::max(up - 0.5, 0.0), a_min = std::min(lo + 0.5, 0.0);
      if (std::abs(a) < K + 0.5) tr.margin = std::min(tr.margin, frac_margin(a));
      // The clamped value step (Lo + 1/2) is a rounding tie when Lo is an integer; this
      // reference breaks that tie downward, to the admissible extreme Lo (ties up would give
      // Lo + 1). Ties up at step (Up - 1/2) give the admissible extreme Up already.
      int code;
      if (a > a_max) code = int(std::floor(a_max + 0.5));
      else if (a < a_min) code = -int(std::floor(-a_min + 0.5));
      else code = int(std::floor(a + 0.5));
      code = std::max(-K, std::min(K, code));
      if (code > 0) p[std::size_t(k)] += code;
      else n[std::size_t(k)] += code;
      const double q = code * step(j);
      u += W(t, j) * X.col(t) - q * Xq.col(t);
      tr.codes(t, j) = code;
      tr.Q(t, j) = q;
    }
  }
  return tr;
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_AXE_REFERENCE_HPP
