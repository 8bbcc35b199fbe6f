// The reference networks of the demos, trained once on Fashion-MNIST and cached as safetensors.
#ifndef PATHQ_EXAMPLES_REFERENCE_MODELS_HPP
#define PATHQ_EXAMPLES_REFERENCE_MODELS_HPP

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <sys/stat.h>

#include <pathq/io/safetensors.hpp>
#include <pathq/network/model_io.hpp>
#include <pathq/network/sequential.hpp>

#include "fashion_mnist.hpp"
#include "trainer.hpp"

namespace pathq_examples {

/// A reference network: its architecture (weights initialised from the seed) and how it is trained.
struct Recipe {
  std::string name;
  std::function<pathq::Sequential<float>()> architecture;
  TrainOptions train;
  Eigen::Index train_images = 0;  ///< the first images of the training split (0: all 60,000)
  std::string summary;            ///< one line: the architecture and the training
};

/// 784-500-300-10 ReLU MLP (the JMLR GPFQ network's shape): Adam, lr 1e-3 decaying to 0, batch 128, 2 epochs
/// on the first 55,000 training images (the last 5,000 stay for validation).
inline Recipe mlp_recipe() {
  Recipe r;
  r.name = "mlp";
  r.architecture = [] {
    pathq::Sequential<float> net({784, 1, 1});
    net.add(init_dense(784, 500, 11)).add(pathq::Activation{}).add(init_dense(500, 300, 12))
        .add(pathq::Activation{}).add(init_dense(300, 10, 13));
    return net;
  };
  r.train.epochs = 2;
  r.train_images = 55000;
  r.summary = "784-500-300-10 ReLU MLP, Adam (lr 1e-3 decaying linearly to 0, batch 128), 2 epochs on the first 55,000 images";
  return r;
}

/// A small CNN: conv 1->16 (3x3, pad 1), ReLU, max-pool 2, conv 16->32 (3x3, pad 1, 2 groups),
/// ReLU, max-pool 2, flatten, dense 1568->64, ReLU, dense 64->10. Adam, 1 epoch on 20,000 images.
inline Recipe cnn_recipe() {
  Recipe r;
  r.name = "cnn";
  r.architecture = [] {
    pathq::Sequential<float> net({1, 28, 28});
    net.add(init_conv({1, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 21)).add(pathq::Activation{})
        .add(pathq::Pool2d{pathq::PoolKind::Max, 2, 2, 0, 0, 0, 0})
        .add(init_conv({16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 2}, 22)).add(pathq::Activation{})
        .add(pathq::Pool2d{pathq::PoolKind::Max, 2, 2, 0, 0, 0, 0}).add(pathq::Flatten{})
        .add(init_dense(32 * 7 * 7, 64, 23)).add(pathq::Activation{}).add(init_dense(64, 10, 24));
    return net;
  };
  r.train.epochs = 1;
  r.train_images = 20000;
  r.summary = "CNN conv16-pool-conv32(2 groups)-pool-64-10, Adam (lr 1e-3 decaying linearly to 0, batch 128), 1 epoch on 20,000 images";
  return r;
}

/// A residual MLP: dense 784->256, ReLU, two residual blocks (256->256->256 with the identity
/// shortcut; 256->128->128 with a dense projection), each followed by ReLU, dense 128->10.
/// Adam, 2 epochs on 30,000 images.
inline Recipe residual_mlp_recipe() {
  Recipe r;
  r.name = "resmlp";
  r.architecture = [] {
    pathq::Sequential<float> net({784, 1, 1});
    pathq::ResidualEnd<float> identity, projected;
    pathq::Dense<float> proj = init_dense(256, 128, 37);
    proj.b.resize(0);
    projected.shortcut = proj;
    net.add(init_dense(784, 256, 31)).add(pathq::Activation{})
        .add(pathq::ResidualBegin{}).add(init_dense(256, 256, 32)).add(pathq::Activation{}).add(init_dense(256, 256, 33))
        .add(identity).add(pathq::Activation{})
        .add(pathq::ResidualBegin{}).add(init_dense(256, 128, 34)).add(pathq::Activation{}).add(init_dense(128, 128, 35))
        .add(projected).add(pathq::Activation{})
        .add(init_dense(128, 10, 36));
    return net;
  };
  r.train.epochs = 2;
  r.train_images = 30000;
  r.summary = "residual MLP 784-256-[256-256]-[128-128 + projection]-10, Adam (lr 1e-3 decaying linearly to 0, batch 128), 2 epochs on 30,000 images";
  return r;
}

/// A deep depthwise-separable network of the kind deployed on small devices (MobileNet-style:
/// batch norms, hard-swish, identity residuals), for 1 x 28 x 28 inputs:
/// - stem: conv 1->16 (3x3, stride 2, pad 1) to 16 x 14 x 14, batch norm, hard-swish;
/// - depthwise-separable blocks: a depthwise 3x3 conv (groups = channels, pad 1), batch norm,
///   hard-swish, a pointwise 1x1 conv, batch norm. With stride 1 an identity residual wraps the
///   block and hard-swish follows the sum; with stride 2 (downsampling) the pointwise conv
///   widens the channels and hard-swish follows. Blocks: 16 (14x14), 16->32 (to 7x7), 32,
///   32->64 (to 4x4), 64, 64;
/// - global average pooling (4x4), flatten, dense 64->10.
/// 14 quantizable layers: the stem, 6 depthwise and 6 pointwise convs, the dense layer. The convs
/// have no bias (their batch norms shift); batch norms start at gamma 1, beta 0, mean 0, var 1.
/// Adam (lr 4e-3 decaying linearly to 0, batch 128), batch norms trained with batch statistics
/// (momentum 0.1), 5 epochs on the first 55,000 training images.
inline Recipe dsnet_recipe() {
  Recipe r;
  r.name = "dsnet";
  r.architecture = [] {
    using Index = Eigen::Index;
    pathq::Sequential<float> net({1, 28, 28});
    std::uint64_t seed = 41;
    const pathq::Activation hswish{pathq::ActivationKind::HardSwish};
    auto conv = [&](const pathq::ConvGeometry& g) {
      pathq::Conv2d<float> c = init_conv(g, seed++);
      c.b.resize(0);
      return c;
    };
    auto bn = [](Index c) {
      pathq::BatchNorm<float> n;
      n.gamma = n.var = Eigen::VectorXf::Ones(c);
      n.beta = n.mean = Eigen::VectorXf::Zero(c);
      return n;
    };
    auto depthwise = [&](Index c, Index stride) {
      net.add(conv({c, c, 3, 3, stride, stride, 1, 1, 1, 1, c})).add(bn(c)).add(hswish);
    };
    auto pointwise = [&](Index c_in, Index c_out) {
      net.add(conv({c_in, c_out, 1, 1, 1, 1, 0, 0, 1, 1, 1})).add(bn(c_out));
    };
    auto residual_block = [&](Index c) {
      net.add(pathq::ResidualBegin{});
      depthwise(c, 1);
      pointwise(c, c);
      net.add(pathq::ResidualEnd<float>{}).add(hswish);
    };
    auto downsample_block = [&](Index c_in, Index c_out) {
      depthwise(c_in, 2);
      pointwise(c_in, c_out);
      net.add(hswish);
    };
    net.add(conv({1, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1})).add(bn(16)).add(hswish);
    residual_block(16);
    downsample_block(16, 32);
    residual_block(32);
    downsample_block(32, 64);
    residual_block(64);
    residual_block(64);
    net.add(pathq::Pool2d{pathq::PoolKind::Average, 4, 4, 0, 0, 0, 0}).add(pathq::Flatten{})
        .add(init_dense(64, 10, seed++));
    return net;
  };
  r.train.epochs = 5;
  r.train.learning_rate = 4e-3;
  r.train_images = 55000;
  r.summary = "depthwise-separable CNN: conv 1->16 3x3 stride 2, BN, hswish; blocks dw3x3-BN-hswish-pw1x1-BN, "
              "then hswish: 16 (+identity), 16->32 (stride 2), 32 (+identity), 32->64 (stride 2), 64 (+identity), "
              "64 (+identity); global avgpool, 64-10; Adam (lr 4e-3 decaying linearly to 0, batch 128), BN on batch "
              "statistics (momentum 0.1), 5 epochs on the first 55,000 images";
  return r;
}

/// Where trained weights are cached: $PATHQ_CACHE_DIR, else the directory the build configured
/// (PATHQ_MODEL_CACHE_DIR, `<build>/models`), else `pathq-models` in the working directory.
inline std::string model_cache_dir() {
  if (const char* env = std::getenv("PATHQ_CACHE_DIR"); env && *env) return env;
#ifdef PATHQ_MODEL_CACHE_DIR
  return PATHQ_MODEL_CACHE_DIR;
#else
  return "pathq-models";
#endif
}

/// A trained reference network.
struct ReferenceModel {
  pathq::Sequential<float> net;
  bool from_cache = false;
  double train_seconds = 0;
  std::string weights_path;      ///< <cache>/<name>.safetensors
  std::string description_path;  ///< <cache>/<name>.json (for `pathq model --network`)
};

/// The trained network of `recipe`: read from the cache when it holds weights trained by the
/// same recipe, else trained now on `train` and written to the cache (weights in safetensors
/// with PyTorch names and layouts, the description as JSON). A cache that cannot be written is
/// reported on stderr and otherwise ignored.
inline ReferenceModel reference_model(const Recipe& recipe, const LabelledImages& train, bool verbose = true) {
  ReferenceModel m;
  const std::string dir = model_cache_dir();
  m.weights_path = dir + "/" + recipe.name + ".safetensors";
  m.description_path = dir + "/" + recipe.name + ".json";
  const pathq::Sequential<float> arch = recipe.architecture();
  struct stat st {};
  if (::stat(m.weights_path.c_str(), &st) == 0) {
    try {
      const auto file = pathq::io::read_safetensors(m.weights_path);
      const auto it = file.metadata().find("pathq.recipe");
      if (it != file.metadata().end() && it->second == recipe.summary) {
        m.net = pathq::load_network_tensors(arch, file);
        m.from_cache = true;
        return m;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ignoring the cached %s: %s\n", m.weights_path.c_str(), e.what());
    }
  }
  const Eigen::Index n = recipe.train_images > 0 ? std::min(recipe.train_images, train.size()) : train.size();
  if (verbose) std::fprintf(stderr, "training %s: %s ...\n", recipe.name.c_str(), recipe.summary.c_str());
  TrainOptions opt = recipe.train;
  if (verbose)
    opt.progress = [](int epoch, Eigen::Index b, Eigen::Index nb, double loss) {
      if ((b + 1) % 50 == 0 || b + 1 == nb)
        std::fprintf(stderr, "\r  epoch %d  batch %ld/%ld  loss %.4f", epoch + 1, long(b + 1), long(nb), loss);
      if (b + 1 == nb) std::fprintf(stderr, "\n");
    };
  const auto t0 = std::chrono::steady_clock::now();
  m.net = pathq_examples::train(arch, train.images.topRows(n), train.labels.head(n), opt);
  m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  try {
    ::mkdir(dir.c_str(), 0777);
    pathq::io::SafetensorsFile file;
    pathq::add_network_tensors(file, m.net);
    file.set_metadata("pathq.recipe", recipe.summary);
    file.set_metadata("pathq.network", pathq::network_description(m.net, 1.0 / 255.0));
    pathq::io::write_safetensors(m.weights_path, file);
    pathq::io::write_file_atomically(m.description_path, pathq::network_description(m.net, 1.0 / 255.0));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "could not cache %s: %s\n", m.weights_path.c_str(), e.what());
  }
  return m;
}

}  // namespace pathq_examples

#endif  // PATHQ_EXAMPLES_REFERENCE_MODELS_HPP
