// pathq's Python module: numpy arrays in and out, one layer per call, the same code path and the
// same report as `pathq layer` (pathq::layer::quantize).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <set>
#include <string>
#include <utility>

#include <Eigen/Core>
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pathq/layer/input_checks.hpp>
#include <pathq/layer/options.hpp>
#include <pathq/layer/run.hpp>
#include <pathq/version.hpp>

namespace py = pybind11;

namespace {

using RowMajorXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajorXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The options that name files in `pathq layer`; the module takes arrays instead.
const std::set<std::string>& file_options() {
  static const std::set<std::string> s = {"weights", "inputs", "quantized-inputs", "out", "codes", "report",
                                          "max-memory-mb", "method", "bits", "precision"};
  return s;
}

// A 2-D float32 or float64 array, or an error naming it.
py::array two_d(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a numpy array (float32 or float64), got " +
                         std::string(py::str(py::type::of(obj))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() != 2)
    throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) + " dimension(s)");
  const py::dtype dt = a.dtype();
  if (!dt.is(py::dtype::of<float>()) && !dt.is(py::dtype::of<double>()))
    throw py::type_error(std::string(name) + " must have dtype float32 or float64, got " + std::string(py::str(py::handle(dt))));
  return a;
}

// The array as an Eigen matrix of Scalar (a copy: Eigen's column-major layout).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> to_matrix(const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return py::cast<RowMajorXf>(a).template cast<Scalar>();
  return py::cast<RowMajorXd>(a).template cast<Scalar>();
}

// A C-contiguous array as a row-major Eigen map, without a copy; other layouts are copied once.
template <class T>
struct RowsView {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajor copy;
  Eigen::Map<const RowMajor> map{nullptr, 0, 0};
  explicit RowsView(const py::array& a) {
    if (a.flags() & py::array::c_style) {
      new (&map) Eigen::Map<const RowMajor>(static_cast<const T*>(a.data()), a.shape(0), a.shape(1));
    } else {
      copy = py::cast<RowMajor>(a);
      new (&map) Eigen::Map<const RowMajor>(copy.data(), copy.rows(), copy.cols());
    }
  }
};

template <class T>
void add_rows_as(pathq::LayerStats<double>& stats, const py::array& X, const std::optional<py::array>& Xq) {
  const RowsView<T> x(X);
  if (Xq) {
    const RowsView<T> xq(*Xq);
    py::gil_scoped_release release;
    stats.add(x.map, xq.map);
  } else {
    py::gil_scoped_release release;
    stats.add(x.map);
  }
}

// Adds the rows of X (and Xq) to `stats`: read in place when C-contiguous, in float when both
// arrays are float32, else in double (a float32 array is converted once).
void add_rows(pathq::LayerStats<double>& stats, const py::array& X, const std::optional<py::array>& Xq) {
  const bool x_float = X.dtype().is(py::dtype::of<float>());
  const bool xq_float = !Xq || Xq->dtype().is(py::dtype::of<float>());
  if (x_float && xq_float) return add_rows_as<float>(stats, X, Xq);
  if (!x_float && (!Xq || !xq_float)) return add_rows_as<double>(stats, X, Xq);
  // Mixed dtypes: both in double.
  const py::array xd = X.attr("astype")("float64"), xqd = Xq->attr("astype")("float64");
  add_rows_as<double>(stats, xd, std::optional<py::array>(xqd));
}

// A keyword argument as an option: `act_order=True` is the switch --act-order, `damp=0.02` the
// option --damp 0.02; False and None leave the option out.
void set_option(pathq::layer::Options& o, const std::string& key, const py::handle& value) {
  std::string name = key;
  for (char& c : name)
    if (c == '_') c = '-';
  if (file_options().count(name))
    throw py::type_error("quantize_layer() got the option '" + key + "', which " +
                         (name == "method" || name == "bits" || name == "precision"
                              ? std::string("is a named argument of its own")
                              : std::string("names a file in `pathq layer`; pass arrays (W, X, Xq) instead")));
  if (name == "mpi")
    throw py::type_error("mpi= is `pathq layer --mpi`; from Python, sum LayerStats across processes and pass stats=");
  if (name == "subset")
    throw py::value_error("subset= reads the first rows of an --inputs file; pass those rows as X instead");
  if (value.is_none()) return;
  if (py::isinstance<py::bool_>(value)) {
    if (value.cast<bool>()) o.set(name);
    return;
  }
  if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value) || py::isinstance<py::str>(value)) {
    o.set(name, std::string(py::str(value)));
    return;
  }
  throw py::type_error("option '" + key + "' must be a bool, a number or a string, got " +
                       std::string(py::str(py::type::of(value))));
}

// What quantize_layer returns.
struct PyResult {
  py::array values, codes, steps, zero_points;
  py::dict report;
};

template <class Scalar>
PyResult run(const pathq::layer::Options& o, const py::array& W, const std::optional<py::array>& X,
             const std::optional<py::array>& Xq, const pathq::LayerStats<double>* stats,
             const pathq::layer::MethodSpec& spec) {
  pathq::layer::LayerInput<Scalar> in;
  in.W = to_matrix<Scalar>(W);
  if (stats) {
    if (X || Xq) throw py::value_error("give either X (and Xq) or stats, not both");
    if (stats->n_in() != in.W.rows())
      throw py::value_error("stats has n_in = " + std::to_string(stats->n_in()) + " but W has " +
                            std::to_string(in.W.rows()) + " rows (W is N_in x N_out)");
    if (stats->samples() == 0) throw py::value_error("stats holds no rows (call stats.add(X, Xq) first)");
    in.stats.emplace(*stats);
    in.quantized_inputs = !stats->same_inputs();
    try {
      pathq::layer::check_live_layer(*in.stats, in.quantized_inputs ? "Xq" : "X");
    } catch (const std::runtime_error& e) {
      throw py::value_error(e.what());
    }
  } else if (X) {
    if (X->shape(1) != W.shape(0))
      throw py::value_error("X has " + std::to_string(X->shape(1)) + " columns but W has " +
                            std::to_string(W.shape(0)) + " rows (X is m x N_in, W is N_in x N_out)");
    if (Xq && (Xq->shape(0) != X->shape(0) || Xq->shape(1) != X->shape(1)))
      throw py::value_error("Xq is " + std::to_string(Xq->shape(0)) + " x " + std::to_string(Xq->shape(1)) +
                            " but X is " + std::to_string(X->shape(0)) + " x " + std::to_string(X->shape(1)));
    if (X->shape(0) == 0) throw py::value_error("X has no rows");
    in.stats.emplace(in.W.rows(), pathq::layer::statistics_products(o));
    add_rows(*in.stats, *X, Xq);
    in.quantized_inputs = Xq.has_value();
    try {
      pathq::layer::check_live_layer(*in.stats, Xq ? "Xq" : "X");
    } catch (const std::runtime_error& e) {
      throw py::value_error(e.what());
    }
  } else if (Xq) {
    throw py::value_error("Xq needs X (the same samples in the float network)");
  } else if (spec.needs_inputs) {
    throw py::value_error("method '" + spec.name + "' needs X (the layer's calibration inputs)");
  }
  std::optional<pathq::layer::Outcome<Scalar>> outcome;
  {
    py::gil_scoped_release release;
    outcome.emplace(pathq::layer::quantize(o, in));
  }
  const auto& r = outcome->result();
  PyResult p;
  using RowMajor = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  p.values = py::cast(RowMajor(outcome->Q));
  p.codes = py::cast(Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>(r.codes));
  p.steps = py::cast(RowMajor(r.grid.step));
  if (r.grid.kind == pathq::GridKind::Asymmetric) p.zero_points = py::cast(RowMajor(r.grid.zero));
  p.report = py::module_::import("json").attr("loads")(outcome->report.dump());
  return p;
}

PyResult quantize_layer(const py::object& W_obj, const py::object& X_obj, const py::object& Xq_obj,
                        const std::string& method, const py::object& bits, const std::string& precision,
                        const py::object& stats_obj, const py::kwargs& options) {
  const pathq::LayerStats<double>* stats = nullptr;
  if (!stats_obj.is_none()) {
    if (!py::isinstance<pathq::LayerStats<double>>(stats_obj))
      throw py::type_error("stats must be a pathq.LayerStats, got " + std::string(py::str(py::type::of(stats_obj))));
    stats = &stats_obj.cast<const pathq::LayerStats<double>&>();
  }
  const py::array W = two_d(W_obj, "W");
  std::optional<py::array> X, Xq;
  if (!X_obj.is_none()) X = two_d(X_obj, "X");
  if (!Xq_obj.is_none()) Xq = two_d(Xq_obj, "Xq");
  pathq::layer::Options o;
  o.set("method", method);
  o.set("precision", precision);
  bool levels_given = false;
  for (const auto& kv : options) {
    const std::string key = py::str(kv.first);
    levels_given = levels_given || key == "levels";
    set_option(o, key, kv.second);
  }
  // bits=4 is the default of the signature; levels=K replaces it (the tool refuses both).
  if (!bits.is_none() && !levels_given) o.set("bits", std::string(py::str(bits)));
  const pathq::layer::MethodSpec& spec = pathq::layer::check_options(o);
  if (precision == "double") return run<double>(o, W, X, Xq, stats, spec);
  return run<float>(o, W, X, Xq, stats, spec);
}

}  // namespace

PYBIND11_MODULE(_pathq, m) {
  m.doc() = "pathq: post-training quantization of neural-network layers (GPFQ, SPFQ, OPTQ, MSQ, ...)";
  m.attr("__version__") = pathq::version_string;

  // The library's own exceptions derive from std::invalid_argument / std::runtime_error, which
  // pybind11 turns into ValueError / RuntimeError with the library's message.
  py::class_<PyResult>(m, "LayerResult", "The result of quantize_layer.")
      .def_readonly("values", &PyResult::values, "the quantized weights, shaped like W (N_in x N_out)")
      .def_readonly("codes", &PyResult::codes, "integer codes (int32), N_in x N_out: values = (codes - zero) * step")
      .def_readonly("steps", &PyResult::steps, "the steps: one row, or one row per group of features")
      .def_readonly("zero_points", &PyResult::zero_points, "zero points of an asymmetric grid, else None")
      .def_readonly("report", &PyResult::report, "the report, as `pathq layer --report` writes it")
      .def("__repr__", [](const PyResult& r) {
        return "<pathq.LayerResult method=" + std::string(py::str(r.report["method"])) +
               " relative_error=" + std::string(py::str(r.report["relative_error"])) + ">";
      });

  m.def("quantize_layer", &quantize_layer, py::arg("W"), py::arg("X") = py::none(), py::arg("Xq") = py::none(),
        py::kw_only(), py::arg("method") = "gpfq", py::arg("bits") = 4, py::arg("precision") = "float",
        py::arg("stats") = py::none(), R"doc(Quantizes one layer W (N_in x N_out, one neuron per column) and returns a LayerResult.

X (m x N_in) holds the layer's calibration inputs in the float network, Xq the same samples'
inputs in the partly quantized network (None: the same as X). stats= (a LayerStats filled batch by
batch) replaces X and Xq when the calibration set does not fit in memory. Every further keyword is an option
of `pathq layer`, spelled with '_' for '-': act_order=True, damp=0.01, grid="asymmetric",
group_size=128, scale_search="clip", refine_passes=2, levels=3 (instead of bits), ...
Bad input raises ValueError or TypeError naming the problem.)doc");

  py::class_<pathq::LayerStats<double>>(m, "LayerStats",
                                        "H = Xq^T Xq, G = Xq^T X, K = X^T X accumulated batch by batch (double).")
      .def(py::init([](Eigen::Index n_in, const std::string& products) {
             if (n_in < 1) throw py::value_error("n_in must be >= 1, got " + std::to_string(n_in));
             if (products != "float" && products != "double")
               throw py::value_error("products must be 'float' or 'double', got '" + products + "'");
             return pathq::LayerStats<double>(n_in, products == "float" ? pathq::StatsProducts::FloatChunks
                                                                        : pathq::StatsProducts::Accumulation);
           }),
           py::arg("n_in"), py::arg("products") = "double")
      .def(
          "add",
          [](pathq::LayerStats<double>& s, const py::object& X, const py::object& Xq) {
            const py::array x = two_d(X, "X");
            std::optional<py::array> xq;
            if (!Xq.is_none()) xq = two_d(Xq, "Xq");
            add_rows(s, x, xq);
          },
          py::arg("X"), py::arg("Xq") = py::none(), "Adds a batch of rows (X, and Xq for the same samples).")
      .def_property_readonly("n_in", &pathq::LayerStats<double>::n_in)
      .def_property_readonly("samples", &pathq::LayerStats<double>::samples)
      .def_property_readonly("H", [](const pathq::LayerStats<double>& s) { return Eigen::MatrixXd(s.H()); })
      .def_property_readonly("G", [](const pathq::LayerStats<double>& s) { return Eigen::MatrixXd(s.G()); })
      .def_property_readonly("K", [](const pathq::LayerStats<double>& s) { return Eigen::MatrixXd(s.K()); })
      .def_property_readonly("same_inputs", &pathq::LayerStats<double>::same_inputs,
                             "True while no batch had an Xq apart from X")
      .def_property_readonly(
          "sum_x", [](const pathq::LayerStats<double>& s) { return Eigen::VectorXd(s.sum_x()); },
          "the sum of the rows of X (for means and bias correction)")
      .def_property_readonly(
          "sum_xq", [](const pathq::LayerStats<double>& s) { return Eigen::VectorXd(s.sum_xq()); },
          "the sum of the rows of Xq");

  m.def(
      "methods",
      [] {
        py::list names;
        for (const auto& spec : pathq::layer::method_registry()) names.append(spec.name);
        return names;
      },
      "The names quantize_layer's method= accepts.");
}
