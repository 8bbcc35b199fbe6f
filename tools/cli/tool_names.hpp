// The library's layer-job names as the tool's code spells them: the tool parses argv into
// pathq::layer::Options and reports pathq::layer::option_error as a usage error (exit status 2).
#ifndef PATHQ_TOOLS_TOOL_NAMES_HPP
#define PATHQ_TOOLS_TOOL_NAMES_HPP

#include <pathq/layer/method.hpp>
#include <pathq/layer/methods/registry.hpp>
#include <pathq/layer/options.hpp>
#include <pathq/layer/run.hpp>

namespace pathq_tool {

using Args = pathq::layer::Options;
using UsageError = pathq::layer::option_error;
using pathq::layer::LayerInput;
using pathq::layer::method_registry;
using pathq::layer::MethodOutcome;
using pathq::layer::MethodSpec;

namespace detail {
using pathq::layer::alphabet_from;
using pathq::layer::check_polish_options;
using pathq::layer::common_valued;
using pathq::layer::polish;
using pathq::layer::run_searched;
using pathq::layer::run_spec;
using pathq::layer::scale_search_mode;
using pathq::layer::detail::seconds_since;
}  // namespace detail

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_TOOL_NAMES_HPP
