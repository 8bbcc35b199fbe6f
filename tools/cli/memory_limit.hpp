// `--max-memory-mb`: refuse a `pathq layer` job whose memory estimate exceeds a limit, before allocating.
#ifndef PATHQ_TOOLS_MEMORY_LIMIT_HPP
#define PATHQ_TOOLS_MEMORY_LIMIT_HPP

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <pathq/core/error.hpp>
#include <pathq/detail/npy_header.hpp>
#include <pathq/io/npy.hpp>

#include "tool_names.hpp"
#include <pathq/layer/npy_stats.hpp>

namespace pathq_tool {

/// The estimated peak memory of a `pathq layer` job, in bytes, from its shapes alone:
/// - inputs: read a batch of `b = min(m, stream_batch_rows(N_in))` rows at a time
///   (input_stream.hpp): `b x N_in` doubles of `X` (and `Xq`) three times over (the stored bytes,
///   the converted batch, its copy in LayerStats::add);
/// - statistics: `H`, `G`, `K`, three `N_in x N_in` doubles;
/// - engine: three `N_in x N_in` matrices in the working precision (the feedback matrix and
///   working copies of `H` and `G`);
/// - weights: `W`, its permuted copy, the targets and `Q` in the working precision, and two
///   int32 code matrices, all `N_in x N_out`.
/// All products are computed in double, so no size overflows.
/// \param has_inputs whether `X` is given (the statistics exist), \param m samples,
/// \param n_in N_in, \param n_out N_out, \param quantized_inputs whether `Xq` is given apart
/// from `X`, \param scalar_bytes 4 (float) or 8 (double).
inline double layer_memory_estimate(bool has_inputs, double m, double n_in, double n_out, bool quantized_inputs,
                                    double scalar_bytes) {
  const double batch = std::min(m, double(pathq::layer::stream_batch_rows(static_cast<Eigen::Index>(n_in))));
  const double inputs = has_inputs ? 3 * 8 * batch * n_in * (quantized_inputs ? 2 : 1) : 0;
  const double statistics = has_inputs ? 3 * 8 * n_in * n_in : 0;
  const double engine = has_inputs ? 3 * scalar_bytes * n_in * n_in : 0;
  const double weights = n_in * n_out * (4 * scalar_bytes + 2 * 4);
  return inputs + statistics + engine + weights;
}

/// The shape stored in a .npy file, read from its header alone (the data is not read), or
/// nothing when the file cannot be opened or its header is not valid: the reader reports that
/// problem itself when the file is loaded.
inline std::optional<std::vector<std::int64_t>> peek_npy_shape(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string head;
  const auto read_up_to = [&](std::size_t total) {
    char buffer[4096];
    while (head.size() < total) {
      const std::size_t want = std::min(sizeof buffer, total - head.size());
      const ::ssize_t n = ::read(fd, buffer, want);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      head.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
  };
  std::optional<std::vector<std::int64_t>> shape;
  if (read_up_to(12) && std::memcmp(head.data(), "\x93NUMPY", 6) == 0) {
    const int major = static_cast<unsigned char>(head[6]);
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::uint64_t length = 0;
    for (std::size_t i = 8; i < prefix; ++i) length |= std::uint64_t{static_cast<unsigned char>(head[i])} << (8 * (i - 8));
    // Headers are small; a huge one is left for the reader to judge.
    if ((major >= 1 && major <= 3) && length <= (std::uint64_t{1} << 20) && read_up_to(prefix + length)) {
      try {
        auto header = pathq::detail::NpyHeaderParser(std::string_view(head).substr(prefix, length), path).parse();
        if (pathq::detail::npy_checked_count(header.shape) >= 0) shape = std::move(header.shape);
      } catch (const pathq::invalid_argument&) {
      }
    }
  }
  ::close(fd);
  return shape;
}

/// The memory limit in MiB: `--max-memory-mb M`, else the environment variable
/// `PATHQ_MAX_MEMORY_MB`, else the machine's physical memory; 0 means no limit.
/// \throws UsageError for a value that is not an integer in [0, 2^40].
inline double memory_limit_mb(const Args& a) {
  constexpr long long most = 1LL << 40;
  if (auto v = a.integer("max-memory-mb", 0, most)) return double(*v);
  if (const char* env = std::getenv("PATHQ_MAX_MEMORY_MB")) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (*env == '\0' || *end != '\0' || errno == ERANGE || v < 0 || v > most)
      throw UsageError{"PATHQ_MAX_MEMORY_MB must be an integer in [0, " + std::to_string(most) + "], got '" +
                       std::string(env) + "'"};
    return double(v);
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) / (1024.0 * 1024.0) : 0.0;
}

/// "1.5 GiB", "300.0 MiB": a size for messages.
inline std::string memory_text(double bytes) {
  const double mib = bytes / (1024.0 * 1024.0);
  char text[64];
  if (mib >= 1024) std::snprintf(text, sizeof text, "%.1f GiB", mib / 1024);
  else std::snprintf(text, sizeof text, "%.1f MiB", mib);
  return text;
}

/// `--frame-size P` as a number when it is one and positive (before the method validates it), else 0.
inline double frame_size_requested(const Args& a) {
  const auto frame = a.text("frame-size");
  if (!frame || frame->empty()) return 0;
  char* end = nullptr;
  const double p = std::strtod(frame->c_str(), &end);
  return *end == '\0' && p > 0 ? p : 0;
}

/// The estimate of layer_memory_estimate plus the buffers that a method's own options size:
/// `--frame-size P` (Sigma-Delta) keeps `P` codes per expanded vector and two tables of `P`
/// doubles.
inline double job_memory_estimate(const Args& a, bool has_inputs, long long m, long long n_in, long long n_out,
                                  std::size_t scalar_bytes) {
  double need = layer_memory_estimate(has_inputs, double(m), double(n_in), double(n_out), a.has("quantized-inputs"),
                                      double(scalar_bytes));
  if (const double p = frame_size_requested(a); p > 0) need += p * (16 + 8 * double(a.has("rows") ? n_in : n_out));
  return need;
}

/// Throws unless job_memory_estimate for these shapes is within `limit_mb` (0: no limit).
/// \throws std::runtime_error "the job needs about ... but the memory limit is ..." (exit 1).
inline void check_memory_for_shapes(const Args& a, double limit_mb, bool has_inputs, long long m, long long n_in,
                                    long long n_out, std::size_t scalar_bytes) {
  if (limit_mb <= 0) return;
  const double need = job_memory_estimate(a, has_inputs, m, n_in, n_out, scalar_bytes);
  const double limit = limit_mb * 1024.0 * 1024.0;
  if (need > limit)
    throw std::runtime_error("the job needs about " + memory_text(need) + " (N_in = " + std::to_string(n_in) +
                             ", N_out = " + std::to_string(n_out) + ", m = " + std::to_string(m) +
                             ": statistics and engine O(N_in^2), weights O(N_in N_out), input batches O(N_in)) but the "
                             "memory limit is " + memory_text(limit) +
                             " (raise it with --max-memory-mb or PATHQ_MAX_MEMORY_MB; 0 means no limit)");
}

/// Refuses a job whose estimate (job_memory_estimate, from the shapes in the headers of
/// --weights and --inputs) exceeds the limit (memory_limit_mb), before any data is read. Files
/// whose header cannot be read are left for the reader to report.
/// \throws std::runtime_error as check_memory_for_shapes; UsageError for a bad limit.
inline void check_memory_limit(const Args& a, std::size_t scalar_bytes) {
  const double limit_mb = memory_limit_mb(a);
  if (limit_mb <= 0) return;
  const auto w = peek_npy_shape(a.required_text("weights"));
  if (!w || w->empty() || w->size() > 2) return;
  const long long n_in = (*w)[0], n_out = w->size() == 2 ? (*w)[1] : 1;
  long long m = 0;
  if (auto xp = a.text("inputs")) {
    const auto x = peek_npy_shape(*xp);
    if (x && !x->empty()) m = (*x)[0];
  }
  check_memory_for_shapes(a, limit_mb, a.has("inputs"), m, n_in, n_out, scalar_bytes);
}

}  // namespace pathq_tool

#endif  // PATHQ_TOOLS_MEMORY_LIMIT_HPP
