// Networks and quantized networks in safetensors files, with PyTorch's tensor names and layouts.
#ifndef PATHQ_NETWORK_MODEL_IO_HPP
#define PATHQ_NETWORK_MODEL_IO_HPP

#include <cstdint>
#include <functional>
#include <iomanip>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "pathq/core/error.hpp"
#include "pathq/io/safetensors.hpp"
#include "pathq/network/quantize_network.hpp"
#include "pathq/network/sequential.hpp"

namespace pathq {

/// The tensor name of parameter `param` ("weight", "bias", "running_mean", "running_var") of
/// layer `layer`. The default, `default_parameter_name`, is `<layer name>.<param>`, which is
/// PyTorch's naming inside an `nn.Sequential` ("0.weight", "3.bias", ...).
template <class Scalar>
using ParameterNames = std::function<std::string(const Sequential<Scalar>&, Eigen::Index layer, const std::string& param)>;

template <class Scalar>
std::string default_parameter_name(const Sequential<Scalar>& net, Eigen::Index layer, const std::string& param) {
  return net.name(layer) + "." + param;
}

namespace detail {

/// A dense/conv weight as PyTorch stores it: (N_out, N_in) or (C_out, C_in/g, k_h, k_w), C order,
/// which is W^T row by row in both cases.
template <class Scalar>
std::vector<std::int64_t> torch_weight_shape(const Dense<Scalar>& d) {
  return {d.W.cols(), d.W.rows()};
}
template <class Scalar>
std::vector<std::int64_t> torch_weight_shape(const Conv2d<Scalar>& c) {
  const ConvGeometry& g = c.geometry;
  return {g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w};
}

inline std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

/// A tensor holding `M^T` (C order) with the given shape (whose element count is M's).
template <class Derived>
io::SafetensorsTensor transposed_tensor(const Eigen::MatrixBase<Derived>& M, std::vector<std::int64_t> shape,
                                        io::SafetensorsDType dtype) {
  io::SafetensorsTensor t = io::SafetensorsTensor::from_matrix(M.transpose(), dtype);
  t.shape = std::move(shape);
  return t;
}

inline io::SafetensorsTensor vector_tensor(const Eigen::VectorXd& v, io::SafetensorsDType dtype) {
  io::SafetensorsTensor t = io::SafetensorsTensor::from_matrix(v, dtype);
  t.shape = {v.size()};
  return t;
}

/// Reads tensor `name` expecting exactly `shape`, as a (C order) row vector of all elements.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> read_shaped(const io::SafetensorsFile& f, const std::string& name,
                                                     const std::vector<std::int64_t>& shape, const std::string& what) {
  if (!f.contains(name))
    throw_invalid("load_network", what, " needs tensor '", name, "', which the file ",
                  f.source().empty() ? std::string("(in memory)") : "'" + f.source() + "'", " does not hold");
  const io::SafetensorsTensor& t = f.tensor(name);
  if (t.shape != shape)
    throw_invalid("load_network", "tensor '", name, "' has shape ", shape_text(t.shape), " but ", what, " needs ",
                  shape_text(shape));
  return io::to_vector<Scalar>(t, "tensor '" + name + "'");
}

/// Smallest signed integer dtype holding every code of [lo, hi].
inline io::SafetensorsDType code_dtype(int lo, int hi) {
  if (lo >= -128 && hi <= 127) return io::SafetensorsDType::I8;
  if (lo >= -32768 && hi <= 32767) return io::SafetensorsDType::I16;
  return io::SafetensorsDType::I32;
}

}  // namespace detail

/// Adds every parameter of `net` to `file` in PyTorch's layouts: dense `weight` (N_out, N_in),
/// conv `weight` (C_out, C_in/groups, k_h, k_w), `bias` (N_out), batch norm `weight` (gamma),
/// `bias` (beta), `running_mean`, `running_var`; a residual projection under the name of its
/// `ResidualEnd`. Stored in `Scalar`'s dtype (F32 or F64), so that reading back is exact.
/// \throws invalid_argument when a name is already present in `file`.
template <class Scalar>
void add_network_tensors(io::SafetensorsFile& file, const Sequential<Scalar>& net,
                         const ParameterNames<Scalar>& names = default_parameter_name<Scalar>) {
  const auto dtype = io::safetensors_dtype_of<Scalar>();
  auto affine = [&](Eigen::Index i, const auto& l) {
    file.add(names(net, i, "weight"), detail::transposed_tensor(l.W, detail::torch_weight_shape(l), dtype));
    if (l.b.size()) file.add(names(net, i, "bias"), detail::vector_tensor(l.b.template cast<double>(), dtype));
  };
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    const auto& L = net.layer(i);
    if (auto* d = std::get_if<Dense<Scalar>>(&L)) affine(i, *d);
    if (auto* c = std::get_if<Conv2d<Scalar>>(&L)) affine(i, *c);
    if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L)) {
      if (auto* d = std::get_if<Dense<Scalar>>(&e->shortcut)) affine(i, *d);
      if (auto* c = std::get_if<Conv2d<Scalar>>(&e->shortcut)) affine(i, *c);
    }
    if (auto* n = std::get_if<BatchNorm<Scalar>>(&L)) {
      file.add(names(net, i, "weight"), detail::vector_tensor(n->gamma.template cast<double>(), dtype));
      file.add(names(net, i, "bias"), detail::vector_tensor(n->beta.template cast<double>(), dtype));
      file.add(names(net, i, "running_mean"), detail::vector_tensor(n->mean.template cast<double>(), dtype));
      file.add(names(net, i, "running_var"), detail::vector_tensor(n->var.template cast<double>(), dtype));
    }
  }
}

/// A copy of `architecture` with every parameter read from `file` (layouts as in
/// `add_network_tensors`; any float dtype converts). A layer whose bias is empty in the
/// architecture reads no bias.
/// \throws invalid_argument naming the tensor when one is missing or has the wrong shape, and
///         the file's own errors for bad data.
template <class Scalar>
Sequential<Scalar> load_network_tensors(const Sequential<Scalar>& architecture, const io::SafetensorsFile& file,
                                        const ParameterNames<Scalar>& names = default_parameter_name<Scalar>) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Sequential<Scalar> out(architecture.input_shape());
  for (Eigen::Index i = 0; i < architecture.size(); ++i) {
    Layer<Scalar> L = architecture.layer(i);
    const std::string what = "layer '" + architecture.name(i) + "'";
    auto affine = [&](auto& l) {
      const Vector w = detail::read_shaped<Scalar>(file, names(architecture, i, "weight"), detail::torch_weight_shape(l), what);
      l.W = Eigen::Map<const Matrix>(w.data(), l.W.rows(), l.W.cols());  // column o = row o of the tensor
      if (l.b.size()) l.b = detail::read_shaped<Scalar>(file, names(architecture, i, "bias"), {l.b.size()}, what);
    };
    if (auto* d = std::get_if<Dense<Scalar>>(&L)) affine(*d);
    if (auto* c = std::get_if<Conv2d<Scalar>>(&L)) affine(*c);
    if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L)) {
      if (auto* d = std::get_if<Dense<Scalar>>(&e->shortcut)) affine(*d);
      if (auto* c = std::get_if<Conv2d<Scalar>>(&e->shortcut)) affine(*c);
    }
    if (auto* n = std::get_if<BatchNorm<Scalar>>(&L)) {
      const std::vector<std::int64_t> s = {n->gamma.size()};
      n->gamma = detail::read_shaped<Scalar>(file, names(architecture, i, "weight"), s, what);
      n->beta = detail::read_shaped<Scalar>(file, names(architecture, i, "bias"), s, what);
      n->mean = detail::read_shaped<Scalar>(file, names(architecture, i, "running_mean"), s, what);
      n->var = detail::read_shaped<Scalar>(file, names(architecture, i, "running_var"), s, what);
    }
    out.add(std::move(L), architecture.name(i));
  }
  return out;
}

/// Adds a quantized network to `file`. For every quantized layer with weight tensor `<w>`:
/// - `<w>.codes`: the integer codes in the weight's PyTorch layout (I8, I16 or I32, the smallest
///   that holds the grid's code range);
/// - `<w>.step` and `<w>.zero`: `(N_out)`, or `(N_out, n_groups)` with per-group steps, in
///   `Scalar`'s dtype;
/// so that `weight = (codes - zero) * step` (step and zero broadcast along each output row; with
/// groups, input feature t of a row uses group t / group_size). Metadata key `<w>` holds the
/// method, grid kind, code range and group size. Weights that are not grid values (e.g. rebuilt
/// from frame coefficients) are stored as `<w>` in `Scalar`'s dtype, with metadata saying so.
/// Every other parameter (biases, which bias correction may have changed, skipped layers,
/// batch norms) is stored as in `add_network_tensors`. Metadata `pathq.format` is
/// `pathq-quantized-1`.
template <class Scalar>
void add_quantized_tensors(io::SafetensorsFile& file, const NetworkQuantization<Scalar>& q,
                           const ParameterNames<Scalar>& names = default_parameter_name<Scalar>) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const auto dtype = io::safetensors_dtype_of<Scalar>();
  const Sequential<Scalar>& net = q.network;
  // Which weights are quantized: (layer, shortcut) of every unit.
  auto quantized = [&](Eigen::Index layer) {
    for (const auto& u : q.units)
      if (u.layer == layer) return true;
    return false;
  };
  file.set_metadata("pathq.format", "pathq-quantized-1");
  auto affine = [&](Eigen::Index i, const auto& l, bool shortcut) {
    const std::string wname = names(net, i, "weight");
    if (l.b.size()) file.add(names(net, i, "bias"), detail::vector_tensor(l.b.template cast<double>(), dtype));
    if (!quantized(i)) {
      file.add(wname, detail::transposed_tensor(l.W, detail::torch_weight_shape(l), dtype));
      return;
    }
    std::vector<const QuantizedUnit<Scalar>*> units;
    for (const auto& u : q.units)
      if (u.layer == i && u.shortcut == shortcut) units.push_back(&u);
    const auto& first = units.front()->solution;
    bool on_grid = true;
    for (const auto* u : units) on_grid = on_grid && u->solution.values.size() == 0 && u->solution.result.codes.size();
    std::string method;
    for (const auto& r : q.layers)
      if (r.layer == i && r.shortcut == shortcut) method = r.method;
    if (!on_grid) {
      file.add(wname, detail::transposed_tensor(l.W, detail::torch_weight_shape(l), dtype));
      file.set_metadata(wname, "{\"method\":\"" + method + "\",\"stored\":\"values\"}");
      return;
    }
    const Grid<Scalar>& g0 = first.result.grid;
    const Eigen::Index n_in = l.W.rows(), n_out = l.W.cols(), groups = g0.step.rows();
    Codes codes(n_in, n_out);
    Matrix step(groups, n_out), zero(groups, n_out);
    for (const auto* u : units) {
      const auto& r = u->solution.result;
      PATHQ_CHECK(r.grid.kind == g0.kind && r.grid.code_lo == g0.code_lo && r.grid.code_hi == g0.code_hi &&
                      r.grid.group_size == g0.group_size && r.grid.step.rows() == groups,
                  "add_quantized_tensors", "the groups of layer '", net.name(i), "' have different grids");
      codes.middleCols(u->column0, r.codes.cols()) = r.codes;
      step.middleCols(u->column0, r.codes.cols()) = r.grid.step;
      zero.middleCols(u->column0, r.codes.cols()) = r.grid.zero;
    }
    const Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic> codes64 = codes.template cast<std::int64_t>();
    file.add(wname + ".codes", detail::transposed_tensor(codes64, detail::torch_weight_shape(l),
                                                         detail::code_dtype(g0.code_lo, g0.code_hi)));
    io::SafetensorsTensor st = io::SafetensorsTensor::from_matrix(step.transpose(), dtype);
    io::SafetensorsTensor zt = io::SafetensorsTensor::from_matrix(zero.transpose(), dtype);
    if (groups == 1) st.shape = zt.shape = {n_out};
    file.add(wname + ".step", st);
    file.add(wname + ".zero", zt);
    file.set_metadata(wname, "{\"method\":\"" + method + "\",\"stored\":\"codes\",\"grid\":\"" + to_string(g0.kind) +
                                 "\",\"code_lo\":" + std::to_string(g0.code_lo) + ",\"code_hi\":" +
                                 std::to_string(g0.code_hi) + ",\"group_size\":" + std::to_string(g0.group_size) +
                                 ",\"rebuild\":\"weight = (codes - zero) * step\"}");
  };
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    const auto& L = net.layer(i);
    if (auto* d = std::get_if<Dense<Scalar>>(&L)) affine(i, *d, false);
    if (auto* c = std::get_if<Conv2d<Scalar>>(&L)) affine(i, *c, false);
    if (auto* e = std::get_if<ResidualEnd<Scalar>>(&L)) {
      if (auto* d = std::get_if<Dense<Scalar>>(&e->shortcut)) affine(i, *d, true);
      if (auto* c = std::get_if<Conv2d<Scalar>>(&e->shortcut)) affine(i, *c, true);
    }
    if (auto* n = std::get_if<BatchNorm<Scalar>>(&L)) {
      file.add(names(net, i, "weight"), detail::vector_tensor(n->gamma.template cast<double>(), dtype));
      file.add(names(net, i, "bias"), detail::vector_tensor(n->beta.template cast<double>(), dtype));
      file.add(names(net, i, "running_mean"), detail::vector_tensor(n->mean.template cast<double>(), dtype));
      file.add(names(net, i, "running_var"), detail::vector_tensor(n->var.template cast<double>(), dtype));
    }
  }
}

/// The network's architecture as the JSON description that `pathq model --network` reads:
/// `{"input_shape": [C, H, W], "layers": [{"type": ..., "name": ..., options}, ...]}` with types
/// linear, conv2d (stride, padding, dilation, groups), relu / leaky_relu (negative_slope) /
/// hardtanh / tanh / sigmoid / hardswish / identity, maxpool2d / avgpool2d (kernel_size, stride, padding),
/// flatten, batchnorm (eps), residual_begin, residual_end (projection: linear or conv2d). Shapes
/// of weights are not repeated: they come from the tensors (`<name>.weight`, PyTorch layouts).
/// \param input_scale written as `"input_scale"` when not 1: the factor the network's inputs
///        were scaled by in training (e.g. 1/255 for 8-bit pixels), which `pathq model` applies.
template <class Scalar>
std::string network_description(const Sequential<Scalar>& net, double input_scale = 1.0) {
  auto pair = [](Eigen::Index a, Eigen::Index b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; };
  auto conv_fields = [&](const ConvGeometry& g) {
    return ", \"stride\": " + pair(g.stride_h, g.stride_w) + ", \"padding\": " + pair(g.pad_h, g.pad_w) +
           ", \"dilation\": " + pair(g.dilation_h, g.dilation_w) + ", \"groups\": " + std::to_string(g.groups);
  };
  const TensorShape& in = net.input_shape();
  std::string s = "{\n  \"input_shape\": [" + std::to_string(in.channels) + ", " + std::to_string(in.height) + ", " +
                  std::to_string(in.width) + "],\n";
  if (input_scale != 1.0) s += "  \"input_scale\": " + detail::concat(std::setprecision(17), input_scale) + ",\n";
  s += "  \"layers\": [\n";
  for (Eigen::Index i = 0; i < net.size(); ++i) {
    const auto& L = net.layer(i);
    std::string name = net.name(i), quoted;
    for (char c : name) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    std::string e = "    {\"name\": \"" + quoted + "\", \"type\": ";
    if (std::holds_alternative<Dense<Scalar>>(L)) e += "\"linear\"";
    if (auto* c = std::get_if<Conv2d<Scalar>>(&L)) e += "\"conv2d\"" + conv_fields(c->geometry);
    if (auto* a = std::get_if<Activation>(&L)) {
      e += std::string("\"") + to_string(a->kind) + "\"";
      if (a->kind == ActivationKind::LeakyRelu) e += ", \"negative_slope\": " + detail::concat(a->slope);
    }
    if (auto* p = std::get_if<Pool2d>(&L))
      e += std::string(p->kind == PoolKind::Max ? "\"maxpool2d\"" : "\"avgpool2d\"") + ", \"kernel_size\": " +
           pair(p->kernel_h, p->kernel_w) + ", \"stride\": " + pair(p->sh(), p->sw()) + ", \"padding\": " +
           pair(p->pad_h, p->pad_w);
    if (std::holds_alternative<Flatten>(L)) e += "\"flatten\"";
    if (auto* b = std::get_if<BatchNorm<Scalar>>(&L)) e += "\"batchnorm\", \"eps\": " + detail::concat(b->eps);
    if (std::holds_alternative<ResidualBegin>(L)) e += "\"residual_begin\"";
    if (auto* r = std::get_if<ResidualEnd<Scalar>>(&L)) {
      e += "\"residual_end\"";
      if (std::holds_alternative<Dense<Scalar>>(r->shortcut)) e += ", \"projection\": \"linear\"";
      if (auto* c = std::get_if<Conv2d<Scalar>>(&r->shortcut))
        e += ", \"projection\": \"conv2d\"" + conv_fields(c->geometry);
    }
    s += e + "}" + (i + 1 < net.size() ? ",\n" : "\n");
  }
  return s + "  ]\n}\n";
}

/// The codes and steps of quantized weight `<w>` read back from a file written by
/// `add_quantized_tensors`, and the weights they give.
template <class Scalar>
struct StoredQuantizedWeight {
  Codes codes;  ///< N_in x N_out (pathq's convention: a neuron is a column)
  Grid<Scalar> grid;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> values() const { return grid.values(codes); }
};

/// Reads `<w>.codes`, `<w>.step`, `<w>.zero` and metadata `<w>` (see add_quantized_tensors).
/// \param weight the weight tensor's name, e.g. "0.weight".
/// \throws invalid_argument when a tensor or the metadata is missing or inconsistent.
template <class Scalar>
StoredQuantizedWeight<Scalar> read_quantized_weight(const io::SafetensorsFile& file, const std::string& weight) {
  const char* where = "read_quantized_weight";
  for (const char* part : {".codes", ".step", ".zero"})
    PATHQ_CHECK(file.contains(weight + part), where, "the file has no tensor '", weight, part, "'");
  const auto meta = file.metadata().find(weight);
  PATHQ_CHECK(meta != file.metadata().end(), where, "the file has no metadata for '", weight, "'");
  auto field = [&](const std::string& key) -> long long {
    const std::string& m = meta->second;
    const std::size_t at = m.find("\"" + key + "\":");
    PATHQ_CHECK(at != std::string::npos, where, "metadata of '", weight, "' lacks ", key);
    return std::stoll(m.substr(at + key.size() + 3));
  };
  const io::SafetensorsTensor& ct = file.tensor(weight + ".codes");
  PATHQ_CHECK(ct.shape.size() >= 2, where, "'", weight, ".codes' has shape ", detail::shape_text(ct.shape),
              "; expected (N_out, N_in, ...)");
  const Eigen::Index n_out = Eigen::Index(ct.shape[0]);
  const Eigen::Index n_in = n_out > 0 ? Eigen::Index(ct.size() / ct.shape[0]) : 0;
  const Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> flat = io::to_vector<std::int32_t>(ct, weight + ".codes");
  StoredQuantizedWeight<Scalar> s;
  s.codes = Eigen::Map<const Codes>(flat.data(), n_in, n_out);
  const io::SafetensorsTensor& stt = file.tensor(weight + ".step");
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> st = io::to_vector<Scalar>(stt, weight + ".step");
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> zt = io::to_vector<Scalar>(file.tensor(weight + ".zero"), weight + ".zero");
  PATHQ_CHECK(n_out > 0 && st.size() % n_out == 0 && zt.size() == st.size(), where, "'", weight,
              ".step' and '.zero' do not fit ", n_out, " output rows");
  const Eigen::Index groups = st.size() / n_out;
  s.grid.step = Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>>(st.data(), groups, n_out);
  s.grid.zero = Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>>(zt.data(), groups, n_out);
  s.grid.code_lo = int(field("code_lo"));
  s.grid.code_hi = int(field("code_hi"));
  s.grid.group_size = Eigen::Index(field("group_size"));
  const std::string& m = meta->second;
  s.grid.kind = m.find("\"grid\":\"midrise\"") != std::string::npos      ? GridKind::Midrise
                : m.find("\"grid\":\"asymmetric\"") != std::string::npos ? GridKind::Asymmetric
                                                                          : GridKind::Symmetric;
  PATHQ_CHECK(s.grid.group_size > 0 ? (n_in + s.grid.group_size - 1) / s.grid.group_size == groups : groups == 1,
              where, "'", weight, ".step' has ", groups, " groups, which does not fit group size ",
              s.grid.group_size, " and ", n_in, " inputs");
  return s;
}

}  // namespace pathq

#endif  // PATHQ_NETWORK_MODEL_IO_HPP
