// Naive references: literal transcriptions of frame Sigma-Delta
// (docs/algorithms.md#frame-sigma-delta-algorithm) and the noise-shaping loops
// (docs/algorithms.md#noise-shaping).
#ifndef PATHQ_TESTS_REFERENCE_SIGMA_DELTA_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_SIGMA_DELTA_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

namespace pathq_reference {

/// The harmonic frame of R^n with p elements, written from its definition with one cos/sin call
/// per entry: column k - 1 is e_k, k = 1..p.
inline Eigen::MatrixXd harmonic_frame(int n, int p) {
  const double pi = 3.14159265358979323846;
  Eigen::MatrixXd F(n, p);
  for (int k = 1; k <= p; ++k) {
    int row = 0;
    if (n % 2 == 1) F(row++, k - 1) = std::sqrt(2.0 / n) / std::sqrt(2.0);
    for (int j = 1; j <= n / 2; ++j) {
      F(row++, k - 1) = std::sqrt(2.0 / n) * std::cos(2 * pi * j * k / p);
      F(row++, k - 1) = std::sqrt(2.0 / n) * std::sin(2 * pi * j * k / p);
    }
  }
  return F;
}

struct FrameSigmaDeltaTrace {
  std::vector<int> codes;     ///< codes[k] of element k (0-based), in [-L, L-1]
  Eigen::VectorXd q;          ///< quantized coefficients
  std::vector<double> u;      ///< the state after each step, in walk order
  Eigen::VectorXd xq;         ///< (n/p) F q
};

/// docs/algorithms.md#frame-sigma-delta-algorithm for one vector, as written:
///   c <- F^T x; u <- 0; for k in pi: v <- u + c_k; q_k <- Q_B(v); u <- v - q_k;  x_q <- (n/p) F q
/// with Q_B(v) = delta (clip(floor(v/delta), -L, L-1) + 1/2). `order` empty: natural.
inline FrameSigmaDeltaTrace frame_sigma_delta(const Eigen::VectorXd& x, const Eigen::MatrixXd& F, int L, double delta,
                                              const std::vector<int>& order = {}) {
  const int n = int(F.rows()), p = int(F.cols());
  const Eigen::VectorXd c = F.transpose() * x;
  FrameSigmaDeltaTrace tr{std::vector<int>(std::size_t(p), 0), Eigen::VectorXd::Zero(p), {}, Eigen::VectorXd()};
  double u = 0;
  for (int i = 0; i < p; ++i) {
    const int k = order.empty() ? i : order[std::size_t(i)];
    const double v = u + c(k);
    const int code = std::min(std::max(int(std::floor(v / delta)), -L), L - 1);
    tr.codes[std::size_t(k)] = code;
    tr.q(k) = delta * (code + 0.5);
    u = v - tr.q(k);
    tr.u.push_back(u);
  }
  tr.xq = (double(n) / p) * (F * tr.q);
  return tr;
}

/// Midrise MSQ of the RFF code: `delta floor(z/delta) + delta/2`, saturated to ±(K - 1/2) delta.
inline double midrise_msq(double z, int K, double delta) {
  const double q = delta * std::floor(z / delta) + delta / 2;
  if (std::abs(z) > (K - 0.5) * delta) return (q > 0 ? 1 : -1) * (K - 0.5) * delta;
  return q;
}

/// Greedy second order, multi-bit, as in the RFF code's `SDQ(r = 2)`:
///   q_0 = MSQ(y_0), u_0 = y_0 - q_0; q_j = MSQ(2u_{j-1} - u_{j-2} + y_j), u_j = 2u_{j-1} - u_{j-2} + y_j - q_j.
inline Eigen::VectorXd second_order_msq(const Eigen::VectorXd& y, int K, double delta, Eigen::VectorXd* state = nullptr) {
  const Eigen::Index m = y.size();
  Eigen::VectorXd q(m), u = Eigen::VectorXd::Zero(m);
  for (Eigen::Index j = 0; j < m; ++j) {
    const double u1 = j >= 1 ? u(j - 1) : 0, u2 = j >= 2 ? u(j - 2) : 0;
    q(j) = midrise_msq(2 * u1 - u2 + y(j), K, delta);
    u(j) = 2 * u1 - u2 + y(j) - q(j);
  }
  if (state) *state = u;
  return q;
}

/// The binary-embedding code's filter quantizers: `conv = sum_{k=1}^{i} h[k] v[i-k]`,
/// `q_i = sign(conv + y_i)` (sign(0) = +), `v_i = conv + y_i - q_i`, levels ±level. `h` dense, h[0] unused.
inline Eigen::VectorXd filter_sign(const Eigen::VectorXd& y, const std::vector<double>& h, double level,
                                   Eigen::VectorXd* state = nullptr) {
  const Eigen::Index m = y.size();
  Eigen::VectorXd q(m), v = Eigen::VectorXd::Zero(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    double conv = 0;
    for (Eigen::Index k = 1; k <= i && k < Eigen::Index(h.size()); ++k) conv += h[std::size_t(k)] * v(i - k);
    q(i) = conv + y(i) < 0 ? -level : level;
    v(i) = conv + y(i) - q(i);
  }
  if (state) *state = v;
  return q;
}

/// The RFF code's `BetaQ` without its input pre-scaling: H = I - kron(I_p, H_beta), H_beta = I - beta S
/// (S the subdiagonal), q_j = MSQ(y_j + H[j, j-1] u_{j-1}), u_j = y_j + H[j, j-1] u_{j-1} - q_j.
inline Eigen::VectorXd beta_msq(const Eigen::VectorXd& y, double beta, int lambda, int K, double delta,
                                Eigen::VectorXd* state = nullptr) {
  const Eigen::Index m = y.size(), p = m / lambda;
  Eigen::MatrixXd Hb = Eigen::MatrixXd::Identity(lambda, lambda);
  for (int i = 1; i < lambda; ++i) Hb(i, i - 1) = -beta;
  Eigen::MatrixXd H = Eigen::MatrixXd::Identity(m, m);
  for (Eigen::Index b = 0; b < p; ++b) H.block(b * lambda, b * lambda, lambda, lambda) -= Hb;
  Eigen::VectorXd q(m), u = Eigen::VectorXd::Zero(m);
  q(0) = midrise_msq(y(0), K, delta);
  u(0) = y(0) - q(0);
  for (Eigen::Index j = 1; j < m; ++j) {
    q(j) = midrise_msq(y(j) + H(j, j - 1) * u(j - 1), K, delta);
    u(j) = y(j) + H(j, j - 1) * u(j - 1) - q(j);
  }
  if (state) *state = u;
  return q;
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_SIGMA_DELTA_REFERENCE_HPP
