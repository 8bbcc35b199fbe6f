// libFuzzer harness: `pathq layer` argument parsing and option validation, on an in-memory layer.
// The input is the argument list, one argument per line. Nothing touches a file: the harness
// parses the command line (parse_layer_command), applies the memory limit to the fixed shapes,
// builds the alphabet from the common options, and runs the method (and so its own option
// parsing) and the polishing on a fixed 6 x 3 layer with 12 samples.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "fuzz_support.hpp"
#include "layer_command.hpp"

namespace {

template <class Scalar>
void run_method(const pathq_tool::LayerCommandLine& c) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  pathq_tool::LayerInput<Scalar> in;
  in.W = Matrix(6, 3);
  for (Eigen::Index k = 0; k < in.W.size(); ++k) in.W.data()[k] = Scalar(((k * 7) % 11) - 5) / Scalar(4);
  if (c.args.has("inputs") || c.spec->needs_inputs) {
    Eigen::MatrixXd X(12, 6);
    for (Eigen::Index k = 0; k < X.size(); ++k) X.data()[k] = double(((k * 5) % 13) - 6) / 3.0;
    if (c.args.has("quantized-inputs")) {
      in.stats = pathq::LayerStats<double>::from(X, (X.array() * 0.9).matrix());
      in.quantized_inputs = true;
    } else {
      in.stats = pathq::LayerStats<double>::from(X);
    }
  }
  // The harness's time budget: a Sigma-Delta frame of P vectors costs O(P) per expanded vector,
  // legitimately; frames beyond 2^16 vectors are left out (a frame of 10^7 took over 30 s).
  if (pathq_tool::frame_size_requested(c.args) > 65536) return;
  // The tool's memory check, with the fixed shapes and at most 1 GiB (the harness's budget).
  double limit = pathq_tool::memory_limit_mb(c.args);
  if (limit <= 0 || limit > 1024) limit = 1024;
  try {
    pathq_tool::check_memory_for_shapes(c.args, limit, in.stats.has_value(), 12, 6, 3, sizeof(Scalar));
  } catch (const std::runtime_error&) {
    return;  // refused before allocating, as the tool does
  }
  const auto alphabet = pathq_tool::detail::alphabet_from<Scalar>(c.args);
  auto out = pathq_tool::detail::run_spec(*c.spec, c.args, in, alphabet);
  if (out.result.codes.cols() == 0 && !out.weights) pathq_fuzz::violation("a method returned no codes");
  pathq_tool::detail::polish(c.args, in, out);  // --refine-passes, --refit-steps
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words = {"pathq", "layer"};
  std::string word;
  for (std::size_t i = 0; i < size; ++i) {
    const char ch = static_cast<char>(data[i]);
    if (ch == '\n') {
      words.push_back(word);
      word.clear();
    } else if (ch != '\0') {
      word += ch;
    }
  }
  if (!word.empty()) words.push_back(word);
  if (words.size() > 64) return 0;
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());

  // A usage error (pathq::layer::option_error, a std::invalid_argument) is the tool's exit status 2:
  // allowed, with a message; anything else must keep the library's contract.
  pathq_fuzz::expect_contract([&] {
    try {
      const pathq_tool::LayerCommandLine c = pathq_tool::parse_layer_command(int(argv.size()), argv.data(), 2);
      if (c.precision == "float") run_method<float>(c);
      else run_method<double>(c);
    } catch (const pathq_tool::UsageError& e) {
      if (e.message.empty()) pathq_fuzz::violation("an empty usage message");
    }
  });
  return 0;
}
