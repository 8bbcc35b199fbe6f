// `pathq layer --method maly-saab`: the null-space walk (on all samples or a subset of them), then MSQ.
#ifndef PATHQ_LAYER_METHODS_MALY_SAAB_HPP
#define PATHQ_LAYER_METHODS_MALY_SAAB_HPP

#include <limits>
#include <optional>
#include <string>

#include <pathq/bounds/maly_saab.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/io/npy_stream.hpp>
#include <pathq/methods/maly_saab.hpp>
#include <pathq/stats/layer_error.hpp>

#include <pathq/layer/method.hpp>

namespace pathq {
namespace layer {

/// Options: `--subset M` (walk on the first M rows of --inputs only: the walk needs fewer
/// independent samples than inputs, so on a real layer with m >= N_in take M < N_in),
/// `--cells grid|box` (default grid), `--act-order` (walk features by decreasing ||X_t||^2, which
/// leaves small-norm features off the grid), `--threads T`.
/// Report: `off_grid` (off-grid weights in the layer, before MSQ), `off_grid_max` (worst neuron,
/// <= rank unless weights beyond the grid got stuck), `rank`, `null_space`, `moves`, `stuck`,
/// `msq_fallback`, `walk_samples`, `cells`, `feature_order`; the bound is
/// `sum_j sigma_max(X_Sj)^2 |S_j| step^2 / 4` on the data the walk used (with `--subset`, it is
/// reported under `subset` with that subset's error, and the top-level bound does not apply).
struct MalySaabMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>& alphabet) {
    pathq::MalySaabOptions opt;
    if (auto t = a.integer("threads", 0, 4096)) opt.threads = int(*t);
    if (a.has("act-order")) opt.order = pathq::FeatureOrder::DescendingEnergy;
    const std::string cells = a.text("cells").value_or("grid");
    if (cells == "grid") opt.cells = pathq::MalySaabCells::Grid;
    else if (cells == "box") opt.cells = pathq::MalySaabCells::Box;
    else throw option_error{"--cells must be 'grid' or 'box', got '" + cells + "'"};

    // The statistics the walk runs on: all samples, or the first M rows of X.
    std::optional<pathq::LayerStats<double>> subset;
    if (auto M = a.integer("subset", 1, std::numeric_limits<int>::max())) {
      const std::string xp = a.required_text("inputs");
      pathq::io::NpyRowReader reader(xp);  // reads only the first M rows (C order)
      if (*M > reader.rows())
        throw option_error{"--subset " + std::to_string(*M) + " exceeds the " + std::to_string(reader.rows()) +
                         " rows of --inputs " + xp};
      Eigen::MatrixXd X;
      reader.read_rows(Eigen::Index(*M), X);
      subset = pathq::LayerStats<double>::from(X);
    }
    const pathq::LayerStats<double>& walk_stats = subset ? *subset : *in.stats;

    const pathq::MalySaab<Scalar> ms(opt);
    const auto grid = alphabet.resolve(in.W);
    const auto walk = ms.preprocess(in.W, walk_stats, grid);
    MethodOutcome<Scalar> out{ms.quantize_walk(walk, grid), std::nullopt, nlohmann::json::object()};
    out.extra["cells"] = pathq::to_string(opt.cells);
    out.extra["feature_order"] = pathq::to_string(opt.order);
    out.extra["walk_samples"] = walk_stats.samples();

    const double B = pathq::bounds::maly_saab_deterministic(walk_stats.K(), walk.off_grid, grid);
    ReportedBound b{"maly_saab_deterministic", B, true,
                    "sigma_max(X_S)^2 |S| step^2/4 per neuron on its off-grid set S; needs Xq = X and no "
                    "saturated weight"};
    const auto& r = out.result;
    if (subset) {
      const auto e = pathq::layer_error(*subset, in.W, r.values());
      out.extra["subset"] = {{"rows", subset->samples()},
                             {"error", e.error()},
                             {"reference", e.reference()},
                             {"relative_error", e.squared_relative()},
                             {"bound", B},
                             {"applicable", r.info.saturated == 0 && !in.quantized_inputs},
                             {"holds", e.error() <= B}};
      b.applicable = false;
      b.note = "does not apply to all rows: it bounds the error on the first " + std::to_string(subset->samples()) +
               " rows, which the walk used (see 'subset')";
    } else if (in.quantized_inputs) {
      b.applicable = false;
      b.note = "does not apply: Xq differs from X";
    }
    if (r.info.saturated > 0 && !subset) {
      b.applicable = false;
      b.note = "does not apply: some weights saturated";
    }
    out.bound = b;
    return out;
  }
  static MethodSpec spec() {
    return make_method_spec<MalySaabMethod>("maly-saab", true, {"threads", "subset", "cells"}, {"act-order"});
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_MALY_SAAB_HPP
