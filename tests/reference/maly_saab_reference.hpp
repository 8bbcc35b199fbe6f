// Naive reference: a literal dense transcription of the Maly-Saab walk on X itself, one neuron at a time.
#ifndef PATHQ_TESTS_REFERENCE_MALY_SAAB_REFERENCE_HPP
#define PATHQ_TESTS_REFERENCE_MALY_SAAB_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Dense>

namespace pathq_reference {

struct MalySaabTrace {
  Eigen::MatrixXd W_tilde;  ///< N_in x N_out walked weights (X W_tilde = X W)
  Eigen::MatrixXd Q;        ///< N_in x N_out quantized weights
  std::vector<std::vector<Eigen::Index>> off_grid;  ///< per neuron, increasing
};

/// The levels of a neuron: value(k) = (k - zero) * step for codes k in [lo, hi].
struct Levels {
  int lo, hi;
  double zero, step;
  double value(double k) const { return (k - zero) * step; }
};

/// Is v on a level (within tol steps)? Returns the level's code through `k`.
inline bool on_level(double v, const Levels& L, double tol, double& k) {
  k = std::floor(v / L.step + L.zero + 0.5);
  return k >= L.lo && k <= L.hi && std::abs(v - L.value(k)) <= tol * L.step * std::max(1.0, std::abs(k));
}

/// Does X_J (the columns J of X) have a non-trivial null space? Singular values of X_J below
/// `tol * max_t ||X_t||` count as zero.
inline bool dependent(const Eigen::MatrixXd& X, const std::vector<Eigen::Index>& J, double tol) {
  if (Eigen::Index(J.size()) > X.rows()) return true;
  Eigen::MatrixXd XJ(X.rows(), Eigen::Index(J.size()));
  for (std::size_t a = 0; a < J.size(); ++a) XJ.col(Eigen::Index(a)) = X.col(J[a]);
  const double scale = X.colwise().norm().maxCoeff();
  const Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::FullPivHouseholderQRPreconditioner> svd(XJ);
  const auto sv = svd.singularValues();
  return sv(sv.size() - 1) <= tol * scale;
}

/// docs/algorithms.md#maly-saab-walk, one neuron at a time, in the data domain:
///   cells [lo_i, hi_i] around each weight (two neighbouring levels, or all levels for `box`; a
///   weight beyond the levels gets the cell between the levels' end and its own value);
///   weights on a face start fixed;
///   repeat: J <- the shortest run of lowest-index free weights whose columns of X are dependent;
///           z <- the null vector of X_J with z_c = 1 for the last index c of J;
///           send c toward the nearer level that bounds its cell (up on a tie);
///           take the largest step keeping every weight of J in its cell; fix every weight that
///           reached the face it moves toward;
///   finally round every weight to its nearest level (ties up).
inline MalySaabTrace maly_saab_reference(const Eigen::MatrixXd& W, const Eigen::MatrixXd& X,
                                         const std::vector<Levels>& levels, bool box,
                                         double rank_tol = 1e-9, double face_tol = 1e-12) {
  const Eigen::Index n = W.rows(), n_out = W.cols();
  const double inf = std::numeric_limits<double>::infinity();
  MalySaabTrace tr{W, Eigen::MatrixXd::Zero(n, n_out), {}};
  tr.off_grid.resize(std::size_t(n_out));
  for (Eigen::Index j = 0; j < n_out; ++j) {
    const Levels& L = levels[std::size_t(j)];
    const double bottom = L.value(L.lo), top = L.value(L.hi);
    Eigen::VectorXd v = W.col(j);
    std::vector<double> lo(static_cast<std::size_t>(n)), hi(static_cast<std::size_t>(n));
    std::vector<bool> lo_level(std::size_t(n), true), hi_level(std::size_t(n), true), fixed(std::size_t(n), false);
    for (Eigen::Index i = 0; i < n; ++i) {
      const std::size_t a = std::size_t(i);
      double k;
      const bool near_level = on_level(v(i), L, face_tol, k);
      if (near_level && (!box || k == L.lo || k == L.hi)) {
        v(i) = L.value(k);
        fixed[a] = true;
      } else if (!near_level && v(i) > top) {
        lo[a] = box ? bottom : top;
        hi[a] = v(i);
        hi_level[a] = false;
      } else if (!near_level && v(i) < bottom) {
        lo[a] = v(i);
        hi[a] = box ? top : bottom;
        lo_level[a] = false;
      } else if (box) {
        lo[a] = bottom;
        hi[a] = top;
      } else {
        const double f = std::floor(v(i) / L.step + L.zero);
        lo[a] = L.value(f);
        hi[a] = L.value(f + 1);
      }
    }
    for (;;) {
      std::vector<Eigen::Index> free, J;
      for (Eigen::Index i = 0; i < n; ++i)
        if (!fixed[std::size_t(i)]) free.push_back(i);
      bool found = false;
      for (Eigen::Index i : free) {
        J.push_back(i);
        if (dependent(X, J, rank_tol)) {
          found = true;
          break;
        }
      }
      if (!found) break;
      const Eigen::Index k = Eigen::Index(J.size());
      Eigen::MatrixXd XJ(X.rows(), k);
      for (Eigen::Index a = 0; a < k; ++a) XJ.col(a) = X.col(J[std::size_t(a)]);
      const Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::FullPivHouseholderQRPreconditioner> svd(XJ, Eigen::ComputeFullV);
      Eigen::VectorXd z = svd.matrixV().col(k - 1);
      z /= z(k - 1);
      const std::size_t c = std::size_t(J.back());
      const double down = lo_level[c] ? v(J.back()) - lo[c] : inf;
      const double up = hi_level[c] ? hi[c] - v(J.back()) : inf;
      if (up > down) z = -z;
      double alpha = inf;
      Eigen::Index blocking = 0;
      for (Eigen::Index a = 0; a < k; ++a) {
        const std::size_t i = std::size_t(J[std::size_t(a)]);
        const double room = z(a) > 0 ? (hi[i] - v(J[std::size_t(a)])) / z(a)
                          : z(a) < 0 ? (lo[i] - v(J[std::size_t(a)])) / z(a) : inf;
        if (std::max(room, 0.0) < alpha) {
          alpha = std::max(room, 0.0);
          blocking = a;
        }
      }
      for (Eigen::Index a = 0; a < k; ++a) v(J[std::size_t(a)]) += alpha * z(a);
      for (Eigen::Index a = 0; a < k; ++a) {
        const Eigen::Index i = J[std::size_t(a)];
        if (z(a) == 0) continue;
        const double face = z(a) > 0 ? hi[std::size_t(i)] : lo[std::size_t(i)];
        const double code = face / L.step + L.zero;
        if (a == blocking || std::abs(v(i) - face) <= face_tol * L.step * std::max(1.0, std::abs(code))) {
          v(i) = face;
          fixed[std::size_t(i)] = true;
        }
      }
    }
    tr.W_tilde.col(j) = v;
    for (Eigen::Index i = 0; i < n; ++i) {
      double k;
      if (on_level(v(i), L, face_tol, k)) {
        tr.Q(i, j) = L.value(k);
      } else {
        tr.off_grid[std::size_t(j)].push_back(i);
        k = std::floor(v(i) / L.step + L.zero + 0.5);
        tr.Q(i, j) = L.value(std::min<double>(L.hi, std::max<double>(L.lo, k)));
      }
    }
  }
  return tr;
}

/// Smallest distance, in steps, of an off-grid walked weight from a rounding tie (a half-code).
inline double rounding_margin(const MalySaabTrace& tr, const std::vector<Levels>& levels) {
  double margin = std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < tr.off_grid.size(); ++j)
    for (Eigen::Index i : tr.off_grid[j]) {
      const double u = tr.W_tilde(i, Eigen::Index(j)) / levels[j].step + levels[j].zero;
      margin = std::min(margin, std::abs(u - std::floor(u) - 0.5));
    }
  return margin;
}

}  // namespace pathq_reference

#endif  // PATHQ_TESTS_REFERENCE_MALY_SAAB_REFERENCE_HPP
