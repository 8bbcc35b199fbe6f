// Frame Sigma-Delta: harmonic frames, the literal loop, stability, the bounds and their rates, biases, bad input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include <Eigen/SVD>

#include <pathq/bounds/sigma_delta.hpp>
#include <pathq/core/random.hpp>
#include <pathq/frames/frame.hpp>
#include <pathq/methods/sigma_delta.hpp>

#include "reference/sigma_delta_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_sigma_delta {

using pathq_test::gaussian;

namespace {

// A seeded permutation of 0..p-1 (Fisher-Yates on pathq's counter-based stream).
std::vector<Eigen::Index> seeded_permutation(Eigen::Index p, std::uint64_t seed) {
  std::vector<Eigen::Index> perm(static_cast<std::size_t>(p));
  std::iota(perm.begin(), perm.end(), Eigen::Index(0));
  const pathq::RandomStream s(seed, 0x5d);
  for (Eigen::Index i = p - 1; i > 0; --i) {
    const auto j = Eigen::Index(s.uniform(std::uint64_t(i)) * double(i + 1));
    std::swap(perm[std::size_t(i)], perm[std::size_t(std::min(j, i))]);
  }
  return perm;
}

pathq::SigmaDeltaOptions options(Eigen::Index p, int L) {
  pathq::SigmaDeltaOptions o;
  o.frame_size = p;
  o.levels = L;
  return o;
}

}  // namespace

TEST_CASE("harmonic frames are unit-norm tight frames and match their definition", "[sigma_delta][frame]") {
  for (int n : {1, 2, 5, 6, 7, 16}) {
    for (int p : {n + 1, 2 * n + 3, 64}) {
      INFO("n = " << n << " p = " << p);
      const auto F = pathq::Frame::harmonic(n, p);
      const Eigen::MatrixXd M = F.matrix();
      REQUIRE((M - pathq_reference::harmonic_frame(n, p)).cwiseAbs().maxCoeff() < 1e-13);
      REQUIRE(F.entry(n - 1, p - 1) == M(n - 1, p - 1));
      REQUIRE(F.entry(0, p / 2) == M(0, p / 2));
      const auto c = pathq::check_funtf(M);
      REQUIRE(c.max_norm_error < 1e-13);
      REQUIRE(c.tightness_error < 1e-12);
      REQUIRE(c.is_funtf());
      // The variation: closed form for the natural order, summed distances otherwise.
      double direct = 0;
      for (int k = 0; k + 1 < p; ++k) direct += (M.col(k) - M.col(k + 1)).norm();
      REQUIRE(std::abs(F.variation() - direct) < 1e-10 * (1 + direct));
      REQUIRE(F.variation() <= pathq::harmonic_variation_bound(n) + 1e-12);
      const auto perm = seeded_permutation(p, 7);
      double walked = 0;
      for (int k = 0; k + 1 < p; ++k)
        walked += (M.col(perm[std::size_t(k)]) - M.col(perm[std::size_t(k + 1)])).norm();
      REQUIRE(std::abs(F.variation(perm) - walked) < 1e-10 * (1 + walked));
    }
  }
  // The check of docs/algorithms.md#frame-sigma-delta-frames: n = 6, p = 200 gives sigma = 13.50 <= 13.57.
  const auto F6 = pathq::Frame::harmonic(6, 200);
  REQUIRE(F6.variation() == Approx(13.50).margin(0.01));
  REQUIRE(pathq::harmonic_variation_bound(6) == Approx(13.57).margin(0.01));
  // A column off the unit sphere is detected (the check can fail).
  Eigen::MatrixXd bad = F6.matrix();
  bad.col(3) *= 1.01;
  REQUIRE_FALSE(pathq::check_funtf(bad).is_funtf(1e-6));
}

TEST_CASE("frame reconstruction is exact without quantization", "[sigma_delta][frame]") {
  for (int n : {3, 8, 33}) {
    const auto F = pathq::Frame::harmonic(n, 3 * n + 1);
    const Eigen::VectorXd x = gaussian(n, 1, 100 + std::uint64_t(n));
    const Eigen::VectorXd back = (double(n) / double(F.size())) * F.synthesis(F.analysis(x));
    INFO("n = " << n);
    REQUIRE((back - x).norm() < 1e-12 * x.norm());
    // The coefficients of a unit-norm frame never exceed the norm of the vector.
    REQUIRE(F.analysis(x).cwiseAbs().maxCoeff() <= x.norm() * (1 + 1e-12));
  }
  // Sigma-Delta with a very fine alphabet tends to the exact reconstruction.
  const Eigen::MatrixXd W = gaussian(12, 4, 5);
  pathq::SigmaDeltaOptions o = options(40, 1 << 20);
  const auto r = pathq::SigmaDelta<double>(o).quantize(W);
  REQUIRE((r.values() - W).norm() < 1e-4 * W.norm());
}

TEST_CASE("sigma-delta matches the literal loop of the paper", "[sigma_delta][reference]") {
  // For even n the harmonic coefficients sum to 0, so with odd p the last v is an exact multiple
  // of the step (a rounding tie): the cases keep p even for even n.
  struct Case {
    int n, n_out, p, L;
    bool permuted;
  };
  for (const Case c : {Case{13, 7, 40, 1, false}, Case{13, 7, 40, 3, true}, Case{9, 20, 10, 2, false},
                       Case{21, 5, 130, 4, true}, Case{16, 9, 34, 2, true}}) {
    INFO("n = " << c.n << " N_out = " << c.n_out << " p = " << c.p << " L = " << c.L << " permuted " << c.permuted);
    const Eigen::MatrixXd W = gaussian(c.n, c.n_out, 11 + std::uint64_t(c.p));
    pathq::SigmaDeltaOptions o = options(c.p, c.L);
    if (c.permuted) o.order = seeded_permutation(c.p, 3);
    o.engine.block_size = 7;   // blocks and panels that do not divide the sizes
    o.engine.panel_width = 3;
    const auto r = pathq::SigmaDelta<double>(o).quantize(W);
    REQUIRE(r.info.status == pathq::Info::Success);
    REQUIRE(r.codes().rows() == c.p);
    REQUIRE(r.codes().cols() == c.n_out);
    const double delta = W.colwise().norm().maxCoeff() / (c.L - 0.5);
    REQUIRE(r.step()(0) == Approx(delta).epsilon(1e-14));
    const Eigen::MatrixXd F = pathq_reference::harmonic_frame(c.n, c.p);
    std::vector<int> order;
    for (auto k : o.order) order.push_back(int(k));
    const Eigen::MatrixXd Wq = r.values();
    for (int j = 0; j < c.n_out; ++j) {
      const auto tr = pathq_reference::frame_sigma_delta(W.col(j), F, c.L, delta, order);
      for (int k = 0; k < c.p; ++k) REQUIRE(r.codes()(k, j) == tr.codes[std::size_t(k)]);
      REQUIRE((Wq.col(j) - tr.xq).norm() < 1e-12 * (1 + tr.xq.norm()));
      double umax = 0;
      for (double u : tr.u) umax = std::max(umax, std::abs(u));
      REQUIRE(r.weights.max_state(j) == Approx(umax).margin(1e-12));
    }
  }
}

TEST_CASE("sigma-delta: |u| <= step/2 when stable, growth when the step is too small", "[sigma_delta][theory]") {
  const Eigen::MatrixXd W = gaussian(10, 30, 21);
  for (int L : {1, 2, 6}) {
    for (bool per_vector : {false, true}) {
      pathq::SigmaDeltaOptions o = options(50, L);
      o.per_vector_step = per_vector;
      const auto r = pathq::SigmaDelta<double>(o).quantize(W);
      INFO("L = " << L << " per-vector step " << per_vector);
      REQUIRE(r.stable());
      REQUIRE(r.info.saturated == 0);
      for (Eigen::Index j = 0; j < W.cols(); ++j) REQUIRE(r.weights.max_state(j) <= r.step()(j) / 2 * (1 + 1e-12));
    }
  }
  // 1 bit with a quarter of the stable step: ||x|| = 2 step > step/2. The state grows with the
  // length of the runs of large coefficients, that is with p.
  double previous = 0;
  for (int p : {40, 160, 640}) {
    pathq::SigmaDeltaOptions o = options(p, 1);
    o.step_scale = 0.25;
    const auto r = pathq::SigmaDelta<double>(o).quantize(W);
    const double growth = r.weights.max_state.maxCoeff() / r.step()(0);
    INFO("p = " << p << " max|u| / step = " << growth);
    REQUIRE_FALSE(r.stable());
    REQUIRE(r.info.status == pathq::Info::NumericalIssue);
    REQUIRE_THAT(r.info.message, Catch::Contains("error bound does not apply"));
    REQUIRE(r.info.saturated > 0);
    REQUIRE(growth > 1.0);
    REQUIRE(growth > 1.5 * previous);
    previous = growth;
  }
  pathq::SigmaDeltaOptions unstable = options(100, 1);
  unstable.step_scale = 0.25;
  REQUIRE_THROWS_AS(pathq::sigma_delta(W, unstable), pathq::numerical_error);
  REQUIRE(pathq::sigma_delta(W, options(100, 1)).stable());
}

TEST_CASE("sigma-delta: measured vector error <= (step n / 2p)(sigma + 1)", "[sigma_delta][bounds]") {
  for (int n : {8, 9, 32}) {
    for (int p : {n + 1, 2 * n, 8 * n + 3}) {
      for (int L : {1, 2, 5}) {
        for (auto axis : {pathq::FrameAxis::Columns, pathq::FrameAxis::Rows}) {
          pathq::SigmaDeltaOptions o = options(p, L);
          o.axis = axis;
          o.per_vector_step = (p % 2 == 1);
          o.order = (L == 2) ? seeded_permutation(p, std::uint64_t(n)) : std::vector<Eigen::Index>{};
          // Rows expand vectors of R^{N_out}: make N_out = n there.
          const Eigen::MatrixXd W = axis == pathq::FrameAxis::Columns ? gaussian(n, 6, 31 + std::uint64_t(p))
                                                                      : gaussian(6, n, 31 + std::uint64_t(p));
          const auto r = pathq::SigmaDelta<double>(o).quantize(W);
          INFO("n = " << n << " p = " << p << " L = " << L << " axis " << pathq::to_string(axis));
          REQUIRE(r.stable());
          const Eigen::MatrixXd E = W - r.values();
          const Eigen::MatrixXd vec_err = axis == pathq::FrameAxis::Columns ? E : Eigen::MatrixXd(E.transpose());
          const Eigen::RowVectorXd bound = pathq::bounds::sigma_delta_vectors(r.weights);
          for (Eigen::Index j = 0; j < vec_err.cols(); ++j) REQUIRE(vec_err.col(j).norm() <= bound(j));
          REQUIRE(E.norm() <= pathq::bounds::sigma_delta_layer(r));
          // The closed form for the natural order is an upper bound of the measured-variation one.
          if (o.order.empty() && !o.per_vector_step)
            REQUIRE(bound(0) <= pathq::bounds::sigma_delta_harmonic(double(r.step()(0)), n, p) * (1 + 1e-12));
          REQUIRE(r.bits_per_weight() == Approx(p * std::log2(2.0 * L) / n));
        }
      }
    }
  }
}

TEST_CASE("sigma-delta: bound and error fall like 1/p at a fixed step", "[sigma_delta][theory]") {
  const int n = 16, L = 2;
  const Eigen::MatrixXd W = gaussian(n, 200, 41);
  const double delta = W.colwise().norm().maxCoeff() / (L - 0.5);
  std::vector<double> bound, error;
  const std::vector<int> ps = {64, 256, 1024};
  for (int p : ps) {
    pathq::SigmaDeltaOptions o = options(p, L);
    o.step = delta;
    const auto r = pathq::SigmaDelta<double>(o).quantize(W);
    REQUIRE(r.stable());
    bound.push_back(pathq::bounds::sigma_delta_vectors(r.weights)(0));
    error.push_back((W - r.values()).colwise().norm().mean());
    REQUIRE((W - r.values()).colwise().norm().maxCoeff() <= bound.back());
  }
  for (std::size_t i = 1; i < ps.size(); ++i) {
    INFO("p = " << ps[i] << " bound ratio " << bound[i] / bound[i - 1] << " error ratio " << error[i] / error[i - 1]);
    // p grows 4x: the bound shrinks 4x (sigma barely moves); the mean error at least as fast.
    REQUIRE(bound[i] / bound[i - 1] == Approx(0.25).epsilon(0.05));
    REQUIRE(error[i] / error[i - 1] < 0.3);
  }
  // At a fixed p the bound is linear in the step.
  pathq::SigmaDeltaOptions o = options(128, L);
  o.step = 2 * delta;
  REQUIRE(pathq::bounds::sigma_delta_vectors(pathq::SigmaDelta<double>(o).quantize(W).weights)(0) ==
          Approx(2 * pathq::bounds::sigma_delta_vector(delta, n, 128, pathq::Frame::harmonic(n, 128).variation())));
}

TEST_CASE("sigma-delta: biases, rows, and the factored apply", "[sigma_delta]") {
  const Eigen::MatrixXd W = gaussian(9, 7, 51), X = gaussian(5, 9, 52);
  const Eigen::VectorXd b = gaussian(7, 1, 53);
  for (auto axis : {pathq::FrameAxis::Columns, pathq::FrameAxis::Rows}) {
    for (auto mode : {pathq::BiasMode::ExtraRow, pathq::BiasMode::OwnFrame}) {
      INFO("axis " << pathq::to_string(axis) << " bias " << pathq::to_string(mode));
      pathq::SigmaDeltaOptions o = options(64, 3);
      o.axis = axis;
      o.bias_mode = mode;
      const auto r = pathq::SigmaDelta<double>(o).quantize(W, b);
      REQUIRE(r.stable());
      const Eigen::Index n = axis == pathq::FrameAxis::Columns ? 9 + (mode == pathq::BiasMode::ExtraRow) : 7;
      REQUIRE(r.n() == n);
      REQUIRE(r.codes().cols() == (axis == pathq::FrameAxis::Columns ? 7 : 9 + (mode == pathq::BiasMode::ExtraRow)));
      const Eigen::MatrixXd Wq = r.values();
      const Eigen::VectorXd bq = r.bias_values();
      REQUIRE(Wq.rows() == 9);
      REQUIRE(Wq.cols() == 7);
      REQUIRE((b - bq).norm() <= pathq::bounds::sigma_delta_bias(r));
      REQUIRE((W - Wq).norm() <= pathq::bounds::sigma_delta_layer(r));
      const Eigen::MatrixXd Y = (X * Wq).rowwise() + bq.transpose();
      REQUIRE((r.apply(X) - Y).norm() < 1e-12 * Y.norm());
      if (mode == pathq::BiasMode::OwnFrame) REQUIRE(r.bias.p() == std::max<Eigen::Index>(8, (64 * 7 + n - 1) / n));
    }
  }
  // Without a bias the apply is X W_q.
  const auto r = pathq::SigmaDelta<double>(options(30, 2)).quantize(W);
  REQUIRE((r.apply(X) - X * r.values()).norm() < 1e-12 * (X * r.values()).norm());
  REQUIRE(r.bias_values().isZero());
  pathq::SigmaDeltaOptions rows = options(30, 2);
  rows.axis = pathq::FrameAxis::Rows;
  const auto rr = pathq::SigmaDelta<double>(rows).quantize(W);
  REQUIRE(rr.codes().cols() == 9);
  REQUIRE((rr.apply(X) - X * rr.values()).norm() < 1e-12 * (X * rr.values()).norm());
  // expand() is the vector-level form: the columns of W alone give the same codes.
  const auto code = pathq::SigmaDelta<double>(options(30, 2)).expand(W);
  REQUIRE(code.codes == r.codes());
  REQUIRE((code.vectors() - r.values()).norm() < 1e-14 * W.norm());
}

TEST_CASE("sigma-delta in a user-supplied FUNTF and in float", "[sigma_delta]") {
  // An orthogonal rotation of a harmonic frame is another FUNTF.
  const int n = 6, p = 20;
  Eigen::MatrixXd U = gaussian(n, n, 61);  // orthonormalised by Gram-Schmidt
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < j; ++i) U.col(j) -= U.col(i).dot(U.col(j)) * U.col(i);
    U.col(j).normalize();
  }
  const Eigen::MatrixXd F = U * pathq_reference::harmonic_frame(n, p);
  const auto frame = pathq::Frame::from_matrix(F);
  REQUIRE(frame.kind() == pathq::FrameKind::Explicit);
  const Eigen::MatrixXd W = gaussian(n, 4, 62);
  const auto r = pathq::SigmaDelta<double>(options(0, 2)).quantize(W, frame);
  const double delta = W.colwise().norm().maxCoeff() / 1.5;
  for (int j = 0; j < 4; ++j) {
    const auto tr = pathq_reference::frame_sigma_delta(W.col(j), F, 2, delta);
    for (int k = 0; k < p; ++k) REQUIRE(r.codes()(k, j) == tr.codes[std::size_t(k)]);
    REQUIRE((r.values().col(j) - tr.xq).norm() < 1e-12);
  }
  // Float: the same codes as double away from ties, and the bound holds.
  const Eigen::MatrixXf Wf = gaussian(24, 10, 63).cast<float>();
  const auto rf = pathq::SigmaDelta<float>(options(100, 2)).quantize(Wf);
  const auto rd = pathq::SigmaDelta<double>(options(100, 2)).quantize(Wf.cast<double>());
  REQUIRE(rf.stable());
  REQUIRE((rf.codes().array() != rd.codes().array()).count() <= 2);
  const Eigen::RowVectorXd bf = pathq::bounds::sigma_delta_vectors(rf.weights);
  const Eigen::MatrixXf Ef = Wf - rf.values();
  for (Eigen::Index j = 0; j < 10; ++j) REQUIRE(Ef.col(j).norm() <= bf(j) * (1 + 1e-5));
}

TEST_CASE("sigma-delta: the thread count changes nothing", "[sigma_delta]") {
  const Eigen::MatrixXd W = gaussian(20, 50, 71);
  pathq::SigmaDeltaOptions o = options(70, 2);
  o.engine.panel_width = 8;
  o.engine.threads = 1;
  const auto a = pathq::SigmaDelta<double>(o).quantize(W);
  o.engine.threads = 2;
  const auto b = pathq::SigmaDelta<double>(o).quantize(W);
  REQUIRE(a.codes() == b.codes());
  REQUIRE(a.weights.max_state == b.weights.max_state);
}

TEST_CASE("network bounds hold for sigma-delta quantized feed-forward and residual nets", "[sigma_delta][bounds]") {
  const auto relu = [](const Eigen::VectorXd& z) { return Eigen::VectorXd(z.cwiseMax(0.0)); };
  // ||A||_2 = sqrt(largest eigenvalue of A^T A), by two-sided Jacobi on the square A^T A.
  const auto spectral = [](const Eigen::MatrixXd& A) {
    const Eigen::MatrixXd G = A.transpose() * A;
    return std::sqrt(Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::NoQRPreconditioner>(G).singularValues()(0));
  };
  for (bool residual : {false, true}) {
    const std::vector<int> dims = residual ? std::vector<int>{10, 10, 10, 10} : std::vector<int>{12, 10, 8, 5};
    std::vector<Eigen::MatrixXd> Ws, Wqs;
    std::vector<Eigen::VectorXd> bs, bqs;
    std::vector<pathq::bounds::LayerPerturbation> layers, layers_from_bounds;
    for (std::size_t l = 0; l + 1 < dims.size(); ++l) {
      const double scale = residual ? 0.3 : 1.0;
      Ws.push_back(scale * gaussian(dims[l], dims[l + 1], 80 + l) / std::sqrt(double(dims[l])));
      bs.push_back(0.1 * gaussian(dims[l + 1], 1, 90 + l));
      pathq::SigmaDeltaOptions o = options(8 * dims[l], 2);
      o.bias_mode = pathq::BiasMode::OwnFrame;
      const auto r = pathq::SigmaDelta<double>(o).quantize(Ws.back(), bs.back());
      Wqs.push_back(r.values());
      bqs.push_back(r.bias_values());
      layers.push_back({spectral(Wqs.back()), spectral(Ws.back() - Wqs.back()), (bs.back() - bqs.back()).norm()});
      layers_from_bounds.push_back(
          {spectral(Wqs.back()), pathq::bounds::sigma_delta_layer(r), pathq::bounds::sigma_delta_bias(r)});
    }
    for (std::uint64_t s = 0; s < 10; ++s) {
      Eigen::VectorXd a = gaussian(dims[0], 1, 200 + s), aq = a;
      std::vector<double> norms;
      for (std::size_t l = 0; l < Ws.size(); ++l) {
        norms.push_back(a.norm());
        const Eigen::VectorXd na = relu(Ws[l].transpose() * a + bs[l]);
        const Eigen::VectorXd naq = relu(Wqs[l].transpose() * aq + bqs[l]);
        a = residual ? Eigen::VectorXd(a + na) : na;
        aq = residual ? Eigen::VectorXd(aq + naq) : naq;
      }
      const double measured = (a - aq).norm();
      const double bound = residual ? pathq::bounds::network_residual(layers, norms)
                                    : pathq::bounds::network_feedforward(layers, norms);
      const double bound2 = residual ? pathq::bounds::network_residual(layers_from_bounds, norms)
                                     : pathq::bounds::network_feedforward(layers_from_bounds, norms);
      INFO("residual " << residual << " seed " << s << " measured " << measured << " bound " << bound
                       << " from the layer bounds " << bound2);
      REQUIRE(measured > 0);
      REQUIRE(measured <= bound);
      REQUIRE(bound <= bound2);
    }
  }
}

TEST_CASE("sigma-delta: the data-domain bound ||X||_2^2 ||W - W_q||_F^2", "[sigma_delta][bounds]") {
  for (int n : {5, 30}) {
    const Eigen::MatrixXd X = gaussian(3 * n, n, 300 + std::uint64_t(n)), W = gaussian(n, 8, 400 + std::uint64_t(n));
    const Eigen::MatrixXd K = X.transpose() * X;
    // lambda_max by power iteration (from below): the certified bound lies above it, within 2x.
    Eigen::VectorXd v = Eigen::VectorXd::Ones(n);
    double lambda = 0;
    for (int it = 0; it < 2000; ++it) {
      v = K * v;
      lambda = v.norm();
      v /= lambda;
    }
    const double upper = pathq::bounds::spectral_upper_bound(K);
    INFO("n = " << n << " lambda_max ~ " << lambda << " upper bound " << upper);
    REQUIRE(upper >= lambda * (1 - 1e-12));
    REQUIRE(upper <= 2 * lambda);
    const auto r = pathq::SigmaDelta<double>(options(4 * n, 2)).quantize(W);
    REQUIRE((X * (W - r.values())).squaredNorm() <= pathq::bounds::sigma_delta_data(r, K));
  }
  // Gershgorin is exact on a diagonal matrix.
  REQUIRE(pathq::bounds::spectral_upper_bound(Eigen::Vector3d(3, 1, 2).asDiagonal().toDenseMatrix()) == Approx(3));
  REQUIRE_THROWS_WITH(pathq::bounds::spectral_upper_bound(Eigen::MatrixXd::Ones(2, 3)), Catch::Contains("K must be square"));
  const auto r = pathq::SigmaDelta<double>(options(20, 1)).quantize(gaussian(6, 2, 1));
  REQUIRE_THROWS_WITH(pathq::bounds::sigma_delta_data(r, Eigen::MatrixXd::Identity(5, 5)),
                      Catch::Contains("K is 5 x 5 but the layer has N_in = 6"));
}

TEST_CASE("sigma-delta: bad input throws naming it", "[sigma_delta][contract]") {
  using Catch::Contains;
  const Eigen::MatrixXd W = gaussian(8, 3, 1);
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(8, 1)).quantize(W), Contains("frame_size p must be > n = 8"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(5, 1)).quantize(W), Contains("got 5"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(20, 0)), Contains("levels L must be in [1, 2^30), got 0"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(-1, 1)), Contains("frame_size must be >= 0"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(20, 1)).quantize(Eigen::MatrixXd(0, 3)), Contains("W is empty"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(20, 1)).quantize(Eigen::MatrixXd(4, 0)), Contains("W is empty"));
  Eigen::MatrixXd Wn = W;
  Wn(2, 1) = std::nan("");
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(20, 1)).quantize(Wn), Contains("W has a non-finite entry"));
  pathq::SigmaDeltaOptions o = options(20, 1);
  o.step = -1;
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(o), Contains("step must be finite and >= 0"));
  o = options(20, 1);
  o.step_scale = 0;
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(o), Contains("step_scale must be finite and > 0"));
  o = options(20, 1);
  o.order = {0, 1, 2};
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(o).quantize(W), Contains("order has 3 entries but the frame has p = 20"));
  o.order = seeded_permutation(20, 1);
  o.order[4] = o.order[5];
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(o).quantize(W), Contains("order repeats element"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(20, 1)).quantize(W, Eigen::VectorXd::Ones(4)),
                      Contains("bias has 4 x 1 entries but W has N_out = 3"));
  o = options(20, 1);
  o.bias_mode = pathq::BiasMode::OwnFrame;
  o.bias_frame_size = 3;
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(o).quantize(W, Eigen::VectorXd::Ones(3)),
                      Contains("bias_frame_size must be > N_out = 3"));
  REQUIRE_THROWS_WITH(pathq::SigmaDelta<double>(options(0, 1)).quantize(W, pathq::Frame::harmonic(5, 9)),
                      Contains("the frame is of R^5 but the vectors have n = 8"));
  REQUIRE_THROWS_WITH(pathq::Frame::harmonic(0, 4), Contains("dimension n must be >= 1"));
  REQUIRE_THROWS_WITH(pathq::Frame::harmonic(6, 6), Contains("frame size p must be > n = 6"));
  Eigen::MatrixXd F = pathq::Frame::harmonic(4, 9).matrix();
  F.col(0) *= 2;
  REQUIRE_THROWS_WITH(pathq::Frame::from_matrix(F), Contains("F is not a unit-norm tight frame"));
  REQUIRE_THROWS_WITH(pathq::Frame::from_matrix(Eigen::MatrixXd::Identity(3, 3)), Contains("p > n >= 1"));
  REQUIRE_THROWS_WITH(pathq::bounds::sigma_delta_vector(0, 4, 9, 1), Contains("delta must be finite and > 0"));
  REQUIRE_THROWS_WITH(pathq::bounds::sigma_delta_harmonic(1, 4, 4), Contains("p must be > n"));
  REQUIRE_THROWS_WITH(pathq::bounds::network_feedforward({{1, 0.1, 0}}, {}), Contains("activation_norms has 0 entries"));
  REQUIRE_THROWS_WITH(pathq::bounds::network_residual({{1, -0.1, 0}}, {1.0}), Contains("negative or non-finite"));
}

}  // namespace pathq_test_sigma_delta
