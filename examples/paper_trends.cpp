// Three network-level trends of the literature, reproduced on Fashion-MNIST with the network
// driver (every quantizable layer of the network, in sequence):
//
// 1. sigma: data-free 1-bit frame Sigma-Delta (Czaja-Na) against the frame size p, one p for
//    every layer, on the 784-500-300-10 MLP and on the residual MLP. Settings compared: which
//    vectors are expanded (the columns of W, n = N_in, or its rows, n = N_out) and how the step
//    is chosen (`norm`: the library's rule `max_j ||x_j|| / (L - 1/2)`, which keeps the state
//    bounded for any vector of that norm; `coef`: the smallest step that keeps it bounded for
//    the actual frame coefficients, `max |c_kj| / (L - 1/2)`, per layer; `coef-net`: that step's
//    largest value over the layers, the same step for every layer). Per layer, the weight error
//    against the frame bound `(step n / 2p)(sigma + 1)` per vector.
// 2. gpfq: GPFQ against MSQ at 2, 3 and 4 bits (3, 7, 15 levels) against the radius scale C,
//    with the layer rule `StepRule::layer_radius(C)` and the column rule `column_radius(C)`.
// 3. axe: accumulator-aware GPFQ and OPTQ (AXE), 4-bit weights, 8-bit unsigned inputs, against
//    the accumulator width P, single-stage and multi-stage (tiles of 128 and 64 features, each
//    with its own P-bit inner accumulator); the integer worst case of every layer is checked.
//
// Usage: paper_trends OUT_DIR [--quick] [--only sigma|gpfq|axe]
//   --quick: a reduced grid, 512 calibration and 2,000 test images (a smoke check);
//   otherwise 2,048 calibration images (the first training images) and the 10,000 test images.
// Writes OUT_DIR/{sigma_delta,sigma_delta_layers,gpfq_msq,axe}.csv and prints the tables.
// Trained networks come from $PATHQ_CACHE_DIR (trained and cached on first use).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <pathq/bounds/accumulator.hpp>
#include <pathq/frames/frame.hpp>
#include <pathq/methods/integer_check.hpp>
#include <pathq/network/layer_methods.hpp>
#include <pathq/network/quantize_network.hpp>

#include "fashion_mnist.hpp"
#include "reference_models.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Index = Eigen::Index;
using pathq_examples::LabelledImages;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::FILE* open_csv(const std::string& dir, const char* name, const char* header) {
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fprintf(f, "%s\n", header);
  return f;
}

// The data shared by the sweeps.
struct Setup {
  Eigen::MatrixXf calibration;
  LabelledImages test;
  std::string dir;
  bool quick = false;
};

// The weights of every quantizable layer of a dense network, in the driver's order.
std::vector<Eigen::MatrixXf> dense_weights(const pathq::Sequential<float>& net) {
  std::vector<Eigen::MatrixXf> out;
  for (const auto& site : pathq::quantizable_sites(net)) {
    const auto& layer = net.layer(site.layer);
    const pathq::Dense<float>* d = site.shortcut
                                       ? std::get_if<pathq::Dense<float>>(&std::get<pathq::ResidualEnd<float>>(layer).shortcut)
                                       : std::get_if<pathq::Dense<float>>(&layer);
    if (!d) {
      std::fprintf(stderr, "paper_trends: the sigma sweep expects dense layers only\n");
      std::exit(1);
    }
    out.push_back(d->W);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Frame Sigma-Delta against the frame size.

// The smallest step that keeps first-order Sigma-Delta of every expanded vector of W bounded,
// `|u| <= step/2`, in the harmonic frame of p elements: `max_{k,j} |<e_k, x_j>| / (L - 1/2)`.
// Data-free (only W), `O(n p count)`.
double coefficient_step(const Eigen::MatrixXf& W, Index p, pathq::FrameAxis axis, int levels) {
  const Eigen::MatrixXf V = axis == pathq::FrameAxis::Columns ? W : Eigen::MatrixXf(W.transpose());
  const pathq::Frame frame = pathq::Frame::harmonic(V.rows(), p);
  double largest = 0;
  Eigen::MatrixXf block;
  for (Index k0 = 0; k0 < p; k0 += 512) {
    const Index count = std::min<Index>(512, p - k0);
    frame.columns<float>(k0, count, nullptr, block);
    largest = std::max(largest, double((block.transpose() * V).cwiseAbs().maxCoeff()));
  }
  return largest / (double(levels) - 0.5);
}

enum class StepChoice { Norm, Coefficients, CoefficientsNetwork };

const char* to_string(StepChoice s) {
  switch (s) {
    case StepChoice::Norm: return "norm";
    case StepChoice::Coefficients: return "coef";
    case StepChoice::CoefficientsNetwork: return "coef-net";
  }
  return "?";
}

struct SigmaVariant {
  pathq::FrameAxis axis;
  StepChoice step;
};

// 1-bit Sigma-Delta with frame size p for every layer and the variant's step.
pathq::LayerMethod<float> sigma_method(Index p, const SigmaVariant& v, double network_step) {
  pathq::SigmaDeltaOptions o;
  o.levels = 1;
  o.axis = v.axis;
  if (v.step == StepChoice::CoefficientsNetwork) o.step = network_step;
  if (v.step != StepChoice::Coefficients) return pathq::layer_methods::sigma_delta_frame<float>(p, o);
  return {"sigma-delta", [p, o](const pathq::LayerProblem<float>& problem) {
            pathq::SigmaDeltaOptions own = o;
            own.step = coefficient_step(problem.W, p, own.axis, own.levels);
            return pathq::layer_methods::sigma_delta_frame<float>(p, own).run(problem);
          }};
}

struct SigmaRow {
  std::string network, axis, step;
  Index p = 0;
  double accuracy = 0, float_accuracy = 0, worst_weight_error = 0, seconds = 0;
  bool stable = true;
  double bits_per_weight = 0;  // stored code bits over the network's weights (1 bit per coefficient)
};

void sigma_sweep(const Setup& s, const LabelledImages& train) {
  using pathq::FrameAxis;
  const std::vector<Index> frame_sizes =
      s.quick ? std::vector<Index>{1000, 4000, 7000} : std::vector<Index>{1000, 2000, 3000, 4000, 5000, 6000, 7000};
  const std::vector<SigmaVariant> variants = {
      {FrameAxis::Columns, StepChoice::Norm},         {FrameAxis::Rows, StepChoice::Norm},
      {FrameAxis::Columns, StepChoice::Coefficients}, {FrameAxis::Rows, StepChoice::Coefficients},
      {FrameAxis::Rows, StepChoice::CoefficientsNetwork}};
  std::FILE* f = open_csv(s.dir, "sigma_delta.csv",
                          "network,axis,step_rule,p,bits_per_weight,accuracy,float_accuracy,worst_layer_weight_error,stable,"
                          "seconds");
  std::FILE* fl = open_csv(s.dir, "sigma_delta_layers.csv",
                           "network,axis,step_rule,p,layer,n_in,n_out,n,step,weight_error,weight_bound,"
                           "output_error,stable");
  std::vector<SigmaRow> rows;
  for (const auto& recipe : {pathq_examples::mlp_recipe(), pathq_examples::residual_mlp_recipe()}) {
    const auto model = pathq_examples::reference_model(recipe, train);
    const double float_acc = 100 * model.net.accuracy(s.test.images, s.test.labels);
    const std::vector<Eigen::MatrixXf> weights = dense_weights(model.net);
    for (const Index p : frame_sizes)
      for (const auto& v : variants) {
        const auto t0 = Clock::now();
        double network_step = 0;
        if (v.step == StepChoice::CoefficientsNetwork)
          for (const auto& W : weights) network_step = std::max(network_step, coefficient_step(W, p, v.axis, 1));
        pathq::NetworkQuantizerOptions<float> opt;
        opt.method = sigma_method(p, v, network_step);
        const auto q = pathq::quantize_network(model.net, s.calibration, opt);
        SigmaRow row{recipe.name, pathq::to_string(v.axis), to_string(v.step), p,
                     100 * q.network.accuracy(s.test.images, s.test.labels), float_acc, 0, 0, true, 0};
        double codes = 0, weight_count = 0;
        for (std::size_t k = 0; k < q.layers.size(); ++k) {
          const auto& rep = q.layers[k];
          codes += double(q.units[k].solution.result.codes.size());
          weight_count += double(rep.n_in * rep.n_out);
          const auto& unit = q.units[k];
          const Eigen::Index n = v.axis == FrameAxis::Columns ? rep.n_in : rep.n_out;
          const auto& steps = unit.solution.result.grid.step;
          // The frame bound (step_j n / 2p)(sigma + 1) per vector, summed in squares over the layer.
          const double sigma = pathq::Frame::harmonic(n, p).variation();
          const double bound = double(n) / (2.0 * double(p)) * (sigma + 1.0) * steps.cast<double>().norm();
          const double wnorm = weights[k].cast<double>().norm();
          const bool stable = rep.status == pathq::Info::Success;
          const double werr = std::sqrt(rep.weight_relative_error);
          row.worst_weight_error = std::max(row.worst_weight_error, werr);
          row.stable = row.stable && stable;
          std::fprintf(fl, "%s,%s,%s,%ld,%s,%ld,%ld,%ld,%.6g,%.6g,%.6g,%.6g,%d\n", recipe.name.c_str(),
                       row.axis.c_str(), row.step.c_str(), long(p), rep.name.c_str(), long(rep.n_in), long(rep.n_out),
                       long(n), double(steps.maxCoeff()), werr, bound / wnorm, rep.norm_ratio, int(stable));
        }
        row.seconds = seconds_since(t0);
        row.bits_per_weight = codes / weight_count;
        std::fprintf(f, "%s,%s,%s,%ld,%.2f,%.2f,%.2f,%.6g,%d,%.2f\n", row.network.c_str(), row.axis.c_str(),
                     row.step.c_str(), long(p), row.bits_per_weight, row.accuracy, float_acc, row.worst_weight_error, int(row.stable),
                     row.seconds);
        std::fflush(f);
        std::fflush(fl);
        std::printf("  sigma %-6s %-7s %-8s p = %4ld: %6.2f%% (float %.2f%%), worst layer ||W - Wq||/||W|| = %.3g%s  [%.1f s]\n",
                    row.network.c_str(), row.axis.c_str(), row.step.c_str(), long(p), row.accuracy, float_acc,
                    row.worst_weight_error, row.stable ? "" : ", UNSTABLE", row.seconds);
        std::fflush(stdout);
        rows.push_back(row);
      }
  }
  std::fclose(f);
  std::fclose(fl);

  std::printf("\n1-bit frame Sigma-Delta, test accuracy (%%) against the frame size p (same p for every layer):\n");
  for (const char* net : {"mlp", "resmlp"}) {
    double float_acc = 0;
    std::printf("\n%-8s %-22s", net, "expanded / step");
    for (const Index p : frame_sizes) std::printf(" %7ld", long(p));
    std::printf("\n");
    for (const auto& v : variants) {
      std::printf("%-8s %-22s", "", (std::string(pathq::to_string(v.axis)) + " / " + to_string(v.step)).c_str());
      for (const Index p : frame_sizes)
        for (const auto& r : rows)
          if (r.network == net && r.p == p && r.axis == pathq::to_string(v.axis) && r.step == to_string(v.step)) {
            std::printf(" %7.2f", r.accuracy);
            float_acc = r.float_accuracy;
          }
      std::printf("\n");
    }
    std::printf("%-8s %-22s %7.2f\n", "", "float", float_acc);
    for (const char* axis : {"columns", "rows"}) {
      std::printf("%-8s %-22s", "", (std::string("bits/weight, ") + axis).c_str());
      for (const Index p : frame_sizes)
        for (const auto& r : rows)
          if (r.network == net && r.p == p && r.axis == axis && r.step == "norm") std::printf(" %7.1f", r.bits_per_weight);
      std::printf("\n");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. GPFQ against MSQ, against the radius scale C.

void gpfq_sweep(const Setup& s, const pathq::Sequential<float>& net, double float_acc) {
  const std::vector<int> bit_widths = s.quick ? std::vector<int>{2, 3} : std::vector<int>{2, 3, 4};
  const std::vector<double> scales = s.quick ? std::vector<double>{0.6, 1.0, 1.5}
                                             : std::vector<double>{0.4, 0.6, 0.8, 1.0, 1.2, 1.5};
  std::FILE* f = open_csv(s.dir, "gpfq_msq.csv", "bits,levels,rule,C,method,accuracy,float_accuracy,seconds");
  std::map<std::string, double> acc;  // "bits rule method C" -> accuracy
  auto key = [](int b, const char* rule, const char* method, double C) {
    char k[96];
    std::snprintf(k, sizeof k, "%d %s %s %.2f", b, rule, method, C);
    return std::string(k);
  };
  for (const int bits : bit_widths)
    for (const char* rule : {"layer", "column"})
      for (const double C : scales)
        for (const char* method : {"MSQ", "GPFQ"}) {
          const auto t0 = Clock::now();
          pathq::NetworkQuantizerOptions<float> opt;
          opt.method = std::strcmp(method, "MSQ") == 0 ? pathq::layer_methods::msq<float>()
                                                       : pathq::layer_methods::gpfq<float>();
          const auto step_rule = std::strcmp(rule, "layer") == 0 ? pathq::StepRule::layer_radius(C)
                                                                 : pathq::StepRule::column_radius(C);
          opt.alphabet = pathq::Alphabet<float>::from_bits(bits, step_rule);
          const double a = 100 * pathq::quantize_network(net, s.calibration, opt).network.accuracy(s.test.images, s.test.labels);
          const double sec = seconds_since(t0);
          acc[key(bits, rule, method, C)] = a;
          std::fprintf(f, "%d,%d,%s,%g,%s,%.2f,%.2f,%.2f\n", bits, (1 << bits) - 1, rule, C, method, a, float_acc, sec);
          std::fflush(f);
          std::printf("  gpfq %d bits %-6s C = %.1f %-4s: %6.2f%%  [%.1f s]\n", bits, rule, C, method, a, sec);
          std::fflush(stdout);
        }
  std::fclose(f);

  std::printf("\nGPFQ and MSQ on the MLP, test accuracy (%%) against C (float %.2f%%):\n", float_acc);
  for (const int bits : bit_widths)
    for (const char* rule : {"layer", "column"}) {
      std::printf("\n%d bits (%d levels), %s rule %-3s", bits, (1 << bits) - 1, rule, "C");
      for (const double C : scales) std::printf(" %6.1f", C);
      std::printf("\n");
      for (const char* method : {"MSQ", "GPFQ"}) {
        std::printf("%-32s", method);
        for (const double C : scales) std::printf(" %6.2f", acc[key(bits, rule, method, C)]);
        std::printf("\n");
      }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. AXE against the accumulator width.

void axe_sweep(const Setup& s, const pathq::Sequential<float>& net, double float_acc) {
  const std::vector<int> widths = s.quick ? std::vector<int>{20, 16, 14, 12} : std::vector<int>{24, 20, 18, 17, 16, 15, 14, 13, 12};
  const std::vector<Index> tiles = {0, 128, 64};
  const auto alphabet = pathq::Alphabet<float>::from_bits(4, pathq::StepRule::column_radius(1.0));
  std::FILE* f = open_csv(s.dir, "axe.csv",
                          "method,accumulator_bits,tile,outer_accumulator_bits,accuracy,float_accuracy,"
                          "worst_inner_bits_needed,fits,seconds");
  std::map<std::string, double> acc;
  auto key = [](const char* method, int P, Index tile) {
    return std::string(method) + " " + std::to_string(P) + " " + std::to_string(long(tile));
  };
  // The unconstrained methods on the same grid, and the accumulator width their codes need.
  std::map<std::string, std::pair<double, int>> plain;
  for (const char* method : {"GPFQ", "OPTQ"}) {
    pathq::NetworkQuantizerOptions<float> opt;
    opt.method = std::strcmp(method, "GPFQ") == 0 ? pathq::layer_methods::gpfq<float>() : pathq::layer_methods::optq<float>();
    opt.alphabet = alphabet;
    const auto q = pathq::quantize_network(net, s.calibration, opt);
    pathq::AccumulatorOptions a;
    a.accumulator_bits = 62;
    int need = 0;
    for (const auto& u : q.units) need = std::max(need, pathq::accumulator_worst_case(u.solution.result, a).bits_needed);
    plain[method] = {100 * q.network.accuracy(s.test.images, s.test.labels), need};
    std::printf("  axe: unconstrained %s, 4 bits: %.2f%%, its codes need a %d-bit accumulator\n", method,
                plain[method].first, need);
  }
  for (const char* method : {"AXE-GPFQ", "AXE-OPTQ"})
    for (const Index tile : tiles)
      for (const int P : widths) {
        const auto t0 = Clock::now();
        pathq::AccumulatorOptions a;
        a.accumulator_bits = P;
        a.input_bits = 8;
        a.input_signed = false;
        a.tile = tile;
        pathq::NetworkQuantizerOptions<float> opt;
        opt.method = std::strcmp(method, "AXE-GPFQ") == 0 ? pathq::layer_methods::axe_gpfq<float>(a)
                                                          : pathq::layer_methods::axe_optq<float>(a);
        opt.alphabet = alphabet;
        const auto q = pathq::quantize_network(net, s.calibration, opt);
        const double accuracy = 100 * q.network.accuracy(s.test.images, s.test.labels);
        int need = 0, outer = P;
        bool fits = true;
        for (const auto& u : q.units) {
          const auto wc = pathq::accumulator_worst_case(u.solution.result, a);
          need = std::max(need, wc.bits_needed);
          fits = fits && wc.fits();
          outer = std::max(outer, pathq::bounds::outer_accumulator_bits(P, wc.tiles));
        }
        const double sec = seconds_since(t0);
        acc[key(method, P, tile)] = accuracy;
        std::fprintf(f, "%s,%d,%ld,%d,%.2f,%.2f,%d,%d,%.2f\n", method, P, long(tile), outer, accuracy, float_acc, need,
                     int(fits), sec);
        std::fflush(f);
        std::printf("  axe %-8s P = %2d tile %3ld (outer %2d bits): %6.2f%%, worst tile needs %d bits%s  [%.1f s]\n",
                    method, P, long(tile), outer, accuracy, need, fits ? "" : " (DOES NOT FIT)", sec);
        std::fflush(stdout);
      }
  std::fclose(f);

  std::printf("\nAXE on the MLP, 4-bit weights (column rule, C = 1), 8-bit unsigned inputs; test accuracy (%%)\n"
              "against the (inner) accumulator width P; float %.2f%%, unconstrained GPFQ %.2f%% (needs %d bits),\n"
              "unconstrained OPTQ %.2f%% (needs %d bits):\n\n%-4s",
              float_acc, plain["GPFQ"].first, plain["GPFQ"].second, plain["OPTQ"].first, plain["OPTQ"].second, "P");
  for (const char* method : {"AXE-GPFQ", "AXE-OPTQ"})
    for (const Index tile : tiles)
      std::printf(" %s %-9s", method + 4, tile ? ("T=" + std::to_string(long(tile))).c_str() : "1 stage");
  std::printf("\n");
  for (const int P : widths) {
    std::printf("%-4d", P);
    for (const char* method : {"AXE-GPFQ", "AXE-OPTQ"})
      for (const Index tile : tiles) std::printf(" %14.2f", acc[key(method, P, tile)]);
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pathq_examples;
  std::string dir, only;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
      if (only != "sigma" && only != "gpfq" && only != "axe") {
        std::fprintf(stderr, "paper_trends: --only takes sigma, gpfq or axe, got '%s'\n", only.c_str());
        return 2;
      }
    } else if (dir.empty() && !a.empty() && a[0] != '-') {
      dir = a;
    } else {
      std::fprintf(stderr, "usage: paper_trends OUT_DIR [--quick] [--only sigma|gpfq|axe]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: paper_trends OUT_DIR [--quick] [--only sigma|gpfq|axe]\n");
    return 2;
  }
  if (!fashion_mnist_available()) {
    std::fprintf(stderr, "paper_trends: Fashion-MNIST not found in %s (Debian's dataset-fashion-mnist)\n",
                 fashion_mnist_dir().c_str());
    return 2;
  }
  const auto t_start = Clock::now();
  const LabelledImages train = load_fashion_mnist(true);
  Setup s;
  s.dir = dir;
  s.quick = quick;
  s.calibration = train.images.topRows(quick ? 512 : 2048);
  s.test = load_fashion_mnist(false, quick ? 2000 : 0);
  std::printf("paper_trends: %s grid, %ld calibration images, %ld test images\n", quick ? "quick" : "full",
              long(s.calibration.rows()), long(s.test.size()));

  if (only.empty() || only == "sigma") {
    const auto t0 = Clock::now();
    sigma_sweep(s, train);
    std::printf("\nsigma sweep: %.1f s\n\n", seconds_since(t0));
  }
  if (only.empty() || only == "gpfq" || only == "axe") {
    const ReferenceModel mlp = reference_model(mlp_recipe(), train);
    const double float_acc = 100 * mlp.net.accuracy(s.test.images, s.test.labels);
    if (only.empty() || only == "gpfq") {
      const auto t0 = Clock::now();
      gpfq_sweep(s, mlp.net, float_acc);
      std::printf("\ngpfq sweep: %.1f s\n\n", seconds_since(t0));
    }
    if (only.empty() || only == "axe") {
      const auto t0 = Clock::now();
      axe_sweep(s, mlp.net, float_acc);
      std::printf("\naxe sweep: %.1f s\n\n", seconds_since(t0));
    }
  }
  std::printf("paper_trends: %.1f s in all; CSV files in %s\n", seconds_since(t_start), dir.c_str());
  return 0;
}
