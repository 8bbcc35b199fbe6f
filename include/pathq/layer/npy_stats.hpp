// `pathq layer --inputs`: the statistics of X (and Xq) streamed from .npy files in batches of rows.
#ifndef PATHQ_LAYER_NPY_STATS_HPP
#define PATHQ_LAYER_NPY_STATS_HPP

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <Eigen/Core>

#include <pathq/core/error.hpp>
#include <pathq/io/npy_stream.hpp>
#include <pathq/stats/layer_stats.hpp>

#include <pathq/layer/options.hpp>

namespace pathq {
namespace layer {

/// Rows per batch: about 32 MiB of doubles per matrix, at least 256 rows (enough for the
/// rank-k updates to run at matrix-product speed).
inline Eigen::Index stream_batch_rows(Eigen::Index n_in) {
  const Eigen::Index target = (Eigen::Index{32} << 20) / (8 * std::max<Eigen::Index>(n_in, 1));
  return std::max<Eigen::Index>(target, 256);
}

namespace detail {

/// The check of LayerStats::add, with the row numbered in the whole file rather than the batch.
template <class Matrix>
void check_finite_rows(const char* name, const Matrix& A, Eigen::Index first_row) {
  for (Eigen::Index j = 0; j < A.cols(); ++j)
    for (Eigen::Index i = 0; i < A.rows(); ++i)
      if (!std::isfinite(A(i, j)))
        pathq::detail::throw_invalid("LayerStats::add", name, " has a non-finite entry (", A(i, j), ") at (",
                                     first_row + i, ", ", j, ")");
}

}  // namespace detail

/// LayerStats of the rows of `x_path` (and `xq_path`, the same samples in the quantized
/// network), read a batch of rows at a time (pathq::io::NpyRowReader): memory O(N_in^2 +
/// batch * N_in), independent of the number of rows (a Fortran-order file is loaded whole).
/// \param n_in the rows of W, which X must have as columns.
/// \param rows when given, only the rows `[first, last)` of the files (one rank's share).
/// \throws option_error when X's columns differ from n_in or Xq's shape differs from X's (the
///         messages of `pathq layer`); pathq::invalid_argument / io_error from the reader and
///         LayerStats (a non-finite entry names X or Xq and its row in the file).
inline pathq::LayerStats<double> stream_layer_stats(const std::string& x_path, const std::optional<std::string>& xq_path,
                                                   Eigen::Index n_in,
                                                   pathq::StatsProducts products = pathq::StatsProducts::Accumulation,
                                                   std::optional<std::pair<Eigen::Index, Eigen::Index>> rows = std::nullopt) {
  pathq::io::NpyRowReader xr(x_path);
  if (xr.cols() != n_in)
    throw option_error{"--inputs " + x_path + " has " + std::to_string(xr.cols()) + " columns but --weights has " +
                     std::to_string(n_in) + " rows (X is m x N_in, W is N_in x N_out)"};
  std::optional<pathq::io::NpyRowReader> xqr;
  if (xq_path) {
    xqr.emplace(*xq_path);
    if (xqr->rows() != xr.rows() || xqr->cols() != xr.cols())
      throw option_error{"--quantized-inputs " + *xq_path + " is " + std::to_string(xqr->rows()) + " x " +
                       std::to_string(xqr->cols()) + " but --inputs is " + std::to_string(xr.rows()) + " x " +
                       std::to_string(xr.cols())};
  }
  pathq::LayerStats<double> stats(xr.cols(), products);
  const Eigen::Index batch_rows = stream_batch_rows(xr.cols());
  Eigen::Index end = xr.rows();
  if (rows) {  // only rows [first, last): one rank's share
    xr.seek(rows->first);
    if (xqr) xqr->seek(rows->first);
    end = rows->second;
  }
  auto batch = [&] { return std::min(batch_rows, std::max<Eigen::Index>(end - xr.position(), 1)); };
  // One batch at a time, read in the type the products are formed in: float for float chunks
  // (the files' own type, mostly), else double.
  auto stream = [&](auto X) {
    decltype(X) Xq;
    for (;;) {
      const Eigen::Index first = xr.position(), count = batch();
      if (first >= end || xr.read_rows(count, X) == 0) break;
      detail::check_finite_rows("X", X, first);
      if (xqr) {
        xqr->read_rows(count, Xq);
        detail::check_finite_rows("Xq", Xq, first);
        stats.add(X, Xq);
      } else {
        stats.add(X);
      }
    }
  };
  if (products == pathq::StatsProducts::FloatChunks) stream(Eigen::MatrixXf());
  else stream(Eigen::MatrixXd());
  return stats;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_NPY_STATS_HPP
