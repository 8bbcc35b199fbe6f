// The tiled kernels under the statistics and OPTQ: blocked products S += A^T B and the blocked
// Cholesky factorization, against Eigen's plain product and LLT, for sizes that are and are not
// multiples of the tile, and with the same bits for every thread count.
#include <catch2/catch.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <pathq/detail/blocked_cholesky.hpp>
#include <pathq/stats/block_products.hpp>

#include "support/random_data.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_blocked_kernels {

using pathq_test::gaussian;

namespace {

void set_threads(int t) {
#if defined(_OPENMP)
  omp_set_num_threads(t);
#else
  (void)t;
#endif
}

int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace

TEST_CASE("blocked products: S += A^T B equals the plain product, symmetric or not", "[detail]") {
  const Eigen::Index tile = pathq::detail::stats_tile;
  for (const Eigen::Index n : {Eigen::Index(1), Eigen::Index(7), tile, tile + 1, 2 * tile + 37}) {
    INFO("n = " << n);
    const Eigen::MatrixXd A = gaussian(53, n, 3 + std::uint64_t(n)), B = gaussian(53, n, 4 + std::uint64_t(n));
    const Eigen::MatrixXd S0 = gaussian(n, n, 5);
    const Eigen::MatrixXd S0sym = S0 + S0.transpose();

    Eigen::MatrixXd S = S0;
    pathq::detail::accumulate_products(S, A, B, false);
    const Eigen::MatrixXd general = S0 + A.transpose() * B;
    CHECK((S - general).cwiseAbs().maxCoeff() <= 1e-12 * (1 + general.cwiseAbs().maxCoeff()));

    Eigen::MatrixXd T = S0sym;
    pathq::detail::accumulate_products(T, A, A, true);
    const Eigen::MatrixXd sym = S0sym + A.transpose() * A;
    CHECK((T - sym).cwiseAbs().maxCoeff() <= 1e-12 * (1 + sym.cwiseAbs().maxCoeff()));
    CHECK(T == T.transpose());  // mirrored exactly
  }
}

TEST_CASE("blocked products and Cholesky: the same bits for every thread count", "[detail]") {
  const int saved = max_threads();
  const Eigen::Index n = 2 * pathq::detail::stats_tile + 19;
  const Eigen::MatrixXd A = gaussian(n + 50, n, 8);  // more samples than features: H > 0
  Eigen::MatrixXd S1 = Eigen::MatrixXd::Zero(n, n), S2 = S1;
  set_threads(1);
  pathq::detail::accumulate_products(S1, A, A, true);
  Eigen::MatrixXd L1 = S1;
  REQUIRE(pathq::detail::blocked_cholesky(L1, 64));
  set_threads(2);
  pathq::detail::accumulate_products(S2, A, A, true);
  Eigen::MatrixXd L2 = S2;
  REQUIRE(pathq::detail::blocked_cholesky(L2, 64));
  set_threads(saved);
  CHECK(S1 == S2);
  CHECK(Eigen::MatrixXd(L1.triangularView<Eigen::Lower>()) == Eigen::MatrixXd(L2.triangularView<Eigen::Lower>()));
}

TEST_CASE("blocked Cholesky: the factor of Eigen's LLT, and failure on an indefinite matrix", "[detail]") {
  for (const Eigen::Index n : {1, 5, 64, 65, 200}) {
    for (const Eigen::Index tile : {1, 16, 64, 256}) {
      INFO("n = " << n << ", tile = " << tile);
      const Eigen::MatrixXd Z = gaussian(n + 10, n, 21);
      const Eigen::MatrixXd H = Z.transpose() * Z + 0.1 * Eigen::MatrixXd::Identity(n, n);
      // Only the lower triangle may be read: poison the strict upper one outside the diagonal tiles.
      Eigen::MatrixXd A = H;
      A.triangularView<Eigen::StrictlyUpper>().setConstant(1e300);
      for (Eigen::Index k0 = 0; k0 < n; k0 += tile) {
        const Eigen::Index kb = std::min(tile, n - k0);
        A.block(k0, k0, kb, kb) = H.block(k0, k0, kb, kb);
      }
      REQUIRE(pathq::detail::blocked_cholesky(A, tile));
      const Eigen::MatrixXd L = A.triangularView<Eigen::Lower>();
      const Eigen::MatrixXd expected = Eigen::LLT<Eigen::MatrixXd>(H).matrixL();
      CHECK((L - expected).cwiseAbs().maxCoeff() <= 1e-10 * expected.cwiseAbs().maxCoeff());
      CHECK((L * L.transpose() - H).cwiseAbs().maxCoeff() <= 1e-10 * H.cwiseAbs().maxCoeff());
      // Only the diagonal tiles' strict upper triangles served as scratch.
      Eigen::Index touched = 0;
      for (Eigen::Index c = 0; c < n; ++c)
        for (Eigen::Index r = 0; r < c; ++r) touched += (r / tile != c / tile && A(r, c) != 1e300);
      CHECK(touched == 0);
    }
  }
  Eigen::MatrixXd indefinite = Eigen::MatrixXd::Identity(150, 150);
  indefinite(140, 140) = -1;
  CHECK_FALSE(pathq::detail::blocked_cholesky(indefinite, 64));
}

}  // namespace pathq_test_blocked_kernels
