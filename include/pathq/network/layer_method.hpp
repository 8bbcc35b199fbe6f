// The per-layer method interface of the network driver: what a method sees and what it returns.
#ifndef PATHQ_NETWORK_LAYER_METHOD_HPP
#define PATHQ_NETWORK_LAYER_METHOD_HPP

#include <functional>
#include <optional>
#include <string>

#include <Eigen/Core>

#include "pathq/core/alphabet.hpp"
#include "pathq/core/result.hpp"
#include "pathq/stats/layer_stats.hpp"

namespace pathq {

/// A proven bound on a layer's absolute error `||X W - Xq Q||_F^2`, with its hypotheses.
struct LayerBound {
  std::string name;         ///< the theorem, e.g. "gpfq_unsaturated"
  double error = 0;         ///< the bound on ||XW - XqQ||_F^2
  bool applicable = true;   ///< false when the hypotheses fail for this run
  std::string note;         ///< what it assumes, or why it does not apply
};

/// One quantization problem handed to a method by the network driver: the float weights of a
/// layer (one group of a grouped convolution), the statistics of its inputs in the float (`X`)
/// and partly quantized (`Xq`) networks, and the alphabet chosen for it.
template <class Scalar>
struct LayerProblem {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Matrix& W;                   ///< N_in x N_out
  const LayerStats<double>& stats;   ///< H = Xq^T Xq, G = Xq^T X, K = X^T X, column sums
  const Alphabet<Scalar>& alphabet;  ///< from the layer's bits / levels and step rule
  std::string name;                  ///< the layer's name ("name/g<k>" for group k of a convolution)
  Eigen::Index site = 0;             ///< position among the quantizable layers
  Eigen::Index group = 0;            ///< group of a grouped convolution, else 0
  bool quantized_inputs = false;     ///< true once an earlier layer was quantized (Xq != X)
  /// Statistics of the first `NetworkQuantizerOptions::subset_samples` calibration samples only
  /// (all their patches for a convolution), when asked for; else null. Methods that need fewer
  /// rows than inputs (Maly-Saab's null-space walk) run on these.
  const LayerStats<double>* subset = nullptr;
};

/// What a method returns for one problem.
/// - `result`: integer codes on a grid (what ships), with status and counters;
/// - `values`: the quantized weights when they are *not* `result.values()` (e.g. weights
///   rebuilt from frame coefficients); empty otherwise;
/// - `bound`: the method's proven bound on `||XW - XqQ||_F^2`, if it has one.
template <class Scalar>
struct LayerSolution {
  Result<Scalar> result;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> values;
  std::optional<LayerBound> bound;

  /// The quantized weights `Q`, `N_in x N_out`.
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> weights() const {
    return values.size() ? values : result.values();
  }
};

/// A per-layer quantization method: a name and a function from problem to solution. Any
/// method of the library plugs in through a small adapter (see network/layer_methods.hpp);
/// users can write their own. The function must not keep references to the problem.
template <class Scalar>
struct LayerMethod {
  std::string name;
  std::function<LayerSolution<Scalar>(const LayerProblem<Scalar>&)> run;

  explicit operator bool() const { return bool(run); }
};

}  // namespace pathq

#endif  // PATHQ_NETWORK_LAYER_METHOD_HPP
