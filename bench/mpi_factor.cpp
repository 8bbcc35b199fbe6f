// OPTQ's factorization of H under MPI: on every rank, or once on rank 0 and broadcast. Times both
// (pathq's blocked Cholesky, one thread per rank). Not part of the CMake build (it needs mpicxx):
//   mpicxx -O3 -march=native -std=c++17 -Iinclude -isystem /usr/include/eigen3 bench/mpi_factor.cpp -o /tmp/mpi_factor
//   OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 /tmp/mpi_factor
#include <mpi.h>
#include <chrono>
#include <cstdio>
#include <Eigen/Core>
#include <pathq/detail/blocked_cholesky.hpp>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int me; MPI_Comm_rank(MPI_COMM_WORLD, &me);
  for (long n : {1024L, 2048L, 4096L}) {
    Eigen::MatrixXd X = Eigen::MatrixXd::Random(2 * n, n);
    Eigen::MatrixXd H = X.transpose() * X;
    H.diagonal().array() += 1.0;
    Eigen::MatrixXd A = H;
    MPI_Barrier(MPI_COMM_WORLD);
    auto t0 = std::chrono::steady_clock::now();
    pathq::detail::blocked_cholesky(A);
    double chol = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = std::chrono::steady_clock::now();
    MPI_Bcast(A.data(), int(A.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double bc = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (me == 0) std::printf("N_in %ld: factor on each rank %.3f s, broadcast of the factor %.3f s\n", n, chol, bc);
  }
  MPI_Finalize();
}
