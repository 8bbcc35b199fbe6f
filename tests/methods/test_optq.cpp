// OPTQ: the engine against the naive sequential algorithm, the theory, and bad input.
#include <catch2/catch.hpp>

#include <pathq/pathq.hpp>

#include "reference/optq_reference.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_optq {

using pathq::Alphabet;
using pathq::StepRule;
using pathq_reference::OptqReferenceGrid;
using pathq_reference::OptqReferenceOptions;
using pathq_reference::optq_reference;
using pathq_test::gaussian;

namespace {

// The library alphabet that matches a reference grid description.
Alphabet<double> alphabet_for(const OptqReferenceGrid& g) {
  Alphabet<double> a = Alphabet<double>::symmetric(g.K, StepRule::column_radius(g.C));
  if (g.kind == "symmetric" && g.fixed_step > 0) a = Alphabet<double>::symmetric(g.K, g.fixed_step);
  if (g.kind == "even") a = Alphabet<double>::even(g.bits, StepRule::column_radius(g.C));
  if (g.kind == "asymmetric") a = Alphabet<double>::asymmetric(g.bits, g.C);
  return a.with_group_size(g.group_size);
}

struct Layer {
  Eigen::MatrixXd W, X;
  pathq_reference::OptqTrace ref;
};

// A layer (X with unequal column scales and some correlation) whose reference run keeps every
// rounded value at least 1e-9 (in steps) away from a rounding tie.
Layer tie_free_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m, const OptqReferenceGrid& grid,
                     const OptqReferenceOptions& opt, std::uint64_t seed, std::vector<Eigen::Index> dead = {}) {
  for (std::uint64_t s = seed;; s += 1000) {
    Layer L{gaussian(n_in, n_out, s), gaussian(m, n_in, s + 1), {}};
    const Eigen::MatrixXd mix = gaussian(n_in, n_in, s + 2) * (0.3 / std::sqrt(double(n_in)));
    L.X = L.X * (Eigen::MatrixXd::Identity(n_in, n_in) + mix);
    for (Eigen::Index t = 0; t < n_in; ++t) L.X.col(t) *= 0.5 + double((t * 17) % n_in) / double(n_in);
    for (auto t : dead) L.X.col(t).setZero();
    L.ref = optq_reference(L.W, L.X, grid, opt);
    if (pathq_reference::code_tie_margin(L.ref.U) > 1e-9) return L;
  }
}

pathq::OptqOptions options_for(const OptqReferenceOptions& ro, Eigen::Index block, bool static_groups) {
  pathq::OptqOptions o;
  o.damping = ro.damping;
  o.order = ro.act_order ? pathq::FeatureOrder::DescendingEnergy : pathq::FeatureOrder::Natural;
  o.static_groups = static_groups;
  o.engine.block_size = block;
  o.engine.panel_width = 4;  // several panels per layer
  o.engine.threads = 1;      // tiny layers: threads only add start-up cost (see the thread test)
  return o;
}

// Runs the library at block sizes 1, 7, 32, 128 and requires every code to equal the reference.
void require_equal_to_reference(const Layer& L, const OptqReferenceGrid& grid, const OptqReferenceOptions& ro) {
  const auto stats = pathq::LayerStats<double>::from(L.X);
  for (Eigen::Index bs : {1, 7, 32, 128}) {
    const pathq::Optq<double> optq(options_for(ro, bs, grid.static_groups));
    const auto r = optq.quantize(L.W, stats, alphabet_for(grid));
    INFO("shape " << L.W.rows() << "x" << L.W.cols() << " m=" << L.X.rows() << " grid " << grid.kind << " group "
                  << grid.group_size << (grid.static_groups ? " static" : " dynamic") << " act-order "
                  << ro.act_order << " block " << bs);
    REQUIRE(r.info.status == pathq::Info::Success);
    REQUIRE(r.codes.cast<int>() == L.ref.codes);
    REQUIRE((r.values() - L.ref.Q).cwiseAbs().maxCoeff() <= 1e-12 * (1 + L.ref.Q.cwiseAbs().maxCoeff()));
    REQUIRE((r.grid.step - L.ref.step).cwiseAbs().maxCoeff() <= 1e-12 * L.ref.step.cwiseAbs().maxCoeff());
    REQUIRE((r.grid.zero - L.ref.zero).cwiseAbs().maxCoeff() == 0.0);
  }
}

// A layer seen in a partly quantized network: X (as in `tie_free_layer`), Xq = X + noise of
// relative size `noise`, and the reference OPTQ on the float-outputs target, away from ties.
struct SequentialLayer {
  Eigen::MatrixXd W, X, Xq;
  pathq_reference::OptqTrace ref;
};

SequentialLayer tie_free_sequential_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m,
                                          const OptqReferenceGrid& grid, const OptqReferenceOptions& opt,
                                          std::uint64_t seed, double noise = 0.2,
                                          std::vector<Eigen::Index> dead = {}) {
  for (std::uint64_t s = seed;; s += 1000) {
    SequentialLayer L{gaussian(n_in, n_out, s), gaussian(m, n_in, s + 1), {}, {}};
    const Eigen::MatrixXd mix = gaussian(n_in, n_in, s + 2) * (0.3 / std::sqrt(double(n_in)));
    L.X = L.X * (Eigen::MatrixXd::Identity(n_in, n_in) + mix);
    for (Eigen::Index t = 0; t < n_in; ++t) L.X.col(t) *= 0.5 + double((t * 17) % n_in) / double(n_in);
    L.Xq = L.X + noise * gaussian(m, n_in, s + 3);
    for (auto t : dead) L.Xq.col(t).setZero();  // dead in the quantized network only: X_t still counts
    L.ref = pathq_reference::optq_reference_outputs(L.W, L.X, L.Xq, grid, opt);
    if (pathq_reference::code_tie_margin(L.ref.U) > 1e-9) return L;
  }
}

}  // namespace

TEST_CASE("optq: blocked engine equals the naive sequential algorithm on every code, any block size",
          "[optq][reference]") {
  struct Shape {
    Eigen::Index n_in, n_out, m;
  };
  // 64 x 30: fewer samples than features (H singular, made definite by the damping).
  const std::vector<Shape> shapes = {{37, 5, 60}, {131, 6, 200}, {64, 3, 30}, {20, 1, 8}};
  std::vector<OptqReferenceGrid> grids(4);
  grids[0].kind = "symmetric", grids[0].K = 3;
  grids[1].kind = "asymmetric", grids[1].bits = 3;
  grids[2].kind = "even", grids[2].bits = 3, grids[2].C = 0.9;  // C < 1 keeps max|w| off a tie
  grids[3].kind = "symmetric", grids[3].K = 2, grids[3].fixed_step = 0.4;
  for (std::size_t k = 0; k < shapes.size(); ++k)
    for (std::size_t g = 0; g < grids.size(); ++g) {
      const auto& s = shapes[k];
      const Layer L = tie_free_layer(s.n_in, s.n_out, s.m, grids[g], {}, 100 + 10 * k + g);
      require_equal_to_reference(L, grids[g], {});
    }
}

TEST_CASE("optq: act-order walks features by decreasing energy and un-permutes the codes", "[optq][reference]") {
  OptqReferenceOptions ro;
  ro.act_order = true;
  for (const char* kind : {"symmetric", "asymmetric"}) {
    OptqReferenceGrid grid;
    grid.kind = kind;
    grid.K = 3;
    grid.bits = 3;
    const Layer L = tie_free_layer(75, 4, 90, grid, ro, 7);
    require_equal_to_reference(L, grid, ro);
    // The natural order gives other codes (so the comparison above can fail).
    const auto natural = pathq::Optq<double>().quantize(L.W, pathq::LayerStats<double>::from(L.X), alphabet_for(grid));
    REQUIRE(natural.codes.cast<int>() != L.ref.codes);
  }
}

TEST_CASE("optq: static and dynamic groups equal the reference, groups shorter or longer than a block",
          "[optq][reference][groups]") {
  for (long g : {5L, 16L, 40L})
    for (const char* kind : {"symmetric", "asymmetric"})
      for (bool is_static : {true, false}) {
        OptqReferenceGrid grid;
        grid.kind = kind;
        grid.K = 3;
        grid.bits = 3;
        grid.C = 0.95;
        grid.group_size = g;
        grid.static_groups = is_static;
        const Layer L = tie_free_layer(101, 5, 120, grid, {}, 300 + std::uint64_t(g));
        require_equal_to_reference(L, grid, {});
        if (!is_static) {  // refitting changes the grid, so the two modes differ
          OptqReferenceGrid other = grid;
          other.static_groups = true;
          REQUIRE(optq_reference(L.W, L.X, other).step != L.ref.step);
        }
      }
  // Static groups with act-order: each feature keeps the group of its original index.
  OptqReferenceOptions ro;
  ro.act_order = true;
  OptqReferenceGrid grid;
  grid.kind = "asymmetric";
  grid.bits = 3;
  grid.group_size = 16;
  const Layer L = tie_free_layer(70, 3, 80, grid, ro, 501);
  require_equal_to_reference(L, grid, ro);
}

TEST_CASE("optq: dead inputs get zero weights and stay out of the feedback", "[optq][reference]") {
  const std::vector<Eigen::Index> dead = {0, 17, 36};
  for (bool act : {false, true}) {
    OptqReferenceOptions ro;
    ro.act_order = act;
    OptqReferenceGrid grid;
    grid.K = 3;
    const Layer L = tie_free_layer(37, 4, 50, grid, ro, 900, dead);
    require_equal_to_reference(L, grid, ro);
    const auto r = pathq::Optq<double>(options_for(ro, 8, true))
                       .quantize(L.W, pathq::LayerStats<double>::from(L.X), alphabet_for(grid));
    REQUIRE(r.info.dead_inputs == 3);
    for (auto t : dead) REQUIRE(r.codes.row(t).cwiseAbs().maxCoeff() == 0);
  }
}

TEST_CASE("optq: a failed factorization raises the damping and says so", "[optq][numerics]") {
  // Rank 5 in 40 features: the null space's pivots are pure rounding noise at damping 1e-17.
  const Eigen::MatrixXd X = gaussian(5, 40, 61);
  const Eigen::MatrixXd W = gaussian(40, 6, 62);
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto alphabet = Alphabet<double>::symmetric(7, StepRule::column_radius(1.0));
  pathq::OptqOptions o;
  o.damping = 1e-17;
  o.max_damping_retries = 12;
  const auto r = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  INFO("message: " << r.info.message << " damping " << r.info.extra.at("damping"));
  REQUIRE(r.info.status == pathq::Info::NumericalIssue);
  REQUIRE_THAT(r.info.message, Catch::Contains("raised to"));
  REQUIRE(r.info.extra.at("damping_retries") >= 1);
  REQUIRE(r.info.extra.at("damping") == Approx(1e-17 * std::pow(10.0, r.info.extra.at("damping_retries"))));
  REQUIRE(r.info.extra.at("damping_lambda") > 0);
  REQUIRE_THROWS_AS(pathq::require_success(r, "optq"), pathq::numerical_error);
  // The codes are those of a run asked for that damping in the first place.
  pathq::OptqOptions direct;
  direct.damping = r.info.extra.at("damping");
  const auto d = pathq::Optq<double>(direct).quantize(W, stats, alphabet);
  REQUIRE(d.info.status == pathq::Info::Success);
  REQUIRE(d.codes == r.codes);
  // No retries allowed: the status is Failed and the codes are plain round-to-nearest.
  o.max_damping_retries = 0;
  const auto f = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  REQUIRE(f.info.status == pathq::Info::Failed);
  REQUIRE_THAT(f.info.message, Catch::Contains("round-to-nearest"));
  REQUIRE(f.codes == pathq::msq(W, alphabet).codes);
  // No damping at all on a singular H: retried from 1e-6.
  o.damping = 0;
  o.max_damping_retries = 4;
  const auto z = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  REQUIRE(z.info.status == pathq::Info::NumericalIssue);
  REQUIRE(z.info.extra.at("damping") >= 1e-6);
}

TEST_CASE("optq: the error stays within the unsaturated bound", "[optq][theory][bounds]") {
  for (std::uint64_t seed : {1, 2, 3}) {
    const Eigen::MatrixXd W = gaussian(60, 8, seed);
    const Eigen::MatrixXd mix = Eigen::MatrixXd::Identity(60, 60) + 0.2 * gaussian(60, 60, seed + 20);
    Eigen::MatrixXd X = gaussian(90, 60, seed + 10) * mix;
    X.col(5).setZero();  // a dead input
    const auto stats = pathq::LayerStats<double>::from(X);
    for (double damping : {0.0, 0.01, 1.0})
      for (bool grouped : {false, true}) {
        pathq::OptqOptions o;
        o.damping = damping;
        const auto alphabet = grouped
                                  ? Alphabet<double>::symmetric(1000, StepRule::column_radius(10.0)).with_group_size(16)
                                  : Alphabet<double>::unbounded(0.3);
        const auto r = pathq::Optq<double>(o).quantize(W, stats, alphabet);
        const double E = pathq::layer_error(stats, W, r.values()).error();
        const double lambda = r.info.extra.at("damping_lambda");
        const double bound = pathq::bounds::optq_unsaturated(r.grid, stats.H().diagonal(), lambda);
        INFO("seed " << seed << " damping " << damping << " grouped " << grouped << " E = " << E
                     << " bound = " << bound);
        REQUIRE(r.info.saturated == 0);
        REQUIRE(E <= bound);
        REQUIRE(E > 0.01 * bound);  // and it is not vacuous by orders of magnitude
      }
  }
}

TEST_CASE("optq: no feedback without correlation; heavy damping gives round-to-nearest", "[optq][theory]") {
  // Orthogonal input features (disjoint supports): H is diagonal, so is L, F = 0: OPTQ is MSQ.
  const Eigen::MatrixXd Z = gaussian(80, 30, 71);
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(80, 30);
  for (Eigen::Index i = 0; i < 80; ++i) X(i, i % 30) = Z(i, i % 30) * (1.0 + double(i % 30));
  const Eigen::MatrixXd W = gaussian(30, 5, 72);
  const auto alphabet = Alphabet<double>::symmetric(3, StepRule::column_radius(0.9));
  const auto stats = pathq::LayerStats<double>::from(X);
  REQUIRE(pathq::Optq<double>().quantize(W, stats, alphabet).codes == pathq::msq(W, alphabet).codes);
  // Correlated features, damping 1e9: H + lambda I is nearly lambda I, the feedback vanishes.
  const Eigen::MatrixXd Xc = gaussian(50, 30, 73) * (Eigen::MatrixXd::Identity(30, 30) + gaussian(30, 30, 74));
  const auto sc = pathq::LayerStats<double>::from(Xc);
  pathq::OptqOptions heavy;
  heavy.damping = 1e9;
  REQUIRE(pathq::Optq<double>(heavy).quantize(W, sc, alphabet).codes == pathq::msq(W, alphabet).codes);
  // ... while ordinary damping corrects and beats round-to-nearest on the layer error.
  const double e_optq = pathq::relative_error(W, pathq::Optq<double>().quantize(W, sc, alphabet), sc);
  const double e_msq = pathq::relative_error(W, pathq::msq(W, alphabet), sc);
  INFO("E_rel OPTQ " << e_optq << " MSQ " << e_msq);
  REQUIRE(e_optq < 0.7 * e_msq);
}

TEST_CASE("optq: thread count, precision, rounding policy and zero neurons", "[optq][properties]") {
  const Eigen::MatrixXd W0 = gaussian(90, 11, 81);
  Eigen::MatrixXd W = W0;
  W.col(4).setZero();
  const Eigen::MatrixXd X = gaussian(120, 90, 82) * (Eigen::MatrixXd::Identity(90, 90) + 0.1 * gaussian(90, 90, 83));
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto alphabet = Alphabet<double>::asymmetric(4).with_group_size(32);
  pathq::OptqOptions o;
  o.engine.panel_width = 3;
  o.engine.threads = 1;
  const auto one = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  o.engine.threads = 2;
  const auto two = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  REQUIRE(one.codes == two.codes);
  REQUIRE(one.grid.step == two.grid.step);
  REQUIRE(one.values().col(4).cwiseAbs().maxCoeff() == 0.0);  // a zero neuron stays zero
  // float: the same algorithm in single precision; codes agree up to near-ties.
  const auto f =
      pathq::Optq<float>().quantize(W.cast<float>().eval(), stats, Alphabet<float>::asymmetric(4).with_group_size(32));
  const double agree = double((f.codes.array() == one.codes.array()).count()) / double(one.codes.size());
  INFO("float/double code agreement " << agree);
  REQUIRE(agree > 0.97);
  // Stochastic rounding: the same seed gives the same codes, another seed others.
  using Stochastic = pathq::Optq<double, pathq::StochasticRounding>;
  const auto a = Stochastic({}, pathq::StochasticRounding(5)).quantize(W, stats, alphabet);
  const auto b = Stochastic({}, pathq::StochasticRounding(5)).quantize(W, stats, alphabet);
  const auto c = Stochastic({}, pathq::StochasticRounding(6)).quantize(W, stats, alphabet);
  REQUIRE(a.codes == b.codes);
  REQUIRE(a.codes != c.codes);
  // Every code lies in the grid's range.
  REQUIRE(a.codes.minCoeff() >= a.grid.code_lo);
  REQUIRE(a.codes.maxCoeff() <= a.grid.code_hi);
}

TEST_CASE("optq: bad input throws naming the problem", "[optq][contract]") {
  using Catch::Contains;
  const Eigen::MatrixXd W = gaussian(10, 3, 91);
  const auto stats = pathq::LayerStats<double>::from(gaussian(20, 10, 92));
  const auto alphabet = Alphabet<double>::symmetric(3, StepRule::column_radius(1.0));
  const pathq::Optq<double> optq;
  REQUIRE_THROWS_WITH(optq.quantize(gaussian(11, 3, 1), stats, alphabet),
                      Contains("W has 11 rows but the inputs have N_in = 10"));
  REQUIRE_THROWS_WITH(optq.quantize(Eigen::MatrixXd(0, 3), stats, alphabet), Contains("W is empty"));
  Eigen::MatrixXd bad = W;
  bad(2, 1) = std::nan("");
  REQUIRE_THROWS_WITH(optq.quantize(bad, stats, alphabet), Contains("non-finite"));
  REQUIRE_THROWS_WITH(optq.quantize(W, pathq::LayerStats<double>(10), alphabet), Contains("no samples"));
  auto grid = alphabet.resolve(W);
  grid.step(0, 1) = 0;
  REQUIRE_THROWS_WITH(optq.quantize(W, stats, grid), Contains("step must be finite and positive"));
  pathq::OptqOptions o;
  o.damping = -1;
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o), Contains("damping must be finite and >= 0"));
  o = {};
  o.max_damping_retries = 31;
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o), Contains("max_damping_retries must be in [0, 30]"));
  o = {};
  o.dead_tolerance = 1;
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o), Contains("dead_tolerance must be in [0, 1)"));
  o = {};
  o.engine.block_size = 0;
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o), Contains("block_size must be >= 1"));
  // Dynamic groups need the natural order and a per-column rule.
  o = {};
  o.order = pathq::FeatureOrder::DescendingEnergy;
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o).quantize(W, stats, alphabet.with_group_size(4)),
                      Contains("set static_groups = true"));
  REQUIRE_THROWS_WITH(
      optq.quantize(W, stats, Alphabet<double>::symmetric(3, StepRule::layer_radius(1.0)).with_group_size(4)),
      Contains("StepRule::column_radius"));
  REQUIRE_THROWS_WITH(pathq::optq(W, gaussian(20, 9, 93), alphabet), Contains("X has 9 columns but W has 10 rows"));
  REQUIRE_THROWS_WITH(pathq::bounds::optq_unsaturated(alphabet.resolve(W), Eigen::VectorXd::Ones(10), -1.0),
                      Contains("lambda must be finite and >= 0"));
}

TEST_CASE("optq objective: the float-outputs target splits the layer error exactly", "[optq][objective][theory]") {
  const Eigen::Index m = 90, n = 24, N = 5;
  const Eigen::MatrixXd X = gaussian(m, n, 1101) * (Eigen::MatrixXd::Identity(n, n) + 0.3 * gaussian(n, n, 1102));
  const Eigen::MatrixXd Xq = X + 0.3 * gaussian(m, n, 1103);
  const Eigen::MatrixXd W = gaussian(n, N, 1104);
  const Eigen::MatrixXd Q = gaussian(n, N, 1105);  // any Q
  const Eigen::MatrixXd H = Xq.transpose() * Xq, G = Xq.transpose() * X;
  // Damping 0: W* = H^-1 G W, and ||XW - XqQ||^2 = ||XW - Xq W*||^2 + ||Xq (W* - Q)||^2.
  OptqReferenceOptions undamped;
  undamped.damping = 0;
  const Eigen::MatrixXd Ws = pathq_reference::optq_float_outputs_target(W, X, Xq, undamped);
  REQUIRE((Ws - H.llt().solve(G * W)).cwiseAbs().maxCoeff() <= 1e-10 * Ws.cwiseAbs().maxCoeff());
  const double total = (X * W - Xq * Q).squaredNorm();
  const double split = (X * W - Xq * Ws).squaredNorm() + (Xq * (Ws - Q)).squaredNorm();
  REQUIRE(std::abs(total - split) <= 1e-10 * total);
  // The same from the streamed statistics.
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  REQUIRE(pathq::layer_error(stats, W, Q).error() == Approx(total).epsilon(1e-10));
  // The residual is orthogonal to the range of Xq.
  REQUIRE((Xq.transpose() * (X * W - Xq * Ws)).cwiseAbs().maxCoeff() <= 1e-9 * (Xq.transpose() * X * W).norm());
  // Damped: with W* = (H + lambda I)^-1 (G + lambda I) W, the damped objective
  // ||XW - XqQ||^2 + lambda ||W - Q||^2 is a constant plus (Q - W*)^T (H + lambda I) (Q - W*).
  OptqReferenceOptions damped;
  damped.damping = 0.05;
  const double lambda = damped.damping * H.diagonal().mean();
  const Eigen::MatrixXd Wd = pathq_reference::optq_float_outputs_target(W, X, Xq, damped);
  const Eigen::MatrixXd A = H + lambda * Eigen::MatrixXd::Identity(n, n);
  const double lhs = total + lambda * (W - Q).squaredNorm();
  const double rhs = (X * W - Xq * Wd).squaredNorm() + lambda * (W - Wd).squaredNorm() +
                     ((Q - Wd).transpose() * A * (Q - Wd)).trace();
  REQUIRE(std::abs(lhs - rhs) <= 1e-10 * lhs);
}

TEST_CASE("optq objective: float outputs equal the naive algorithm run on the explicit W*, every code",
          "[optq][objective][reference]") {
  struct Case {
    Eigen::Index n_in, n_out, m;
    const char* kind;
    long group;
    bool static_groups, act_order;
    double damping;
    std::vector<Eigen::Index> dead;
  };
  const std::vector<Case> cases = {
      {37, 5, 60, "symmetric", 0, true, false, 0.01, {}},
      {41, 4, 70, "asymmetric", 0, true, true, 0.01, {}},
      {30, 3, 80, "symmetric", 0, true, false, 0.0, {}},  // undamped: W* = H^-1 G W
      {48, 4, 70, "asymmetric", 16, true, true, 0.01, {}},
      {45, 3, 60, "symmetric", 10, false, false, 0.01, {}},  // dynamic groups refit from W*'s updates
      {37, 4, 50, "symmetric", 0, true, true, 0.01, {0, 17, 36}},  // dead in Xq, alive in X
      {64, 3, 30, "even", 0, true, false, 0.01, {}},  // fewer samples than features
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& k = cases[c];
    OptqReferenceGrid grid;
    grid.kind = k.kind;
    grid.K = 3;
    grid.bits = 3;
    grid.C = 0.95;
    grid.group_size = k.group;
    grid.static_groups = k.static_groups;
    OptqReferenceOptions ro;
    ro.act_order = k.act_order;
    ro.damping = k.damping;
    const SequentialLayer L = tie_free_sequential_layer(k.n_in, k.n_out, k.m, grid, ro, 1200 + 10 * c, 0.2, k.dead);
    const auto stats = pathq::LayerStats<double>::from(L.X, L.Xq);
    for (Eigen::Index bs : {1, 7, 32, 128}) {
      INFO("case " << c << " (" << k.kind << ", group " << k.group << (k.static_groups ? " static" : " dynamic")
                   << ", act-order " << k.act_order << ", damping " << k.damping << ") block " << bs);
      const pathq::Optq<double> optq(options_for(ro, bs, grid.static_groups));
      const auto r = optq.quantize(L.W, stats, alphabet_for(grid));
      REQUIRE(r.info.status == pathq::Info::Success);
      REQUIRE(r.info.extra.at("objective_float_outputs") == 1.0);
      REQUIRE(r.codes.cast<int>() == L.ref.codes);
      REQUIRE((r.values() - L.ref.Q).cwiseAbs().maxCoeff() <= 1e-12 * (1 + L.ref.Q.cwiseAbs().maxCoeff()));
      REQUIRE((r.grid.step - L.ref.step).cwiseAbs().maxCoeff() <= 1e-12 * L.ref.step.cwiseAbs().maxCoeff());
      for (auto t : k.dead) REQUIRE(r.codes.row(t).cwiseAbs().maxCoeff() == 0);
    }
    // The classic objective equals the reference on W itself, and gives other codes.
    auto classic_options = options_for(ro, 32, grid.static_groups);
    classic_options.objective = pathq::OptqObjective::QuantizedInputs;
    const auto classic = pathq::Optq<double>(classic_options).quantize(L.W, stats, alphabet_for(grid));
    REQUIRE(classic.info.extra.at("objective_float_outputs") == 0.0);
    REQUIRE(classic.codes.cast<int>() != L.ref.codes);
    const auto ref_classic = pathq_reference::optq_reference_gram(L.W, L.W, L.Xq.transpose() * L.Xq, grid, ro);
    if (pathq_reference::code_tie_margin(ref_classic.U) > 1e-9) REQUIRE(classic.codes.cast<int>() == ref_classic.codes);
  }
}

TEST_CASE("optq objective: with Xq = X both objectives give the same codes", "[optq][objective]") {
  OptqReferenceGrid grid;
  grid.kind = "asymmetric";
  grid.bits = 3;
  for (bool act : {false, true}) {
    OptqReferenceOptions ro;
    ro.act_order = act;
    const Layer L = tie_free_layer(53, 6, 80, grid, ro, 1300, {4});
    auto outputs = options_for(ro, 16, true);
    auto inputs = outputs;
    inputs.objective = pathq::OptqObjective::QuantizedInputs;
    // Statistics without Xq, and with Xq given apart but equal to X.
    for (const auto& stats : {pathq::LayerStats<double>::from(L.X), pathq::LayerStats<double>::from(L.X, L.X)}) {
      INFO("act-order " << act << ", Xq given apart: " << !stats.same_inputs());
      const auto a = pathq::Optq<double>(outputs).quantize(L.W, stats, alphabet_for(grid));
      const auto b = pathq::Optq<double>(inputs).quantize(L.W, stats, alphabet_for(grid));
      REQUIRE(a.info.extra.at("objective_float_outputs") == 1.0);
      REQUIRE(b.info.extra.at("objective_float_outputs") == 0.0);
      REQUIRE(a.codes == b.codes);
      REQUIRE(a.values() == b.values());
      REQUIRE(a.codes.cast<int>() == L.ref.codes);
    }
    // W* depends continuously on Xq (the damping pulls it toward W, never toward 0): a tiny
    // perturbation of X keeps every code.
    const Eigen::MatrixXd Xq = L.X + 1e-10 * gaussian(L.X.rows(), L.X.cols(), 1301);
    const auto near = pathq::Optq<double>(outputs).quantize(L.W, pathq::LayerStats<double>::from(L.X, Xq),
                                                             alphabet_for(grid));
    REQUIRE(near.codes.cast<int>() == L.ref.codes);
  }
}

TEST_CASE("optq objective: on a sequential-like layer float outputs lower ||XW - XqQ||", "[optq][objective][theory]") {
  // Two layers: X = relu(Z A) in the float network, Xq = relu(Z Aq) with A quantized to 3 bits
  // (round to nearest), then the second layer's W at 3 and 4 bits.
  const Eigen::Index m = 400, n0 = 48, n = 64, N = 16;
  const Eigen::MatrixXd Z = gaussian(m, n0, 1401);
  const Eigen::MatrixXd A = gaussian(n0, n, 1402) / std::sqrt(double(n0));
  const auto first = pathq::msq(A, Alphabet<double>::from_bits(3, StepRule::column_radius(1.0)));
  const Eigen::MatrixXd X = (Z * A).cwiseMax(0.0);
  const Eigen::MatrixXd Xq = (Z * first.values()).cwiseMax(0.0);
  const Eigen::MatrixXd W = gaussian(n, N, 1403);
  const auto stats = pathq::LayerStats<double>::from(X, Xq);
  for (int bits : {3, 4})
    for (bool act : {false, true}) {
      pathq::OptqOptions outputs;
      outputs.order = act ? pathq::FeatureOrder::DescendingEnergy : pathq::FeatureOrder::Natural;
      pathq::OptqOptions inputs = outputs;
      inputs.objective = pathq::OptqObjective::QuantizedInputs;
      const auto alphabet = Alphabet<double>::from_bits(bits, StepRule::column_radius(1.0));
      const auto a = pathq::Optq<double>(outputs).quantize(W, stats, alphabet);
      const auto b = pathq::Optq<double>(inputs).quantize(W, stats, alphabet);
      const double e_out = pathq::layer_error(stats, W, a.values()).error();
      const double e_in = pathq::layer_error(stats, W, b.values()).error();
      INFO(bits << " bits, act-order " << act << ": ||XW - XqQ||^2 float outputs " << e_out << ", quantized inputs "
                << e_in);
      REQUIRE(e_out < 0.9 * e_in);
    }
  // Float precision: the same target in single precision, codes agree up to near-ties.
  const auto alphabet = Alphabet<double>::from_bits(4, StepRule::column_radius(1.0));
  pathq::OptqOptions o;
  o.engine.threads = 1;
  const auto d = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  const auto f = pathq::Optq<float>(o).quantize(W.cast<float>().eval(), stats,
                                                Alphabet<float>::from_bits(4, StepRule::column_radius(1.0)));
  const double agree = double((f.codes.array() == d.codes.array()).count()) / double(d.codes.size());
  INFO("float/double code agreement " << agree);
  REQUIRE(agree > 0.97);
  // Threads change nothing.
  o.engine.panel_width = 3;
  const auto one = pathq::Optq<double>(o).quantize(W, stats, alphabet);
  o.engine.threads = 2;
  REQUIRE(pathq::Optq<double>(o).quantize(W, stats, alphabet).codes == one.codes);
}

TEST_CASE("optq objective: a bad value throws naming it", "[optq][objective][contract]") {
  pathq::OptqOptions o;
  o.objective = static_cast<pathq::OptqObjective>(7);
  REQUIRE_THROWS_AS(pathq::Optq<double>(o), pathq::invalid_argument);
  REQUIRE_THROWS_WITH(pathq::Optq<double>(o), Catch::Contains("objective must be OptqObjective::FloatOutputs or "
                                                              "OptqObjective::QuantizedInputs, got 7"));
  REQUIRE_NOTHROW(pathq::Optq<double>(pathq::OptqOptions{}));
}

}  // namespace pathq_test_optq
