// AXE: the engine against the naive transcription, the overflow guarantee proved by integers
// (random, adversarial and exhaustive inputs), the trade-offs it promises, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <pathq/pathq.hpp>

#include "reference/axe_reference.hpp"
#include "support/datapath.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_accumulator {

using pathq_test::gaussian;

using pathq_test::datapath;

namespace {

using Grid = pathq::Grid<double>;
using Axe = pathq::AccumulatorConstraint<double>;
using AxeGpfq = pathq::Gpfq<double, pathq::Nearest, Axe>;

struct Layer {
  Eigen::MatrixXd W, X, Xq;
  pathq::LayerStats<double> stats;
};

// Non-negative inputs (as after a ReLU), the quantized ones perturbed.
Layer make_layer(Eigen::Index n_in, Eigen::Index n_out, Eigen::Index m, std::uint64_t seed) {
  const Eigen::MatrixXd X = gaussian(m, n_in, seed + 1).cwiseAbs();
  const Eigen::MatrixXd Xq = X + 0.1 * gaussian(m, n_in, seed + 2);
  return Layer{gaussian(n_in, n_out, seed), X, Xq, pathq::LayerStats<double>::from(X, Xq)};
}

Grid column_grid(const Eigen::MatrixXd& W, int K) {
  return pathq::Alphabet<double>::symmetric(K, pathq::StepRule::column_radius(1.0)).resolve(W);
}

template <class Rounding = pathq::Nearest>
pathq::Result<double> axe_gpfq(const Layer& L, const Grid& grid, const pathq::AccumulatorOptions& o,
                               pathq::GpfqOptions go = {}, Rounding round = {}) {
  const Axe c(o, L.W, grid);
  return pathq::Gpfq<double, Rounding, Axe>(go, round, c).quantize(L.W, L.stats, grid);
}

pathq::Result<double> plain_gpfq(const Layer& L, const Grid& grid) {
  return pathq::Gpfq<double>().quantize(L.W, L.stats, grid);
}

double rel_error(const Layer& L, const pathq::Result<double>& r) {
  return pathq::relative_error(L.W, r, L.stats);
}

pathq_reference::AxeSetting setting_of(const pathq::AccumulatorOptions& o) {
  return {o.accumulator_bits, o.input_bits, o.input_signed, long(o.tile), o.soft_threshold};
}

// Integer inference written out independently: every partial sum of every tile, in order,
// must stay within ±M. Returns the largest |partial sum| seen.
std::int64_t check_every_partial_sum(const pathq::IntegerInputs& X, const pathq::Codes& codes,
                                     const pathq::AccumulatorOptions& o) {
  const std::int64_t M = (std::int64_t(1) << (o.accumulator_bits - 1)) - 1;
  const Eigen::Index n_in = codes.rows(), T = o.tile > 0 ? o.tile : n_in;
  std::int64_t seen = 0;
  for (Eigen::Index i = 0; i < X.rows(); ++i)
    for (Eigen::Index j = 0; j < codes.cols(); ++j) {
      std::int64_t acc = 0;
      for (Eigen::Index t = 0; t < n_in; ++t) {
        if (t % T == 0) acc = 0;
        acc += std::int64_t(X(i, t)) * codes(t, j);
        seen = std::max(seen, acc < 0 ? -acc : acc);
        if (acc > M || acc < -M)
          FAIL("sample " << i << " neuron " << j << " feature " << t << ": partial sum " << acc << " beyond ±" << M);
      }
    }
  return seen;
}

pathq::IntegerInputs random_integer_inputs(Eigen::Index m, Eigen::Index n_in, const pathq::AccumulatorOptions& o,
                                           std::uint64_t seed) {
  const pathq::RandomStream s(seed, 3);
  const double span = double(o.input_max() - o.input_min() + 1);
  pathq::IntegerInputs X(m, n_in);
  for (Eigen::Index k = 0; k < X.size(); ++k)
    X.data()[k] = std::int32_t(o.input_min() + std::int64_t(s.uniform(std::uint64_t(k)) * span));
  return X;
}

}  // namespace

TEST_CASE("axe: engine equals the per-neuron reference on every code", "[axe][reference]") {
  struct Case {
    pathq::AccumulatorOptions o;
    Eigen::Index n_in, n_out, m;
  };
  const std::vector<Case> cases = {
      {datapath(10, 4, false), 64, 6, 40},       {datapath(8, 4, false, 16), 64, 5, 40},
      {datapath(9, 4, false, 20), 64, 4, 30},    {datapath(10, 3, true), 60, 5, 40},
      {datapath(7, 3, true, 8), 50, 3, 30},     {datapath(10, 4, false, 0, false), 64, 5, 40},
      {datapath(14, 8, false), 40, 3, 25},
  };
  const int K = 7;
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& k = cases[c];
    bool found = false;
    for (std::uint64_t seed = 100 * (c + 1); seed < 100 * (c + 1) + 7 * 50 && !found; seed += 7) {
      const Layer L = make_layer(k.n_in, k.n_out, k.m, seed);
      const Grid grid = column_grid(L.W, K);
      const auto ref = pathq_reference::axe_gpfq_reference(L.W, L.X, L.Xq, grid.step.row(0).transpose(), K,
                                                           setting_of(k.o));
      if (ref.margin < 1e-8) continue;  // keep away from rounding ties
      INFO("case " << c << " seed " << seed << " P " << k.o.accumulator_bits << " N " << k.o.input_bits
                   << " signed " << k.o.input_signed << " T " << k.o.tile);
      const Axe axe(k.o, L.W, grid);
      REQUIRE((axe.theta() - ref.theta).cwiseAbs().maxCoeff() <= 1e-9 * (1 + ref.theta.cwiseAbs().maxCoeff()));
      for (Eigen::Index bs : {1, 7, 64}) {
        pathq::GpfqOptions go;
        go.engine.block_size = bs;
        go.engine.panel_width = 2;
        const auto r = axe_gpfq(L, grid, k.o, go);
        INFO("block " << bs);
        REQUIRE(r.codes == ref.codes);
      }
      // The constraint must bind somewhere, or the test proves nothing about it.
      REQUIRE(plain_gpfq(L, grid).codes != ref.codes);
      found = true;
    }
    INFO("case " << c);
    REQUIRE(found);  // a tie-free layer within 50 seeds
  }
}

TEST_CASE("axe: act-order takes each feature's tile from its original index", "[axe][reference]") {
  const int K = 7;
  const auto o = datapath(10, 4, false, 12);
  bool found = false;
  for (std::uint64_t seed = 31; seed < 31 + 5 * 50 && !found; seed += 5) {
    Layer L = make_layer(48, 4, 40, seed);
    for (Eigen::Index t = 0; t < 48; ++t) {  // energies far from the natural order
      const double s = 0.5 + double((t * 19) % 48) / 24.0;
      L.X.col(t) *= s;
      L.Xq.col(t) *= s;
    }
    L.stats = pathq::LayerStats<double>::from(L.X, L.Xq);
    const auto perm = pathq::feature_permutation(pathq::FeatureOrder::DescendingEnergy, L.stats.H().diagonal());
    const std::vector<long> order(perm.begin(), perm.end());
    const Grid grid = column_grid(L.W, K);
    const auto ref =
        pathq_reference::axe_gpfq_reference(L.W, L.X, L.Xq, grid.step.row(0).transpose(), K, setting_of(o), order);
    if (ref.margin < 1e-8) continue;
    INFO("seed " << seed);
    pathq::GpfqOptions go;
    go.order = pathq::FeatureOrder::DescendingEnergy;
    go.engine.block_size = 5;
    const auto r = axe_gpfq(L, grid, o, go);
    REQUIRE(r.codes == ref.codes);
    REQUIRE(pathq::accumulator_worst_case(r, o).fits());
    found = true;
  }
  REQUIRE(found);
}

TEST_CASE("axe: every tile's exact worst case fits P bits; random and adversarial inputs never overflow",
          "[axe][theory]") {
  struct Case {
    pathq::AccumulatorOptions o;
    Eigen::Index n_in, n_out;
    int K;
  };
  const std::vector<Case> cases = {
      {datapath(12, 4, false), 256, 12, 7},     {datapath(10, 4, false, 32), 256, 12, 7},
      {datapath(16, 8, false), 200, 10, 7},     {datapath(14, 8, true), 180, 9, 15},
      {datapath(6, 3, true, 10), 95, 7, 3},     {datapath(11, 4, false, 0, false), 128, 8, 7},
      {datapath(8, 8, false, 4), 64, 6, 7},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& k = cases[c];
    INFO("case " << c << " P " << k.o.accumulator_bits << " N " << k.o.input_bits << " signed "
                 << k.o.input_signed << " T " << k.o.tile << " soft " << k.o.soft_threshold);
    const Layer L = make_layer(k.n_in, k.n_out, 60, 500 + c);
    const Grid grid = column_grid(L.W, k.K);
    const auto r = axe_gpfq(L, grid, k.o);
    const auto wc = pathq::accumulator_worst_case(r, k.o);
    const std::int64_t M = k.o.limit();
    for (Eigen::Index j = 0; j < k.n_out; ++j)
      for (Eigen::Index t = 0; t < wc.tiles; ++t) {
        INFO("neuron " << j << " tile " << t);
        REQUIRE(wc.tile_max(t, j) <= M);
        REQUIRE(wc.tile_min(t, j) >= -M);
      }
    REQUIRE(wc.fits());
    REQUIRE(wc.bits_needed <= k.o.accumulator_bits);
    REQUIRE(wc.outer_bits_needed <= pathq::bounds::outer_accumulator_bits(k.o.accumulator_bits, wc.tiles));
    // Adversarial inputs attain the worst case exactly, and overflow nothing.
    const auto adv = pathq::integer_inference(pathq::adversarial_inputs(r.codes, k.o), r.codes, k.o);
    REQUIRE(adv.overflow_steps == 0);
    REQUIRE(adv.outer_overflow_outputs == 0);
    REQUIRE(adv.max_partial == wc.worst);
    REQUIRE(check_every_partial_sum(pathq::adversarial_inputs(r.codes, k.o), r.codes, k.o) == wc.worst);
    // Random integer inputs, every partial sum checked.
    const auto Xr = random_integer_inputs(40, k.n_in, k.o, 900 + c);
    check_every_partial_sum(Xr, r.codes, k.o);
    REQUIRE(pathq::integer_inference(Xr, r.codes, k.o).overflow_outputs == 0);
    // The same layer without the constraint overflows at this P (so the checks above can fail).
    const auto plain = plain_gpfq(L, grid);
    const auto wp = pathq::accumulator_worst_case(plain, k.o);
    REQUIRE(!wp.fits());
    REQUIRE(wp.neurons_over > 0);
    REQUIRE(pathq::integer_inference(pathq::adversarial_inputs(plain.codes, k.o), plain.codes, k.o)
                .overflow_outputs > 0);
  }
}

TEST_CASE("axe: exhaustive inputs on tiny layers: no partial sum overflows, the worst case is attained",
          "[axe][theory]") {
  struct Case {
    pathq::AccumulatorOptions o;
    Eigen::Index n_in;
  };
  const std::vector<Case> cases = {{datapath(5, 2, false), 6},   {datapath(5, 2, true), 6},
                                   {datapath(4, 2, false, 3), 7}, {datapath(5, 3, true, 2), 5},
                                   {datapath(4, 1, false), 9}};
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& k = cases[c];
    const Eigen::Index n_out = 4;
    Layer L = make_layer(k.n_in, n_out, 20, 700 + c);
    L.W *= 3.0;
    const Grid grid = pathq::Alphabet<double>::symmetric(3, 1.0).resolve(L.W);
    INFO("case " << c << " N_in " << k.n_in << " P " << k.o.accumulator_bits << " N " << k.o.input_bits
                 << " signed " << k.o.input_signed << " T " << k.o.tile);
    const std::int64_t xmin = k.o.input_min(), span = k.o.input_max() - xmin + 1;
    std::int64_t count = 1;
    for (Eigen::Index t = 0; t < k.n_in; ++t) count *= span;
    pathq::IntegerInputs X(count, k.n_in);
    for (std::int64_t s = 0; s < count; ++s) {
      std::int64_t v = s;
      for (Eigen::Index t = 0; t < k.n_in; ++t, v /= span) X(s, t) = std::int32_t(xmin + v % span);
    }
    const auto r = axe_gpfq(L, grid, k.o);
    const auto wc = pathq::accumulator_worst_case(r, k.o);
    REQUIRE(check_every_partial_sum(X, r.codes, k.o) == wc.worst);
    // Exactness: the extremes of every tile's sum over all inputs are the computed ones.
    const Eigen::Index T = wc.tile;
    for (Eigen::Index j = 0; j < n_out; ++j)
      for (Eigen::Index tile = 0; tile < wc.tiles; ++tile) {
        std::int64_t hi = INT64_MIN, lo = INT64_MAX;
        for (std::int64_t s = 0; s < count; ++s) {
          std::int64_t acc = 0;
          for (Eigen::Index t = tile * T; t < std::min(k.n_in, (tile + 1) * T); ++t) acc += X(s, t) * r.codes(t, j);
          hi = std::max(hi, acc);
          lo = std::min(lo, acc);
        }
        REQUIRE(hi == wc.tile_max(tile, j));
        REQUIRE(lo == wc.tile_min(tile, j));
      }
    // Unconstrained GPFQ overflows on some input.
    const auto plain = plain_gpfq(L, grid);
    REQUIRE(pathq::integer_inference(X, plain.codes, k.o).overflow_outputs > 0);
  }
}

TEST_CASE("axe: the guarantee holds with stochastic rounding and without the soft threshold", "[axe][theory]") {
  const Layer L = make_layer(150, 10, 50, 41);
  const Grid grid = column_grid(L.W, 7);
  for (Eigen::Index T : {0, 25}) {
    for (bool soft : {true, false}) {
      const auto o = datapath(10, 4, false, T, soft);
      INFO("T " << T << " soft " << soft);
      const auto r = axe_gpfq(L, grid, o, {}, pathq::StochasticRounding(9));
      REQUIRE(pathq::accumulator_worst_case(r, o).fits());
      check_every_partial_sum(pathq::adversarial_inputs(r.codes, o), r.codes, o);
    }
  }
  // The soft threshold changes the answer (it is not a no-op), the hard clamp alone suffices.
  REQUIRE(axe_gpfq(L, grid, datapath(10, 4, false)).codes != axe_gpfq(L, grid, datapath(10, 4, false, 0, false)).codes);
}

TEST_CASE("axe: results do not depend on threads or panel width", "[axe]") {
  const Layer L = make_layer(120, 37, 50, 43);
  const Grid grid = column_grid(L.W, 7);
  const auto o = datapath(11, 4, false, 30);
  pathq::GpfqOptions a, b;
  a.engine.threads = 1;
  a.engine.panel_width = 256;
  b.engine.threads = 2;
  b.engine.panel_width = 5;
  REQUIRE(axe_gpfq(L, grid, o, a).codes == axe_gpfq(L, grid, o, b).codes);
}

TEST_CASE("axe: error degrades gracefully as P shrinks and equals GPFQ when the datapath is wide",
          "[axe][theory]") {
  const Layer L = make_layer(128, 16, 100, 47);
  const Grid grid = column_grid(L.W, 7);
  const auto plain = plain_gpfq(L, grid);
  const double e_plain = rel_error(L, plain);
  const int P_plain = pathq::accumulator_worst_case(plain, datapath(32, 4, false)).bits_needed;
  INFO("unconstrained error " << e_plain << ", needs " << P_plain << " bits");
  // Wide enough that neither the threshold nor the clamp acts: the same codes as GPFQ.
  REQUIRE(axe_gpfq(L, grid, datapath(40, 4, false)).codes == plain.codes);
  double previous = e_plain;
  std::vector<double> errors;
  for (int P = P_plain + 2; P >= 9; --P) {
    const auto o = datapath(P, 4, false);
    const auto r = axe_gpfq(L, grid, o);
    const double e = rel_error(L, r);
    errors.push_back(e);
    INFO("P " << P << " error " << e << " previous " << previous);
    REQUIRE(pathq::accumulator_worst_case(r, o).fits());
    // Monotone up to noise, and no cliff: one bit less halves the l1 budget, and may at most
    // halve the explained part of the output energy, 1 - error.
    REQUIRE(e >= 0.9 * previous);
    REQUIRE(1.0 - e >= 0.5 * (1.0 - previous));
    previous = e;
  }
  REQUIRE(errors.front() <= 1.2 * e_plain);
  REQUIRE(errors.back() > 2.0 * e_plain);  // and the constraint does cost something at small P
}

TEST_CASE("axe: multi-stage accumulation needs fewer inner bits than single-stage for the same error",
          "[axe][theory]") {
  const Layer L = make_layer(256, 12, 100, 53);
  const Grid grid = column_grid(L.W, 7);
  const double target = 1.5 * rel_error(L, plain_gpfq(L, grid));
  auto fewest_bits = [&](Eigen::Index T) {
    for (int P = 8; P <= 30; ++P)
      if (rel_error(L, axe_gpfq(L, grid, datapath(P, 4, false, T))) <= target) return P;
    return 31;
  };
  const int single = fewest_bits(0), multi = fewest_bits(32);
  INFO("target error " << target << ": single-stage " << single << " bits, 8 tiles of 32: " << multi << " inner bits");
  REQUIRE(multi < single);
  REQUIRE(multi + 3 >= single - 1);  // roughly the log2(8) bits the outer accumulator takes back
}

TEST_CASE("axe: soft thresholds are the l1-ball projection of the centred integer weights", "[axe][theory]") {
  const Layer L = make_layer(70, 5, 10, 59);
  const Grid grid = column_grid(L.W, 7);
  for (Eigen::Index T : {0, 16}) {
    const auto o = datapath(9, 4, false, T);
    const Axe axe(o, L.W, grid);
    const double Z = pathq::bounds::a2q_plus_l1_bound(9, 4);
    const Eigen::Index TT = axe.tile_size();
    REQUIRE(axe.tiles() == (70 + TT - 1) / TT);
    for (Eigen::Index j = 0; j < 5; ++j)
      for (Eigen::Index k = 0; k < axe.tiles(); ++k) {
        std::vector<double> v(std::size_t(TT), 0.0);
        for (Eigen::Index t = k * TT; t < std::min<Eigen::Index>(70, (k + 1) * TT); ++t)
          v[std::size_t(t - k * TT)] = L.W(t, j) / grid.step(0, j);
        double mean = 0, l1 = 0, projected = 0;
        for (double x : v) mean += x / double(TT);
        const double theta = axe.theta()(k, j);
        for (double x : v) {
          l1 += std::abs(x - mean);
          projected += std::max(std::abs(x - mean) - theta, 0.0);
        }
        INFO("T " << T << " neuron " << j << " tile " << k << " l1 " << l1 << " theta " << theta);
        if (l1 <= Z) REQUIRE(theta == 0.0);
        else REQUIRE(std::abs(projected - Z) <= 1e-9 * Z);
      }
  }
}

TEST_CASE("axe: OPTQ with the accumulator constraint, per column and per group, any order", "[axe][optq]") {
  using AxeOptq = pathq::Optq<double, pathq::Nearest, Axe>;
  const Layer L = make_layer(160, 10, 200, 71);
  const auto alphabet = pathq::Alphabet<double>::symmetric(7, pathq::StepRule::column_radius(1.0));
  const auto grouped = alphabet.with_group_size(32);
  struct Case {
    pathq::FeatureOrder order;
    Eigen::Index T;
    bool groups, static_groups;
  };
  const std::vector<Case> cases = {{pathq::FeatureOrder::Natural, 0, false, false},
                                   {pathq::FeatureOrder::DescendingEnergy, 0, false, false},
                                   {pathq::FeatureOrder::Natural, 40, false, false},
                                   {pathq::FeatureOrder::Natural, 0, true, false},
                                   {pathq::FeatureOrder::DescendingEnergy, 32, true, true}};
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& k = cases[c];
    INFO("case " << c);
    pathq::OptqOptions opt;
    opt.order = k.order;
    opt.static_groups = k.static_groups;
    const auto& al = k.groups ? grouped : alphabet;
    const Grid grid = al.resolve(L.W);
    const auto o = datapath(k.T > 0 ? 9 : 10, 4, false, k.T);
    const auto r = AxeOptq(opt, {}, Axe(o, L.W, grid)).quantize(L.W, L.stats, al);
    REQUIRE(r.info.status == pathq::Info::Success);
    const auto wc = pathq::accumulator_worst_case(r, o);
    REQUIRE(wc.fits());
    check_every_partial_sum(pathq::adversarial_inputs(r.codes, o), r.codes, o);
    const auto plain = pathq::Optq<double>(opt).quantize(L.W, L.stats, al);
    REQUIRE(!pathq::accumulator_worst_case(plain, o).fits());
    // A datapath wide enough changes nothing.
    REQUIRE(AxeOptq(opt, {}, Axe(datapath(40, 4, false, k.T), L.W, grid)).quantize(L.W, L.stats, al).codes ==
            plain.codes);
    REQUIRE(rel_error(L, r) < 1.0);
  }
}

TEST_CASE("axe: the l1-ball threshold equals Duchi's sort-based rule", "[axe]") {
  auto duchi = [](std::vector<double> a, double z) {
    double total = 0;
    for (double v : a) total += v;
    if (total <= z) return 0.0;
    std::sort(a.begin(), a.end(), [](double x, double y) { return x > y; });
    double cumsum = 0, theta = 0;
    for (std::size_t j = 0; j < a.size(); ++j) {
      cumsum += a[j];
      if (a[j] * double(j + 1) > cumsum - z) theta = (cumsum - z) / double(j + 1);
    }
    return theta;
  };
  const pathq::RandomStream s(5, 5);
  std::uint64_t k = 0;
  for (std::size_t n : {1, 2, 7, 100, 1000}) {
    for (double z : {0.5, 3.0, 40.0}) {
      std::vector<double> a(n);
      for (auto& v : a) v = std::floor(s.uniform(k++) * 8.0) / 2.0;  // many equal entries
      auto b = a;
      INFO("n " << n << " z " << z);
      REQUIRE(pathq::detail::l1_ball_threshold(b, z) == Approx(duchi(a, z)).margin(1e-12));
    }
  }
  std::vector<double> exact = {1.0, 2.0, 3.0};
  REQUIRE(pathq::detail::l1_ball_threshold(exact, 6.0) == 0.0);
  std::vector<double> one = {5.0};
  REQUIRE(pathq::detail::l1_ball_threshold(one, 2.0) == 3.0);
}

TEST_CASE("axe: bad input", "[axe][contract]") {
  const Layer L = make_layer(20, 3, 10, 61);
  const Grid grid = column_grid(L.W, 7);
  using Catch::Contains;
  REQUIRE_THROWS_WITH(Axe(datapath(1, 4, false), L.W, grid), Contains("accumulator_bits must be in [2, 62], got 1"));
  REQUIRE_THROWS_WITH(Axe(datapath(63, 4, false), L.W, grid), Contains("accumulator_bits"));
  REQUIRE_THROWS_WITH(Axe(datapath(16, 0, false), L.W, grid), Contains("input_bits must be in [1, 30]"));
  REQUIRE_THROWS_WITH(Axe(datapath(16, 1, true), L.W, grid), Contains("input_bits must be in [2, 30] for signed"));
  REQUIRE_THROWS_WITH(Axe(datapath(16, 31, false), L.W, grid), Contains("input_bits"));
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false, -1), L.W, grid), Contains("tile must be >= 0"));
  REQUIRE_THROWS_AS(Axe(datapath(16, 4, false, -1), L.W, grid), pathq::invalid_argument);

  const Grid midrise = pathq::Alphabet<double>::midrise(4, 0.5).resolve(L.W);
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false), L.W, midrise),
                      Contains("pathq::AccumulatorConstraint: accumulator constraints need a symmetric grid"));
  Grid asym = grid;
  asym.kind = pathq::GridKind::Asymmetric;
  asym.code_lo = 0;
  asym.code_hi = 15;
  asym.zero.setConstant(8);
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false), L.W, asym), Contains("got kind asymmetric"));
  Grid shifted = grid;
  shifted.zero(0, 1) = 1;
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false), L.W, shifted), Contains("need zero point 0, got 1"));
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false), Eigen::MatrixXd(L.W.leftCols(2)), grid),
                      Contains("the grid has 3 columns but W has 2"));
  Eigen::MatrixXd bad = L.W;
  bad(2, 1) = NAN;
  REQUIRE_THROWS_WITH(Axe(datapath(16, 4, false), bad, grid), Contains("W has a non-finite entry"));

  // The engine refuses a grid or a layer the constraint was not built for.
  const auto& stats = L.stats;
  const Axe axe(datapath(16, 4, false), L.W, grid);
  const AxeGpfq gpfq({}, {}, axe);
  REQUIRE_NOTHROW(gpfq.quantize(L.W, stats, grid));
  Grid other = grid;
  other.step *= 2;
  REQUIRE_THROWS_WITH(gpfq.quantize(L.W, stats, other), Contains("not the grid the constraint was built for"));
  REQUIRE_THROWS_WITH(gpfq.quantize(L.W, stats, midrise), Contains("need a symmetric grid"));
  const Layer L2 = make_layer(24, 3, 10, 62);
  REQUIRE_THROWS_WITH(AxeGpfq({}, {}, Axe(datapath(16, 4, false), L.W, grid))
                          .quantize(L2.W, pathq::LayerStats<double>::from(L2.X), column_grid(L2.W, 7)),
                      Contains("built for N_in = 20 but the layer has 24 features"));
  // Per-group steps: any feature order; still within the accumulator.
  Grid grouped = grid;
  grouped.group_size = 10;
  grouped.step = Eigen::MatrixXd::Constant(2, 3, 0.3);
  grouped.step(1, 2) = 0.2;
  grouped.zero = Eigen::MatrixXd::Zero(2, 3);
  std::vector<Eigen::Index> perm(20);
  for (Eigen::Index i = 0; i < 20; ++i) perm[std::size_t(i)] = 19 - i;
  REQUIRE_NOTHROW(Axe(datapath(16, 4, false), L.W, grouped).validate(grouped, 20, perm));
  const auto o = datapath(7, 4, false);
  const auto rg = AxeGpfq({}, {}, Axe(o, L.W, grouped)).quantize(L.W, stats, grouped);
  REQUIRE(pathq::accumulator_worst_case(rg, o).fits());
  REQUIRE(!pathq::accumulator_worst_case(pathq::Gpfq<double>().quantize(L.W, stats, grouped), o).fits());
}

}  // namespace pathq_test_accumulator
