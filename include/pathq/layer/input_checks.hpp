// Checks of `pathq layer`'s data beyond what the readers and methods check: a dead layer.
#ifndef PATHQ_LAYER_INPUT_CHECKS_HPP
#define PATHQ_LAYER_INPUT_CHECKS_HPP

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <pathq/stats/layer_stats.hpp>

namespace pathq {
namespace layer {

/// Refuses a dead layer: inputs whose every feature is dead (`H_tt <= 1e-12 max_s H_ss` for all
/// t, which happens only when the (quantized) inputs are all zero). Such a layer's quantized
/// output `Xq Q` is zero whatever Q is, so no method has anything to fit and every error
/// measure is 0/0.
/// \param what the option and file that hold the inputs, for the message.
/// \throws std::runtime_error "<what>: every input feature is dead (...)" (exit status 1).
inline void check_live_layer(const pathq::LayerStats<double>& stats, const std::string& what) {
  const std::vector<bool> dead = stats.dead_inputs();
  std::size_t n_dead = 0;
  for (const bool d : dead) n_dead += d;
  if (n_dead == dead.size())
    throw std::runtime_error(what + ": every input feature is dead (all " + std::to_string(n_dead) +
                             " columns are zero): a dead layer has nothing to quantize against");
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_INPUT_CHECKS_HPP
