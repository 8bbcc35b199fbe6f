// Quality bench: the norm ratio ||XW - XQ||_F / ||XW||_F of every method at 2, 3 and 4 bits, with
// and without scale search, on a Gaussian and a correlated 1024 x 1024 layer.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/grid_accounting.hpp>
#include <pathq/core/rounding.hpp>
#include <pathq/core/scale_search.hpp>
#include <pathq/core/step_refit.hpp>
#include <pathq/detail/float16.hpp>
#include <pathq/methods/code_refinement.hpp>
#include <pathq/methods/gpfq.hpp>
#include <pathq/methods/msq.hpp>
#include <pathq/methods/optq.hpp>
#include <pathq/methods/spfq.hpp>
#include <pathq/stats/layer_error.hpp>
#include <pathq/stats/layer_stats.hpp>

#include "support/random_data.hpp"

namespace {

using pathq::Alphabet;
using pathq::StepRule;
using pathq_test::gaussian;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;

// The recipe: N_in = N_out = 1024, m = 2048, W iid N(0, 1); inputs (0) iid N(0, 1) or
// (1) correlated, X = Z diag(s / rms(s)) V^T with Z iid N(0, 1), s_k = 1/k and V orthogonal.
constexpr Eigen::Index n = 1024;
constexpr Eigen::Index m = 2048;

struct Dataset {
  Eigen::MatrixXd W;
  pathq::LayerStats<double> stats;
};

// The Q factor of A's QR factorization: classical Gram-Schmidt with one reorthogonalization pass.
Eigen::MatrixXd orthonormalized(Eigen::MatrixXd A) {
  for (Eigen::Index k = 0; k < A.cols(); ++k) {
    for (int pass = 0; pass < 2; ++pass) A.col(k) -= A.leftCols(k) * (A.leftCols(k).transpose() * A.col(k)).eval();
    A.col(k).normalize();
  }
  return A;
}

const Dataset& dataset(int correlated) {
  static const Dataset iid{gaussian(n, n, 1001), pathq::LayerStats<double>::from(gaussian(m, n, 1002))};
  if (!correlated) return iid;
  static const Dataset corr = [] {
    Eigen::VectorXd s(n);
    for (Eigen::Index k = 0; k < n; ++k) s(k) = 1.0 / double(k + 1);
    s /= std::sqrt(s.squaredNorm() / double(n));
    const Eigen::MatrixXd V = orthonormalized(gaussian(n, n, 1003));
    const Eigen::MatrixXd X = gaussian(m, n, 1002) * s.asDiagonal() * V.transpose();
    return Dataset{gaussian(n, n, 1001), pathq::LayerStats<double>::from(X)};
  }();
  return corr;
}

// Every method with its grid (per column unless "g32"); "+clip" is the clip search (100 ratios
// from 1 to 0.2, score e^T diag(H) e) before the method's pass, "+radius" the search over the
// radius scalar C in {0.5, 0.6, ..., 1.5} scored by the layer error of the method's result.
enum Method {
  MsqSym,            // 2^b - 1 levels, step max|w_j| / K
  MsqSymClip,
  MsqAsym,           // min-max asymmetric, 2^b levels
  MsqAsymClip,
  GpfqLayer08,       // GPFQ, 2^b - 1 levels, the authors' layer radius rule with C = 0.8
  GpfqSym,           // GPFQ, 2^b - 1 levels, per-column max
  GpfqSymClip,
  GpfqSymRadius,
  GpfqAsymClip,
  GpfqAsymRadius,
  SpfqSymRadius,     // SPFQ (order 1, stochastic rounding, seed 7), per-column steps
  OptqAsymAct,       // OPTQ act-order, min-max asymmetric (GPTQ's default grid)
  OptqAsymActClip,
  OptqEvenAct,       // OPTQ act-order, even grid (GPTQ's sym)
  OptqEvenActClip,
  OptqEvenG32,       // OPTQ, even grid, dynamic groups of 32 (4.5 bits/weight at 4 bits)
  OptqEvenActG32Clip,  // OPTQ act-order, even grid, static groups of 32, clip search per group
  GpfqAsymDescClip,    // GPFQ in decreasing-energy order, asymmetric, clip search
  GpfqAsymClipColumnRadius,  // GPFQ asymmetric, clip search, then C per column in {0.6, ..., 1.2}
  OptqAsymActClipColumnRadius,  // OPTQ act asym, clip search, then C per column in {0.85, ..., 1.15}
  OptqAsymActG48Clip,  // OPTQ act-order, asymmetric, static groups of 48 (4.43 bits/weight at 4 bits)
  OptqEvenActG32ClipColumnRadius,  // the g32 row, then C per column in {0.85, ..., 1.15}
  OptqAsymActClipRefit,  // OPTQ act asym +clip, then refit_steps, OPTQ again on the refit grid, x3
  OptqAsymActG48ClipRefit,  // the same with static asymmetric groups of 48
  OptqEvenActG32ClipRefit,  // the same with static even groups of 32
  OptqAsymActClipPolish,    // OPTQ act asym +clip, then refine_codes, refit_steps, refine_codes
  OptqAsymActG48ClipPolish,  // the same with static asymmetric groups of 48
  OptqEvenActG32ClipPolish,  // the same with static even groups of 32
  GpfqAsymDescClipPolish,    // GPFQ in energy order, asymmetric, clip search, then the same
  OptqAsymActG44ClipPolish,  // OPTQ act asym, static groups of 44 (4.47 bits/weight at 4 bits), polished
  MethodCount
};

const char* method_name(int k) {
  static const char* names[] = {"msq_sym",          "msq_sym+clip",      "msq_asym",           "msq_asym+clip",
                                "gpfq_layer_C0.8",  "gpfq_sym",          "gpfq_sym+clip",      "gpfq_sym+radius",
                                "gpfq_asym+clip",   "gpfq_asym+radius",  "spfq_sym+radius",    "optq_act_asym",
                                "optq_act_asym+clip", "optq_act_even",   "optq_act_even+clip", "optq_even_g32",
                                "optq_act_even_g32_static+clip", "gpfq_desc_asym+clip",
                                "gpfq_asym+clip+column_radius", "optq_act_asym+clip+column_radius",
                                "optq_act_asym_g48_static+clip", "optq_act_even_g32_static+clip+column_radius",
                                "optq_act_asym+clip+refit", "optq_act_asym_g48_static+clip+refit",
                                "optq_act_even_g32_static+clip+refit", "optq_act_asym+clip+polish",
                                "optq_act_asym_g48_static+clip+polish", "optq_act_even_g32_static+clip+polish",
                                "gpfq_desc_asym+clip+polish", "optq_act_asym_g44_static+clip+polish"};
  return names[k];
}

pathq::Result<float> run_method(int method, int bits, const Dataset& d, const MatF& W, double& C) {
  const auto column = StepRule::column_radius(1.0);
  const auto sym = Alphabet<float>::from_bits(bits, column);
  const auto asym = Alphabet<float>::asymmetric(bits);
  const auto even = Alphabet<float>::even(bits, column);
  pathq::OptqOptions act;
  act.order = pathq::FeatureOrder::DescendingEnergy;
  const pathq::Gpfq<float> gpfq;
  auto clip = [&](const Alphabet<float>& a) { return pathq::clip_search(W, d.stats, a).grid; };
  auto radius = [&](const auto& method_object, const Alphabet<float>& a) {
    auto c = pathq::radius_search(method_object, W, d.stats, a.resolve(W));
    C = c.C;
    return c.result;
  };
  // C per column around a clip-searched grid (radius_search with per_column).
  const std::vector<double> fine = {0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15};
  auto column_radius = [&](const auto& method_object, const pathq::Grid<float>& base, std::vector<double> candidates) {
    pathq::RadiusSearchOptions o;
    o.candidates = std::move(candidates);
    o.per_column = true;
    return pathq::radius_search(method_object, W, d.stats, base, o).result;
  };
  // Least-squares steps for the codes, then the method again on those steps, three rounds; the
  // run of least layer error is kept.
  auto refit_rounds = [&](const auto& method_object, const pathq::Grid<float>& base) {
    auto best = pathq::refit_steps(W, d.stats, method_object.quantize(W, d.stats, base));
    double best_error = pathq::layer_error(d.stats, W, best.values()).error();
    for (int round = 1; round < 3; ++round) {
      auto next = pathq::refit_steps(W, d.stats, method_object.quantize(W, d.stats, best.grid));
      const double e = pathq::layer_error(d.stats, W, next.values()).error();
      if (!(e < best_error)) break;
      best_error = e;
      best = std::move(next);
    }
    return best;
  };
  // Coordinate descent on the codes, least-squares steps for them, coordinate descent again.
  auto polish = [&](pathq::Result<float> r) {
    pathq::CodeRefinementOptions o;
    o.passes = 8;
    r = pathq::refine_codes(W, d.stats, std::move(r), o);
    for (int round = 0; round < 2; ++round) {
      r = pathq::refit_steps(W, d.stats, std::move(r));
      r = pathq::refine_codes(W, d.stats, std::move(r), o);
    }
    // The steps as they are stored and counted (fp16), then the codes once more for them.
    bool overflow = false;
    for (Eigen::Index k = 0; k < r.grid.step.size(); ++k)
      r.grid.step.data()[k] = float(pathq::detail::Binary16::decode(
          pathq::detail::Binary16::encode(double(r.grid.step.data()[k]), overflow)));
    return pathq::refine_codes(W, d.stats, std::move(r), o);
  };
  switch (method) {
    case MsqSym: return pathq::msq(W, sym);
    case MsqSymClip: return pathq::msq(W, clip(sym));
    case MsqAsym: return pathq::msq(W, asym);
    case MsqAsymClip: return pathq::msq(W, clip(asym));
    case GpfqLayer08: return gpfq.quantize(W, d.stats, Alphabet<float>::from_bits(bits, StepRule::layer_radius(0.8)));
    case GpfqSym: return gpfq.quantize(W, d.stats, sym);
    case GpfqSymClip: return gpfq.quantize(W, d.stats, clip(sym));
    case GpfqSymRadius: return radius(gpfq, sym);
    case GpfqAsymClip: return gpfq.quantize(W, d.stats, clip(asym));
    case GpfqAsymRadius: return radius(gpfq, asym);
    case SpfqSymRadius:
      return radius(pathq::Spfq<float>(pathq::SpfqOptions{}, pathq::StochasticRounding(7)), sym);
    case OptqAsymAct: return pathq::Optq<float>(act).quantize(W, d.stats, asym);
    case OptqAsymActClip: return pathq::Optq<float>(act).quantize(W, d.stats, clip(asym));
    case OptqEvenAct: return pathq::Optq<float>(act).quantize(W, d.stats, even);
    case OptqEvenActClip: return pathq::Optq<float>(act).quantize(W, d.stats, clip(even));
    case OptqEvenG32: return pathq::Optq<float>().quantize(W, d.stats, even.with_group_size(32));
    case OptqEvenActG32Clip: {
      act.static_groups = true;
      return pathq::Optq<float>(act).quantize(W, d.stats, clip(even.with_group_size(32)));
    }
    case GpfqAsymDescClip: {
      pathq::GpfqOptions desc;
      desc.order = pathq::FeatureOrder::DescendingEnergy;
      return pathq::Gpfq<float>(desc).quantize(W, d.stats, clip(asym));
    }
    case GpfqAsymClipColumnRadius: return column_radius(gpfq, clip(asym), {0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2});
    case OptqAsymActClipColumnRadius: return column_radius(pathq::Optq<float>(act), clip(asym), fine);
    case OptqAsymActG48Clip: {
      act.static_groups = true;
      return pathq::Optq<float>(act).quantize(W, d.stats, clip(asym.with_group_size(48)));
    }
    case OptqEvenActG32ClipColumnRadius: {
      act.static_groups = true;
      return column_radius(pathq::Optq<float>(act), clip(even.with_group_size(32)), fine);
    }
    case OptqAsymActClipRefit: return refit_rounds(pathq::Optq<float>(act), clip(asym));
    case OptqAsymActG48ClipRefit: {
      act.static_groups = true;
      return refit_rounds(pathq::Optq<float>(act), clip(asym.with_group_size(48)));
    }
    case OptqEvenActG32ClipRefit: {
      act.static_groups = true;
      return refit_rounds(pathq::Optq<float>(act), clip(even.with_group_size(32)));
    }
    case OptqAsymActClipPolish: return polish(pathq::Optq<float>(act).quantize(W, d.stats, clip(asym)));
    case OptqAsymActG48ClipPolish: {
      act.static_groups = true;
      return polish(pathq::Optq<float>(act).quantize(W, d.stats, clip(asym.with_group_size(48))));
    }
    case OptqEvenActG32ClipPolish: {
      act.static_groups = true;
      return polish(pathq::Optq<float>(act).quantize(W, d.stats, clip(even.with_group_size(32))));
    }
    case GpfqAsymDescClipPolish: {
      pathq::GpfqOptions desc;
      desc.order = pathq::FeatureOrder::DescendingEnergy;
      return polish(pathq::Gpfq<float>(desc).quantize(W, d.stats, clip(asym)));
    }
    default: {
      act.static_groups = true;
      return polish(pathq::Optq<float>(act).quantize(W, d.stats, clip(asym.with_group_size(44))));
    }
  }
}

// range(0): inputs (0 iid, 1 correlated); range(1): method; range(2): bits. Times the method,
// scale search included.
void BM_Quality(benchmark::State& state) {
  const Dataset& d = dataset(int(state.range(0)));
  const int method = int(state.range(1));
  const int bits = int(state.range(2));
  const MatF W = d.W.cast<float>();
  pathq::Result<float> r;
  double C = 0;
  for (auto _ : state) {
    r = run_method(method, bits, d, W, C);
    benchmark::DoNotOptimize(r.codes.data());
  }
  const auto e = pathq::layer_error(d.stats, d.W, r.values().cast<double>());
  state.SetLabel(std::string(state.range(0) ? "corr " : "iid ") + method_name(method));
  state.counters["norm_ratio"] = e.norm_ratio();
  state.counters["bits_per_weight"] = pathq::bits_per_weight(r.grid, n).total;
  state.counters["levels"] = double(r.grid.levels());
  if (C > 0) state.counters["C"] = C;
}

void quality_args(benchmark::internal::Benchmark* b) {
  for (int inputs : {0, 1})
    for (int bits : {2, 3, 4})
      for (int k = 0; k < MethodCount; ++k) b->Args({inputs, k, bits});
}
BENCHMARK(BM_Quality)->Apply(quality_args)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
