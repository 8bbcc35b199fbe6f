// Fashion-MNIST from Debian's dataset-fashion-mnist package: images scaled to [0, 1], labels 0..9.
#ifndef PATHQ_EXAMPLES_FASHION_MNIST_HPP
#define PATHQ_EXAMPLES_FASHION_MNIST_HPP

#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include <Eigen/Core>

#include <pathq/io/idx.hpp>

namespace pathq_examples {

/// A labelled set of images, one 28 x 28 image per row (row by row), pixels in [0, 1].
struct LabelledImages {
  Eigen::MatrixXf images;
  Eigen::VectorXi labels;

  Eigen::Index size() const { return images.rows(); }
  /// Rows [first, first + count).
  LabelledImages slice(Eigen::Index first, Eigen::Index count) const {
    return {images.middleRows(first, count), labels.segment(first, count)};
  }
};

/// The dataset's directory: $PATHQ_FASHION_MNIST_DIR, else Debian's /usr/share/datasets/fashion-mnist.
inline std::string fashion_mnist_dir() {
  const char* env = std::getenv("PATHQ_FASHION_MNIST_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

/// True when the dataset's four files are present.
inline bool fashion_mnist_available() {
  struct stat s {};
  return ::stat((fashion_mnist_dir() + "/train-images-idx3-ubyte.gz").c_str(), &s) == 0;
}

/// The training (60,000) or test (10,000) split, the first `limit` images (all if limit <= 0).
/// \throws pathq::io_error when a file is missing (install Debian's dataset-fashion-mnist).
inline LabelledImages load_fashion_mnist(bool train, Eigen::Index limit = 0) {
  const std::string dir = fashion_mnist_dir() + "/";
  const std::string prefix = train ? "train" : "t10k";
  LabelledImages d;
  d.images = pathq::io::load_idx_matrix<float>(dir + prefix + "-images-idx3-ubyte.gz", 1.0 / 255.0);
  d.labels = pathq::io::load_idx_labels(dir + prefix + "-labels-idx1-ubyte.gz");
  if (limit > 0 && limit < d.size()) d = d.slice(0, limit);
  return d;
}

}  // namespace pathq_examples

#endif  // PATHQ_EXAMPLES_FASHION_MNIST_HPP
