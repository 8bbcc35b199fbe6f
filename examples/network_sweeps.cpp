// The sweeps behind bench/RESULTS.md and docs/*.png: accuracy of the Fashion-MNIST MLP against
// the radius scale C, the bit width, the Sigma-Delta frame size and the AXE accumulator width,
// and the measured layer error against its bound on Gaussian layers of growing width.
//
// Usage: network_sweeps OUT_DIR [calibration images (default 2048)]
// Writes OUT_DIR/{scale,bits,sigma_delta,axe,layer_error}.csv; docs/plots.py draws them.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <pathq/bounds/gpfq.hpp>
#include <pathq/bounds/msq.hpp>
#include <pathq/core/random.hpp>
#include <pathq/network/layer_methods.hpp>
#include <pathq/network/quantize_network.hpp>
#include <pathq/stats/layer_error.hpp>

#include "fashion_mnist.hpp"
#include "reference_models.hpp"

namespace {

struct Named {
  std::string name;
  std::function<pathq::LayerMethod<float>()> make;
};

Eigen::MatrixXd gaussian(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  Eigen::MatrixXd A(rows, cols);
  const pathq::RandomStream s(seed, 0);
  for (Eigen::Index k = 0; k < A.size(); ++k) {
    const double u1 = 1.0 - s.uniform(std::uint64_t(2 * k)), u2 = s.uniform(std::uint64_t(2 * k + 1));
    A.data()[k] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  return A;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pathq_examples;
  if (argc < 2) {
    std::fprintf(stderr, "usage: network_sweeps OUT_DIR [calibration images]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const Eigen::Index m = argc > 2 ? std::atol(argv[2]) : 2048;
  if (!fashion_mnist_available()) {
    std::fprintf(stderr, "network_sweeps: Fashion-MNIST not found in %s\n", fashion_mnist_dir().c_str());
    return 2;
  }
  const LabelledImages train = load_fashion_mnist(true), test = load_fashion_mnist(false);
  const Eigen::MatrixXf calibration = train.images.topRows(m);
  const ReferenceModel model = reference_model(mlp_recipe(), train);
  const double float_acc = 100 * model.net.accuracy(test.images, test.labels);
  auto accuracy = [&](const pathq::LayerMethod<float>& method, const pathq::Alphabet<float>& alphabet) {
    pathq::NetworkQuantizerOptions<float> opt;
    opt.method = method;
    opt.alphabet = alphabet;
    opt.subset_samples = 128;
    return 100 * pathq::quantize_network(model.net, calibration, opt).network.accuracy(test.images, test.labels);
  };
  auto open = [&](const char* name, const char* header) {
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "w");
    if (!f) {
      std::perror((dir + "/" + name).c_str());
      std::exit(1);
    }
    std::fprintf(f, "%s\n", header);
    return f;
  };
  const std::vector<Named> methods = {
      {"MSQ", [] { return pathq::layer_methods::msq<float>(); }},
      {"GPFQ", [] { return pathq::layer_methods::gpfq<float>(); }},
      {"SPFQ", [] { return pathq::layer_methods::spfq<float>(); }},
      {"OPTQ", [] { return pathq::layer_methods::optq<float>(); }},
      {"Maly-Saab", [] { return pathq::layer_methods::maly_saab<float>(); }},
  };

  // Layer error against its bound: one Gaussian layer, m = 128 samples, W iid N(0, 1), 3 bits,
  // step 0.5, no saturation; relative errors and the relative bounds.
  std::FILE* f = open("layer_error.csv", "n_in,method,relative_error,relative_bound");
  for (Eigen::Index n_in : {128, 256, 512, 1024, 2048, 4096}) {
    const Eigen::MatrixXd X = gaussian(128, n_in, 7 + std::uint64_t(n_in));
    const Eigen::MatrixXd W = gaussian(n_in, 32, 9 + std::uint64_t(n_in));
    const auto stats = pathq::LayerStats<double>::from(X);
    const auto alphabet = pathq::Alphabet<double>::symmetric(64, 0.5);
    const auto g = pathq::Gpfq<double>().quantize(W, stats, alphabet);
    const auto q = pathq::msq(W, alphabet);
    const auto eg = pathq::layer_error(stats, W, g.values()), eq = pathq::layer_error(stats, W, q.values());
    std::fprintf(f, "%ld,GPFQ,%.6e,%.6e\n", long(n_in), eg.squared_relative(),
                 pathq::bounds::gpfq_unsaturated(g.grid, stats.K().trace()) / eg.reference());
    std::fprintf(f, "%ld,MSQ,%.6e,%.6e\n", long(n_in), eq.squared_relative(),
                 pathq::bounds::msq_unsaturated(q.grid, stats.K().diagonal()) / eq.reference());
    std::fprintf(f, "%ld,GPFQ heuristic,%.6e,\n", long(n_in),
                 pathq::bounds::gpfq_gaussian_scaling(0.5, 128.0, double(n_in), 1.0));
    std::fflush(f);
  }
  std::fclose(f);
  // Accuracy against C (the shape of the JMLR MNIST table), ternary weights.
  f = open("scale.csv", "bits,C,method,accuracy,float_accuracy");
  for (int bits : {2})
    for (double C : {0.4, 0.6, 0.8, 1.0, 1.3, 1.6})
      for (std::size_t k = 0; k < 2; ++k) {
        const double a = accuracy(methods[k].make(), pathq::Alphabet<float>::from_bits(bits, pathq::StepRule::layer_radius(C)));
        std::fprintf(f, "%d,%g,%s,%.2f,%.2f\n", bits, C, methods[k].name.c_str(), a, float_acc);
        std::fflush(f);
      }
  std::fclose(f);

  // Accuracy against bits, every method, C = 1.
  f = open("bits.csv", "bits,method,accuracy,float_accuracy");
  for (const auto& meth : methods)
    for (int bits : {2, 3, 4, 5}) {
      const double a = accuracy(meth.make(), pathq::Alphabet<float>::from_bits(bits, pathq::StepRule::layer_radius(1.0)));
      std::fprintf(f, "%d,%s,%.2f,%.2f\n", bits, meth.name.c_str(), a, float_acc);
      std::fflush(f);
    }
  std::fclose(f);

  // 1-bit (and 2-level-per-side) Sigma-Delta against the frame size p = r n.
  f = open("sigma_delta.csv", "ratio,levels,accuracy,float_accuracy");
  for (int L : {1})
    for (double r : {2.0, 4.0, 8.0}) {
      pathq::SigmaDeltaOptions o;
      o.levels = L;
      const double a = accuracy(pathq::layer_methods::sigma_delta<float>(r, o), pathq::Alphabet<float>::from_bits(2, pathq::StepRule::layer_radius(1.0)));
      std::fprintf(f, "%g,%d,%.2f,%.2f\n", r, L, a, float_acc);
      std::fflush(f);
    }
  std::fclose(f);

  // AXE on GPFQ and OPTQ, 4-bit weights, 8-bit unsigned inputs, against the accumulator width.
  f = open("axe.csv", "accumulator_bits,method,accuracy,float_accuracy");
  for (int P : {24, 20, 18, 16})
    for (int k = 0; k < 1; ++k) {
      pathq::AccumulatorOptions acc;
      acc.accumulator_bits = P;
      acc.input_bits = 8;
      const auto method = k ? pathq::layer_methods::axe_optq<float>(acc) : pathq::layer_methods::axe_gpfq<float>(acc);
      const double a = accuracy(method, pathq::Alphabet<float>::from_bits(4, pathq::StepRule::layer_radius(1.0)));
      std::fprintf(f, "%d,%s,%.2f,%.2f\n", P, k ? "AXE-OPTQ" : "AXE-GPFQ", a, float_acc);
      std::fflush(f);
    }
  std::fclose(f);

  std::printf("wrote %s/{scale,bits,sigma_delta,axe,layer_error}.csv (float accuracy %.2f%%)\n", dir.c_str(), float_acc);
  return 0;
}
