// `pathq layer --method msq`: round every weight on its own.
#ifndef PATHQ_LAYER_METHODS_MSQ_HPP
#define PATHQ_LAYER_METHODS_MSQ_HPP

#include <pathq/bounds/msq.hpp>
#include <pathq/methods/msq.hpp>

#include <pathq/layer/method.hpp>
#include <pathq/layer/scale_search.hpp>

namespace pathq {
namespace layer {

struct MsqMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options&, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
    MethodOutcome<Scalar> out{pathq::msq(in.W, layer_grid(in, alphabet)), std::nullopt, nlohmann::json::object()};
    if (in.stats) {
      ReportedBound b{"msq_unsaturated",
                      pathq::bounds::msq_unsaturated(out.result.grid, in.stats->K().diagonal()), true,
                      "(step^2/4) (sum_t ||X_t||)^2 per neuron; needs Xq = X and no saturated weight"};
      if (in.quantized_inputs || out.result.info.saturated > 0) {
        b.applicable = false;
        b.note = in.quantized_inputs ? "does not apply: Xq differs from X" : "does not apply: some weights saturated";
      }
      out.bound = b;
    }
    return out;
  }
  static MethodSpec spec() { return make_method_spec<MsqMethod>("msq", false, {}, {}); }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_MSQ_HPP
