// Every `pathq layer --method` entry, in the order `pathq layer --help` lists them.
#ifndef PATHQ_LAYER_METHODS_REGISTRY_HPP
#define PATHQ_LAYER_METHODS_REGISTRY_HPP

#include <vector>

#include <pathq/layer/method.hpp>
#include <pathq/layer/methods/gpfq.hpp>
#include <pathq/layer/methods/maly_saab.hpp>
#include <pathq/layer/methods/msq.hpp>
#include <pathq/layer/methods/optq.hpp>
#include <pathq/layer/methods/prune.hpp>
#include <pathq/layer/methods/sigma_delta.hpp>
#include <pathq/layer/methods/spfq.hpp>

namespace pathq {
namespace layer {

inline const std::vector<MethodSpec>& method_registry() {
  static const std::vector<MethodSpec> methods = {
      MsqMethod::spec(),
      GpfqMethod::spec(),
      SpfqMethod::spec(),
      OptqMethod::spec(),
      PruneMethod::spec(),
      SigmaDeltaMethod::spec(),
      MalySaabMethod::spec(),
  };
  return methods;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_REGISTRY_HPP
