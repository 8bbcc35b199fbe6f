// Demo: quantize a Fashion-MNIST MLP with every method at several bit widths; print test accuracies.
//
// The 784-500-300-10 ReLU MLP is trained on the first run (under a minute on 2 cores; see
// examples/reference_models.hpp) and cached as safetensors under the build directory
// ($PATHQ_CACHE_DIR overrides). Every method quantizes all three layers in sequence with the
// network driver (float and quantized networks run side by side on 2,048 calibration images).
// Every method gets the same alphabet, `Alphabet::from_bits(b, StepRule::layer_radius(C))`
// (2^b - 1 levels, largest level C times the layer's mean max |W|), with C = 1 in the main
// table; a second table shows ternary weights against C, the shape of the JMLR MNIST table.
//
// About 40 quantizations of the MLP in all: 3 to 4 minutes of CPU time on a 2-core machine
// (Release build), plus the training on the first run.
//
// Usage: pathq_demo [calibration images (default 2048)]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <pathq/network/layer_methods.hpp>
#include <pathq/network/quantize_network.hpp>
#include <pathq/version.hpp>

#include "fashion_mnist.hpp"
#include "reference_models.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A row of the table: a method and how its alphabet follows the bit width.
struct Row {
  std::string label;
  std::function<pathq::LayerMethod<float>()> method;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace pathq_examples;
  const Eigen::Index m = argc > 1 ? std::atol(argv[1]) : 2048;
  if (m < 1 || m > 55000) {
    std::fprintf(stderr, "pathq_demo: the number of calibration images must be in [1, 55000]\n");
    return 2;
  }
  if (!fashion_mnist_available()) {
    std::fprintf(stderr,
                 "pathq_demo: Fashion-MNIST not found in %s\n"
                 "  install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)\n"
                 "  or set PATHQ_FASHION_MNIST_DIR to a directory holding its four .gz files\n",
                 fashion_mnist_dir().c_str());
    return 2;
  }
  const auto t_start = Clock::now();
  const LabelledImages train = load_fashion_mnist(true);
  const LabelledImages test = load_fashion_mnist(false);
  const Eigen::MatrixXf calibration = train.images.topRows(m);

  const Recipe recipe = mlp_recipe();
  const ReferenceModel model = reference_model(recipe, train);
  const double float_test = model.net.accuracy(test.images, test.labels);

  // Quantizes the MLP with `method` on `alphabet` and returns the test accuracy.
  auto accuracy = [&](const pathq::LayerMethod<float>& method, const pathq::Alphabet<float>& alphabet) {
    pathq::NetworkQuantizerOptions<float> opt;
    opt.method = method;
    opt.alphabet = alphabet;
    opt.subset_samples = 128;  // the rows Maly-Saab's null-space walk runs on (it needs fewer rows than inputs)
    return 100 * pathq::quantize_network(model.net, calibration, opt).network.accuracy(test.images, test.labels);
  };
  auto bits_alphabet = [](int b, double C) {
    return pathq::Alphabet<float>::from_bits(b, pathq::StepRule::layer_radius(C));
  };

  // The methods of the main table, one line each.
  const std::vector<Row> rows = {
      {"MSQ", [] { return pathq::layer_methods::msq<float>(); }},
      {"GPFQ", [] { return pathq::layer_methods::gpfq<float>(); }},
      {"SPFQ (r = 1)", [] { return pathq::layer_methods::spfq<float>(); }},
      {"OPTQ", [] { return pathq::layer_methods::optq<float>(); }},
      {"Maly-Saab + MSQ", [] { return pathq::layer_methods::maly_saab<float>(); }},
  };
  const std::vector<int> bit_widths = {2, 3, 4, 5};

  std::printf("pathq %s: post-training quantization of a Fashion-MNIST MLP\n", pathq::version_string);
  std::printf("network  %s\n", recipe.summary.c_str());
  if (model.from_cache)
    std::printf("         read from the cache %s\n", model.weights_path.c_str());
  else
    std::printf("         trained now in %.0f s, cached in %s\n", model.train_seconds, model.weights_path.c_str());
  std::printf("data     %ld calibration images (training split); accuracy on the 10,000 test images\n", long(m));
  std::printf("alphabet from_bits(b, layer_radius(C = 1)): 2^b - 1 levels, largest level = mean over neurons of max|W|\n\n");

  std::printf("test accuracy (%%)");
  for (int b : bit_widths) std::printf("   %d bits (%2d lv)", b, (1 << b) - 1);
  std::printf("\n%-17s", "float");
  for (std::size_t k = 0; k < bit_widths.size(); ++k) std::printf("   %15.2f", float_test * 100);
  std::printf("\n");
  for (const Row& row : rows) {
    std::printf("%-17s", row.label.c_str());
    std::fflush(stdout);
    for (int b : bit_widths) {
      std::printf("   %15.2f", accuracy(row.method(), bits_alphabet(b, 1.0)));
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  // The shape of the JMLR MNIST table: ternary weights, accuracy against the radius scale C.
  const std::vector<double> scales = {0.5, 0.75, 1.0, 1.5};
  std::printf("\nternary (2 bits, 3 levels): test accuracy (%%) against the radius scale C\n%-17s", "C");
  for (double C : scales) std::printf("  %6.1f", C);
  std::printf("\n");
  for (std::size_t r = 0; r < 2; ++r) {
    std::printf("%-17s", rows[r].label.c_str());
    for (double C : scales) {
      std::printf("  %6.2f", accuracy(rows[r].method(), bits_alphabet(2, C)));
      std::fflush(stdout);
    }
    std::printf("\n");
  }
  // 1-bit first-order Sigma-Delta in harmonic frames: p = r n frame coefficients per neuron
  // (r bits per weight), data-free.
  std::printf("\n1-bit Sigma-Delta (frames of p = r N_in elements per neuron, r bits per weight)\n%-17s", "r");
  const std::vector<double> ratios = {2, 4, 8};
  for (double r : ratios) std::printf("  %6.0f", r);
  std::printf("\n%-17s", "Sigma-Delta");
  for (double r : ratios) {
    std::printf("  %6.2f", accuracy(pathq::layer_methods::sigma_delta<float>(r), bits_alphabet(2, 1.0)));
    std::fflush(stdout);
  }
  std::printf("\n");

  // AXE: GPFQ with 4-bit weights whose integer dot products with 8-bit unsigned inputs can never
  // overflow a P-bit accumulator (the inputs of the hidden layers are assumed quantized to 8 bits).
  std::printf("\nAXE on GPFQ, 4 bits, 8-bit unsigned inputs: test accuracy (%%) against the accumulator width P\n%-17s",
              "P (bits)");
  const std::vector<int> widths = {20, 18, 16};
  for (int P : widths) std::printf("  %6d", P);
  std::printf("\n%-17s", "AXE-GPFQ");
  for (int P : widths) {
    pathq::AccumulatorOptions acc;
    acc.accumulator_bits = P;
    acc.input_bits = 8;
    std::printf("  %6.2f", accuracy(pathq::layer_methods::axe_gpfq<float>(acc), bits_alphabet(4, 1.0)));
    std::fflush(stdout);
  }
  std::printf("\n");
  std::printf("\n%.0f s in all\n", seconds_since(t_start));
  return 0;
}
