// The engine's scan: its vector loop against its general loop, and the trace identities of the
// layer error (GPFQ, OPTQ) against the error computed from the statistics.
#include <catch2/catch.hpp>

#include <pathq/pathq.hpp>

#include "support/random_data.hpp"

namespace pathq_test_scan {

using pathq_test::gaussian;

namespace {

// Nearest rounding under another type: the scan takes its general, per-weight loop.
struct NearestElsewhere {
  static constexpr bool is_stochastic = false;
  template <class Scalar>
  int operator()(Scalar u, int lo, int hi, Eigen::Index t, Eigen::Index j) const {
    return pathq::Nearest{}(u, lo, hi, t, j);
  }
};

// Correlated inputs (a shared factor), with the listed features all zero.
Eigen::MatrixXd correlated_inputs(Eigen::Index m, Eigen::Index n, std::uint64_t seed,
                                  const std::vector<Eigen::Index>& dead = {}) {
  Eigen::MatrixXd X = gaussian(m, n, seed) + 0.8 * gaussian(m, 1, seed + 1).replicate(1, n);
  for (auto t : dead) X.col(t).setZero();
  return X;
}

template <class Scalar>
void require_same_result(const pathq::Result<Scalar>& a, const pathq::Result<Scalar>& b) {
  REQUIRE(a.codes == b.codes);
  REQUIRE(a.grid.step == b.grid.step);
  REQUIRE(a.grid.zero == b.grid.zero);
  REQUIRE(a.info.saturated == b.info.saturated);
}

}  // namespace

TEMPLATE_TEST_CASE("scan: the vector loop gives the general loop's codes, steps and saturation", "[engine][scan]",
                   float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 70, n_out = 45, m = 150;
  const Eigen::MatrixXd W = gaussian(n, n_out, 11);
  const auto stats = pathq::LayerStats<double>::from(correlated_inputs(m, n, 12, {3}));
  struct Case {
    const char* name;
    pathq::Alphabet<Scalar> alphabet;
  };
  const std::vector<Case> cases = {
      {"symmetric, column radius", pathq::Alphabet<Scalar>::from_bits(3)},
      {"symmetric, layer radius 0.6 (saturating)",
       pathq::Alphabet<Scalar>::from_bits(2, pathq::StepRule::layer_radius(0.6))},
      {"midrise", pathq::Alphabet<Scalar>::midrise(4, pathq::StepRule::column_radius(1.0))},
      {"asymmetric groups of 16", pathq::Alphabet<Scalar>::asymmetric(3).with_group_size(16)},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      for (Eigen::Index bs : {1, 16, 128}) {
        pathq::GpfqOptions g;
        g.engine.block_size = bs;
        g.engine.panel_width = 32;
        require_same_result(pathq::Gpfq<Scalar>(g).quantize(W, stats, c.alphabet),
                            pathq::Gpfq<Scalar, NearestElsewhere>(g).quantize(W, stats, c.alphabet));
        for (bool act_order : {false, true}) {
          pathq::OptqOptions o;
          o.engine = g.engine;
          o.static_groups = true;
          if (act_order) o.order = pathq::FeatureOrder::DescendingEnergy;
          require_same_result(pathq::Optq<Scalar>(o).quantize(W, stats, c.alphabet),
                              pathq::Optq<Scalar, NearestElsewhere>(o).quantize(W, stats, c.alphabet));
        }
        if (c.alphabet.group_size() > 0) {  // dynamic groups: the refit inside the scan
          pathq::OptqOptions o;
          o.engine = g.engine;
          require_same_result(pathq::Optq<Scalar>(o).quantize(W, stats, c.alphabet),
                              pathq::Optq<Scalar, NearestElsewhere>(o).quantize(W, stats, c.alphabet));
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("scan: the methods' trace identities give the layer error of the statistics", "[engine][scan]",
                   float, double) {
  using Scalar = TestType;
  const double tol = std::is_same<Scalar, float>::value ? 2e-4 : 1e-9;
  const Eigen::Index n = 90, n_out = 33, m = 200;
  const Eigen::MatrixXd W = gaussian(n, n_out, 21);
  const std::vector<Eigen::Index> dead = {0, 17, 89};
  const auto stats = pathq::LayerStats<double>::from(correlated_inputs(m, n, 22, dead));
  auto check = [&](const pathq::Result<Scalar>& r, const char* what) {
    INFO(what);
    REQUIRE(r.info.column_error.size() == n_out);
    REQUIRE(r.info.column_reference.size() == n_out);
    const auto exact = pathq::layer_error(stats, W, r.values());
    for (Eigen::Index j = 0; j < n_out; ++j) {
      REQUIRE(r.info.column_reference(j) == Approx(exact.column_reference(j)).epsilon(tol));
      REQUIRE(r.info.column_error(j) == Approx(exact.column_error(j)).epsilon(tol).margin(tol * exact.column_reference(j)));
    }
    // The 1-bit-per-level grids of these runs leave a clearly positive error.
    REQUIRE(exact.squared_relative() > 1e-3);
    const auto from_result = pathq::layer_error(stats, W, r);
    REQUIRE(from_result.column_error == r.info.column_error);
  };
  for (int bits : {2, 4}) {
    const auto alphabet = pathq::Alphabet<Scalar>::from_bits(bits);
    pathq::GpfqOptions g;
    g.engine.block_size = 16;
    check(pathq::Gpfq<Scalar>(g).quantize(W, stats, alphabet), "gpfq");
    g.order = pathq::FeatureOrder::DescendingEnergy;
    check(pathq::Gpfq<Scalar>(g).quantize(W, stats, alphabet), "gpfq, energy order");
    pathq::OptqOptions o;
    o.engine.block_size = 16;
    check(pathq::Optq<Scalar>(o).quantize(W, stats, alphabet), "optq");
    o.order = pathq::FeatureOrder::DescendingEnergy;
    o.damping = 0.1;
    check(pathq::Optq<Scalar>(o).quantize(W, stats, alphabet), "optq, act-order, damping 0.1");
    pathq::OptqOptions d;
    check(pathq::Optq<Scalar>(d).quantize(W, stats, pathq::Alphabet<Scalar>::asymmetric(bits).with_group_size(32)),
          "optq, dynamic groups");
    check(pathq::Gpfq<Scalar, pathq::StochasticRounding>(pathq::GpfqOptions{}, pathq::StochasticRounding(5))
              .quantize(W, stats, alphabet),
          "stochastic gpfq");
  }
}

TEST_CASE("scan: no trace figures where the identity does not hold, and none after polishing", "[engine][scan]") {
  const Eigen::Index n = 40, n_out = 9, m = 100;
  const Eigen::MatrixXd W = gaussian(n, n_out, 31);
  const Eigen::MatrixXd X = correlated_inputs(m, n, 32);
  const auto alphabet = pathq::Alphabet<double>::from_bits(3);
  // Xq != X: G and K differ from H.
  const auto two = pathq::LayerStats<double>::from(X, Eigen::MatrixXd(X + 0.1 * gaussian(m, n, 33)));
  REQUIRE(pathq::Gpfq<double>().quantize(W, two, alphabet).info.column_error.size() == 0);
  REQUIRE(pathq::Optq<double>().quantize(W, two, alphabet).info.column_error.size() == 0);
  // Xq given apart but equal to X: the statistics are equal entry for entry, the identity holds.
  const auto same = pathq::LayerStats<double>::from(X, X);
  REQUIRE(pathq::Gpfq<double>().quantize(W, same, alphabet).info.column_error.size() == n_out);
  // A dead feature whose energy is tiny but not zero: its row of H is not zero.
  Eigen::MatrixXd Xt = X;
  Xt.col(5) *= 1e-9;
  const auto tiny = pathq::LayerStats<double>::from(Xt);
  REQUIRE(tiny.dead_inputs()[5]);
  REQUIRE(pathq::Gpfq<double>().quantize(W, tiny, alphabet).info.column_error.size() == 0);
  // Polishing changes the codes: the figures go, and layer_error computes the error again.
  const auto stats = pathq::LayerStats<double>::from(X);
  auto r = pathq::Gpfq<double>().quantize(W, stats, alphabet);
  REQUIRE(r.info.column_error.size() == n_out);
  auto refined = pathq::refine_codes(W, stats, r);
  REQUIRE(refined.info.column_error.size() == 0);
  REQUIRE(pathq::layer_error(stats, W, refined).error() ==
          Approx(pathq::layer_error(stats, W, refined.values()).error()).epsilon(1e-12));
  REQUIRE(pathq::refit_steps(W, stats, r).info.column_error.size() == 0);
}

}  // namespace pathq_test_scan
