// Maly-Saab walk + MSQ: against the dense reference on X, the invariants and bounds, the rate, degenerate data, bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <pathq/bounds/maly_saab.hpp>
#include <pathq/bounds/msq.hpp>
#include <pathq/methods/maly_saab.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "reference/maly_saab_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_maly_saab {

using pathq_test::gaussian;

namespace {

using Walk = pathq::MalySaab<double>;

std::vector<pathq_reference::Levels> levels_of(const pathq::Grid<double>& g) {
  std::vector<pathq_reference::Levels> L;
  for (Eigen::Index j = 0; j < g.step.cols(); ++j) L.push_back({g.code_lo, g.code_hi, g.zero(0, j), g.step(0, j)});
  return L;
}

// max_j ||X (w~_j - w_j)|| / ||X w_j||.
double max_drift(const Eigen::MatrixXd& X, const Eigen::MatrixXd& W, const Eigen::MatrixXd& Wt) {
  double worst = 0;
  for (Eigen::Index j = 0; j < W.cols(); ++j) {
    const double ref = (X * W.col(j)).norm();
    worst = std::max(worst, (X * (Wt.col(j) - W.col(j))).norm() / (ref > 0 ? ref : 1.0));
  }
  return worst;
}

// Every entry of W~ lies in its cell: between the two codes around w (grid cells), or between the
// grid's end and w for a weight beyond the grid. Returns the number of entries that are not.
Eigen::Index outside_cells(const Eigen::MatrixXd& W, const Eigen::MatrixXd& Wt, const pathq::Grid<double>& g) {
  Eigen::Index bad = 0;
  const double eps = 1e-9;
  for (Eigen::Index j = 0; j < W.cols(); ++j)
    for (Eigen::Index t = 0; t < W.rows(); ++t) {
      const Eigen::Index gr = g.group_of(t);
      const double u = W(t, j) / g.step(gr, j) + g.zero(gr, j);
      const double ut = Wt(t, j) / g.step(gr, j) + g.zero(gr, j);
      double lo, hi;
      if (u > g.code_hi) {
        lo = g.code_hi;
        hi = u;
      } else if (u < g.code_lo) {
        lo = u;
        hi = g.code_lo;
      } else {
        lo = std::min<double>(g.code_hi - 1, std::floor(u));
        hi = lo + 1;
        if (std::abs(u - std::round(u)) < 1e-12) lo = hi = std::round(u);
      }
      bad += ut < lo - eps || ut > hi + eps;
    }
  return bad;
}

// Weights of neuron j beyond the grid's range (they may stay off the grid on top of rank(X)).
Eigen::Index beyond(const Eigen::MatrixXd& W, const pathq::Grid<double>& g, Eigen::Index j) {
  Eigen::Index k = 0;
  for (Eigen::Index t = 0; t < W.rows(); ++t) {
    const double u = W(t, j) / g.step(g.group_of(t), j) + g.zero(g.group_of(t), j);
    k += u > g.code_hi || u < g.code_lo;
  }
  return k;
}

bool same_sets(const std::vector<std::vector<Eigen::Index>>& a, const std::vector<std::vector<Eigen::Index>>& b) {
  return a == b;
}

}  // namespace

TEST_CASE("maly_saab: walk and codes equal the dense reference on X, both factor routes", "[maly_saab][reference]") {
  struct Case {
    Eigen::Index n_in, n_out, m;
    bool midrise, box;
    int K;
    double step;
  };
  const std::vector<Case> cases = {
      {40, 4, 8, false, false, 3, 0.3},  {60, 3, 12, true, false, 4, 0.25}, {30, 5, 6, false, true, 2, 0.5},
      {24, 3, 24, false, false, 3, 0.3}, {18, 6, 1, true, false, 2, 0.4},   {50, 2, 10, false, false, 1, 0.9},
  };
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    const auto alphabet = c.midrise ? pathq::Alphabet<double>::midrise(c.K, c.step)
                                    : pathq::Alphabet<double>::symmetric(c.K, c.step);
    for (std::uint64_t seed = 10 * k + 1;; seed += 1000) {
      const Eigen::MatrixXd W = 0.5 * gaussian(c.n_in, c.n_out, seed);
      const Eigen::MatrixXd X = gaussian(c.m, c.n_in, seed + 1);
      const auto grid = alphabet.resolve(W);
      const auto L = levels_of(grid);
      const auto ref = pathq_reference::maly_saab_reference(W, X, L, c.box);
      if (pathq_reference::rounding_margin(ref, L) < 1e-7) continue;
      pathq::MalySaabOptions opt;
      opt.cells = c.box ? pathq::MalySaabCells::Box : pathq::MalySaabCells::Grid;
      const Walk ms(opt);
      const auto stats = pathq::LayerStats<double>::from(X);
      for (int route = 0; route < 2; ++route) {
        INFO("case " << k << " seed " << seed << " N_in " << c.n_in << " m " << c.m << " route " << route);
        const auto walk = route == 0 ? ms.preprocess(W, stats, grid)
                                     : ms.preprocess(W, pathq::GramFactor::from_data(X), grid);
        REQUIRE(walk.rank == std::min(c.m, c.n_in));
        REQUIRE(same_sets(walk.off_grid, ref.off_grid));
        REQUIRE((walk.W_tilde - ref.W_tilde).cwiseAbs().maxCoeff() <= 1e-9);
        const auto r = ms.quantize_walk(walk, grid);
        REQUIRE((r.values() - ref.Q).cwiseAbs().maxCoeff() == 0.0);
        REQUIRE(r.info.status == (c.m >= c.n_in ? pathq::Info::NumericalIssue : pathq::Info::Success));
      }
      break;
    }
  }
}

TEST_CASE("maly_saab: descending-energy order equals the reference on permuted features", "[maly_saab][reference]") {
  const Eigen::Index n = 36, n_out = 3, m = 7;
  const auto alphabet = pathq::Alphabet<double>::symmetric(3, 0.3);
  for (std::uint64_t seed = 5;; seed += 1000) {
    const Eigen::MatrixXd W = 0.5 * gaussian(n, n_out, seed);
    Eigen::MatrixXd X = gaussian(m, n, seed + 1);
    for (Eigen::Index t = 0; t < n; ++t) X.col(t) *= 0.3 + double((t * 7) % n) / 12.0;
    const auto stats = pathq::LayerStats<double>::from(X);
    const auto perm = pathq::feature_permutation(pathq::FeatureOrder::DescendingEnergy, stats.K().diagonal());
    Eigen::MatrixXd Wp(n, n_out), Xp(m, n);
    for (Eigen::Index i = 0; i < n; ++i) {
      Wp.row(i) = W.row(perm[std::size_t(i)]);
      Xp.col(i) = X.col(perm[std::size_t(i)]);
    }
    const auto grid = alphabet.resolve(W);
    const auto L = levels_of(grid);
    const auto ref = pathq_reference::maly_saab_reference(Wp, Xp, L, false);
    if (pathq_reference::rounding_margin(ref, L) < 1e-7) continue;
    pathq::MalySaabOptions opt;
    opt.order = pathq::FeatureOrder::DescendingEnergy;
    const auto r = Walk(opt).quantize(W, stats, grid);
    const Eigen::MatrixXd Q = r.values();
    INFO("seed " << seed);
    for (Eigen::Index i = 0; i < n; ++i) REQUIRE(Q.row(perm[std::size_t(i)]) == ref.Q.row(i));
    break;
  }
}

TEST_CASE("maly_saab: X w~ = X w to 1e-10, at most rank(X) entries off the grid, all in their cells", "[maly_saab][theory]") {
  struct Case {
    Eigen::Index n_in, n_out, m;
  };
  for (const Case c : {Case{200, 12, 30}, Case{500, 6, 50}, Case{120, 20, 5}}) {
    const Eigen::MatrixXd W = gaussian(c.n_in, c.n_out, 71 + std::uint64_t(c.n_in)) / 3.0;
    const Eigen::MatrixXd X = gaussian(c.m, c.n_in, 72 + std::uint64_t(c.n_in));
    const auto stats = pathq::LayerStats<double>::from(X);
    const auto alphabet = pathq::Alphabet<double>::from_bits(4, pathq::StepRule::column_radius(1.0));
    const auto grid = alphabet.resolve(W);
    for (int route = 0; route < 2; ++route) {
      INFO("N_in " << c.n_in << " N_out " << c.n_out << " m " << c.m << " route " << route);
      const auto walk = route == 0 ? Walk().preprocess(W, stats, grid)
                                   : Walk().preprocess(W, pathq::GramFactor::from_data(X), grid);
      REQUIRE(walk.rank == c.m);
      REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
      REQUIRE(walk.off_grid_max() <= walk.rank);
      REQUIRE(walk.off_grid_count() >= c.n_out * (c.m - 1));  // generic data: the bound is attained
      REQUIRE(outside_cells(W, walk.W_tilde, grid) == 0);
      REQUIRE(walk.stuck == 0);
      // Entries not listed off the grid are exactly on it.
      const auto r = Walk().quantize_walk(walk, grid);
      const Eigen::MatrixXd Q = r.values();
      Eigen::Index changed = 0;
      for (Eigen::Index j = 0; j < c.n_out; ++j)
        for (Eigen::Index t = 0; t < c.n_in; ++t) changed += Q(t, j) != walk.W_tilde(t, j);
      REQUIRE(changed == walk.off_grid_count());
      REQUIRE(r.info.extra.at("off_grid") == double(walk.off_grid_count()));
      REQUIRE(r.info.extra.at("rank") == double(c.m));
    }
  }
  // float weights and grid: the walk still computes in double.
  const Eigen::MatrixXf Wf = (gaussian(150, 4, 81) / 3.0).cast<float>();
  const Eigen::MatrixXd X = gaussian(20, 150, 82);
  const auto rf = pathq::maly_saab(Wf, X, pathq::Alphabet<float>::from_bits(3, pathq::StepRule::column_radius(1.0)));
  REQUIRE(rf.info.extra.at("off_grid_max") <= 20);
  const Eigen::MatrixXd Wd = Wf.cast<double>();
  const auto wf = pathq::MalySaab<float>().preprocess(
      Wf, pathq::GramFactor::from_data(X), pathq::Alphabet<float>::from_bits(3, pathq::StepRule::column_radius(1.0)).resolve(Wf));
  REQUIRE(max_drift(X, Wd, wf.W_tilde) <= 1e-10);
}


TEST_CASE("maly_saab: the error is within the deterministic bound on the actual free set", "[maly_saab][bounds]") {
  const Eigen::Index n = 160, n_out = 10;
  const double delta = 0.4;
  for (const Eigen::Index m : {4, 15, 40}) {
    const Eigen::MatrixXd W = gaussian(n, n_out, 90 + std::uint64_t(m));
    const Eigen::MatrixXd X0 = gaussian(m, n, 91 + std::uint64_t(m));
    Eigen::MatrixXd X = X0;
    for (Eigen::Index t = 0; t < n; t += 3) X.col(t) *= 4.0;  // uneven feature norms
    for (const Eigen::MatrixXd* data : std::vector<const Eigen::MatrixXd*>{&X0, &X}) {
      const auto stats = pathq::LayerStats<double>::from(*data);
      const auto grid = pathq::Alphabet<double>::unbounded(delta).resolve(W);
      const Walk ms;
      const auto walk = ms.preprocess(W, stats, grid);
      const auto r = ms.quantize_walk(walk, grid);
      const Eigen::MatrixXd Q = r.values();
      INFO("m " << m << " uneven norms " << (data == &X));
      REQUIRE(r.info.saturated == 0);
      for (Eigen::Index j = 0; j < n_out; ++j) {
        const double err = (*data * (W.col(j) - Q.col(j))).norm();
        const double bound = pathq::bounds::maly_saab_neuron(stats.K(), walk.off_grid[std::size_t(j)], delta);
        INFO("neuron " << j << " error " << err << " bound " << bound);
        REQUIRE(err <= bound * (1 + 1e-9));
        if (data == &X0) REQUIRE(err * err <= pathq::bounds::maly_saab_gaussian(delta, double(m), double(n), 3.0));
      }
      const double E = pathq::layer_error(stats, W, Q).error();
      const double B = pathq::bounds::maly_saab_deterministic(stats.K(), walk.off_grid, grid);
      REQUIRE(E <= B * (1 + 1e-9));
      REQUIRE(B < pathq::bounds::msq_unsaturated(grid, stats.K().diagonal()));
    }
  }
}

TEST_CASE("maly_saab: relative error decays with N_in at fixed m; MSQ's stays flat", "[maly_saab][theory]") {
  const Eigen::Index m = 10, n_out = 8;
  const double delta = 0.5;
  std::vector<double> ms, msq;
  const std::vector<Eigen::Index> sizes = {40, 160, 640};
  for (const Eigen::Index n : sizes) {
    const Eigen::MatrixXd W = gaussian(n, n_out, 200 + std::uint64_t(n));
    const auto stats = pathq::LayerStats<double>::from(gaussian(m, n, 201 + std::uint64_t(n)));
    const auto alphabet = pathq::Alphabet<double>::unbounded(delta);
    ms.push_back(pathq::relative_error(W, Walk().quantize(W, stats, alphabet), stats));
    msq.push_back(pathq::relative_error(W, pathq::msq(W, alphabet), stats));
    const double rate = pathq::bounds::maly_saab_gaussian_rate(delta, double(m), double(n), 1.0);
    INFO("N_in " << n << " maly-saab " << ms.back() << " msq " << msq.back() << " rate " << rate);
    REQUIRE(ms.back() <= rate);
  }
  INFO("maly-saab " << ms[0] << " " << ms[1] << " " << ms[2] << "; msq " << msq[0] << " " << msq[1] << " " << msq[2]);
  REQUIRE(ms[1] < ms[0] / 2);
  REQUIRE(ms[2] < ms[1] / 2);
  REQUIRE(ms[2] < msq[2] / 10);
  REQUIRE(msq[2] > msq[0] / 2);
  REQUIRE(msq[2] < msq[0] * 2);
}

TEST_CASE("maly_saab: rank-deficient data (X = A B) walk down to rank(X) off-grid entries", "[maly_saab][degenerate]") {
  const Eigen::MatrixXd X = gaussian(20, 5, 301) * gaussian(5, 50, 302);
  const auto alphabet = pathq::Alphabet<double>::symmetric(3, 0.3);
  for (std::uint64_t seed = 303;; seed += 1000) {
    const Eigen::MatrixXd W = 0.5 * gaussian(50, 4, seed);
    const auto grid = alphabet.resolve(W);
    const auto L = levels_of(grid);
    const auto ref = pathq_reference::maly_saab_reference(W, X, L, false);
    if (pathq_reference::rounding_margin(ref, L) < 1e-7) continue;
    for (int route = 0; route < 2; ++route) {
      INFO("seed " << seed << " route " << route);
      const auto walk = route == 0 ? Walk().preprocess(W, pathq::LayerStats<double>::from(X), grid)
                                   : Walk().preprocess(W, pathq::GramFactor::from_data(X), grid);
      REQUIRE(walk.rank == 5);
      for (Eigen::Index j = 0; j < 4; ++j) REQUIRE(Eigen::Index(walk.off_grid[std::size_t(j)].size()) <= 5 + beyond(W, grid, j));
      REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
      REQUIRE(same_sets(walk.off_grid, ref.off_grid));
      REQUIRE((Walk().quantize_walk(walk, grid).values() - ref.Q).cwiseAbs().maxCoeff() == 0.0);
    }
    break;
  }
}

TEST_CASE("maly_saab: duplicate columns; a ratio-test tie fixes both entries that hit", "[maly_saab][degenerate]") {
  Eigen::MatrixXd X = gaussian(8, 12, 311);
  X.col(7) = X.col(3);
  Eigen::MatrixXd W = 0.3 * gaussian(12, 2, 312);
  W.row(3).setConstant(0.45);  // halfway between the codes 1 and 2 of step 0.3: an exact tie
  W.row(7).setConstant(0.45);
  const auto grid = pathq::Alphabet<double>::symmetric(3, 0.3).resolve(W);
  const auto walk = Walk().preprocess(W, pathq::LayerStats<double>::from(X), grid);
  REQUIRE((beyond(W, grid, 0) == 0 && beyond(W, grid, 1) == 0));
  REQUIRE(walk.rank == 8);
  // Per neuron: the tie (feature 7 against 3), then one move each for features 10 and 11.
  REQUIRE(walk.moves == 6);
  REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
  const auto ref = pathq_reference::maly_saab_reference(W, X, levels_of(grid), false);
  REQUIRE(same_sets(walk.off_grid, ref.off_grid));
  REQUIRE((walk.W_tilde - ref.W_tilde).cwiseAbs().maxCoeff() <= 1e-9);
  for (Eigen::Index j = 0; j < 2; ++j) {
    INFO("neuron " << j);
    REQUIRE(walk.off_grid[std::size_t(j)].size() == 8);
    REQUIRE(walk.W_tilde(3, j) == Approx(0.3).epsilon(1e-15));  // moved down
    REQUIRE(walk.W_tilde(7, j) == Approx(0.6).epsilon(1e-15));  // moved up (the tie rule), both fixed
  }
}

TEST_CASE("maly_saab: zero columns are rounded to nearest and never stay off the grid", "[maly_saab][degenerate]") {
  Eigen::MatrixXd X = gaussian(8, 30, 321);
  X.col(2).setZero();
  X.col(9).setZero();
  X.col(29).setZero();
  const auto alphabet = pathq::Alphabet<double>::symmetric(3, 0.3);
  for (std::uint64_t seed = 322;; seed += 1000) {
    const Eigen::MatrixXd W = 0.5 * gaussian(30, 3, seed);
    const auto grid = alphabet.resolve(W);
    const auto L = levels_of(grid);
    const auto ref = pathq_reference::maly_saab_reference(W, X, L, false);
    if (pathq_reference::rounding_margin(ref, L) < 1e-7) continue;
    const auto walk = Walk().preprocess(W, pathq::LayerStats<double>::from(X), grid);
    const auto r = Walk().quantize_walk(walk, grid);
    const auto plain = pathq::msq(W, grid);
    INFO("seed " << seed);
    REQUIRE(walk.rank == 8);
    REQUIRE(same_sets(walk.off_grid, ref.off_grid));
    REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
    for (Eigen::Index j = 0; j < 3; ++j)
      for (Eigen::Index t : {2, 9, 29}) {
        const auto& off = walk.off_grid[std::size_t(j)];
        REQUIRE(std::find(off.begin(), off.end(), t) == off.end());
        REQUIRE(r.codes(t, j) == plain.codes(t, j));
      }
    break;
  }
}

TEST_CASE("maly_saab: no null space (m >= N_in) says so and falls back to plain MSQ; X = 0 is MSQ", "[maly_saab][degenerate]") {
  const Eigen::MatrixXd W = 0.5 * gaussian(25, 4, 331);
  const auto grid = pathq::Alphabet<double>::symmetric(3, 0.3).resolve(W);
  const auto plain = pathq::msq(W, grid);
  for (const Eigen::Index m : {25, 40}) {
    const auto r = Walk().quantize(W, pathq::LayerStats<double>::from(gaussian(m, 25, 332)), grid);
    INFO("m " << m);
    REQUIRE(r.info.status == pathq::Info::NumericalIssue);
    REQUIRE_THAT(r.info.message, Catch::Contains("no null space") && Catch::Contains("plain MSQ"));
    REQUIRE(r.info.extra.at("msq_fallback") == 1.0);
    REQUIRE(r.info.extra.at("moves") == 0.0);
    REQUIRE(r.codes == plain.codes);
    REQUIRE_THROWS_AS(pathq::require_success(r, "maly_saab"), pathq::numerical_error);
  }
  const auto r0 = Walk().quantize(W, pathq::LayerStats<double>::from(Eigen::MatrixXd::Zero(6, 25)), grid);
  REQUIRE(r0.info.status == pathq::Info::Success);
  REQUIRE(r0.info.extra.at("rank") == 0.0);
  REQUIRE(r0.info.extra.at("off_grid") == 0.0);
  REQUIRE(r0.codes == plain.codes);
}

TEST_CASE("maly_saab: weights beyond the grid move toward it, never further out", "[maly_saab][saturation]") {
  const Eigen::MatrixXd W = gaussian(80, 5, 341);
  const Eigen::MatrixXd X = gaussian(12, 80, 342);
  const auto grid = pathq::Alphabet<double>::symmetric(3, pathq::StepRule::layer_radius(0.5)).resolve(W);
  const auto plain = pathq::msq(W, grid);
  REQUIRE(plain.info.saturated > 20);
  const Walk ms;
  const auto walk = ms.preprocess(W, pathq::GramFactor::from_data(X), grid);
  const auto r = ms.quantize_walk(walk, grid);
  REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
  REQUIRE(outside_cells(W, walk.W_tilde, grid) == 0);
  REQUIRE(walk.off_grid_count() <= 5 * walk.rank + walk.stuck);
  REQUIRE(r.info.saturated <= plain.info.saturated);
  REQUIRE(r.info.extra.at("stuck") == double(walk.stuck));
}

TEST_CASE("maly_saab: box cells; the 1-bit case puts all but rank(X) weights at +-max|w|", "[maly_saab][box]") {
  const Eigen::MatrixXd W = 0.5 * gaussian(60, 4, 351);
  const Eigen::MatrixXd X = gaussian(9, 60, 352);
  const auto factor = pathq::GramFactor::from_data(X);
  pathq::MalySaabOptions box;
  box.cells = pathq::MalySaabCells::Box;
  // Binary: the grid cell of every weight is the box [-max|w|, max|w|].
  const auto bgrid = pathq::Alphabet<double>::binary(pathq::StepRule::column_radius(1.0)).resolve(W);
  const auto wg = Walk().preprocess(W, factor, bgrid);
  const auto wb = Walk(box).preprocess(W, factor, bgrid);
  REQUIRE(wg.W_tilde == wb.W_tilde);
  REQUIRE(wb.off_grid_max() <= 9);
  REQUIRE(max_drift(X, W, wb.W_tilde) <= 1e-10);
  for (Eigen::Index j = 0; j < 4; ++j) {
    const double r = W.col(j).cwiseAbs().maxCoeff();
    for (Eigen::Index t = 0; t < 60; ++t) {
      const auto& off = wb.off_grid[std::size_t(j)];
      if (std::find(off.begin(), off.end(), t) == off.end()) REQUIRE(std::abs(wb.W_tilde(t, j)) == Approx(r));
      REQUIRE(std::abs(wb.W_tilde(t, j)) <= r * (1 + 1e-12));
    }
  }
  // Five levels, box cells: the on-grid weights sit on the two extreme levels.
  const auto grid = pathq::Alphabet<double>::symmetric(2, pathq::StepRule::column_radius(1.0)).resolve(W);
  const auto walk = Walk(box).preprocess(W, factor, grid);
  const auto res = Walk(box).quantize_walk(walk, grid);
  REQUIRE(walk.off_grid_max() <= 9);
  REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
  for (Eigen::Index j = 0; j < 4; ++j)
    for (Eigen::Index t = 0; t < 60; ++t) {
      const auto& off = walk.off_grid[std::size_t(j)];
      if (std::find(off.begin(), off.end(), t) == off.end()) REQUIRE(std::abs(res.codes(t, j)) == 2);
    }
}

TEST_CASE("maly_saab: per-group steps keep every invariant and the bound", "[maly_saab][groups]") {
  const Eigen::Index n = 45, n_out = 3;
  const Eigen::MatrixXd W = 0.3 * gaussian(n, n_out, 361);
  const Eigen::MatrixXd X = gaussian(6, n, 362);
  pathq::Grid<double> grid;
  grid.code_lo = -7;
  grid.code_hi = 7;
  grid.group_size = 10;
  grid.step.resize(5, n_out);
  grid.zero = Eigen::MatrixXd::Zero(5, n_out);
  for (Eigen::Index g = 0; g < 5; ++g)
    for (Eigen::Index j = 0; j < n_out; ++j) grid.step(g, j) = 0.1 * double(1 + g + j);
  const auto walk = Walk().preprocess(W, pathq::GramFactor::from_data(X), grid);
  REQUIRE(max_drift(X, W, walk.W_tilde) <= 1e-10);
  REQUIRE(outside_cells(W, walk.W_tilde, grid) == 0);
  REQUIRE(walk.off_grid_max() <= 6);
  const auto r = Walk().quantize_walk(walk, grid);
  REQUIRE(r.info.saturated == 0);
  const auto stats = pathq::LayerStats<double>::from(X);
  REQUIRE(pathq::layer_error(stats, W, r.values()).error() <=
          pathq::bounds::maly_saab_deterministic(stats.K(), walk.off_grid, grid) * (1 + 1e-9));
}

TEST_CASE("maly_saab: thread count changes nothing; stochastic rounding touches only off-grid entries", "[maly_saab][determinism]") {
  const Eigen::MatrixXd W = gaussian(90, 13, 371) / 3.0;
  const auto stats = pathq::LayerStats<double>::from(gaussian(11, 90, 372));
  const auto grid = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0)).resolve(W);
  pathq::MalySaabOptions one, three;
  one.threads = 1;
  three.threads = 3;
  const auto a = Walk(one).preprocess(W, stats, grid);
  const auto b = Walk(three).preprocess(W, stats, grid);
  REQUIRE(a.W_tilde == b.W_tilde);
  REQUIRE(a.off_grid == b.off_grid);
  const auto nearest = Walk().quantize_walk(a, grid);
  const pathq::MalySaab<double, pathq::StochasticRounding> sr({}, pathq::StochasticRounding{7});
  const auto s1 = sr.quantize_walk(a, grid);
  const auto s2 = sr.quantize(W, stats, grid);
  REQUIRE(s1.codes == s2.codes);
  Eigen::Index differ = 0;
  for (Eigen::Index j = 0; j < 13; ++j) {
    const auto& off = a.off_grid[std::size_t(j)];
    for (Eigen::Index t = 0; t < 90; ++t) {
      const bool is_off = std::find(off.begin(), off.end(), t) != off.end();
      const double u = a.W_tilde(t, j) / grid.step(0, j);
      if (!is_off) REQUIRE(s1.codes(t, j) == nearest.codes(t, j));
      if (is_off) REQUIRE((s1.codes(t, j) == std::floor(u) || s1.codes(t, j) == std::floor(u) + 1));
      differ += s1.codes(t, j) != nearest.codes(t, j);
    }
  }
  REQUIRE(differ > 0);
}

TEST_CASE("maly_saab: GramFactor from K and from X reveal the rank and the null space", "[maly_saab][factor]") {
  const Eigen::MatrixXd X = gaussian(30, 6, 381) * gaussian(6, 40, 382);
  const pathq::LayerStats<double> stats = pathq::LayerStats<double>::from(X);
  for (int route = 0; route < 2; ++route) {
    INFO("route " << route);
    const auto f = route == 0 ? pathq::GramFactor::from_gram(stats.K()) : pathq::GramFactor::from_data(X);
    REQUIRE(f.rank() == 6);
    REQUIRE(f.n_in() == 40);
    REQUIRE((f.R.transpose() * f.R - stats.K()).norm() <= 1e-10 * stats.K().norm());
    const Eigen::MatrixXd N = Eigen::FullPivLU<Eigen::MatrixXd>(f.R).kernel();
    REQUIRE(N.cols() == 34);
    REQUIRE((X * N).norm() <= 1e-10 * X.norm() * N.norm());
  }
  const auto full = pathq::GramFactor::from_gram(pathq::LayerStats<double>::from(gaussian(50, 10, 383)).K());
  REQUIRE(full.rank() == 10);
  REQUIRE(full.dropped == 0.0);
}

TEST_CASE("maly_saab: bad input throws naming the function and the argument", "[maly_saab][contract]") {
  using Catch::Contains;
  const Eigen::MatrixXd W = gaussian(6, 2, 391);
  const auto stats = pathq::LayerStats<double>::from(gaussian(3, 6, 392));
  const auto alphabet = pathq::Alphabet<double>::symmetric(3, 0.3);
  const auto grid = alphabet.resolve(W);
  const Walk ms;
  REQUIRE_THROWS_WITH(ms.quantize(Eigen::MatrixXd(gaussian(5, 2, 1)), stats, alphabet),
                      Contains("pathq::maly_saab: W has 5 rows but the inputs have N_in = 6"));
  REQUIRE_THROWS_WITH(ms.quantize(W, pathq::LayerStats<double>(6), alphabet), Contains("statistics hold no samples"));
  Eigen::MatrixXd Wnan = W;
  Wnan(1, 1) = std::nan("");
  REQUIRE_THROWS_WITH(ms.quantize(Wnan, stats, grid), Contains("pathq::maly_saab: W has a non-finite entry"));
  pathq::GramFactor empty;
  REQUIRE_THROWS_WITH(ms.quantize(Eigen::MatrixXd(0, 2), empty, grid), Contains("pathq::maly_saab: W is empty"));
  REQUIRE_THROWS_WITH(ms.quantize(W, stats, alphabet.resolve(gaussian(6, 3, 2))), Contains("the grid has 3 columns"));
  REQUIRE_THROWS_WITH(ms.quantize(W, pathq::GramFactor::from_data(gaussian(3, 7, 3)), grid),
                      Contains("W has 6 rows but the factor has N_in = 7"));
  pathq::GramFactor bad;
  bad.R = Eigen::MatrixXd::Constant(1, 6, std::nan(""));
  REQUIRE_THROWS_WITH(ms.quantize(W, bad, grid), Contains("factor R has a non-finite entry"));
  const auto walk = ms.preprocess(W, stats, grid);
  REQUIRE_THROWS_WITH(ms.quantize_walk(walk, alphabet.resolve(gaussian(6, 3, 2))), Contains("the grid has 3 columns"));
  pathq::MalySaabWalk broken = walk;
  broken.off_grid.pop_back();
  REQUIRE_THROWS_WITH(ms.quantize_walk(broken, grid), Contains("1 off-grid lists for 2 neurons"));
  broken = walk;
  broken.off_grid[0] = {6};
  REQUIRE_THROWS_WITH(ms.quantize_walk(broken, grid), Contains("off-grid feature 6 of neuron 0 is out of range"));

  pathq::MalySaabOptions o;
  o.rank_tolerance = 1;
  REQUIRE_THROWS_WITH(Walk(o), Contains("pathq::MalySaabOptions: rank_tolerance must be in [0, 1), got 1"));
  o = {};
  o.dependence_tolerance = -1e-3;
  REQUIRE_THROWS_WITH(Walk(o), Contains("dependence_tolerance must be in [0, 1)"));
  o = {};
  o.grid_tolerance = 0.3;
  REQUIRE_THROWS_WITH(Walk(o), Contains("grid_tolerance must be in [0, 0.25), got 0.3"));
  o = {};
  o.threads = -2;
  REQUIRE_THROWS_WITH(Walk(o), Contains("threads must be >= 0, got -2"));
  REQUIRE_THROWS_WITH(pathq::maly_saab(W, gaussian(3, 7, 4), alphabet), Contains("X has 7 columns but W has 6 rows"));
  REQUIRE_THROWS_WITH(pathq::maly_saab(W, gaussian(3, 6, 4), alphabet, o), Contains("threads must be >= 0"));

  REQUIRE_THROWS_WITH(pathq::GramFactor::from_gram(Eigen::MatrixXd::Identity(3, 4)),
                      Contains("pathq::GramFactor::from_gram: K must be square, got 3 x 4"));
  Eigen::MatrixXd Knan = Eigen::MatrixXd::Identity(3, 3);
  Knan(2, 0) = INFINITY;
  REQUIRE_THROWS_WITH(pathq::GramFactor::from_gram(Knan), Contains("K has a non-finite entry"));
  REQUIRE_THROWS_WITH(pathq::GramFactor::from_gram(Eigen::MatrixXd::Identity(3, 3), 1.5),
                      Contains("tolerance must be in [0, 1), got 1.5"));
  REQUIRE_THROWS_WITH(pathq::GramFactor::from_data(Eigen::MatrixXd(0, 4)),
                      Contains("pathq::GramFactor::from_data: X is empty"));

  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_neuron(stats.K(), {0, 6}, 0.3),
                      Contains("pathq::bounds::maly_saab_neuron: feature 6 of the off-grid set is outside [0, 6)"));
  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_neuron(stats.K(), {0}, 0.0), Contains("delta must be finite and positive"));
  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_neuron(Eigen::MatrixXd::Identity(3, 4), {0}, 0.3),
                      Contains("K must be square"));
  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_deterministic(stats.K(), {{0}}, grid),
                      Contains("there are 1 off-grid sets for 2 neurons"));
  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_gaussian(0.0, 10, 100), Contains("bounds::maly_saab_gaussian"));
  REQUIRE_THROWS_WITH(pathq::bounds::maly_saab_gaussian_rate(0.5, 10, 100, 0.0),
                      Contains("bounds::maly_saab_gaussian_rate"));
}

}  // namespace pathq_test_maly_saab
