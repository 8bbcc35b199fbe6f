// allocate_bits: the budget is never exceeded, one allowed width reproduces the uniform run, the
// result is deterministic, and where the greedy lands on the Lagrangian path it matches a brute
// force over every allocation.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <pathq/core/grid_accounting.hpp>
#include <pathq/network/bit_allocation.hpp>
#include <pathq/network/layer_methods.hpp>

#include "support/random_data.hpp"

namespace pathq_test_bit_allocation {

using pathq_test::gaussian;

namespace {

using Net = pathq::Sequential<double>;

Net chain() {
  Net net({12, 1, 1});
  net.add(pathq::Dense<double>{gaussian(12, 24, 1) * 0.3, gaussian(24, 1, 2) * 0.1}, "a")
      .add(pathq::Activation{})
      .add(pathq::Dense<double>{gaussian(24, 40, 3) * 0.2, gaussian(40, 1, 4) * 0.1}, "b")
      .add(pathq::Activation{})
      .add(pathq::Dense<double>{gaussian(40, 8, 5) * 0.2, gaussian(8, 1, 6) * 0.1}, "c")
      .add(pathq::Activation{})
      .add(pathq::Dense<double>{gaussian(8, 3, 7) * 0.4, Eigen::VectorXd()}, "d");
  return net;
}

pathq::NetworkQuantizerOptions<double> gpfq_options() {
  pathq::NetworkQuantizerOptions<double> o;
  o.method = pathq::layer_methods::gpfq<double>();
  return o;
}

// Bits per weight of a quantized network, codes plus steps, over its quantized layers.
double achieved_bits(const pathq::NetworkQuantization<double>& q) {
  double bits = 0, n = 0;
  for (const auto& u : q.units) {
    const auto& r = u.solution.result;
    bits += pathq::bits_per_weight(r.grid, r.codes.rows()).total * double(r.codes.size());
    n += double(r.codes.size());
  }
  return bits / n;
}

// The least summed relative error over every allocation costing at most `limit` bits.
double brute_force(const pathq::BitAllocation& a, double limit) {
  const std::size_t L = a.layers.size(), C = a.choices.size();
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::size_t> pick(L, 0);
  for (;;) {
    double cost = 0, err = 0;
    for (std::size_t l = 0; l < L; ++l) {
      cost += a.layers[l].measured[pick[l]].bits_per_weight * double(a.layers[l].weights);
      err += a.layers[l].measured[pick[l]].relative_error;
    }
    if (cost <= limit * (1 + 1e-12)) best = std::min(best, err);
    std::size_t l = 0;
    while (l < L && ++pick[l] == C) pick[l++] = 0;
    if (l == L) break;
  }
  return best;
}

// True when some lambda >= 0 makes every layer's chosen width minimise e + lambda c.
bool on_lagrangian_path(const pathq::BitAllocation& a) {
  double lo = 0, hi = std::numeric_limits<double>::infinity();
  for (const auto& l : a.layers) {
    std::size_t k = 0;
    while (l.measured[k].bits != l.bits) ++k;
    const double ck = l.measured[k].bits_per_weight * double(l.weights), ek = l.measured[k].relative_error;
    for (const auto& m : l.measured) {
      const double c = m.bits_per_weight * double(l.weights), e = m.relative_error;
      // ek + lambda ck <= e + lambda c
      if (c > ck) lo = std::max(lo, (ek - e) / (c - ck));
      else if (c < ck) hi = std::min(hi, (e - ek) / (ck - c));
      else if (e < ek) return false;
    }
  }
  return lo <= hi;
}

}  // namespace

TEST_CASE("allocate_bits: within the budget, and the quantized network costs what the allocation says",
          "[network][bits]") {
  const Net net = chain();
  const Eigen::MatrixXd X = gaussian(300, 12, 9);
  const auto options = gpfq_options();
  for (double budget : {2.8, 3.3, 3.9, 4.6, 6.0, 9.0}) {
    pathq::BitAllocationOptions ba;
    ba.budget = budget;
    const auto a = pathq::allocate_bits(net, X, options, ba);
    CHECK(a.bits_per_weight <= budget * (1 + 1e-12));
    const auto q = pathq::quantize_network(net, X, pathq::with_allocation(options, a));
    CHECK(achieved_bits(q) == Approx(a.bits_per_weight).epsilon(1e-12));
    for (const auto& l : a.layers) {
      CHECK(std::find(a.choices.begin(), a.choices.end(), l.bits) != a.choices.end());
      for (const auto& r : q.layers)
        if (r.name == l.name) CHECK(r.bits == l.bits);
    }
  }
}

TEST_CASE("allocate_bits: one width at its own cost is the uniform run", "[network][bits]") {
  const Net net = chain();
  const Eigen::MatrixXd X = gaussian(300, 12, 10);
  auto options = gpfq_options();
  options.alphabet = pathq::Alphabet<double>::from_bits(3);
  const auto uniform = pathq::quantize_network(net, X, options);
  pathq::BitAllocationOptions ba;
  ba.choices = {3};
  ba.budget = achieved_bits(uniform);
  const auto a = pathq::allocate_bits(net, X, options, ba);
  const auto q = pathq::quantize_network(net, X, pathq::with_allocation(options, a));
  REQUIRE(q.units.size() == uniform.units.size());
  for (std::size_t i = 0; i < q.units.size(); ++i) {
    CHECK(q.units[i].solution.result.codes == uniform.units[i].solution.result.codes);
    CHECK(q.units[i].solution.result.grid.step == uniform.units[i].solution.result.grid.step);
  }
}

TEST_CASE("allocate_bits: deterministic, and optimal wherever it lands on the Lagrangian path", "[network][bits]") {
  const Net net = chain();
  const Eigen::MatrixXd X = gaussian(300, 12, 11);
  const auto options = gpfq_options();
  int on_path = 0;
  for (double budget = 2.8; budget < 9.0; budget += 0.35) {
    pathq::BitAllocationOptions ba;
    ba.budget = budget;
    const auto a = pathq::allocate_bits(net, X, options, ba);
    const auto b = pathq::allocate_bits(net, X, options, ba);
    for (std::size_t l = 0; l < a.layers.size(); ++l) CHECK(a.layers[l].bits == b.layers[l].bits);
    double total = 0;
    for (const auto& l : a.layers) total += double(l.weights);
    if (on_lagrangian_path(a)) {
      ++on_path;
      CHECK(a.proxy_error <= brute_force(a, a.bits_per_weight * total) * (1 + 1e-12));
    }
    // Never worse than spending the budget on the best uniform width that fits it.
    for (std::size_t k = 0; k < a.choices.size(); ++k) {
      double cost = 0, err = 0;
      for (const auto& l : a.layers) {
        cost += l.measured[k].bits_per_weight * double(l.weights);
        err += l.measured[k].relative_error;
      }
      if (cost <= budget * total && on_lagrangian_path(a) && a.bits_per_weight * total >= cost)
        CHECK(a.proxy_error <= err * (1 + 1e-12));
    }
  }
  CHECK(on_path >= 3);
}

TEST_CASE("allocate_bits: a residual projection gets its width under its residual_end's name", "[network][bits]") {
  Net net({10, 1, 1});
  pathq::ResidualEnd<double> proj;
  proj.shortcut = pathq::Dense<double>{gaussian(16, 6, 13) * 0.25, Eigen::VectorXd()};
  net.add(pathq::Dense<double>{gaussian(10, 16, 11) * 0.3, gaussian(16, 1, 12) * 0.1}, "a")
      .add(pathq::Activation{})
      .add(pathq::ResidualBegin{})
      .add(pathq::Dense<double>{gaussian(16, 6, 14) * 0.25, gaussian(6, 1, 15) * 0.1}, "b")
      .add(proj, "skip")
      .add(pathq::Activation{})
      .add(pathq::Dense<double>{gaussian(6, 3, 16) * 0.4, Eigen::VectorXd()}, "c");
  const Eigen::MatrixXd X = gaussian(200, 10, 17);
  pathq::BitAllocationOptions ba;
  ba.budget = 7;
  const auto a = pathq::allocate_bits(net, X, gpfq_options(), ba);
  REQUIRE(a.layers.size() == 4);
  CHECK(a.layers[2].name == "skip.shortcut");
  CHECK(a.layers[2].key == "skip");
  const auto q = pathq::quantize_network(net, X, pathq::with_allocation(gpfq_options(), a));
  for (std::size_t i = 0; i < a.layers.size(); ++i) CHECK(q.layers[i].bits == a.layers[i].bits);
  CHECK(achieved_bits(q) <= 7 * (1 + 1e-12));
}

TEST_CASE("allocate_bits: a grouped convolution is costed over all its groups", "[network][bits]") {
  pathq::Conv2d<double> c1, dw;
  c1.geometry = {2, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  c1.W = gaussian(18, 4, 21) * 0.4;
  c1.b = gaussian(4, 1, 22) * 0.1;
  dw.geometry = {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4};  // depthwise: 4 groups of one channel
  dw.W = gaussian(9, 4, 23) * 0.4;
  dw.b = gaussian(4, 1, 24) * 0.1;
  Net net({2, 6, 6});
  net.add(c1, "conv").add(pathq::Activation{}).add(dw, "depthwise").add(pathq::Activation{}).add(pathq::Flatten{})
      .add(pathq::Dense<double>{gaussian(4 * 6 * 6, 5, 25) * 0.1, Eigen::VectorXd()}, "fc");
  const Eigen::MatrixXd X = gaussian(60, 72, 26);
  pathq::BitAllocationOptions ba;
  ba.budget = 4;
  const auto a = pathq::allocate_bits(net, X, gpfq_options(), ba);
  REQUIRE(a.layers.size() == 3);
  // A depthwise 3x3 kernel carries one fp16 step per 9 weights: 16/9 bits on top of its codes.
  CHECK(a.layers[1].measured[0].bits_per_weight == Approx(2 + 16.0 / 9));
  const auto q = pathq::quantize_network(net, X, pathq::with_allocation(gpfq_options(), a));
  CHECK(achieved_bits(q) == Approx(a.bits_per_weight).epsilon(1e-12));
  CHECK(achieved_bits(q) <= 4 * (1 + 1e-12));
}

TEST_CASE("allocate_bits: bad budgets and choices are refused by name", "[network][bits]") {
  const Net net = chain();
  const Eigen::MatrixXd X = gaussian(100, 12, 12);
  pathq::BitAllocationOptions ba;
  ba.budget = 1.5;
  CHECK_THROWS_WITH(pathq::allocate_bits(net, X, gpfq_options(), ba),
                    Catch::Contains("budget 1.5 bits per weight is below the cheapest allocation's"));
  ba.budget = -1;
  CHECK_THROWS_WITH(pathq::allocate_bits(net, X, gpfq_options(), ba), Catch::Contains("budget must be positive"));
  ba.budget = 4;
  ba.choices = {3, 30};
  CHECK_THROWS_WITH(pathq::allocate_bits(net, X, gpfq_options(), ba), Catch::Contains("each choice must be in [1, 24]"));
}

}  // namespace pathq_test_bit_allocation
