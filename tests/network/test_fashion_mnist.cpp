// End to end on a small Fashion-MNIST subset: train an MLP, quantize it with MSQ and GPFQ.
#include <catch2/catch.hpp>

#include <pathq/io/idx.hpp>
#include <pathq/network/layer_methods.hpp>
#include <pathq/network/quantize_network.hpp>

#include "../../examples/fashion_mnist.hpp"
#include "../../examples/trainer.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_fashion_mnist {

namespace {

// 784-128-64-10 ReLU MLP, Adam (lr 2e-3), 5 epochs on the first 2,000 training images.
pathq::Sequential<float> small_trained_mlp(const pathq_examples::LabelledImages& train) {
  using namespace pathq_examples;
  pathq::Sequential<float> net({784, 1, 1});
  net.add(init_dense(784, 128, 21)).add(pathq::Activation{}).add(init_dense(128, 64, 22)).add(pathq::Activation{})
      .add(init_dense(64, 10, 23));
  TrainOptions o;
  o.epochs = 5;
  o.learning_rate = 2e-3;
  o.seed = 2;
  return pathq_examples::train(net, train.images.topRows(2000), train.labels.head(2000), o);
}

double output_error(const pathq::Sequential<float>& a, const pathq::Sequential<float>& b, const Eigen::MatrixXf& X) {
  const pathq::Batch<float> Ya = a.forward(X);
  return double((b.forward(X) - Ya).norm() / Ya.norm());
}

}  // namespace

TEST_CASE("fashion-mnist: a small MLP trains, GPFQ keeps its accuracy and beats MSQ", "[network][fashion-mnist]") {
  INFO("Fashion-MNIST is read from " << pathq_examples::fashion_mnist_dir()
                                     << " (Debian package dataset-fashion-mnist, or set PATHQ_FASHION_MNIST_DIR)");
  REQUIRE(pathq_examples::fashion_mnist_available());
  const auto train = pathq_examples::load_fashion_mnist(true, 3000);
  const auto test = pathq_examples::load_fashion_mnist(false, 2000);
  REQUIRE(train.images.cols() == 784);
  REQUIRE(train.images.maxCoeff() <= 1.0f);
  REQUIRE(train.labels.maxCoeff() == 9);

  const pathq::Sequential<float> net = small_trained_mlp(train);
  const double float_acc = net.accuracy(test.images, test.labels);
  INFO("float accuracy " << float_acc);
  REQUIRE(float_acc > 0.75);
  REQUIRE(float_acc < 0.86);

  // 1,000 calibration images the network was not trained on.
  const Eigen::MatrixXf calibration = train.images.bottomRows(1000);
  auto quantize = [&](const pathq::LayerMethod<float>& method, int bits) {
    pathq::NetworkQuantizerOptions<float> opt;
    opt.method = method;
    opt.alphabet = pathq::Alphabet<float>::from_bits(bits, pathq::StepRule::layer_radius(1.0));
    return pathq::quantize_network(net, calibration, opt).network;
  };
  for (int bits : {3, 4}) {
    const auto gpfq = quantize(pathq::layer_methods::gpfq<float>(), bits);
    const auto msq = quantize(pathq::layer_methods::msq<float>(), bits);
    const double ga = gpfq.accuracy(test.images, test.labels), ma = msq.accuracy(test.images, test.labels);
    const double ge = output_error(net, gpfq, test.images), me = output_error(net, msq, test.images);
    INFO(bits << " bits: accuracy float " << float_acc << " GPFQ " << ga << " MSQ " << ma << "; output error GPFQ "
              << ge << " MSQ " << me);
    // GPFQ's output error on held-out images is well below MSQ's at the same alphabet.
    REQUIRE(ge < 0.6 * me);
    if (bits == 4) REQUIRE(ga >= float_acc - 0.01);  // 15 levels: within one point of float
    if (bits == 3) REQUIRE(ga > ma);                  // 7 levels: GPFQ keeps more accuracy than MSQ
  }
}

TEST_CASE("idx: headers, gzip and errors", "[io][idx]") {
  // A 2 x 2 x 3 uint8 array: magic 00 00 08 03, dims 2, 2, 3 (big-endian).
  std::string raw("\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x03", 16);
  for (int k = 0; k < 12; ++k) raw += char(k * 20);
  const auto a = pathq::io::parse_idx(raw, "a.idx");
  REQUIRE(a.shape == std::vector<std::int64_t>{2, 2, 3});
  const Eigen::MatrixXd M = pathq::io::idx_to_matrix<double>(a);
  REQUIRE(M.rows() == 2);
  REQUIRE(M.cols() == 6);
  REQUIRE(M(1, 2) == 160);
  // Big-endian int16 and float32.
  const std::string i16("\0\0\x0B\x01\0\0\0\x02\xff\xfe\x01\x00", 12);
  REQUIRE(pathq::io::idx_to_matrix<double>(pathq::io::parse_idx(i16, "b"))(0, 0) == -2);
  REQUIRE(pathq::io::idx_to_matrix<double>(pathq::io::parse_idx(i16, "b"))(1, 0) == 256);
  const std::string f32("\0\0\x0D\x01\0\0\0\x01\x3f\xc0\0\0", 12);
  REQUIRE(pathq::io::idx_to_matrix<float>(pathq::io::parse_idx(f32, "c"))(0, 0) == 1.5f);

  REQUIRE_THROWS_WITH(pathq::io::parse_idx(std::string("\x01\0\x08\x01", 4), "x.idx"), Catch::Contains("bad magic"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(std::string("\0\0\x07\x01\0\0\0\x01\0", 9), "x.idx"),
                      Catch::Contains("unknown element type byte 0x07"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(raw.substr(0, 20), "x.idx"),
                      Catch::Contains("x.idx: truncated: expected 12 bytes of data, found 4"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(raw + "z", "x.idx"), Catch::Contains("trailing data"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(raw.substr(0, 10), "x.idx"), Catch::Contains("inside the dimensions"));

  // The real files are gzip streams; a cut one is reported as truncated.
  if (pathq_examples::fashion_mnist_available()) {
    const std::string gz =
        pathq::io::read_file(pathq_examples::fashion_mnist_dir() + "/t10k-labels-idx1-ubyte.gz");
    const auto labels = pathq::io::parse_idx(gz, "labels.gz");
    REQUIRE(labels.shape == std::vector<std::int64_t>{10000});
    REQUIRE_THROWS_WITH(pathq::io::parse_idx(gz.substr(0, gz.size() / 2), "cut.gz"),
                        Catch::Contains("cut.gz: truncated gzip stream"));
  }
  REQUIRE_THROWS_WITH(pathq::io::load_idx_labels("/nonexistent/labels.idx"), Catch::Contains("cannot open"));
}

}  // namespace pathq_test_fashion_mnist
