// pathq: post-training quantization of neural-network layers with proven error bounds.
#ifndef PATHQ_PATHQ_HPP
#define PATHQ_PATHQ_HPP

#include "pathq/version.hpp"

#include "pathq/core/alphabet.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/grid.hpp"
#include "pathq/core/grid_accounting.hpp"
#include "pathq/core/random.hpp"
#include "pathq/core/result.hpp"
#include "pathq/core/rounding.hpp"
#include "pathq/core/scale_search.hpp"
#include "pathq/core/step_refit.hpp"
#include "pathq/core/stochastic_operators.hpp"

#include "pathq/stats/layer_error.hpp"
#include "pathq/stats/layer_stats.hpp"

#include "pathq/engine/feature_order.hpp"
#include "pathq/engine/scan.hpp"

#include "pathq/constraints/accumulator.hpp"
#include "pathq/constraints/none.hpp"

#include "pathq/frames/frame.hpp"

#include "pathq/methods/code_refinement.hpp"
#include "pathq/methods/gpfq.hpp"
#include "pathq/methods/integer_check.hpp"
#include "pathq/methods/maly_saab.hpp"
#include "pathq/methods/msq.hpp"
#include "pathq/methods/noise_shaping.hpp"
#include "pathq/methods/optq.hpp"
#include "pathq/methods/prune.hpp"
#include "pathq/methods/sigma_delta.hpp"
#include "pathq/methods/sigma_delta_code.hpp"
#include "pathq/methods/spfq.hpp"

#include "pathq/bounds/accumulator.hpp"
#include "pathq/bounds/gpfq.hpp"
#include "pathq/bounds/maly_saab.hpp"
#include "pathq/bounds/msq.hpp"
#include "pathq/bounds/optq.hpp"
#include "pathq/bounds/sigma_delta.hpp"
#include "pathq/bounds/spfq.hpp"

#include "pathq/network/bit_allocation.hpp"
#include "pathq/network/layer_methods.hpp"
#include "pathq/network/quantize_network.hpp"
#include "pathq/network/sequential.hpp"

#endif  // PATHQ_PATHQ_HPP
