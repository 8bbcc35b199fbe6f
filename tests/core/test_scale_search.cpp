// Scale search: clipping-ratio search per column and group, and the radius search over C.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/scale_search.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/methods/optq.hpp>
#include <pathq/stats/layer_error.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_scale_search {

using pathq::Alphabet;
using pathq::ClipScore;
using pathq::ClipSearchOptions;
using pathq::StepRule;
using pathq_test::gaussian;

namespace {

// Independent score of a grid: round W to nearest with msq, then sum_t d_t (w_t - q_t)^2 per
// group and column.
Eigen::MatrixXd diagonal_scores(const Eigen::MatrixXd& W, const pathq::Grid<double>& grid, const Eigen::VectorXd& d) {
  const Eigen::MatrixXd E = W - pathq::msq(W, grid).values();
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(grid.step.rows(), W.cols());
  for (Eigen::Index j = 0; j < W.cols(); ++j)
    for (Eigen::Index t = 0; t < W.rows(); ++t) s(grid.group_of(t), j) += d(t) * E(t, j) * E(t, j);
  return s;
}

}  // namespace

TEST_CASE("clip search: never scores worse than the max-based step, and reports what it scores", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(48, 7, 11);
  const Eigen::MatrixXd X = gaussian(96, 48, 12) * Eigen::VectorXd::LinSpaced(48, 0.2, 3.0).asDiagonal();
  const auto stats = pathq::LayerStats<double>::from(X);
  const Eigen::VectorXd d = stats.H().diagonal();
  const std::vector<Alphabet<double>> alphabets = {
      Alphabet<double>::from_bits(2, StepRule::column_radius(1)),
      Alphabet<double>::from_bits(4, StepRule::layer_radius(1.16)),
      Alphabet<double>::even(3, StepRule::column_radius(1)),
      Alphabet<double>::midrise(2, StepRule::column_radius(1)),
      Alphabet<double>::asymmetric(3),
      Alphabet<double>::asymmetric(4).with_group_size(16),
      Alphabet<double>::even(4, StepRule::column_radius(1)).with_group_size(10),
  };
  for (std::size_t a = 0; a < alphabets.size(); ++a) {
    INFO("alphabet " << a << ", W 48 x 7 seed 11, X 96 x 48 seed 12");
    const auto base = alphabets[a].resolve(W);
    const auto c = pathq::clip_search(W, stats, alphabets[a]);
    const Eigen::MatrixXd before = diagonal_scores(W, base, d);
    const Eigen::MatrixXd after = diagonal_scores(W, c.grid, d);
    REQUIRE(c.base_score.isApprox(before, 1e-12));
    REQUIRE(c.score.isApprox(after, 1e-12));
    REQUIRE((after.array() <= before.array() * (1 + 1e-12)).all());
    REQUIRE(c.total() <= c.base_total());
    REQUIRE((c.ratio.array() >= 0.2 - 1e-12).all());
    REQUIRE((c.ratio.array() <= 1.0).all());
    // The grid differs from the base only in its steps, by the ratios reported.
    REQUIRE(c.grid.zero == base.zero);
    REQUIRE(c.grid.code_lo == base.code_lo);
    REQUIRE(c.grid.code_hi == base.code_hi);
    REQUIRE(c.grid.step.isApprox(base.step.cwiseProduct(c.ratio), 1e-15));
    // At 2-4 bits on Gaussian weights, clipping helps somewhere.
    REQUIRE(c.total() < c.base_total());
    // It also lowers the weighted error of the layer as a whole here.
    const double e_base = pathq::layer_error(stats, W, pathq::msq(W, base).values()).error();
    const double e_clip = pathq::layer_error(stats, W, pathq::msq(W, c.grid).values()).error();
    INFO("layer error, base " << e_base << ", clipped " << e_clip);
    REQUIRE(e_clip < e_base);
  }
}

TEST_CASE("clip search: the quadratic score equals a brute force over msq and layer_error", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(24, 5, 21);
  const auto stats = pathq::LayerStats<double>::from(gaussian(60, 24, 22) * gaussian(24, 24, 23));
  const auto base = Alphabet<double>::from_bits(3, StepRule::column_radius(1)).resolve(W);
  ClipSearchOptions o;
  o.points = 17;
  o.min_ratio = 0.3;
  o.score = ClipScore::Quadratic;
  const auto c = pathq::clip_search(W, stats, base, o);
  for (Eigen::Index j = 0; j < W.cols(); ++j) {
    double best = std::numeric_limits<double>::infinity(), best_r = 0;
    for (int k = 0; k < o.points; ++k) {
      pathq::Grid<double> g = base;
      const double r = 1.0 - 0.7 * double(k) / 16.0;
      g.step *= r;
      const double e = pathq::layer_error(stats, W, pathq::msq(W, g).values()).column_error(j);
      if (k == 0) REQUIRE(c.base_score(0, j) == Approx(e).epsilon(1e-10));
      if (e < best * (1 - 1e-12)) {
        best = e;
        best_r = r;
      }
    }
    INFO("column " << j);
    REQUIRE(c.ratio(0, j) == Approx(best_r).epsilon(1e-12));
    REQUIRE(c.score(0, j) == Approx(best).epsilon(1e-10));
  }
}

TEST_CASE("clip search: picks the known optimum of a constructed column", "[scale_search]") {
  // w = (1, 1/2, 1/2, 1/2) on the ternary grid {0, +-step}, base step 1 = max|w|. For ratios r in
  // (1/3, 1] all four round to the top code, and the score a (1 - r)^2 + 3 b (r - 1/2)^2 with
  // H = diag(a, b, b, b) is least at r = (a + 3b/2) / (a + 3b): 0.625 for a = b, 0.75 for a = 3b.
  Eigen::MatrixXd W(4, 1);
  W << 1, 0.5, 0.5, 0.5;
  const auto alphabet = Alphabet<double>::symmetric(1, StepRule::column_radius(1));
  ClipSearchOptions o;
  o.points = 33;  // ratios 1, 0.975, ..., 0.2: both optima are on the grid
  for (const double a : {1.0, 3.0}) {
    Eigen::VectorXd h = Eigen::VectorXd::Ones(4);
    h(0) = std::sqrt(a);
    const auto stats = pathq::LayerStats<double>::from(Eigen::MatrixXd(h.asDiagonal()));
    for (const ClipScore s : {ClipScore::Diagonal, ClipScore::Quadratic}) {
      o.score = s;
      INFO("a = " << a << ", score " << pathq::to_string(s));
      const auto c = pathq::clip_search(W, stats, alphabet, o);
      const double r = (a + 1.5) / (a + 3.0);
      REQUIRE(c.ratio(0, 0) == Approx(r).epsilon(1e-12));
      REQUIRE(c.grid.step(0, 0) == Approx(r).epsilon(1e-12));
      REQUIRE(c.score(0, 0) == Approx(a * (1 - r) * (1 - r) + 3 * (r - 0.5) * (r - 0.5)).epsilon(1e-12));
      REQUIRE(c.base_score(0, 0) == Approx(0.75).epsilon(1e-12));
    }
  }
  // Data-free: unit weights, the a = 1 optimum.
  const auto c = pathq::clip_search(W, alphabet.resolve(W), o);
  REQUIRE(c.ratio(0, 0) == Approx(0.625).epsilon(1e-12));
  // One point: the base grid itself.
  o.points = 1;
  const auto one = pathq::clip_search(W, alphabet.resolve(W), o);
  REQUIRE(one.ratio(0, 0) == 1.0);
  REQUIRE(one.grid.step == alphabet.resolve(W).step);
}

TEST_CASE("clip search: results do not depend on the thread count", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(40, 33, 31);
  const auto stats = pathq::LayerStats<double>::from(gaussian(80, 40, 32));
  const auto alphabet = Alphabet<float>::asymmetric(3).with_group_size(8);
  ClipSearchOptions one, many;
  one.engine.threads = 1;
  one.engine.panel_width = 5;
  many.engine.threads = 2;
  many.engine.panel_width = 5;
  const Eigen::MatrixXf Wf = W.cast<float>();
  const auto a = pathq::clip_search(Wf, stats, alphabet, one);
  const auto b = pathq::clip_search(Wf, stats, alphabet, many);
  REQUIRE(a.grid.step == b.grid.step);
  REQUIRE(a.ratio == b.ratio);
}

TEST_CASE("radius search: keeps the run of least layer error, as a direct run reproduces", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(32, 9, 41);
  const auto stats = pathq::LayerStats<double>::from(gaussian(64, 32, 42));
  const auto base = Alphabet<double>::from_bits(3, StepRule::layer_radius(1.0)).resolve(W);
  const pathq::Gpfq<double> gpfq;
  pathq::RadiusSearchOptions o;
  const auto c = pathq::radius_search(gpfq, W, stats, base, o);
  REQUIRE(c.errors.size() == o.candidates.size());
  double least = std::numeric_limits<double>::infinity();
  for (double e : c.errors) least = std::min(least, e);
  REQUIRE(c.error == least);
  REQUIRE(c.error <= c.errors[5]);  // C = 1, the base grid
  pathq::Grid<double> g = base;
  g.step *= c.C;
  const auto direct = gpfq.quantize(W, stats, g);
  REQUIRE(direct.codes == c.result.codes);
  REQUIRE(pathq::layer_error(stats, W, direct.values()).error() == Approx(c.error).epsilon(1e-12));
  REQUIRE(c.result.info.extra.at("radius_scale") == c.C);
  // The error at every candidate is what a direct run gives.
  for (std::size_t k = 0; k < o.candidates.size(); ++k) {
    pathq::Grid<double> gk = base;
    gk.step *= o.candidates[k];
    INFO("C = " << o.candidates[k]);
    REQUIRE(pathq::layer_error(stats, W, gpfq.quantize(W, stats, gk).values()).error() ==
            Approx(c.errors[k]).epsilon(1e-12));
  }
}

TEST_CASE("radius search per column: each neuron gets its own best C, never worse than one C", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(40, 12, 51);
  const auto stats = pathq::LayerStats<double>::from(gaussian(80, 40, 52));
  const auto base = Alphabet<double>::asymmetric(3).resolve(W);  // per-column steps and zero points
  pathq::RadiusSearchOptions one, each;
  each.per_column = true;
  pathq::OptqOptions act;
  act.order = pathq::FeatureOrder::DescendingEnergy;
  const pathq::Optq<double> optq(act);
  const auto global = pathq::radius_search(optq, W, stats, base, one);
  const auto c = pathq::radius_search(optq, W, stats, base, each);
  REQUIRE(c.column_C.size() == W.cols());
  REQUIRE(global.column_C.size() == 0);
  REQUIRE(c.errors == global.errors);
  REQUIRE(c.error <= global.error);
  // Naive reference: run every candidate, take each column's least error; the result's columns
  // must reach exactly those minima, with the C reported for them.
  const auto errors = pathq::layer_error(stats, W, c.result.values());
  bool some_column_differs = false;
  for (Eigen::Index j = 0; j < W.cols(); ++j) {
    double least = std::numeric_limits<double>::infinity();
    double least_C = 0;
    for (double C : each.candidates) {
      pathq::Grid<double> g = base;
      g.step *= C;
      const double e = pathq::layer_error(stats, W, optq.quantize(W, stats, g).values()).column_error(j);
      if (e < least) least = e, least_C = C;
    }
    INFO("column " << j);
    REQUIRE(errors.column_error(j) == Approx(least).epsilon(1e-9));
    REQUIRE(c.column_C(j) == least_C);
    some_column_differs = some_column_differs || least_C != global.C;
  }
  REQUIRE(errors.error() == Approx(c.error).epsilon(1e-12));
  // The grid of the result holds each column's steps at its C.
  for (Eigen::Index j = 0; j < W.cols(); ++j)
    REQUIRE(c.result.grid.step(0, j) == Approx(base.step(0, j) * c.column_C(j)).epsilon(1e-15));
  // On this layer the columns do not all agree, so the search per column gains.
  REQUIRE(some_column_differs);
  REQUIRE(c.error < global.error);
}

TEST_CASE("scale search: bad input throws naming the problem", "[scale_search]") {
  const Eigen::MatrixXd W = gaussian(8, 3, 51);
  const auto stats = pathq::LayerStats<double>::from(gaussian(16, 8, 52));
  const auto alphabet = Alphabet<double>::from_bits(3, StepRule::column_radius(1));
  ClipSearchOptions o;
  o.points = 0;
  REQUIRE_THROWS_WITH(pathq::clip_search(W, stats, alphabet, o), Catch::Contains("points must be in [1, 100000]"));
  o = {};
  o.min_ratio = 0;
  REQUIRE_THROWS_WITH(pathq::clip_search(W, stats, alphabet, o), Catch::Contains("min_ratio must be in (0, 1]"));
  o.min_ratio = 1.5;
  REQUIRE_THROWS_WITH(pathq::clip_search(W, stats, alphabet, o), Catch::Contains("min_ratio must be in (0, 1]"));
  o.min_ratio = std::nan("");
  REQUIRE_THROWS_WITH(pathq::clip_search(W, stats, alphabet, o), Catch::Contains("min_ratio"));
  REQUIRE_THROWS_WITH(pathq::clip_search(W, Alphabet<double>::unbounded(0.1).resolve(W)),
                      Catch::Contains("unbounded"));
  const auto other = pathq::LayerStats<double>::from(gaussian(16, 9, 53));
  REQUIRE_THROWS_WITH(pathq::clip_search(W, other, alphabet), Catch::Contains("W has 8 rows but the statistics have N_in = 9"));
  REQUIRE_THROWS_WITH(pathq::clip_search(W, stats, alphabet.resolve(gaussian(8, 4, 54))),
                      Catch::Contains("the grid has 4 columns but W has 3"));
  Eigen::MatrixXd bad = W;
  bad(2, 1) = std::nan("");
  REQUIRE_THROWS_WITH(pathq::clip_search(bad, stats, alphabet.resolve(W)), Catch::Contains("clip_search"));
  pathq::RadiusSearchOptions r;
  r.candidates.clear();
  const pathq::Gpfq<double> gpfq;
  REQUIRE_THROWS_WITH(pathq::radius_search(gpfq, W, stats, alphabet.resolve(W), r),
                      Catch::Contains("candidates must not be empty"));
  r.candidates = {1.0, -0.5};
  REQUIRE_THROWS_WITH(pathq::radius_search(gpfq, W, stats, alphabet.resolve(W), r),
                      Catch::Contains("candidates must be finite and positive, got -0.5"));
}

}  // namespace pathq_test_scale_search
