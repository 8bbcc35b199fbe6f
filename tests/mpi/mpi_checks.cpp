// pathq/distributed/mpi.hpp under mpirun (any rank count): the summed statistics against one
// process's on integer-valued rows, where every sum is exact so the two must agree bit for bit
// (uneven row splits, a rank with no rows, Xq apart from X on some ranks only, double and float
// products); the split of rows and neurons; gather_columns; and the error when N_in differs.
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>

#include <Eigen/Core>

#include <pathq/distributed/mpi.hpp>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "rank %d: FAILED: %s\n", pathq::distributed::rank(), what.c_str());
  }
}

// Small integers: every product and sum below is exact in float and in double.
Eigen::MatrixXd integer_rows(Eigen::Index m, Eigen::Index n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(-4, 4);
  Eigen::MatrixXd X(m, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < m; ++i) X(i, j) = d(gen);
  return X;
}

bool same(const pathq::LayerStats<double>& a, const pathq::LayerStats<double>& b) {
  return a.samples() == b.samples() && a.same_inputs() == b.same_inputs() && a.K() == b.K() && a.H() == b.H() &&
         a.G() == b.G() && a.sum_x() == b.sum_x() && a.sum_xq() == b.sum_xq();
}

// Rows [0, m) split over the ranks; rows of ranks in `apart` have Xq = X + 1, the others Xq = X
// (added with add(X)). Each rank adds its rows in batches of 7.
void stats_case(Eigen::Index m, Eigen::Index n, bool xq_on_rank1, pathq::StatsProducts products, const std::string& name) {
  namespace dist = pathq::distributed;
  const int me = dist::rank(), R = dist::ranks();
  const Eigen::MatrixXd X = integer_rows(m, n, 11);
  auto apart = [&](Eigen::Index row) {
    for (int r = 0; r < R; ++r) {
      const dist::Range rr = dist::split_rows(m, r, R);
      if (row >= rr.begin && row < rr.end) return xq_on_rank1 && r == 1;
    }
    return false;
  };
  auto add = [&](pathq::LayerStats<double>& s, Eigen::Index begin, Eigen::Index end) {
    for (Eigen::Index i = begin; i < end; i += 7) {
      const Eigen::Index k = std::min<Eigen::Index>(7, end - i);
      const Eigen::MatrixXd B = X.middleRows(i, k);
      if (apart(i)) s.add(B, (B.array() + 1.0).matrix());
      else s.add(B);
    }
  };
  // One process: every row, in order (the batches never straddle ranks' ranges).
  pathq::LayerStats<double> whole(n, products);
  for (int r = 0; r < R; ++r) {
    const dist::Range rr = dist::split_rows(m, r, R);
    add(whole, rr.begin, rr.end);
  }
  const dist::Range mine = dist::split_rows(m, me, R);
  pathq::LayerStats<double> part(n, products);
  add(part, mine.begin, mine.end);
  dist::allreduce(part);
  check(same(part, whole), name + ": the summed statistics equal one process's");
  check(part.samples() == m, name + ": samples");
}

}  // namespace

int main() {
  MPI_Init(nullptr, nullptr);
  namespace dist = pathq::distributed;
  const int me = dist::rank(), R = dist::ranks();

  // The splits: contiguous, covering, sizes within one; neuron ranges on panel boundaries.
  for (Eigen::Index m : {0, 1, 2, 5, 301}) {
    Eigen::Index next = 0;
    for (int r = 0; r < R; ++r) {
      const dist::Range rr = dist::split_rows(m, r, R);
      check(rr.begin == next && rr.size() >= m / R && rr.size() <= m / R + 1, "split_rows " + std::to_string(m));
      next = rr.end;
    }
    check(next == m, "split_rows covers " + std::to_string(m));
  }
  for (Eigen::Index n : {1, 40, 600}) {
    Eigen::Index next = 0;
    for (int r = 0; r < R; ++r) {
      const dist::Range cr = dist::split_neurons(n, 16, r, R);
      check(cr.begin == next && (cr.begin % 16 == 0 || cr.size() == 0), "split_neurons " + std::to_string(n));
      next = cr.end;
    }
    check(next == n && dist::split_neurons(n, 16, 0, R).size() > 0, "split_neurons covers " + std::to_string(n));
  }

  stats_case(301, 9, false, pathq::StatsProducts::Accumulation, "Xq = X everywhere");
  stats_case(301, 9, true, pathq::StatsProducts::Accumulation, "Xq apart on rank 1");
  stats_case(301, 9, true, pathq::StatsProducts::FloatChunks, "float products");
  stats_case(R - 1, 5, true, pathq::StatsProducts::Accumulation, "a rank with no rows");
  stats_case(2 * R + 1, 800, true, pathq::StatsProducts::Accumulation, "several chunks (800^2 entries)");

  // Bit for bit in every run: twice the same split gives the same statistics.
  {
    const Eigen::MatrixXd X = Eigen::MatrixXd::Random(40, 6);
    pathq::LayerStats<double> a(6), b(6);
    a.add(X.middleRows(me, 1));
    b.add(X.middleRows(me, 1));
    dist::allreduce(a);
    dist::allreduce(b);
    check(same(a, b), "repeatable");
  }

  // gather_columns: rank r sends r + 1 columns (rank 1 none), each holding its rank.
  {
    const Eigen::Index cols = me == 1 ? 0 : me + 1;
    const Eigen::MatrixXf block = Eigen::MatrixXf::Constant(3, cols, float(me));
    const Eigen::MatrixXf all = dist::gather_columns<float>(block);
    if (me == 0) {
      Eigen::Index c = 0;
      bool ok = true;
      for (int r = 0; r < R; ++r)
        for (Eigen::Index k = 0; k < (r == 1 ? 0 : r + 1); ++k, ++c) ok = ok && (all.col(c).array() == float(r)).all();
      check(ok && all.rows() == 3 && all.cols() == c, "gather_columns");
    } else {
      check(all.size() == 0, "gather_columns: empty off the root");
    }
  }

  // N_in differing across ranks: the same error on every rank.
  if (R > 1) {
    pathq::LayerStats<double> s(me == R - 1 ? 5 : 4);
    std::string message;
    try {
      dist::allreduce(s);
    } catch (const pathq::invalid_argument& e) {
      message = e.what();
    }
    check(message.find("N_in differs across ranks: rank " + std::to_string(R - 1) + " has 5 but rank 0 has 4") !=
              std::string::npos,
          "differing N_in is refused: got '" + message + "'");
  }

  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (me == 0) std::printf("mpi_checks on %d ranks: %s\n", R, total ? "FAILED" : "all checks passed");
  MPI_Finalize();
  return total ? 1 : 0;
}
