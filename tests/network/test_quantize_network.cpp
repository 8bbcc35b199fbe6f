// The network driver: the statistics each layer receives, bias correction, options, and bad input.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include <pathq/io/safetensors.hpp>
#include <pathq/network/layer_methods.hpp>
#include <pathq/network/model_io.hpp>
#include <pathq/network/quantize_network.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_quantize_network {

using pathq_test::gaussian;

namespace {

using Net = pathq::Sequential<double>;
using Batch = pathq::Batch<double>;

// A small residual conv net: conv (2 groups) - relu - pool - residual[conv] - flatten - dense - relu - dense.
Net small_conv_net() {
  pathq::Conv2d<double> c1, c2;
  c1.geometry = {2, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2};
  c1.W = gaussian(9, 4, 1) * 0.4;
  c1.b = gaussian(4, 1, 2) * 0.1;
  c2.geometry = {4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  c2.W = gaussian(36, 4, 3) * 0.2;
  c2.b = gaussian(4, 1, 4) * 0.1;
  pathq::Dense<double> d1{gaussian(4 * 4 * 4, 12, 5) * 0.2, gaussian(12, 1, 6) * 0.1};
  pathq::Dense<double> d2{gaussian(12, 3, 7) * 0.3, gaussian(3, 1, 8) * 0.1};
  Net net({2, 8, 8});
  net.add(c1, "conv1").add(pathq::Activation{}).add(pathq::Pool2d{pathq::PoolKind::Max, 2, 2, 0, 0, 0, 0})
      .add(pathq::ResidualBegin{}).add(c2, "conv2").add(pathq::Activation{}).add(pathq::ResidualEnd<double>{})
      .add(pathq::Flatten{}).add(d1, "fc1").add(pathq::Activation{}).add(d2, "fc2");
  return net;
}

Net small_mlp() {
  Net net({10, 1, 1});
  pathq::ResidualEnd<double> proj;
  proj.shortcut = pathq::Dense<double>{gaussian(16, 6, 13) * 0.25, Eigen::VectorXd()};
  net.add(pathq::Dense<double>{gaussian(10, 16, 11) * 0.3, gaussian(16, 1, 12) * 0.1}, "a")
      .add(pathq::Activation{})
      .add(pathq::ResidualBegin{})
      .add(pathq::Dense<double>{gaussian(16, 6, 14) * 0.25, gaussian(6, 1, 15) * 0.1}, "b")
      .add(proj, "skip")
      .add(pathq::Activation{})
      .add(pathq::Dense<double>{gaussian(6, 3, 16) * 0.4, Eigen::VectorXd()}, "c");
  return net;
}

// The quantizable places of small_mlp: its layer index, and whether it is the shortcut projection.
struct Site {
  Eigen::Index layer;
  bool shortcut;
};
const Site kMlpSites[] = {{0, false}, {3, false}, {4, true}, {6, false}};

// A method that records what it is handed and otherwise runs GPFQ.
struct Captured {
  std::string name;
  Eigen::MatrixXd H, G, K;
  Eigen::VectorXd sum_x, sum_xq;
  Eigen::Index samples;
  bool quantized_inputs;
  Eigen::Index subset_samples;  // -1 without a subset
  Eigen::MatrixXd subset_G;
};

pathq::LayerMethod<double> capturing(std::shared_ptr<std::vector<Captured>> log) {
  const auto inner = pathq::layer_methods::gpfq<double>();
  return {"gpfq", [log, inner](const pathq::LayerProblem<double>& p) {
            log->push_back({p.name, p.stats.H(), p.stats.G(), p.stats.K(), p.stats.sum_x(), p.stats.sum_xq(),
                            p.stats.samples(), p.quantized_inputs, p.subset ? p.subset->samples() : -1,
                            p.subset ? p.subset->G() : Eigen::MatrixXd()});
            return inner.run(p);
          }};
}

// Inputs of layer `layer` (its current, or its saved activation for a shortcut) for all samples.
Batch inputs_at(const Net& net, const Batch& X, Eigen::Index layer, bool shortcut) {
  pathq::ForwardState<double> s = net.start(X);
  for (Eigen::Index i = 0; i < layer; ++i) net.step(i, s);
  return shortcut ? s.saved.back() : s.current;
}

}  // namespace

TEST_CASE("driver: every layer gets X from the float and Xq from the quantized network", "[network][driver]") {
  const Net net = small_mlp();
  const Batch X = gaussian(300, 10, 21);
  auto log = std::make_shared<std::vector<Captured>>();
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = capturing(log);
  opt.alphabet = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::layer_radius(1.0));
  opt.batch_size = 64;  // 300 = 4 x 64 + 44: a short last batch
  // A wide grid for the first layer, so that no step saturates and its bound applies.
  opt.layers["a"].alphabet = pathq::Alphabet<double>::from_bits(6, pathq::StepRule::layer_radius(3.0));
  const auto q = pathq::quantize_network(net, X, opt);
  REQUIRE(log->size() == 4);
  REQUIRE(q.layers.size() == 4);
  const auto& sites = kMlpSites;
  for (std::size_t k = 0; k < 4; ++k) {
    const Batch Xf = inputs_at(net, X, sites[k].layer, sites[k].shortcut);
    const Batch Xq = inputs_at(q.network, X, sites[k].layer, sites[k].shortcut);
    const Captured& c = (*log)[k];
    INFO("site " << k << " (" << c.name << ")");
    REQUIRE(c.samples == 300);
    REQUIRE((c.K - Xf.transpose() * Xf).cwiseAbs().maxCoeff() < 1e-9 * (1 + c.K.cwiseAbs().maxCoeff()));
    REQUIRE((c.H - Xq.transpose() * Xq).cwiseAbs().maxCoeff() < 1e-9 * (1 + c.H.cwiseAbs().maxCoeff()));
    REQUIRE((c.G - Xq.transpose() * Xf).cwiseAbs().maxCoeff() < 1e-9 * (1 + c.G.cwiseAbs().maxCoeff()));
    REQUIRE((c.sum_x - Xf.colwise().sum().transpose()).cwiseAbs().maxCoeff() < 1e-9);
    REQUIRE((c.sum_xq - Xq.colwise().sum().transpose()).cwiseAbs().maxCoeff() < 1e-9);
    // Xq = X for the first layer only; after it the inputs differ.
    REQUIRE(c.quantized_inputs == (k > 0));
    REQUIRE(q.layers[k].quantized_inputs == (k > 0));
    if (k == 0)
      REQUIRE((Xq - Xf).norm() == 0);
    else
      REQUIRE((Xq - Xf).norm() > 1e-3 * Xf.norm());
  }
  for (const auto& c : *log) REQUIRE(c.subset_samples == -1);
  REQUIRE(q.layers[2].name == "skip.shortcut");

  // A subset: the statistics of the first 100 samples (crossing a batch boundary) as well.
  log->clear();
  opt.subset_samples = 100;
  const auto qs = pathq::quantize_network(net, X, opt);
  for (std::size_t k = 0; k < 4; ++k) {
    const Batch Xf = inputs_at(net, X, sites[k].layer, sites[k].shortcut).topRows(100);
    const Batch Xq = inputs_at(qs.network, X, sites[k].layer, sites[k].shortcut).topRows(100);
    INFO("site " << k);
    REQUIRE((*log)[k].subset_samples == 100);
    REQUIRE(((*log)[k].subset_G - Xq.transpose() * Xf).cwiseAbs().maxCoeff() < 1e-9 * (1 + Xf.squaredNorm()));
  }
  REQUIRE(q.layers[2].kind == "dense");
  REQUIRE(q.layers[0].levels == 63);
  REQUIRE(q.layers[1].levels == 7);
  REQUIRE(q.layers[0].bound);
  REQUIRE(q.layers[0].bound->applicable);
  REQUIRE(q.layers[0].error <= q.layers[0].bound->error);
  REQUIRE_FALSE(q.layers[1].bound->applicable);
}

TEST_CASE("driver: independent mode hands every layer its float inputs alone", "[network][driver]") {
  const Net net = small_mlp();
  const Batch X = gaussian(200, 10, 23);
  auto log = std::make_shared<std::vector<Captured>>();
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = capturing(log);
  opt.alphabet = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0));
  opt.batch_size = 64;
  opt.sequential = false;
  const auto q = pathq::quantize_network(net, X, opt);
  REQUIRE(log->size() == 4);
  const auto& sites = kMlpSites;
  for (std::size_t k = 0; k < 4; ++k) {
    const Batch Xf = inputs_at(net, X, sites[k].layer, sites[k].shortcut);
    const Captured& c = (*log)[k];
    INFO("site " << k);
    REQUIRE_FALSE(c.quantized_inputs);
    REQUIRE_FALSE(q.layers[k].quantized_inputs);
    REQUIRE((c.H - Xf.transpose() * Xf).cwiseAbs().maxCoeff() < 1e-9 * (1 + c.H.cwiseAbs().maxCoeff()));
    REQUIRE((c.G - c.K).cwiseAbs().maxCoeff() == 0);
    REQUIRE(q.layers[k].relative_error_upstream == 0);
    // With Xq = X the error against the float outputs is the error against X.
    REQUIRE(q.layers[k].relative_error_on_x == Approx(q.layers[k].relative_error).epsilon(1e-9));
  }
  // The quantized network is still assembled from every layer's quantized weights.
  const auto& d = std::get<pathq::Dense<double>>(q.network.layer(6));
  REQUIRE((d.W - std::get<pathq::Dense<double>>(net.layer(6)).W).norm() > 0);
}

TEST_CASE("driver: per-layer errors against X, against the float outputs, and upstream", "[network][driver]") {
  const Net net = small_mlp();
  const Batch X = gaussian(150, 10, 25);
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = pathq::layer_methods::gpfq<double>();
  opt.alphabet = pathq::Alphabet<double>::from_bits(2, pathq::StepRule::column_radius(1.0));
  const auto q = pathq::quantize_network(net, X, opt);
  const auto& sites = kMlpSites;
  for (std::size_t k = 0; k < 4; ++k) {
    INFO("site " << k);
    // Direct products on the layer's inputs, against the report's figures from the statistics.
    const Batch Xf = inputs_at(net, X, sites[k].layer, sites[k].shortcut);
    const Batch Xq = inputs_at(q.network, X, sites[k].layer, sites[k].shortcut);
    const Eigen::Index i = sites[k].layer;
    auto weights = [&](const Net& n) -> Eigen::MatrixXd {
      const auto& L = n.layer(i);
      if (sites[k].shortcut) return std::get<pathq::Dense<double>>(std::get<pathq::ResidualEnd<double>>(L).shortcut).W;
      return std::get<pathq::Dense<double>>(L).W;
    };
    const Eigen::MatrixXd W = weights(net), Q = weights(q.network);
    const double ref = (Xf * W).squaredNorm();
    REQUIRE(q.layers[k].relative_error_on_x == Approx((Xf * (W - Q)).squaredNorm() / ref).epsilon(1e-8));
    REQUIRE(q.layers[k].relative_error_upstream == Approx((Xf * W - Xq * W).squaredNorm() / ref).margin(1e-12));
    REQUIRE(q.layers[k].relative_error == Approx((Xf * W - Xq * Q).squaredNorm() / ref).epsilon(1e-8));
    if (k > 0) REQUIRE(q.layers[k].relative_error_upstream > 0);
  }
}

TEST_CASE("grid choice: searches by the method's error never lose to no search", "[network][grid_choice]") {
  const Batch X = gaussian(120, 24, 51);
  const Batch Xq = X + 0.1 * gaussian(120, 24, 52);
  const Eigen::MatrixXd W = gaussian(24, 10, 53);
  pathq::LayerStats<double> stats(24);
  stats.add(X, Xq);
  const auto alphabet = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::column_radius(1.0));
  auto error = [&](const pathq::Result<double>& r) { return pathq::layer_error(stats, W, r.values()).error(); };
  pathq::GridChoiceOptions none, radius, column, polish;
  radius.search = pathq::ScaleSearch::Radius;
  column.search = pathq::ScaleSearch::Column;
  polish.refine_passes = 4;
  polish.refit_steps = true;
  const pathq::Gpfq<double> gpfq;
  const pathq::Optq<double> optq;
  for (int m = 0; m < 2; ++m) {
    INFO((m ? "optq" : "gpfq"));
    auto run = [&](const pathq::GridChoiceOptions& o) {
      return m ? pathq::quantize_with_grid_choice(optq, W, stats, alphabet, o)
               : pathq::quantize_with_grid_choice(gpfq, W, stats, alphabet, o);
    };
    const auto r0 = run(none), rr = run(radius), rc = run(column), rp = run(polish);
    // No search is the method on the alphabet's grid, exactly.
    const auto direct = m ? optq.quantize(W, stats, alphabet) : gpfq.quantize(W, stats, alphabet);
    REQUIRE(r0.codes == direct.codes);
    const double e0 = error(r0);
    REQUIRE(error(rr) <= e0 * (1 + 1e-12));
    REQUIRE(error(rc) <= error(rr) * (1 + 1e-12));
    REQUIRE(error(rp) <= e0 * (1 + 1e-12));
    REQUIRE(error(rc) < e0);  // on this problem the search finds something better
  }
  // Polishing refits the steps; the adapters' bounds stay those of the grid the method ran on.
  pathq::LayerStats<double> same(24);
  same.add(X);
  pathq::Grid<double> method_grid;
  const auto rp = pathq::quantize_with_grid_choice(gpfq, W, same, alphabet, polish, &method_grid);
  REQUIRE(method_grid.step == gpfq.quantize(W, same, alphabet).grid.step);
  REQUIRE(rp.grid.step != method_grid.step);
  const auto alphabet6 = pathq::Alphabet<double>::from_bits(6, pathq::StepRule::column_radius(2.0));  // no saturation
  const pathq::LayerProblem<double> problem{W, same, alphabet6, "layer", 0, 0, false, nullptr};
  const auto sol = pathq::layer_methods::gpfq<double>({}, polish).run(problem);
  REQUIRE(sol.bound);
  REQUIRE(sol.bound->applicable);
  const auto plain = pathq::layer_methods::gpfq<double>().run(problem);
  REQUIRE(sol.bound->error == Approx(plain.bound->error).epsilon(1e-12));
  REQUIRE(pathq::layer_error(same, W, sol.weights()).error() <= sol.bound->error);
  REQUIRE(pathq::scale_search_from_string("column") == pathq::ScaleSearch::Column);
  REQUIRE_THROWS_WITH(pathq::scale_search_from_string("max"), Catch::Contains("'max'"));
  pathq::GridChoiceOptions bad;
  bad.refine_passes = -1;
  REQUIRE_THROWS_WITH(bad.validate(), Catch::Contains("refine_passes"));
}

TEST_CASE("driver: convolutions are lowered by im2col, one problem per group", "[network][driver][conv]") {
  const Net net = small_conv_net();
  const Batch X = gaussian(20, 2 * 64, 31);
  auto log = std::make_shared<std::vector<Captured>>();
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = capturing(log);
  opt.batch_size = 7;
  const auto q = pathq::quantize_network(net, X, opt);
  REQUIRE(log->size() == 5);  // conv1 (2 groups), conv2, fc1, fc2
  REQUIRE((*log)[0].name == "conv1/g0");
  REQUIRE((*log)[1].name == "conv1/g1");
  const auto& c1 = std::get<pathq::Conv2d<double>>(net.layer(0));
  for (Eigen::Index g = 0; g < 2; ++g) {
    const Batch P = pathq::im2col<double>(X, {2, 8, 8}, c1.geometry, g);
    REQUIRE(P.rows() == 20 * 64);
    REQUIRE(((*log)[std::size_t(g)].K - P.transpose() * P).cwiseAbs().maxCoeff() < 1e-9);
  }
  const auto& c2 = std::get<pathq::Conv2d<double>>(net.layer(4));
  const Batch Pf = pathq::im2col<double>(inputs_at(net, X, 4, false), {4, 4, 4}, c2.geometry, 0);
  const Batch Pq = pathq::im2col<double>(inputs_at(q.network, X, 4, false), {4, 4, 4}, c2.geometry, 0);
  REQUIRE(((*log)[2].G - Pq.transpose() * Pf).cwiseAbs().maxCoeff() < 1e-9 * (1 + (*log)[2].G.cwiseAbs().maxCoeff()));
  REQUIRE(q.layers[0].groups == 2);
  REQUIRE(q.layers[0].samples == 20 * 64);
  REQUIRE(q.units.size() == 5);
  // A subset of 3 images holds all their patches.
  log->clear();
  opt.subset_samples = 3;
  pathq::quantize_network(net, X, opt);
  REQUIRE((*log)[0].subset_samples == 3 * 64);
  opt.subset_samples = 0;

  // The SIMODS mode: stride = kernel patches, floor(retain L + 1) per image, same for X and Xq.
  log->clear();
  opt.patches = pathq::PatchMode::KernelStride;
  opt.retain = 0.25;
  opt.seed = 5;
  const auto q2 = pathq::quantize_network(net, X, opt);
  // conv1: 8x8 input, 3x3 kernel, padding 1, stride 3: 3 x 3 = 9 patches, floor(0.25 * 9 + 1) = 3 kept.
  REQUIRE((*log)[0].samples == 20 * 3);
  REQUIRE(q2.layers[0].samples == 20 * 3);
  REQUIRE(q2.layers[3].samples == 20);  // dense layers keep every sample
}

TEST_CASE("driver: cached and recomputed activations give the same codes", "[network][driver]") {
  const Net net = small_conv_net();
  const Batch X = gaussian(12, 128, 41);
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = pathq::layer_methods::gpfq<double>();
  opt.batch_size = 5;
  opt.bias_correction = true;
  const auto a = pathq::quantize_network(net, X, opt);
  opt.cache_activations = false;
  const auto b = pathq::quantize_network(net, X, opt);
  REQUIRE(a.units.size() == b.units.size());
  for (std::size_t k = 0; k < a.units.size(); ++k) {
    INFO("unit " << a.units[k].name);
    REQUIRE(a.units[k].solution.result.codes == b.units[k].solution.result.codes);
  }
  REQUIRE((a.network.forward(X) - b.network.forward(X)).cwiseAbs().maxCoeff() == 0);
}

TEST_CASE("driver: bias correction adds the mean pre-activation gap", "[network][driver][bias]") {
  const Net net = small_mlp();
  const Batch X = gaussian(200, 10, 51);
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = pathq::layer_methods::msq<double>();
  opt.alphabet = pathq::Alphabet<double>::from_bits(2, pathq::StepRule::layer_radius(1.0));
  opt.bias_correction = true;
  const auto q = pathq::quantize_network(net, X, opt);
  // Layer "b" (index 3): b_q = b + mean over samples of (X W - Xq Q), with X, Xq from the networks.
  const auto& fb = std::get<pathq::Dense<double>>(net.layer(3));
  const auto& qb = std::get<pathq::Dense<double>>(q.network.layer(3));
  const Batch Xf = inputs_at(net, X, 3, false), Xq = inputs_at(q.network, X, 3, false);
  const Eigen::VectorXd expected = fb.b + (Xf * fb.W - Xq * qb.W).colwise().mean().transpose();
  REQUIRE((qb.b - expected).cwiseAbs().maxCoeff() < 1e-10);
  REQUIRE(q.layers[1].bias_corrected);
  // After correction the mean gap over the calibration set is zero.
  const Batch gap = (Xf * fb.W).rowwise() + fb.b.transpose();
  const Batch gapq = (Xq * qb.W).rowwise() + qb.b.transpose();
  REQUIRE((gap - gapq).colwise().mean().cwiseAbs().maxCoeff() < 1e-10);
  // A layer without a bias is left without one.
  REQUIRE_FALSE(q.layers[3].bias_corrected);
}

TEST_CASE("driver: per-layer skip, alphabet and method", "[network][driver]") {
  const Net net = small_mlp();
  const Batch X = gaussian(100, 10, 61);
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = pathq::layer_methods::gpfq<double>();
  opt.layers["a"].skip = true;
  opt.layers["c"].alphabet = pathq::Alphabet<double>::from_bits(8, pathq::StepRule::layer_radius(1.0));
  opt.layers["b"].method = pathq::layer_methods::msq<double>();
  std::vector<std::string> done;
  opt.progress = [&](const pathq::NetworkProgress& p) {
    if (p.stage == pathq::NetworkProgress::Stage::Done) done.push_back(p.name);
  };
  const auto q = pathq::quantize_network(net, X, opt);
  REQUIRE(done == std::vector<std::string>{"a", "b", "skip.shortcut", "c"});
  REQUIRE(q.layers[0].skipped);
  REQUIRE(std::get<pathq::Dense<double>>(q.network.layer(0)).W == std::get<pathq::Dense<double>>(net.layer(0)).W);
  REQUIRE_FALSE(q.layers[1].quantized_inputs);  // only a skipped layer before it
  REQUIRE(q.layers[1].method == "msq");
  REQUIRE(q.layers[2].method == "gpfq");
  REQUIRE(q.layers[3].levels == 255);
  REQUIRE(q.layers[1].levels == 15);
}

TEST_CASE("driver: quantized safetensors reload exactly", "[network][io]") {
  const Net net = small_conv_net();
  const Batch X = gaussian(10, 128, 71);
  pathq::NetworkQuantizerOptions<double> opt;
  opt.method = pathq::layer_methods::gpfq<double>();
  opt.layers["fc2"].skip = true;
  opt.bias_correction = true;
  const auto q = pathq::quantize_network(net, X, opt);
  pathq::io::SafetensorsFile file;
  pathq::add_quantized_tensors(file, q);
  const auto back = pathq::io::parse_safetensors(pathq::io::to_safetensors_bytes(file), "quantized.safetensors");
  REQUIRE(back.metadata().at("pathq.format") == "pathq-quantized-1");
  for (const char* name : {"conv1", "conv2", "fc1"}) {
    const Eigen::Index i = net.find(name);
    const auto stored = pathq::read_quantized_weight<double>(back, std::string(name) + ".weight");
    const Eigen::MatrixXd& Wq = std::visit(
        [](const auto& l) -> const Eigen::MatrixXd& {
          using T = std::decay_t<decltype(l)>;
          if constexpr (std::is_same_v<T, pathq::Dense<double>> || std::is_same_v<T, pathq::Conv2d<double>>)
            return l.W;
          else
            throw std::logic_error("not an affine layer");
        },
        q.network.layer(i));
    INFO("layer " << name);
    REQUIRE(stored.values() == Wq);
  }
  // Biases (corrected), the skipped layer and the whole network reload exactly.
  const Net reloaded = pathq::load_network_tensors(
      net, [&] {
        pathq::io::SafetensorsFile plain;
        pathq::add_network_tensors(plain, q.network);
        return pathq::io::parse_safetensors(pathq::io::to_safetensors_bytes(plain), "plain");
      }());
  REQUIRE((reloaded.forward(X) - q.network.forward(X)).cwiseAbs().maxCoeff() == 0);
  REQUIRE(back.matrix<double>("fc2.weight").transpose() == std::get<pathq::Dense<double>>(net.layer(10)).W);
  REQUIRE(back.matrix<double>("conv1.bias") == std::get<pathq::Conv2d<double>>(q.network.layer(0)).b);
}

TEST_CASE("driver and model files: bad input gives clear errors", "[network][contract]") {
  const Net net = small_mlp();
  const Batch X = gaussian(20, 10, 81);
  pathq::NetworkQuantizerOptions<double> opt;
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, X, opt), Catch::Contains("method is not set"));
  opt.method = pathq::layer_methods::msq<double>();
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, Batch(0, 10), opt), Catch::Contains("calibration set is empty"));
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, gaussian(5, 9, 1), opt),
                      Catch::Contains("calibration samples have 9 features but the network expects 10"));
  opt.batch_size = 0;
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, X, opt), Catch::Contains("batch_size must be >= 1"));
  opt.batch_size = 8;
  opt.layers["nope"].skip = true;
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, X, opt), Catch::Contains("layer 'nope'"));
  opt.layers.clear();
  opt.retain = 0;
  REQUIRE_THROWS_WITH(pathq::quantize_network(net, X, opt), Catch::Contains("retain must be in (0, 1]"));

  // Missing tensors and wrong shapes when loading weights.
  pathq::io::SafetensorsFile file;
  pathq::add_network_tensors(file, net);
  pathq::io::SafetensorsFile missing;
  for (const auto& n : file.names())
    if (n != "b.bias") missing.add(n, file.tensor(n));
  REQUIRE_THROWS_WITH(pathq::load_network_tensors(net, missing),
                      Catch::Contains("layer 'b' needs tensor 'b.bias'"));
  pathq::io::SafetensorsFile wrong;
  for (const auto& n : file.names())
    if (n != "a.weight") wrong.add(n, file.tensor(n));
  wrong.add("a.weight", Eigen::MatrixXd(gaussian(10, 16, 1)));
  REQUIRE_THROWS_WITH(pathq::load_network_tensors(net, wrong),
                      Catch::Contains("tensor 'a.weight' has shape [10, 16] but layer 'a' needs [16, 10]"));
}

}  // namespace pathq_test_quantize_network
