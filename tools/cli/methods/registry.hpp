// Every `pathq layer --method` entry, in the order `pathq layer --help` lists them.
#ifndef PATHQ_TOOLS_METHODS_REGISTRY_HPP
#define PATHQ_TOOLS_METHODS_REGISTRY_HPP

#include <vector>

#include "../layer_method.hpp"
#include "gpfq.hpp"
#include "maly_saab.hpp"
#include "msq.hpp"
#include "optq.hpp"
#include "prune.hpp"
#include "sigma_delta.hpp"
#include "spfq.hpp"

namespace pathq_tool {

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

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_METHODS_REGISTRY_HPP
