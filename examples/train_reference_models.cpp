// Trains (or reads from the cache) the reference networks and prints how to quantize each with
// the command-line tool: the MLP, the CNN, the residual MLP and the depthwise-separable network
// (batch norms, hard-swish, residuals) of reference_models.hpp.
//
// Usage: train_reference_models        (about 7 minutes of CPU time on the first run)
#include <cstdio>
#include <vector>

#include "fashion_mnist.hpp"
#include "reference_models.hpp"

int main() {
  using namespace pathq_examples;
  if (!fashion_mnist_available()) {
    std::fprintf(stderr, "train_reference_models: Fashion-MNIST not found in %s (apt-get install dataset-fashion-mnist)\n",
                 fashion_mnist_dir().c_str());
    return 2;
  }
  const LabelledImages train = load_fashion_mnist(true), test = load_fashion_mnist(false);
  const std::string d = fashion_mnist_dir();
  for (const Recipe& r : std::vector<Recipe>{mlp_recipe(), cnn_recipe(), residual_mlp_recipe(), dsnet_recipe()}) {
    const ReferenceModel m = reference_model(r, train);
    std::printf("%-7s test accuracy %.2f%%  (%s)\n        %s\n", r.name.c_str(),
                100 * m.net.accuracy(test.images, test.labels), m.from_cache ? "cached" : "trained now",
                r.summary.c_str());
    std::printf("        pathq model --network %s --weights %s \\\n"
                "          --calibration %s/train-images-idx3-ubyte.gz --samples 1024 \\\n"
                "          --test-inputs %s/t10k-images-idx3-ubyte.gz --test-labels %s/t10k-labels-idx1-ubyte.gz \\\n"
                "          --method gpfq --bits 4 --out %s-q.safetensors --report %s-report.json\n",
                m.description_path.c_str(), m.weights_path.c_str(), d.c_str(), d.c_str(), d.c_str(), r.name.c_str(),
                r.name.c_str());
  }
  return 0;
}
