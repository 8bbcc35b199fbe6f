// Mixed precision by measurement: a bit width per layer under a budget of bits per weight
// (docs/library.md#bits-per-layer-under-a-budget).
#ifndef PATHQ_NETWORK_BIT_ALLOCATION_HPP
#define PATHQ_NETWORK_BIT_ALLOCATION_HPP

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pathq/core/grid_accounting.hpp"
#include "pathq/network/quantize_network.hpp"

namespace pathq {

/// Options of `allocate_bits`.
struct BitAllocationOptions {
  /// The most bits per weight on average over the quantized layers (codes plus steps and zero
  /// points, counted as `bits_per_weight` counts them), > 0.
  double budget = 4.5;
  /// The widths a layer may get, each in [2, 24] (or [1, 24] for midrise and asymmetric grids).
  std::vector<int> choices = {2, 3, 4, 8};

  void validate() const {
    PATHQ_CHECK(std::isfinite(budget) && budget > 0, "BitAllocationOptions", "budget must be positive, got ", budget);
    PATHQ_CHECK(!choices.empty(), "BitAllocationOptions", "choices is empty");
    for (int b : choices)
      PATHQ_CHECK(b >= 1 && b <= 24, "BitAllocationOptions", "each choice must be in [1, 24], got ", b);
  }
};

/// One layer's measurement at one width.
struct BitChoiceMeasurement {
  int bits = 0;
  double bits_per_weight = 0;  ///< codes plus steps (and zero points), per weight
  double relative_error = 0;   ///< ||XW - XQ||^2 / ||XW||^2 with the float inputs X
};

/// One layer of an allocation.
struct LayerBitAllocation {
  std::string name;          ///< as in the reports ("<name>.shortcut" for a residual projection)
  std::string key;           ///< the name `NetworkQuantizerOptions::layers` uses (the layer's own)
  Eigen::Index weights = 0;  ///< N_in N_out (all groups)
  bool fixed = false;        ///< an explicit alphabet override in the options: kept, still counted
  int bits = 0;              ///< the width chosen
  std::vector<BitChoiceMeasurement> measured;  ///< one per choice, in increasing width
};

/// The result of `allocate_bits`.
struct BitAllocation {
  double budget = 0;
  std::vector<int> choices;              ///< sorted, distinct
  std::vector<LayerBitAllocation> layers;  ///< the quantized layers, forward order (skipped ones left out)
  double bits_per_weight = 0;  ///< the allocation's average over the layers, weighted by their weights
  double proxy_error = 0;      ///< the sum over layers of the chosen widths' relative errors

  /// The width of layer `name` (0 if it is not in the allocation).
  int bits_of(const std::string& name) const {
    for (const auto& l : layers)
      if (l.name == name) return l.bits;
    return 0;
  }
};

/// The storage of each quantized layer of `q`: bits (codes plus steps and zero points, as
/// `bits_per_weight` counts them) and weights, summed over its groups, keyed by (layer index,
/// residual projection) as in `LayerReport::layer` and `LayerReport::shortcut`.
struct LayerStorage {
  double bits = 0, weights = 0;
  double bits_per_weight() const { return weights > 0 ? bits / weights : 0.0; }
};
template <class Scalar>
std::map<std::pair<Eigen::Index, bool>, LayerStorage> layer_storage(const NetworkQuantization<Scalar>& q) {
  std::map<std::pair<Eigen::Index, bool>, LayerStorage> m;
  for (const auto& u : q.units) {
    const auto& r = u.solution.result;
    const double n = double(r.codes.size());
    if (n == 0) continue;
    LayerStorage& s = m[{u.layer, u.shortcut}];
    s.bits += bits_per_weight(r.grid, std::max<Eigen::Index>(r.codes.rows(), 1)).total * n;
    s.weights += n;
  }
  return m;
}

namespace detail {

// Per-layer (bits per weight, relative error) of a network quantized in independent mode.
template <class Scalar>
std::map<std::pair<Eigen::Index, bool>, BitChoiceMeasurement> measure_widths(const NetworkQuantization<Scalar>& q,
                                                                               int bits) {
  const auto storage = layer_storage(q);
  std::map<std::pair<Eigen::Index, bool>, BitChoiceMeasurement> m;
  for (const auto& l : q.layers) {
    if (l.skipped) continue;
    const auto key = std::make_pair(l.layer, l.shortcut);
    const auto it = storage.find(key);
    m[key] = {bits, it == storage.end() ? 0.0 : it->second.bits_per_weight(), l.relative_error};
  }
  return m;
}

}  // namespace detail

/// Chooses a bit width per layer of `net` from `a.choices` so that the average bits per weight
/// is at most `a.budget` and the sum over layers of their relative errors is least, by
/// measurement (docs/library.md#bits-per-layer-under-a-budget):
///
/// 1. each choice `b` quantizes the whole network once with `options` at width `b` (the alphabet's
///    kind, step rule and groups kept: `Alphabet::with_bits`) in independent mode, so that layer
///    `l`'s relative error `e_l(b) = ||X W - X Q||^2 / ||X W||^2` is its own, whatever the other
///    layers' widths; its cost `c_l(b)` is its bits per weight times its weights;
/// 2. every layer starts at its cheapest choice; then, on each layer's lower convex hull of
///    `(c_l(b), e_l(b))`, the upgrade with the largest error reduction per bit among those that
///    still fit the budget is taken, until none fits (ties: the earlier layer).
///
/// On the convex hulls, each allocation the greedy passes through is optimal for its own total
/// cost (the Lagrangian relaxation `min sum_l e_l + lambda c_l` is solved exactly, for the lambda
/// of the last upgrade); the final fill-in of leftover bits is greedy. Layers skipped in `options`
/// are left out; layers with their own alphabet in `options.layers` keep it and are counted.
/// `options.sequential` does not matter for the measurement; use the result with
/// `with_allocation` for the real (sequential) run. Deterministic.
/// \throws invalid_argument for bad options, or a budget below the cheapest allocation's cost
///         (the message gives that cost).
/// Complexity: `a.choices.size()` runs of `quantize_network` in independent mode.
template <class Scalar, class D>
BitAllocation allocate_bits(const Sequential<Scalar>& net, const Eigen::MatrixBase<D>& calibration,
                            const NetworkQuantizerOptions<Scalar>& options, const BitAllocationOptions& a) {
  a.validate();
  BitAllocation out;
  out.budget = a.budget;
  out.choices = a.choices;
  std::sort(out.choices.begin(), out.choices.end());
  out.choices.erase(std::unique(out.choices.begin(), out.choices.end()), out.choices.end());

  std::vector<std::map<std::pair<Eigen::Index, bool>, BitChoiceMeasurement>> measured;
  std::vector<LayerReport> reports;
  for (int b : out.choices) {
    NetworkQuantizerOptions<Scalar> o = options;
    o.alphabet = options.alphabet.with_bits(b);
    o.sequential = false;
    o.progress = nullptr;
    const auto q = quantize_network(net, calibration, o);
    measured.push_back(detail::measure_widths(q, b));
    if (reports.empty()) reports = q.layers;
  }
  for (const auto& r : reports) {
    if (r.skipped) continue;
    LayerBitAllocation l;
    l.name = r.name;
    l.key = net.name(r.layer);
    l.weights = r.n_in * r.n_out;  // W is (N_in / groups) kh kw x N_out for a convolution
    const auto it = options.layers.find(l.key);
    l.fixed = it != options.layers.end() && it->second.alphabet.has_value();
    for (const auto& m : measured) l.measured.push_back(m.at(std::make_pair(r.layer, r.shortcut)));
    out.layers.push_back(l);
  }

  // Cost in bits of layer l at choice k.
  auto cost = [&](const LayerBitAllocation& l, std::size_t k) { return l.measured[k].bits_per_weight * double(l.weights); };
  double total_weights = 0, spent = 0;
  std::vector<std::vector<std::size_t>> hull(out.layers.size());
  std::vector<std::size_t> at(out.layers.size(), 0);  // position on the hull
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    auto& l = out.layers[i];
    total_weights += double(l.weights);
    if (l.fixed) {  // its own alphabet: measured once (every run used it), counted at that cost
      hull[i] = {0};
      l.bits = l.measured[0].bits;
      spent += cost(l, 0);
      continue;
    }
    // The lower convex hull of (cost, error), cheapest first; a dearer choice with no lower error
    // is never worth its bits.
    std::vector<std::size_t> order(l.measured.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t p, std::size_t q) { return cost(l, p) < cost(l, q); });
    std::vector<std::size_t> h;
    for (std::size_t k : order) {
      if (!h.empty() && l.measured[k].relative_error >= l.measured[h.back()].relative_error) continue;
      while (h.size() >= 2) {
        const std::size_t p = h[h.size() - 2], q = h.back();
        const double s1 = (l.measured[q].relative_error - l.measured[p].relative_error) / (cost(l, q) - cost(l, p));
        const double s2 = (l.measured[k].relative_error - l.measured[q].relative_error) / (cost(l, k) - cost(l, q));
        if (s2 <= s1) h.pop_back();  // q lies on or above the segment p-k
        else break;
      }
      h.push_back(k);
    }
    hull[i] = h;
    spent += cost(l, h[0]);
  }
  const double limit = a.budget * total_weights;
  if (spent > limit * (1 + 1e-12))
    detail::throw_invalid("allocate_bits", "budget ", a.budget, " bits per weight is below the cheapest allocation's ",
                          spent / total_weights);
  for (;;) {
    std::size_t best = out.layers.size();
    double best_ratio = 0;
    for (std::size_t i = 0; i < out.layers.size(); ++i) {
      if (at[i] + 1 >= hull[i].size()) continue;
      const auto& l = out.layers[i];
      const std::size_t p = hull[i][at[i]], q = hull[i][at[i] + 1];
      const double extra = cost(l, q) - cost(l, p);
      if (spent + extra > limit * (1 + 1e-12)) continue;
      const double ratio = (l.measured[p].relative_error - l.measured[q].relative_error) / extra;
      if (best == out.layers.size() || ratio > best_ratio) {
        best = i;
        best_ratio = ratio;
      }
    }
    if (best == out.layers.size()) break;
    const auto& l = out.layers[best];
    spent += cost(l, hull[best][at[best] + 1]) - cost(l, hull[best][at[best]]);
    ++at[best];
  }
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    auto& l = out.layers[i];
    const std::size_t k = hull[i][at[i]];
    if (!l.fixed) l.bits = l.measured[k].bits;
    out.proxy_error += l.measured[k].relative_error;
  }
  out.bits_per_weight = total_weights > 0 ? spent / total_weights : 0.0;
  return out;
}

/// `options` with each allocated layer's alphabet set to its width (`options.alphabet.with_bits`);
/// layers with their own alphabet keep it.
template <class Scalar>
NetworkQuantizerOptions<Scalar> with_allocation(NetworkQuantizerOptions<Scalar> options, const BitAllocation& allocation) {
  for (const auto& l : allocation.layers) {
    if (l.fixed) continue;
    options.layers[l.key].alphabet = options.alphabet.with_bits(l.bits);
  }
  return options;
}

}  // namespace pathq

#endif  // PATHQ_NETWORK_BIT_ALLOCATION_HPP
