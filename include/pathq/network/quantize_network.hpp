// The network driver: quantize a Sequential layer by layer, float and quantized networks side by side.
#ifndef PATHQ_NETWORK_QUANTIZE_NETWORK_HPP
#define PATHQ_NETWORK_QUANTIZE_NETWORK_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/error.hpp"
#include "pathq/core/random.hpp"
#include "pathq/core/result.hpp"
#include "pathq/network/im2col.hpp"
#include "pathq/network/layer_method.hpp"
#include "pathq/network/sequential.hpp"
#include "pathq/stats/layer_error.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// Per-layer choices that override the driver's defaults (keyed by layer name).
template <class Scalar>
struct LayerOverride {
  bool skip = false;                          ///< keep this layer in float
  std::optional<Alphabet<Scalar>> alphabet;   ///< e.g. more bits for the first or last layer
  std::optional<LayerMethod<Scalar>> method;  ///< another method for this layer
};

/// Which convolution patches feed the statistics.
/// - `All`: the true im2col of the layer (its real stride, padding, dilation), every patch;
///   the default, and exact for the Gram form.
/// - `KernelStride`: the SIMODS/SPFQ code's mode (docs/algorithms.md#convolutions): patches taken with
///   stride = kernel (non-overlapping), then per image `floor(retain L + 1)` patch indices drawn
///   with replacement (the same for X and Xq), from a counter-based stream keyed by
///   (seed, layer, image). Only the statistics change; the network still runs its real stride.
enum class PatchMode { All, KernelStride };

inline const char* to_string(PatchMode m) { return m == PatchMode::All ? "all" : "kernel_stride"; }

struct LayerReport;

/// Progress of `quantize_network`, reported through `NetworkQuantizerOptions::progress`.
struct NetworkProgress {
  enum class Stage { Statistics, Quantization, Done };
  Stage stage = Stage::Statistics;
  Eigen::Index site = 0;   ///< quantizable layer being processed
  Eigen::Index sites = 0;  ///< number of quantizable layers
  std::string name;        ///< its name
  double fraction = 0;     ///< of the statistics pass (batches done / batches)
  const LayerReport* report = nullptr;  ///< with Stage::Done: the finished layer's report
};

/// Options of `quantize_network`.
template <class Scalar>
struct NetworkQuantizerOptions {
  LayerMethod<Scalar> method;  ///< the default method (required), e.g. layer_methods::gpfq<float>()
  /// The default alphabet: 4 bits (15 levels), each neuron's largest level at its max |w|
  /// (`from_bits(4)`, pathq's default step rule).
  Alphabet<Scalar> alphabet = Alphabet<Scalar>::from_bits(4);
  std::map<std::string, LayerOverride<Scalar>> layers;  ///< per-layer overrides, by layer name
  Eigen::Index batch_size = 256;  ///< calibration samples per streamed batch, >= 1
  /// Adds the mean pre-activation gap to the bias (docs/algorithms.md#gpfq-network-driver):
  /// `b_q = b + (1/m) 1^T (X W - Xq Q) = b + (sum_x^T W - sum_xq^T Q) / m`; layers without a
  /// bias are left as they are.
  bool bias_correction = false;
  PatchMode patches = PatchMode::All;
  double retain = 0.25;         ///< KernelStride: patches kept per image, as a fraction, in (0, 1]
  std::uint64_t seed = 0;       ///< KernelStride: the sampling stream's seed
  /// true: keep both networks' activations of all calibration samples between layers (memory
  /// `O(m x widest layer)`, one forward pass in all); false: recompute them batch by batch
  /// from the inputs for every layer (memory of one batch, `O(L^2)` layer evaluations).
  bool cache_activations = true;
  /// > 0: also gather the statistics of the first `subset_samples` calibration samples and hand
  /// them to the methods as `LayerProblem::subset`.
  Eigen::Index subset_samples = 0;
  /// true (sequential mode, the default): layer `l` is quantized on `X` from the float network
  /// and `Xq` from the network whose earlier layers are already quantized, so it can correct the
  /// error those layers introduced. false (independent mode): every layer is quantized on its
  /// float inputs alone (`Xq = X`), as if it were the only quantized layer; the quantized
  /// network is assembled the same way.
  bool sequential = true;
  std::function<void(const NetworkProgress&)> progress;  ///< called as the work advances

  /// \throws invalid_argument naming the field and its valid range.
  void validate() const {
    PATHQ_CHECK(bool(method), "NetworkQuantizerOptions", "method is not set");
    PATHQ_CHECK(batch_size >= 1, "NetworkQuantizerOptions", "batch_size must be >= 1, got ", batch_size);
    PATHQ_CHECK(retain > 0 && retain <= 1, "NetworkQuantizerOptions", "retain must be in (0, 1], got ", retain);
    PATHQ_CHECK(subset_samples >= 0, "NetworkQuantizerOptions", "subset_samples must be >= 0, got ", subset_samples);
    for (const auto& kv : layers)
      PATHQ_CHECK(kv.second.skip || !kv.second.method || bool(*kv.second.method), "NetworkQuantizerOptions",
                  "layer '", kv.first, "' overrides the method with an empty one");
  }
};

/// What happened to one quantizable layer (summed over the groups of a grouped convolution).
struct LayerReport {
  std::string name;
  Eigen::Index layer = 0;        ///< index in the network
  bool shortcut = false;         ///< the projection of a residual shortcut
  std::string kind;              ///< "dense" or "conv2d"
  std::string method;            ///< method name, or "skipped"
  bool skipped = false;
  Eigen::Index n_in = 0, n_out = 0, groups = 1;
  Eigen::Index samples = 0;      ///< rows of X (patches for a convolution)
  bool quantized_inputs = false; ///< Xq != X
  std::int64_t levels = 0;
  int bits = 0;
  double error = 0;              ///< ||XW - XqQ||_F^2
  double reference = 0;          ///< ||XW||_F^2
  double relative_error = 0;     ///< squared relative error error / reference
  double norm_ratio = 0;         ///< its square root
  /// The two parts of the picture, both squared and relative to `||XW||_F^2`:
  /// - `relative_error_on_x`: `||X W - X Q||^2`, the layer's own quantization error as if its
  ///   inputs were the float ones (the error against X);
  /// - `relative_error_upstream`: `||X W - Xq W||^2`, what the layer inherits from the layers
  ///   before it when it keeps its float weights (0 in independent mode and for a first layer).
  /// `relative_error` is the error against the float outputs, the quantity the methods target.
  double relative_error_on_x = 0;
  double relative_error_upstream = 0;
  double weight_relative_error = 0;  ///< ||W - Q||_F^2 / ||W||_F^2
  std::optional<LayerBound> bound;   ///< summed over groups; applicable if it applies to all
  Eigen::Index saturated = 0, dead_inputs = 0;
  Info status = Info::Success;
  std::string message;
  bool bias_corrected = false;
  double seconds_statistics = 0, seconds_quantization = 0;
  std::map<std::string, double> extra;  ///< the methods' extra figures (summed over groups)
};

/// The quantized weights of one group of one layer.
template <class Scalar>
struct QuantizedUnit {
  Eigen::Index layer = 0;
  bool shortcut = false;
  Eigen::Index group = 0;
  Eigen::Index column0 = 0;  ///< first output column of the group in the layer's W
  std::string name;
  LayerSolution<Scalar> solution;
};

/// The outcome of `quantize_network`.
template <class Scalar>
struct NetworkQuantization {
  Sequential<Scalar> network;                ///< quantized weights, corrected biases
  std::vector<LayerReport> layers;           ///< one per quantizable layer, forward order
  std::vector<QuantizedUnit<Scalar>> units;  ///< codes and grids, one per quantized group
  double seconds = 0;
};

/// A quantizable place of a network: a dense/conv layer, or a residual shortcut's projection.
struct QuantizableSite {
  Eigen::Index layer = 0;
  bool shortcut = false;
};

/// The quantizable layers of a network in forward order.
template <class Scalar>
std::vector<QuantizableSite> quantizable_sites(const Sequential<Scalar>& net) {
  std::vector<QuantizableSite> sites;
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    const auto& L = net.layer(i);
    if (std::holds_alternative<Dense<Scalar>>(L) || std::holds_alternative<Conv2d<Scalar>>(L))
      sites.push_back({i, false});
    else if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L); e && e->has_projection())
      sites.push_back({i, true});
  }
  return sites;
}

namespace detail {

template <class Scalar>
struct SiteView {
  const Dense<Scalar>* dense = nullptr;
  const Conv2d<Scalar>* conv = nullptr;
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& W() const { return dense ? dense->W : conv->W; }
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& b() const { return dense ? dense->b : conv->b; }
  Eigen::Index groups() const { return dense ? 1 : conv->geometry.groups; }
  Eigen::Index group_width() const { return dense ? dense->W.cols() : conv->group_width(); }
};

template <class Scalar>
SiteView<Scalar> site_view(const Sequential<Scalar>& net, const QuantizableSite& s) {
  SiteView<Scalar> v;
  const auto& L = net.layer(s.layer);
  if (s.shortcut) {
    const auto& e = std::get<ResidualEnd<Scalar>>(L);
    v.dense = std::get_if<Dense<Scalar>>(&e.shortcut);
    v.conv = std::get_if<Conv2d<Scalar>>(&e.shortcut);
  } else {
    v.dense = std::get_if<Dense<Scalar>>(&L);
    v.conv = std::get_if<Conv2d<Scalar>>(&L);
  }
  return v;
}

/// The rows of X for one group of a site, from a forward state that has reached the site.
template <class Scalar>
Batch<Scalar> lower_inputs(const SiteView<Scalar>& v, bool shortcut, const ForwardState<Scalar>& s, Eigen::Index group,
                           PatchMode mode, double retain, std::uint64_t seed, Eigen::Index layer,
                           Eigen::Index first_sample) {
  const Batch<Scalar>& A = shortcut ? s.saved.back() : s.current;
  const TensorShape& shape = shortcut ? s.saved_shapes.back() : s.shape;
  if (v.dense) return A;
  if (mode == PatchMode::All) return im2col<Scalar>(A, shape, v.conv->geometry, group);
  ConvGeometry g = v.conv->geometry;
  g.stride_h = g.kernel_h;
  g.stride_w = g.kernel_w;
  const Batch<Scalar> P = im2col<Scalar>(A, shape, g, group);
  const Eigen::Index L = g.out_h(shape.height) * g.out_w(shape.width);
  const Eigen::Index keep = Eigen::Index(std::floor(retain * double(L) + 1.0));
  Batch<Scalar> S(A.rows() * keep, P.cols());
  for (Eigen::Index b = 0; b < A.rows(); ++b) {
    const RandomStream stream(seed, std::uint64_t(layer) * 0x100000000ULL + std::uint64_t(first_sample + b));
    for (Eigen::Index k = 0; k < keep; ++k) {
      const Eigen::Index l = std::min<Eigen::Index>(L - 1, Eigen::Index(stream.uniform(std::uint64_t(k)) * double(L)));
      S.row(b * keep + k) = P.row(b * L + l);
    }
  }
  return S;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace detail

/// Quantizes the dense and convolution layers of `net` (and residual projections) one after
/// the other in forward order (docs/algorithms.md#gpfq-network-driver). The float network and
/// the partly quantized network run side by side on the same calibration samples, so layer
/// `l` sees `X` (its inputs in the float network) and `Xq` (its inputs in the network whose
/// layers before `l` are already quantized; `Xq = X` until the first quantized layer). The
/// statistics `H, G, K` and the column sums are streamed in batches of `batch_size` samples;
/// a convolution is lowered by im2col (one problem per group). Each layer is quantized by its
/// method with its alphabet, its bias optionally corrected, and its quantized weights put into
/// the quantized network before the next layer's statistics are gathered. Biases stay in float.
///
/// \param net the float network (fold batch norms first with `fold_batch_norm` to quantize them
///        into the weights). \param calibration `m x input size`, one sample per row.
/// \throws invalid_argument for bad options, an unknown layer name in `options.layers`, an
///         empty calibration set, or a calibration set whose width does not fit the network;
///         whatever the methods throw.
/// Complexity: one forward pass of both networks over the calibration set (with
/// `cache_activations`), plus per layer `m N_in^2` for the statistics and the method's cost.
template <class Scalar, class D>
NetworkQuantization<Scalar> quantize_network(const Sequential<Scalar>& net, const Eigen::MatrixBase<D>& calibration,
                                             const NetworkQuantizerOptions<Scalar>& options) {
  using Index = Eigen::Index;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const char* where = "quantize_network";
  options.validate();
  PATHQ_CHECK(net.open_blocks() == 0, where, net.open_blocks(), " residual block(s) are not closed");
  PATHQ_CHECK(calibration.rows() >= 1, where, "the calibration set is empty");
  PATHQ_CHECK(calibration.cols() == net.input_shape().size(), where, "calibration samples have ",
              calibration.cols(), " features but the network expects ", net.input_shape().size(), " (shape ",
              net.input_shape().text(), ")");
  for (const auto& kv : options.layers)
    PATHQ_CHECK(net.find(kv.first) >= 0, where, "options.layers names layer '", kv.first,
                "', which the network does not have");
  const auto t_start = std::chrono::steady_clock::now();

  NetworkQuantization<Scalar> out;
  out.network = net;
  Sequential<Scalar>& qnet = out.network;
  const std::vector<QuantizableSite> sites = quantizable_sites(net);
  const Index m = calibration.rows(), bs = options.batch_size;
  const Index n_batches = (m + bs - 1) / bs;

  // Forward states of every calibration batch, at the layer being processed (cache mode).
  // While no layer differs from the float network, the quantized states are the float ones.
  std::vector<ForwardState<Scalar>> float_states, quant_states;
  bool diverged = false;
  if (options.cache_activations)
    for (Index k = 0; k < n_batches; ++k)
      float_states.push_back(net.start(calibration.middleRows(k * bs, std::min(bs, m - k * bs))));

  // Calls fn(batch, float state, quantized state) for every batch, with states at layer i.
  auto for_each_batch = [&](Index i, const auto& fn) {
    for (Index k = 0; k < n_batches; ++k) {
      if (options.cache_activations) {
        fn(k, float_states[std::size_t(k)], diverged ? quant_states[std::size_t(k)] : float_states[std::size_t(k)]);
      } else {
        ForwardState<Scalar> f = net.start(calibration.middleRows(k * bs, std::min(bs, m - k * bs)));
        for (Index l = 0; l < i; ++l) net.step(l, f);
        if (!diverged) {
          fn(k, f, f);
        } else {
          ForwardState<Scalar> q = qnet.start(calibration.middleRows(k * bs, std::min(bs, m - k * bs)));
          for (Index l = 0; l < i; ++l) qnet.step(l, q);
          fn(k, f, q);
        }
      }
    }
  };

  std::size_t next_site = 0;
  for (Index i = 0; i < net.size(); ++i) {
    while (next_site < sites.size() && sites[next_site].layer == i) {
      const QuantizableSite site = sites[next_site];
      const Index site_index = Index(next_site++);
      const auto view = detail::site_view(net, site);
      const std::string& lname = net.name(i);
      const std::string name = site.shortcut ? lname + ".shortcut" : lname;
      const auto ov_it = options.layers.find(lname);
      const LayerOverride<Scalar>* ov = ov_it == options.layers.end() ? nullptr : &ov_it->second;

      LayerReport rep;
      rep.name = name;
      rep.layer = i;
      rep.shortcut = site.shortcut;
      rep.kind = view.dense ? "dense" : "conv2d";
      rep.groups = view.groups();
      rep.n_in = view.W().rows();
      rep.n_out = view.W().cols();
      const bool use_xq = diverged && options.sequential;  // Xq differs from X for this layer
      rep.quantized_inputs = use_xq;
      if (ov && ov->skip) {
        rep.skipped = true;
        rep.method = "skipped";
        out.layers.push_back(rep);
        if (options.progress)
          options.progress({NetworkProgress::Stage::Done, site_index, Index(sites.size()), name, 1.0, &out.layers.back()});
        continue;
      }
      const LayerMethod<Scalar>& method = ov && ov->method ? *ov->method : options.method;
      const Alphabet<Scalar>& alphabet = ov && ov->alphabet ? *ov->alphabet : options.alphabet;
      rep.method = method.name;

      // Statistics of every group, streamed batch by batch.
      const auto t_stats = std::chrono::steady_clock::now();
      std::vector<LayerStats<double>> stats(std::size_t(rep.groups), LayerStats<double>(rep.n_in));
      std::vector<LayerStats<double>> subset(options.subset_samples > 0 ? std::size_t(rep.groups) : 0,
                                             LayerStats<double>(rep.n_in));
      for_each_batch(i, [&](Index k, const ForwardState<Scalar>& f, const ForwardState<Scalar>& q) {
        // Samples of this batch inside the subset, and rows of X per sample (patches).
        const Index batch_rows = f.current.rows();
        const Index in_subset = std::max<Index>(0, std::min(batch_rows, options.subset_samples - k * bs));
        for (Index g = 0; g < rep.groups; ++g) {
          const Batch<Scalar> X = detail::lower_inputs(view, site.shortcut, f, g, options.patches, options.retain,
                                                       options.seed, i, k * bs);
          const Index sub_rows = batch_rows > 0 ? X.rows() / batch_rows * in_subset : 0;
          if (!use_xq) {
            stats[std::size_t(g)].add(X);
            if (sub_rows > 0) subset[std::size_t(g)].add(X.topRows(sub_rows));
          } else {
            const Batch<Scalar> Xq = detail::lower_inputs(view, site.shortcut, q, g, options.patches,
                                                          options.retain, options.seed, i, k * bs);
            stats[std::size_t(g)].add(X, Xq);
            if (sub_rows > 0) subset[std::size_t(g)].add(X.topRows(sub_rows), Xq.topRows(sub_rows));
          }
        }
        if (options.progress)
          options.progress({NetworkProgress::Stage::Statistics, site_index, Index(sites.size()), name,
                            double(k + 1) / double(n_batches), nullptr});
      });
      rep.seconds_statistics = detail::seconds_since(t_stats);
      if (options.progress)
        options.progress({NetworkProgress::Stage::Quantization, site_index, Index(sites.size()), name, 1.0, nullptr});

      // Quantize each group; assemble Q and the corrected bias.
      Matrix Qfull(rep.n_in, rep.n_out);
      Vector bq = view.b();
      bool all_bounds = true, any_bound = false;
      LayerBound bound_sum;
      const Index gw = view.group_width();
      double on_x = 0, upstream = 0;
      for (Index g = 0; g < rep.groups; ++g) {
        const Matrix Wg = view.W().middleCols(g * gw, gw);
        const LayerStats<double>& st = stats[std::size_t(g)];
        const std::string uname = rep.groups > 1 ? name + "/g" + std::to_string(g) : name;
        const LayerProblem<Scalar> problem{Wg, st, alphabet, uname, site_index, g, use_xq,
                                           subset.empty() ? nullptr : &subset[std::size_t(g)]};
        const auto t_q = std::chrono::steady_clock::now();
        LayerSolution<Scalar> sol = method.run(problem);
        rep.seconds_quantization += detail::seconds_since(t_q);
        const Matrix Qg = sol.weights();
        PATHQ_CHECK(Qg.rows() == Wg.rows() && Qg.cols() == Wg.cols(), where, "method '", method.name,
                    "' returned ", Qg.rows(), " x ", Qg.cols(), " weights for layer '", uname, "' of ", Wg.rows(),
                    " x ", Wg.cols());
        Qfull.middleCols(g * gw, gw) = Qg;
        const LayerError e = layer_error(st, Wg, Qg);
        rep.samples = st.samples();
        rep.error += e.error();
        rep.reference += e.reference();
        rep.weight_relative_error += (Wg - Qg).template cast<double>().squaredNorm();
        {
          // ||X(W - Q)||^2 = tr(Dq^T K Dq); ||XW - XqW||^2 = tr(W^T K W) - 2 tr(W^T G W) + tr(W^T H W),
          // whose first term is the layer error's reference. Statistics are used in place.
          const Eigen::MatrixXd Wd = Wg.template cast<double>(), Dq = Wd - Qg.template cast<double>();
          on_x += Dq.cwiseProduct(st.K() * Dq).sum();
          if (use_xq)
            upstream += std::max(0.0, e.reference() - 2 * Wd.cwiseProduct(st.G() * Wd).sum() +
                                          Wd.cwiseProduct(st.H() * Wd).sum());
        }
        rep.saturated += sol.result.info.saturated;
        rep.dead_inputs += sol.result.info.dead_inputs;
        if (sol.result.info.status != Info::Success && rep.status != Info::Failed) rep.status = sol.result.info.status;
        if (!sol.result.info.message.empty())
          rep.message += (rep.message.empty() ? "" : "; ") + sol.result.info.message;
        for (const auto& kv : sol.result.info.extra) rep.extra[kv.first] += kv.second;
        if (sol.result.codes.size()) {
          rep.levels = sol.result.grid.levels();
          rep.bits = sol.result.grid.bits();
        }
        if (sol.bound) {
          any_bound = true;
          bound_sum.name = sol.bound->name;
          bound_sum.error += sol.bound->error;
          if (!sol.bound->applicable) {
            bound_sum.applicable = false;
            bound_sum.note = sol.bound->note;
          } else if (bound_sum.applicable) {
            bound_sum.note = sol.bound->note;
          }
        } else {
          all_bounds = false;
        }
        if (options.bias_correction && bq.size()) {
          // b_q = b + (sum_x^T W - sum_xq^T Q) / m, in double.
          const Eigen::VectorXd gap = Wg.template cast<double>().transpose() * st.sum_x() -
                                      Qg.template cast<double>().transpose() * st.sum_xq();
          bq.segment(g * gw, gw) += (gap / double(st.samples())).template cast<Scalar>();
          rep.bias_corrected = true;
        }
        out.units.push_back({i, site.shortcut, g, g * gw, uname, std::move(sol)});
      }
      const double wn = view.W().template cast<double>().squaredNorm();
      rep.weight_relative_error = wn > 0 ? rep.weight_relative_error / wn : 0.0;
      rep.relative_error = rep.reference > 0 ? rep.error / rep.reference : (rep.error > 0 ? HUGE_VAL : 0.0);
      rep.norm_ratio = std::sqrt(rep.relative_error);
      rep.relative_error_on_x = rep.reference > 0 ? on_x / rep.reference : 0.0;
      rep.relative_error_upstream = rep.reference > 0 ? upstream / rep.reference : 0.0;
      if (any_bound && all_bounds) rep.bound = bound_sum;
      qnet.set_parameters(i, site.shortcut, Qfull, bq);

      // From here on the quantized network differs from the float one.
      if (!diverged) {
        diverged = true;
        if (options.cache_activations) quant_states = float_states;
      }
      out.layers.push_back(rep);
      if (options.progress)
        options.progress({NetworkProgress::Stage::Done, site_index, Index(sites.size()), name, 1.0, &out.layers.back()});
    }
    if (options.cache_activations) {
      for (auto& s : float_states) net.step(i, s);
      if (diverged)
        for (auto& s : quant_states) qnet.step(i, s);
    }
  }
  out.seconds = detail::seconds_since(t_start);
  return out;
}

}  // namespace pathq

#endif  // PATHQ_NETWORK_QUANTIZE_NETWORK_HPP
