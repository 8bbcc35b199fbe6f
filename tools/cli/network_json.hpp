// `pathq model --network`: a JSON list of layers naming their tensors in a safetensors file.
#ifndef PATHQ_TOOLS_NETWORK_JSON_HPP
#define PATHQ_TOOLS_NETWORK_JSON_HPP

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <pathq/io/atomic_file.hpp>
#include <pathq/io/safetensors.hpp>
#include <pathq/network/sequential.hpp>

namespace pathq_tool {

/// Per-layer settings of a description, besides the architecture.
struct LayerSettings {
  std::string weight, bias;                  ///< tensor names (dense/conv and projections)
  bool skip = false;                         ///< "skip": true keeps the layer in float
  std::optional<long long> bits, levels;     ///< "bits" / "levels" override the alphabet's size
  std::string method;                        ///< "method" overrides --method
  std::map<std::string, std::string> options;  ///< "options": method flags for this layer only
};

/// A network read from a description and a safetensors file.
struct LoadedNetwork {
  pathq::Sequential<float> net;
  std::map<std::string, LayerSettings> layers;  ///< by layer name
  double input_scale = 1.0;
  std::string text;  ///< the description as given
};

namespace detail {

[[noreturn]] inline void bad_description(const std::string& path, const std::string& what) {
  pathq::detail::throw_invalid("model", path, ": ", what);
}

// The largest kernel, stride, padding, dilation or group count a description may give: the
// network's shape arithmetic then stays far from overflowing.
inline constexpr long long geometry_limit = 65536;

// An integer or a [h, w] pair, each at most geometry_limit.
inline std::pair<long long, long long> pair_field(const nlohmann::json& e, const char* key, long long dflt,
                                                 const std::string& where) {
  if (!e.contains(key)) return {dflt, dflt};
  const auto& v = e.at(key);
  const bool one = v.is_number_integer();
  if (!one && !(v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer()))
    throw pathq::invalid_argument("pathq::model: " + where + ": \"" + key +
                                  "\" must be an integer or a pair of integers, got " + v.dump());
  const nlohmann::json& h = one ? v : v[0];
  const nlohmann::json& w = one ? v : v[1];
  for (const nlohmann::json* x : {&h, &w})
    if (x->is_number_unsigned() ? x->get<unsigned long long>() > geometry_limit : x->get<long long>() > geometry_limit)
      throw pathq::invalid_argument("pathq::model: " + where + ": \"" + key + "\" must be at most " +
                                    std::to_string(geometry_limit) + ", got " + v.dump());
  return {h.get<long long>(), w.get<long long>()};
}

}  // namespace detail

/// Reads a network description and its weights.
///
/// The description: `{"input_shape": [C, H, W] or [N], "input_scale": s (optional), "layers": [...]}`,
/// each layer an object with a "type" and optional "name" (default: its position in the list, as
/// in PyTorch's nn.Sequential):
/// - "linear" (or "dense"): tensors "weight" (N_out, N_in) and "bias" (N_out, optional), by default
///   "<name>.weight" and "<name>.bias"; the weight is transposed on load (pathq's W is N_in x N_out);
/// - "conv2d": weight (C_out, C_in/groups, kh, kw), optional bias; "stride", "padding", "dilation"
///   (integer or [h, w]), "groups";
/// - "relu", "leaky_relu" ("negative_slope"), "hardtanh", "tanh", "sigmoid", "hardswish", "identity";
/// - "maxpool2d", "avgpool2d": "kernel_size", "stride" (default = kernel), "padding";
/// - "flatten"; "batchnorm" (or "batchnorm1d", "batchnorm2d"): tensors weight, bias, running_mean,
///   running_var, "eps" (default 1e-5);
/// - "residual_begin"; "residual_end" with optional "projection": "linear" or "conv2d" (its
///   tensors under the residual_end's name, conv options as for conv2d).
/// Quantization settings per dense/conv layer: "skip", "bits", "levels", "method", "options".
/// \throws pathq::invalid_argument naming the file, the layer and the problem (malformed JSON,
///         unknown type or key, missing tensor, wrong shape).
inline LoadedNetwork load_network(const std::string& description_path, const pathq::io::SafetensorsFile& weights) {
  LoadedNetwork out;
  out.text = pathq::io::read_file(description_path);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(out.text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    detail::bad_description(description_path, std::string("malformed JSON: ") + e.what());
  }
  const std::string& P = description_path;
  if (!doc.is_object()) detail::bad_description(P, "expected a JSON object with \"input_shape\" and \"layers\"");
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "input_shape" && it.key() != "input_scale" && it.key() != "layers")
      detail::bad_description(P, "unknown key \"" + it.key() + "\" (known: input_shape, input_scale, layers)");
  if (!doc.contains("input_shape") || !doc["input_shape"].is_array() ||
      (doc["input_shape"].size() != 1 && doc["input_shape"].size() != 3))
    detail::bad_description(P, "\"input_shape\" must be [N] or [C, H, W]");
  std::vector<long long> shape;
  long long features = 1;  // at most 2^31 per sample, each entry at most 2^24: no overflow below
  for (const auto& d : doc["input_shape"]) {
    if (!d.is_number_integer() || d.get<long long>() < 1)
      detail::bad_description(P, "\"input_shape\" entries must be positive integers, got " + d.dump());
    if (d.get<long long>() > (1LL << 24) || (features *= d.get<long long>()) > (1LL << 31))
      detail::bad_description(P, "\"input_shape\" " + doc["input_shape"].dump() +
                                     " is too large (at most 2^24 per entry and 2^31 features per sample)");
    shape.push_back(d.get<long long>());
  }
  const pathq::TensorShape in = shape.size() == 1 ? pathq::TensorShape{shape[0], 1, 1}
                                                  : pathq::TensorShape{shape[0], shape[1], shape[2]};
  if (doc.contains("input_scale")) {
    if (!doc["input_scale"].is_number() || !(doc["input_scale"].get<double>() > 0))
      detail::bad_description(P, "\"input_scale\" must be a positive number");
    out.input_scale = doc["input_scale"].get<double>();
  }
  if (!doc.contains("layers") || !doc["layers"].is_array() || doc["layers"].empty())
    detail::bad_description(P, "\"layers\" must be a non-empty list");

  out.net = pathq::Sequential<float>(in);
  const auto& layers = doc["layers"];
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const auto& e = layers[k];
    if (!e.is_object() || !e.contains("type") || !e["type"].is_string())
      detail::bad_description(P, "layer " + std::to_string(k) + " must be an object with a string \"type\"");
    const std::string type = e["type"].get<std::string>();
    std::string name = std::to_string(k);
    if (e.contains("name")) {
      if (!e["name"].is_string() || e["name"].get<std::string>().empty())
        detail::bad_description(P, "layer " + std::to_string(k) + ": \"name\" must be a non-empty string");
      name = e["name"].get<std::string>();
    }
    const std::string where = P + ": layer " + std::to_string(k) + " ('" + name + "', " + type + ")";
    auto fail = [&](const std::string& what) -> void { throw pathq::invalid_argument("pathq::model: " + where + ": " + what); };

    static const std::set<std::string> common = {"type", "name"};
    static const std::set<std::string> quant = {"weight", "bias", "skip", "bits", "levels", "method", "options"};
    static const std::set<std::string> conv_keys = {"stride", "padding", "dilation", "groups"};
    std::set<std::string> allowed = common;
    auto allow = [&](const std::set<std::string>& s) { allowed.insert(s.begin(), s.end()); };

    LayerSettings settings;
    settings.weight = name + ".weight";
    settings.bias = name + ".bias";
    auto read_quant = [&]() {
      allow(quant);
      if (e.contains("weight")) settings.weight = e["weight"].get<std::string>();
      if (e.contains("bias")) settings.bias = e["bias"].get<std::string>();
      if (e.contains("skip")) {
        if (!e["skip"].is_boolean()) fail("\"skip\" must be true or false");
        settings.skip = e["skip"].get<bool>();
      }
      for (const char* key : {"bits", "levels"})
        if (e.contains(key)) {
          if (!e[key].is_number_integer()) fail(std::string("\"") + key + "\" must be an integer");
          (std::string(key) == "bits" ? settings.bits : settings.levels) = e[key].get<long long>();
        }
      if (e.contains("method")) settings.method = e["method"].get<std::string>();
      if (e.contains("options")) {
        if (!e["options"].is_object()) fail("\"options\" must be an object of method flags");
        for (auto it = e["options"].begin(); it != e["options"].end(); ++it)
          settings.options[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      }
    };
    // Reads a dense or conv layer's tensors.
    auto tensor = [&](const std::string& tname, std::size_t rank, const char* layout) -> const pathq::io::SafetensorsTensor& {
      if (!weights.contains(tname))
        fail("tensor '" + tname + "' is not in " + (weights.source().empty() ? std::string("the weights") : weights.source()));
      const auto& t = weights.tensor(tname);
      if (t.shape.size() != rank) {
        std::string s = "[";
        for (std::size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
        fail("tensor '" + tname + "' has shape " + s + "]; expected " + layout);
      }
      return t;
    };
    auto bias_of = [&](Eigen::Index n_out, bool required) {
      Eigen::VectorXf b;
      if (!weights.contains(settings.bias)) {
        if (required || e.contains("bias")) fail("tensor '" + settings.bias + "' is not in the weights");
        return b;
      }
      const auto& t = weights.tensor(settings.bias);
      if (t.shape.size() != 1 || t.shape[0] != n_out)
        fail("tensor '" + settings.bias + "' must have shape [" + std::to_string(n_out) + "]");
      return Eigen::VectorXf(pathq::io::to_vector<float>(t, settings.bias));
    };
    auto dense = [&]() {
      const auto& t = tensor(settings.weight, 2, "(N_out, N_in)");
      pathq::Dense<float> d;
      d.W = pathq::io::to_matrix<float>(t, settings.weight).transpose();
      d.b = bias_of(d.W.cols(), false);
      return d;
    };
    auto conv = [&](pathq::TensorShape input) {
      allow(conv_keys);
      const auto& t = tensor(settings.weight, 4, "(C_out, C_in/groups, kh, kw)");
      pathq::Conv2d<float> c;
      auto& g = c.geometry;
      g.groups = detail::pair_field(e, "groups", 1, where).first;
      if (e.contains("groups") && !e["groups"].is_number_integer()) fail("\"groups\" must be an integer");
      g.out_channels = t.shape[0];
      g.in_channels = t.shape[1] * g.groups;
      g.kernel_h = t.shape[2];
      g.kernel_w = t.shape[3];
      std::tie(g.stride_h, g.stride_w) = detail::pair_field(e, "stride", 1, where);
      std::tie(g.pad_h, g.pad_w) = detail::pair_field(e, "padding", 0, where);
      std::tie(g.dilation_h, g.dilation_w) = detail::pair_field(e, "dilation", 1, where);
      if (input.channels != g.in_channels)
        fail("tensor '" + settings.weight + "' expects " + std::to_string(g.in_channels) + " input channels (" +
             std::to_string(t.shape[1]) + " x " + std::to_string(g.groups) + " groups) but the input has " +
             std::to_string(input.channels));
      const Eigen::VectorXf w = pathq::io::to_vector<float>(t, settings.weight);
      c.W = Eigen::Map<const Eigen::MatrixXf>(w.data(), g.patch_size(), g.out_channels);
      c.b = bias_of(g.out_channels, false);
      return c;
    };

    pathq::Layer<float> layer;
    bool quantizable = false;
    try {
      if (type == "linear" || type == "dense") {
        read_quant();
        layer = dense();
        quantizable = true;
      } else if (type == "conv2d") {
        read_quant();
        layer = conv(out.net.output_shape());
        quantizable = true;
      } else if (type == "relu" || type == "leaky_relu" || type == "hardtanh" || type == "tanh" || type == "sigmoid" ||
                 type == "hardswish" || type == "identity") {
        pathq::Activation a;
        a.kind = type == "relu"         ? pathq::ActivationKind::Relu
                 : type == "leaky_relu" ? pathq::ActivationKind::LeakyRelu
                 : type == "hardtanh"   ? pathq::ActivationKind::HardTanh
                 : type == "tanh"       ? pathq::ActivationKind::Tanh
                 : type == "sigmoid"    ? pathq::ActivationKind::Sigmoid
                 : type == "hardswish"  ? pathq::ActivationKind::HardSwish
                                        : pathq::ActivationKind::Identity;
        if (type == "leaky_relu") {
          allowed.insert("negative_slope");
          a.slope = e.value("negative_slope", 0.01);
        }
        layer = a;
      } else if (type == "maxpool2d" || type == "avgpool2d") {
        allowed.insert({"kernel_size", "stride", "padding"});
        if (!e.contains("kernel_size")) fail("\"kernel_size\" is required");
        pathq::Pool2d p;
        p.kind = type == "maxpool2d" ? pathq::PoolKind::Max : pathq::PoolKind::Average;
        std::tie(p.kernel_h, p.kernel_w) = detail::pair_field(e, "kernel_size", 2, where);
        std::tie(p.stride_h, p.stride_w) = detail::pair_field(e, "stride", 0, where);
        std::tie(p.pad_h, p.pad_w) = detail::pair_field(e, "padding", 0, where);
        layer = p;
      } else if (type == "flatten") {
        layer = pathq::Flatten{};
      } else if (type == "batchnorm" || type == "batchnorm1d" || type == "batchnorm2d") {
        allowed.insert({"eps", "weight", "bias", "running_mean", "running_var"});
        pathq::BatchNorm<float> n;
        n.eps = e.value("eps", 1e-5);
        auto vec = [&](const char* key, const char* dflt) {
          const std::string tname = e.contains(key) ? e[key].get<std::string>() : name + "." + dflt;
          const auto& t = tensor(tname, 1, "(C)");
          return Eigen::VectorXf(pathq::io::to_vector<float>(t, tname));
        };
        n.gamma = vec("weight", "weight");
        n.beta = vec("bias", "bias");
        n.mean = vec("running_mean", "running_mean");
        n.var = vec("running_var", "running_var");
        layer = n;
      } else if (type == "residual_begin") {
        layer = pathq::ResidualBegin{};
      } else if (type == "residual_end") {
        allowed.insert("projection");
        pathq::ResidualEnd<float> r;
        if (e.contains("projection")) {
          read_quant();
          const std::string proj = e["projection"].is_string() ? e["projection"].get<std::string>() : "";
          // The projection reads the block's input: the shape saved by the matching residual_begin.
          pathq::TensorShape saved = out.net.output_shape();
          Eigen::Index depth = 0;
          for (Eigen::Index i = out.net.size() - 1; i >= 0; --i) {
            if (std::holds_alternative<pathq::ResidualEnd<float>>(out.net.layer(i))) ++depth;
            if (std::holds_alternative<pathq::ResidualBegin>(out.net.layer(i)) && depth-- == 0) {
              saved = out.net.shape_before(i);
              break;
            }
          }
          if (proj == "linear" || proj == "dense") r.shortcut = dense();
          else if (proj == "conv2d") r.shortcut = conv(saved);
          else fail("\"projection\" must be \"linear\" or \"conv2d\"");
          quantizable = true;
        }
        layer.emplace<pathq::ResidualEnd<float>>(std::move(r));  // in place: no temporary variant
      } else {
        fail("unknown layer type (known: linear, conv2d, relu, leaky_relu, hardtanh, tanh, sigmoid, hardswish, "
             "identity, maxpool2d, avgpool2d, flatten, batchnorm, residual_begin, residual_end)");
      }
    } catch (const nlohmann::json::exception& x) {
      fail(std::string("bad value: ") + x.what());
    }
    for (auto it = e.begin(); it != e.end(); ++it)
      if (!allowed.count(it.key())) fail("unknown key \"" + it.key() + "\"");
    try {
      out.net.add(std::move(layer), name);
    } catch (const pathq::invalid_argument& x) {
      fail(x.what());
    }
    if (quantizable) out.layers[name] = settings;
  }
  if (out.net.open_blocks() > 0)
    detail::bad_description(P, std::to_string(out.net.open_blocks()) + " residual block(s) are not closed");
  return out;
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_NETWORK_JSON_HPP
