// `pathq layer --method sigma-delta`: first-order Sigma-Delta in a harmonic frame (data-free).
#ifndef PATHQ_LAYER_METHODS_SIGMA_DELTA_HPP
#define PATHQ_LAYER_METHODS_SIGMA_DELTA_HPP

#include <string>

#include <pathq/bounds/sigma_delta.hpp>
#include <pathq/methods/sigma_delta.hpp>

#include <pathq/layer/method.hpp>

namespace pathq {
namespace layer {

/// Options: `--frame-size P` (required, P > n), `--rows` (expand the rows of W, n = N_out, instead
/// of its columns, n = N_in), `--threads T`. The common flags mean: `--levels L` the midrise
/// alphabet `{(j + 1/2) step : -L <= j < L}` (2L levels; default L = 1, one bit), `--bits B` the
/// same with L = 2^(B-1); `--step DELTA` a fixed step; `--scale C` the step
/// `C max_j ||x_j|| / (L - 1/2)` (default C = 1, the smallest stable step), with
/// `--step-rule column` one step per expanded vector. `--out` gets `W_q = (n/p) F Q`, `--codes`
/// the codes `Q` (`p x N_out`, or `p x N_in` with `--rows`).
struct SigmaDeltaMethod {
  template <class Scalar>
  static MethodOutcome<Scalar> run(const Options& a, const LayerInput<Scalar>& in, const pathq::Alphabet<Scalar>&) {
    pathq::SigmaDeltaOptions o;
    o.axis = a.has("rows") ? pathq::FrameAxis::Rows : pathq::FrameAxis::Columns;
    const Eigen::Index n = o.axis == pathq::FrameAxis::Columns ? in.W.rows() : in.W.cols();
    const auto p = a.integer("frame-size", 1, 1LL << 40);
    if (!p) throw option_error{"--method sigma-delta needs --frame-size P (P > n)"};
    if (*p <= n)
      throw option_error{"--frame-size must be > n = " + std::to_string(n) + " (the dimension of the expanded vectors: " +
                       (o.axis == pathq::FrameAxis::Columns ? "N_in" : "N_out, with --rows") + "), got " +
                       std::to_string(*p)};
    o.frame_size = Eigen::Index(*p);
    if (auto L = a.integer("levels", 1, (1 << 30) - 1)) o.levels = int(*L);
    else if (auto B = a.integer("bits", 2, 24)) o.levels = 1 << (*B - 1);
    if (auto d = a.real("step", true)) o.step = *d;
    if (auto c = a.real("scale", true)) o.step_scale = *c;
    o.per_vector_step = a.text("step-rule").value_or("layer") == "column";
    if (auto t = a.integer("threads", 0, 4096)) o.engine.threads = int(*t);

    const auto r = pathq::SigmaDelta<Scalar>(o).quantize(in.W);
    MethodOutcome<Scalar> out;
    out.result.codes = r.codes();
    out.result.info = r.info;
    auto& g = out.result.grid;
    g.kind = pathq::GridKind::Midrise;
    g.code_lo = -o.levels;
    g.code_hi = o.levels - 1;
    g.step = r.step();
    g.zero = decltype(g.zero)::Constant(1, r.step().size(), Scalar(-0.5));
    out.weights = r.values();

    const Eigen::RowVectorXd bound = pathq::bounds::sigma_delta_vectors(r.weights);
    const Eigen::MatrixXd E = (in.W - *out.weights).template cast<double>();
    const Eigen::RowVectorXd err =
        o.axis == pathq::FrameAxis::Columns ? E.colwise().norm() : Eigen::RowVectorXd(E.rowwise().norm().transpose());
    double worst_state = 0;
    for (Eigen::Index j = 0; j < r.step().size(); ++j)
      worst_state = std::max(worst_state, double(r.weights.max_state(j)) / double(r.step()(j)));
    out.extra["frame"] = pathq::to_string(r.weights.frame.kind());
    out.extra["frame_size"] = r.p();
    out.extra["frame_dimension"] = r.n();
    out.extra["axis"] = pathq::to_string(o.axis);
    out.extra["codes_shape"] = {r.codes().rows(), r.codes().cols()};
    out.extra["frame_variation"] = r.weights.frame.variation();
    out.extra["stable"] = r.stable();
    out.extra["max_state_over_step"] = worst_state;
    out.extra["weight_error"] = E.norm();
    out.extra["weight_bound"] = bound.norm();
    out.extra["max_vector_error"] = err.maxCoeff();
    out.extra["max_vector_bound"] = bound.maxCoeff();
    out.extra["vector_bound_holds"] = r.stable() && (err.array() <= bound.array()).all();
    out.extra["bound_definitions"] = {
        {"weight_bound", "sqrt(sum_j b_j^2) >= ||W - W_q||_F, b_j = (step_j n / 2p)(frame_variation + 1)"},
        {"max_vector_bound", "max_j b_j >= ||x_j - x_q,j||, x_j the expanded columns (rows with --rows)"}};
    if (in.stats) {
      ReportedBound b{"sigma_delta_data", pathq::bounds::sigma_delta_data(r, in.stats->K()), true,
                      "lambda_max(X^T X) bound times weight_bound^2; needs Xq = X and |u| <= step/2"};
      if (in.quantized_inputs || !r.stable()) {
        b.applicable = false;
        b.note = in.quantized_inputs ? "does not apply: Xq differs from X"
                                     : "does not apply: the Sigma-Delta state left [-step/2, step/2]";
      }
      out.bound = b;
    }
    return out;
  }
  static MethodSpec spec() {
    return make_method_spec<SigmaDeltaMethod>("sigma-delta", false, {"frame-size", "threads"}, {"rows"});
  }
};

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_METHODS_SIGMA_DELTA_HPP
