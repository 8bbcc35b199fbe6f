// The Maly-Saab null-space walk for one neuron, in code units, on a Gram factor R (R^T R = K).
#ifndef PATHQ_DETAIL_MALY_SAAB_WALK_HPP
#define PATHQ_DETAIL_MALY_SAAB_WALK_HPP

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Dense>

namespace pathq {
namespace detail {

/// What became of one entry of the walked neuron.
enum class WalkState : signed char {
  Free,    ///< still inside its cell, off the grid (at most rank(R) of these)
  OnGrid,  ///< on a grid code (from the start, or fixed by the walk)
  Stuck    ///< a weight beyond the grid, stopped at its own value (a face that is no grid code)
};

/// Settings of one walk, shared by all neurons of a layer.
struct WalkSettings {
  int code_lo = 0;                     ///< lowest code of the grid
  int code_hi = 0;                     ///< highest code, > code_lo
  bool box = false;                    ///< cells are [code_lo, code_hi] instead of [floor(u), floor(u) + 1]
  double grid_tolerance = 1e-12;       ///< "on a face": within this many steps (times max(1, |code|))
  double dependence_tolerance = 1e-10; ///< a column is dependent if its residual is <= this * max_t ||R_t|| step_t
};

/// The walk of docs/algorithms.md#maly-saab-walk on the factor `R` (`r x n`, `R^T R = K`, so
/// null(R) = null(X)).
///
/// Features are taken in `order`. The walk keeps a basis: the free features already taken, whose
/// columns of `R diag(step)` are linearly independent, with a QR factorization `R_B = Q T`. A new
/// free feature c is either independent of the basis (it joins it), or `R_c = Q y` and
/// `z = (-T^{-1} y on B, 1 on c)` is a null vector of R supported on `B + {c}`: exactly the null
/// vector of the smallest set of lowest-order free features that has one. The entries move by
/// `alpha s z`, `s = +-1` sending c toward the nearer grid face of its cell (up on a tie), and
/// `alpha` the largest step keeping every entry in its cell (the ratio test). Every entry that
/// reaches the face it moves toward is fixed there (ties fix them all); fixed basis columns leave
/// the QR factorization by Givens rotations. If c is still free it is tried again (normally it
/// now joins the basis). At the end the free entries are the basis: at most `rank(R)` of them.
///
/// Cost per neuron: `O(n r^2)` (a projection on the basis per feature, `O(r b)` per removal).
class NullSpaceWalk {
 public:
  /// \param R `r x n`, full row rank (as GramFactor gives it). \param order the features in walk
  /// order (empty: 0..n-1).
  NullSpaceWalk(const Eigen::MatrixXd& R, const std::vector<Eigen::Index>& order)
      : m_R(R), m_order(order) {
    const Eigen::Index r = R.rows(), n = R.cols();
    m_col_norm = R.colwise().norm().transpose();
    m_Q.resize(r, r);
    m_T.resize(r, r);
    m_y.resize(r);
    m_y2.resize(r);
    m_rho.resize(r);
    m_col.resize(r);
    m_z.resize(r);
    m_basis.reserve(std::size_t(r));
    m_lo.resize(std::size_t(n));
    m_hi.resize(std::size_t(n));
    m_lo_grid.resize(std::size_t(n));
    m_hi_grid.resize(std::size_t(n));
  }

  /// Runs the walk on one neuron.
  /// \param u in: the weights in code units (`w / step + zero`); out: the walked weights, every
  ///        entry in its cell and `R diag(step) (u_out - u_in) = 0` up to rounding.
  /// \param step the step of each feature (its group's step for this neuron), > 0.
  /// \param state out: the state of each entry. \param code out: the code of each OnGrid entry.
  /// \returns the number of null-space moves.
  Eigen::Index run(Eigen::Ref<Eigen::VectorXd> u, const Eigen::Ref<const Eigen::VectorXd>& step,
                   const WalkSettings& s, std::vector<WalkState>& state, std::vector<int>& code) {
    const Eigen::Index n = m_R.cols(), r = m_R.rows();
    m_s = &s;
    m_u = u.data();
    m_state = &state;
    m_code = &code;
    state.assign(std::size_t(n), WalkState::Free);
    code.assign(std::size_t(n), 0);
    double scale = 0;
    for (Eigen::Index t = 0; t < n; ++t) {
      scale = std::max(scale, m_col_norm(t) * step(t));
      init_cell(t);
    }
    const double dependent_below = s.dependence_tolerance * scale;
    m_basis.clear();
    Eigen::Index moves = 0;
    for (Eigen::Index pos = 0; pos < n; ++pos) {
      const Eigen::Index c = m_order.empty() ? pos : m_order[std::size_t(pos)];
      while (state[std::size_t(c)] == WalkState::Free) {
        const Eigen::Index b = Eigen::Index(m_basis.size());
        m_col = m_R.col(c) * step(c);
        if (b < r) {
          // Classical Gram-Schmidt, twice: coefficients y and residual rho of R_c on the basis.
          auto Qb = m_Q.leftCols(b);
          m_y.head(b).noalias() = Qb.transpose() * m_col;
          m_rho = m_col;
          m_rho.noalias() -= Qb * m_y.head(b);
          m_y2.head(b).noalias() = Qb.transpose() * m_rho;
          m_rho.noalias() -= Qb * m_y2.head(b);
          m_y.head(b) += m_y2.head(b);
          const double norm = m_rho.norm();
          if (norm > dependent_below) {  // independent: c joins the basis
            m_Q.col(b) = m_rho / norm;
            m_T.col(b).head(b) = m_y.head(b);
            m_T(b, b) = norm;
            m_T.col(b).tail(r - b - 1).setZero();
            m_basis.push_back(c);
            break;
          }
        } else {
          m_y.noalias() = m_Q.transpose() * m_col;  // the basis spans range(R): c is dependent
        }
        // Null vector z = (-T^{-1} y, 1) on (basis, c), oriented by c's nearer grid face.
        m_z.head(b) = m_T.topLeftCorner(b, b).triangularView<Eigen::Upper>().solve(m_y.head(b));
        const double sc = direction(c);
        m_z.head(b) *= -sc;
        // Ratio test: the largest alpha keeping every moved entry in its cell.
        Eigen::Index arg = -1;  // -1: c itself
        double alpha = limit(c, sc);
        for (Eigen::Index k = 0; k < b; ++k) {
          const double a = limit(m_basis[std::size_t(k)], m_z(k));
          if (a < alpha) {
            alpha = a;
            arg = k;
          }
        }
        u(c) += alpha * sc;
        for (Eigen::Index k = 0; k < b; ++k) u(m_basis[std::size_t(k)]) += alpha * m_z(k);
        ++moves;
        // Fix every entry that reached the face it moves toward (the blocking one always).
        settle(c, sc, arg == -1);
        for (Eigen::Index k = b - 1; k >= 0; --k)
          if (settle(m_basis[std::size_t(k)], m_z(k), arg == k)) remove_from_basis(k);
      }
    }
    // A free entry may sit on an interior grid code by coincidence (box cells): it is on the grid.
    for (Eigen::Index t : m_basis) {
      const double k = std::floor(u(t) + 0.5);
      if (k >= s.code_lo && k <= s.code_hi && std::abs(u(t) - k) <= tolerance(k)) {
        u(t) = k;
        state[std::size_t(t)] = WalkState::OnGrid;
        code[std::size_t(t)] = int(k);
      }
    }
    return moves;
  }

 private:
  double tolerance(double face) const { return m_s->grid_tolerance * std::max(1.0, std::abs(face)); }

  // The cell of entry t, and whether it starts on the grid.
  void init_cell(Eigen::Index t) {
    const std::size_t i = std::size_t(t);
    const double u = m_u[t], lo = m_s->code_lo, hi = m_s->code_hi;
    if (u > hi + tolerance(hi)) {  // beyond the grid: it may move back toward it, never further out
      m_lo[i] = m_s->box ? lo : hi;
      m_hi[i] = u;
      m_lo_grid[i] = true;
      m_hi_grid[i] = false;
      return;
    }
    if (u < lo - tolerance(lo)) {
      m_lo[i] = u;
      m_hi[i] = m_s->box ? hi : lo;
      m_lo_grid[i] = false;
      m_hi_grid[i] = true;
      return;
    }
    const double k = std::min(hi, std::max(lo, std::floor(u + 0.5)));
    if (std::abs(u - k) <= tolerance(k) && (!m_s->box || k == lo || k == hi)) {
      fix(t, k);
      return;
    }
    m_lo_grid[i] = m_hi_grid[i] = true;
    if (m_s->box) {
      m_lo[i] = lo;
      m_hi[i] = hi;
    } else {
      m_lo[i] = std::min(hi - 1, std::max(lo, std::floor(u)));
      m_hi[i] = m_lo[i] + 1;
    }
  }

  void fix(Eigen::Index t, double k) {
    m_u[t] = k;
    (*m_state)[std::size_t(t)] = WalkState::OnGrid;
    (*m_code)[std::size_t(t)] = int(k);
  }

  // +1 if c's nearer grid face is above (or both are equally near), else -1.
  double direction(Eigen::Index c) const {
    const std::size_t i = std::size_t(c);
    const double inf = std::numeric_limits<double>::infinity();
    const double down = m_lo_grid[i] ? m_u[c] - m_lo[i] : inf;
    const double up = m_hi_grid[i] ? m_hi[i] - m_u[c] : inf;
    return up <= down ? 1.0 : -1.0;
  }

  // The step along direction d at which entry t reaches a face of its cell.
  double limit(Eigen::Index t, double d) const {
    const std::size_t i = std::size_t(t);
    if (d > 0) return std::max(0.0, (m_hi[i] - m_u[t]) / d);
    if (d < 0) return std::max(0.0, (m_lo[i] - m_u[t]) / d);
    return std::numeric_limits<double>::infinity();
  }

  // Fixes entry t if it reached the face it moves toward (or if `force`); returns whether it did.
  bool settle(Eigen::Index t, double d, bool force) {
    const std::size_t i = std::size_t(t);
    if (d == 0) return false;
    const double face = d > 0 ? m_hi[i] : m_lo[i];
    if (!force && std::abs(face - m_u[t]) > tolerance(face)) return false;
    if (d > 0 ? m_hi_grid[i] : m_lo_grid[i]) {
      fix(t, face);
    } else {
      m_u[t] = face;
      (*m_state)[i] = WalkState::Stuck;
    }
    return true;
  }

  // Drops basis column k: shift T left, then Givens rotations restore the triangle (Q rotates too).
  void remove_from_basis(Eigen::Index k) {
    const Eigen::Index b = Eigen::Index(m_basis.size());
    for (Eigen::Index i = k; i + 1 < b; ++i) m_T.col(i).head(i + 2) = m_T.col(i + 1).head(i + 2);
    for (Eigen::Index i = k; i + 1 < b; ++i) {
      Eigen::JacobiRotation<double> G;
      G.makeGivens(m_T(i, i), m_T(i + 1, i));
      m_T.block(0, i, b, b - 1 - i).applyOnTheLeft(i, i + 1, G.adjoint());
      m_T(i + 1, i) = 0;
      m_Q.leftCols(b).applyOnTheRight(i, i + 1, G);
    }
    m_T.col(b - 1).setZero();
    m_T.row(b - 1).setZero();
    m_basis.erase(m_basis.begin() + k);
  }

  const Eigen::MatrixXd& m_R;
  const std::vector<Eigen::Index>& m_order;
  Eigen::VectorXd m_col_norm;
  Eigen::MatrixXd m_Q, m_T;
  Eigen::VectorXd m_y, m_y2, m_rho, m_col, m_z;
  std::vector<Eigen::Index> m_basis;
  std::vector<double> m_lo, m_hi;
  std::vector<char> m_lo_grid, m_hi_grid;
  const WalkSettings* m_s = nullptr;
  double* m_u = nullptr;
  std::vector<WalkState>* m_state = nullptr;
  std::vector<int>* m_code = nullptr;
};

}  // namespace detail
}  // namespace pathq

#endif  // PATHQ_DETAIL_MALY_SAAB_WALK_HPP
