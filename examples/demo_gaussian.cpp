// Demo: MSQ and GPFQ on three Gaussian layers at 2, 3 and 4 bits, with the proven bounds.
//
// Each layer has N_out = 256 neurons, W iid N(0, 1/N_in), and m = 256 calibration samples:
// iid N(0, 1) inputs for the first layer, ReLU of N(0, 1) for the deeper ones. The alphabet is
// `Alphabet<float>::from_bits(b, StepRule::layer_radius(C))`: its largest level is C times the
// mean over neurons of max_t |W_tj|. The table gives the squared relative error
// ||XW - XQ||^2 / ||XW||^2, the deterministic bound for it (relative; n/a where a step saturated,
// since the bound then does not apply), and the quantization time.
//
// Usage: pathq_demo_gaussian [C]   (C > 0, default 1.5)
//
// The same for one layer with the command-line tool, from .npy files (W: N_in x N_out, X: m x N_in):
//   pathq layer --method gpfq --weights W.npy --inputs X.npy --bits 3 --scale 1.5 --out Q.npy --report REPORT.json
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <Eigen/Core>

#include <pathq/pathq.hpp>

namespace {

// iid N(0, 1) entries from pathq's counter-based stream (Box-Muller): the same on every platform.
Eigen::MatrixXf gaussian(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  Eigen::MatrixXf A(rows, cols);
  const pathq::RandomStream s(seed, 0);
  for (Eigen::Index k = 0; k < A.size(); ++k) {
    const double u1 = 1.0 - s.uniform(std::uint64_t(2 * k));
    const double u2 = s.uniform(std::uint64_t(2 * k + 1));
    A.data()[k] = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return A;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Scalar>
void print_row(int layer, const char* method, int bits, const pathq::Result<Scalar>& r, double rel_err,
               double bound, double seconds) {
  char bound_text[32];
  if (r.info.saturated > 0)
    std::snprintf(bound_text, sizeof bound_text, "n/a (%ld sat.)", long(r.info.saturated));
  else
    std::snprintf(bound_text, sizeof bound_text, "%.3e", bound);
  std::printf("%5d  %-6s %4d %6lld   %12.4e   %-16s %8.3f\n", layer, method, bits,
              static_cast<long long>(r.grid.levels()), rel_err, bound_text, seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index n_ins[] = {512, 1024, 2048};
  const Eigen::Index n_out = 256, m = 256;
  // Radius scale of the layer step rule (first argument, default 1.5). At 1.5 GPFQ's steps stay
  // inside the grid, so its bound applies; C = 1.0 gives lower errors (a finer step) but clips
  // some steps, and the bounds then say nothing.
  const double C = argc > 1 ? std::atof(argv[1]) : 1.5;
  if (!(C > 0 && std::isfinite(C))) {
    std::fprintf(stderr, "pathq_demo_gaussian: the radius scale C must be a positive number, got '%s'\n", argv[1]);
    return 2;
  }

  std::printf("pathq %s: MSQ vs GPFQ on Gaussian layers (N_out = %ld, m = %ld samples, step rule "
              "layer_radius(C = %.2f), float engine, %d thread(s))\n\n",
              pathq::version_string, long(n_out), long(m), C, pathq::engine_threads(0));
  std::printf("layer  method bits levels   rel. error     bound (rel.)     seconds\n");
  std::printf("-----  ------ ---- ------   ------------   ---------------- --------\n");

  for (int layer = 0; layer < 3; ++layer) {
    const Eigen::Index n_in = n_ins[layer];
    Eigen::MatrixXf X = gaussian(m, n_in, 100 + std::uint64_t(layer));
    if (layer > 0) X = X.cwiseMax(0.0f);  // deeper layers see ReLU activations
    const Eigen::MatrixXf W = gaussian(n_in, n_out, 200 + std::uint64_t(layer)) / std::sqrt(float(n_in));

    const auto t0 = std::chrono::steady_clock::now();
    const auto stats = pathq::LayerStats<double>::from(X);
    const double stats_seconds = seconds_since(t0);
    const double reference = pathq::layer_error(stats, W, W).reference();  // ||XW||^2
    const double trace_K = stats.K().trace();

    for (int bits = 2; bits <= 4; ++bits) {
      const auto alphabet = pathq::Alphabet<float>::from_bits(bits, pathq::StepRule::layer_radius(C));

      const auto msq = pathq::msq(W, alphabet);
      print_row(layer + 1, "msq", bits, msq, pathq::relative_error(W, msq, stats),
                pathq::bounds::msq_unsaturated(msq.grid, stats.K().diagonal()) / reference,
                msq.info.seconds);

      const auto gpfq = pathq::Gpfq<float>().quantize(W, stats, alphabet);
      print_row(layer + 1, "gpfq", bits, gpfq, pathq::relative_error(W, gpfq, stats),
                pathq::bounds::gpfq_unsaturated(gpfq.grid, trace_K) / reference, gpfq.info.seconds);
    }
    std::printf("       (layer %d: N_in = %ld, %s inputs, statistics %.3f s)\n", layer + 1, long(n_in),
                layer == 0 ? "Gaussian" : "ReLU(Gaussian)", stats_seconds);
  }
  return 0;
}
