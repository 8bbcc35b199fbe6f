// Whole-network quality by configuration: the reference networks quantized whole, layer by layer,
// by every method at every bit width and with every grid configuration, in sequential mode (each
// layer sees X from the float network and Xq from the partly quantized one) and in independent
// mode (each layer sees only its float inputs). One CSV row per run: test accuracy, the squared
// relative error of the network's outputs (logits) against the float network's on the test set,
// `||F_q - F||_F^2 / ||F||_F^2`, and the seconds of the quantization.
//
// Usage: network_quality [--networks mlp,cnn,resmlp,dsnet] [--methods msq,gpfq,spfq,optq,maly-saab]
//                        [--bits 2,3,4] [--configs CFG,...] [--modes sequential,independent]
//                        [--samples M] [--test-samples N] [--shard I/N] [--out FILE.csv]
// A configuration is '+'-joined tokens: the step rule `layer` (delta = C R / K, R the mean over
// neurons of max|w|) or `column` (delta_j = C max|w_j| / K), with C = 1, then any of `clip`,
// `radius`, `colsearch` (the scale searches of pathq::ScaleSearch), `energy` (features in
// decreasing-energy order: GPFQ's energy order, OPTQ's act-order), `polish` (refine 4 passes,
// refit the steps, refine again), `classic` (OPTQ on ||Xq (W - Q)||, the objective that ignores X).
// Runs that do not apply to a method (a search for Maly-Saab, an order for MSQ) are left out.
// `--shard I/N` runs every N-th run starting at I, so N processes can share the table.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <pathq/network/layer_methods.hpp>
#include <pathq/network/quantize_network.hpp>

#include "fashion_mnist.hpp"
#include "reference_models.hpp"

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

struct Config {
  std::string name;
  bool column = true;
  pathq::ScaleSearch search = pathq::ScaleSearch::None;
  bool energy = false, polish = false, classic = false;
};

Config parse_config(const std::string& name) {
  Config c;
  c.name = name;
  const auto tokens = split(name, '+');
  if (tokens[0] == "layer") c.column = false;
  else if (tokens[0] != "column") throw std::runtime_error("configuration '" + name + "' must start with layer or column");
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t == "clip") c.search = pathq::ScaleSearch::Clip;
    else if (t == "radius") c.search = pathq::ScaleSearch::Radius;
    else if (t == "colsearch") c.search = pathq::ScaleSearch::Column;
    else if (t == "energy") c.energy = true;
    else if (t == "polish") c.polish = true;
    else if (t == "classic") c.classic = true;
    else throw std::runtime_error("unknown token '" + t + "' in configuration '" + name + "'");
  }
  return c;
}

// The method of a run, or nothing when the configuration does not apply to it.
std::optional<pathq::LayerMethod<float>> make_method(const std::string& method, const Config& c) {
  pathq::GridChoiceOptions choice;
  choice.search = c.search;
  if (c.polish) {
    choice.refine_passes = 4;
    choice.refit_steps = true;
  }
  const bool searched = c.search != pathq::ScaleSearch::None || c.polish;
  if (method == "msq") {
    if (c.energy || c.classic) return std::nullopt;
    return pathq::layer_methods::msq<float>(choice);
  }
  if (method == "gpfq") {
    if (c.classic) return std::nullopt;
    pathq::GpfqOptions o;
    if (c.energy) o.order = pathq::FeatureOrder::DescendingEnergy;
    return pathq::layer_methods::gpfq<float>(o, choice);
  }
  if (method == "spfq") {
    if (c.energy || c.classic) return std::nullopt;
    return pathq::layer_methods::spfq<float>({}, 0, choice);
  }
  if (method == "optq") {
    pathq::OptqOptions o;
    if (c.energy) o.order = pathq::FeatureOrder::DescendingEnergy;
    if (c.classic) o.objective = pathq::OptqObjective::QuantizedInputs;
    return pathq::layer_methods::optq<float>(o, choice);
  }
  if (method == "maly-saab") {
    if (searched || c.energy || c.classic) return std::nullopt;
    return pathq::layer_methods::maly_saab<float>();
  }
  throw std::runtime_error("unknown method '" + method + "'");
}

pathq_examples::Recipe recipe_named(const std::string& name) {
  using namespace pathq_examples;
  for (const Recipe& r : {mlp_recipe(), cnn_recipe(), residual_mlp_recipe(), dsnet_recipe()})
    if (r.name == name) return r;
  throw std::runtime_error("unknown network '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pathq_examples;
  std::map<std::string, std::string> opt = {
      {"networks", "mlp,cnn,resmlp,dsnet"},
      {"methods", "msq,gpfq,spfq,optq,maly-saab"},
      {"bits", "2,3,4"},
      {"configs", "column,layer,layer+clip,column+clip,column+radius,column+colsearch,column+energy,column+polish,"
                  "column+colsearch+polish,column+classic"},
      {"modes", "sequential,independent"},
      {"samples", "1024"},
      {"test-samples", "10000"},
      {"shard", "0/1"},
      {"out", ""}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || !opt.count(a.substr(2)) || i + 1 >= argc) {
      std::fprintf(stderr, "network_quality: unknown or incomplete option '%s'\n", a.c_str());
      return 2;
    }
    opt[a.substr(2)] = argv[++i];
  }
  if (!fashion_mnist_available()) {
    std::fprintf(stderr, "network_quality: Fashion-MNIST not found in %s\n", fashion_mnist_dir().c_str());
    return 2;
  }
  const auto shard = split(opt["shard"], '/');
  const long shard_i = std::atol(shard.at(0).c_str()), shard_n = std::atol(shard.at(1).c_str());
  const LabelledImages train = load_fashion_mnist(true), test_all = load_fashion_mnist(false);
  const Eigen::Index m = std::atol(opt["samples"].c_str());
  const Eigen::Index nt = std::min<Eigen::Index>(std::atol(opt["test-samples"].c_str()), test_all.size());
  const Eigen::MatrixXf calibration = train.images.topRows(m);
  const Eigen::MatrixXf test_x = test_all.images.topRows(nt);
  const Eigen::VectorXi test_y = test_all.labels.head(nt);

  std::FILE* out = opt["out"].empty() ? stdout : std::fopen(opt["out"].c_str(), "a");
  if (!out) {
    std::perror(opt["out"].c_str());
    return 1;
  }
  if (shard_i == 0 && (opt["out"].empty() || std::ftell(out) == 0))
    std::fprintf(out, "network,mode,method,bits,config,accuracy,float_accuracy,output_squared_relative_error,seconds\n");

  long job = -1;
  for (const std::string& net_name : split(opt["networks"], ',')) {
    // Only the shards with a run on this network load it (training it if it is not cached).
    std::optional<pathq::Sequential<float>> net;
    double float_acc = 0;
    Eigen::MatrixXf float_out;
    for (const std::string& mode : split(opt["modes"], ','))
      for (const std::string& method : split(opt["methods"], ','))
        for (const std::string& b : split(opt["bits"], ','))
          for (const std::string& cname : split(opt["configs"], ',')) {
            const Config c = parse_config(cname);
            const auto lm = make_method(method, c);
            if (!lm) continue;
            if (++job % shard_n != shard_i) continue;
            if (!net) {
              net = pathq::fold_batch_norm(reference_model(recipe_named(net_name), train, false).net);
              float_acc = 100 * net->accuracy(test_x, test_y);
              float_out = net->forward(test_x);
            }
            const int bits = std::atoi(b.c_str());
            pathq::NetworkQuantizerOptions<float> o;
            o.method = *lm;
            o.alphabet = pathq::Alphabet<float>::from_bits(
                bits, c.column ? pathq::StepRule::column_radius(1.0) : pathq::StepRule::layer_radius(1.0));
            o.sequential = mode == "sequential";
            if (method == "maly-saab") o.subset_samples = 128;
            const auto t0 = std::chrono::steady_clock::now();
            const auto q = pathq::quantize_network(*net, calibration, o);
            const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const Eigen::MatrixXf qout = q.network.forward(test_x);
            const double rel = (qout - float_out).cast<double>().squaredNorm() / float_out.cast<double>().squaredNorm();
            std::fprintf(out, "%s,%s,%s,%d,%s,%.2f,%.2f,%.6g,%.3f\n", net_name.c_str(), mode.c_str(), method.c_str(),
                         bits, cname.c_str(), 100 * q.network.accuracy(test_x, test_y), float_acc, rel, sec);
            std::fflush(out);
          }
  }
  if (out != stdout) std::fclose(out);
  return 0;
}
