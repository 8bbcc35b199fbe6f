// Regressions from fuzzing: every seed and every input that once crashed a reader (fuzz/corpus/)
// parses or throws pathq::invalid_argument, and the findings' own checks.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <zlib.h>

#include <catch2/catch.hpp>

#include <pathq/io/atomic_file.hpp>
#include <pathq/io/idx.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/io/npz.hpp>
#include <pathq/io/safetensors.hpp>

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_fuzz_regressions {

using Catch::Contains;

namespace {

// PATHQ_TEST_DATA_DIR is <repository>/tests/data.
const std::filesystem::path corpus_root =
    std::filesystem::path(PATHQ_TEST_DATA_DIR).parent_path().parent_path() / "fuzz" / "corpus";

std::vector<std::filesystem::path> corpus(const std::string& reader) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(corpus_root / reader))
    if (entry.is_regular_file()) files.push_back(entry.path());
  return files;
}

// The readers' contract on one file: it parses, or throws pathq::invalid_argument naming the reader.
template <class Parse>
void replay(const std::string& reader, const char* where, Parse parse) {
  const auto files = corpus(reader);
  REQUIRE(files.size() >= 3);
  for (const auto& file : files) {
    INFO("reader " << reader << ", file " << file.string());
    const std::string bytes = pathq::io::read_file(file.string());
    try {
      parse(bytes);
    } catch (const pathq::invalid_argument& e) {
      REQUIRE_THAT(e.what(), Catch::StartsWith(std::string("pathq::") + where));
    }
  }
}

// `data` as a gzip stream.
std::string gzip(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

TEST_CASE("fuzz corpus: every seed and regression keeps the readers' contract", "[fuzz]") {
  replay("npy", "read_npy", [](const std::string& b) { (void)pathq::io::parse_npy(b, "seed"); });
  replay("npz", "read_npz", [](const std::string& b) { (void)pathq::io::parse_npz(b, "seed"); });
  replay("safetensors", "read_safetensors", [](const std::string& b) { (void)pathq::io::parse_safetensors(b, "seed"); });
  replay("idx", "read_idx", [](const std::string& b) { (void)pathq::io::parse_idx(b, "seed"); });
}

TEST_CASE("fuzz regression: a small gzip stream that inflates far beyond its IDX header", "[fuzz]") {
  // Found by the IDX harness: 2.6 MB of gzip declaring 1 byte of data made the reader inflate
  // 2.5 GB before noticing. Inflating now stops as soon as the output passes the declared size.
  const std::string header = {'\0', '\0', '\x08', '\x01', '\0', '\0', '\0', '\x01', '\x07'};
  const std::string bomb = gzip(header + std::string(std::size_t{64} << 20, '\0'));
  INFO("compressed size " << bomb.size());
  REQUIRE(bomb.size() < (std::size_t{1} << 20));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(bomb, "bomb.idx.gz"),
                      Contains("pathq::read_idx: bomb.idx.gz: trailing data: the gzip stream inflates to more than "
                               "the 9 bytes that its header declares"));
  // Not an IDX header at all: inflating stops after 4 bytes and the magic is reported.
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(gzip(std::string(std::size_t{16} << 20, 'x')), "junk.gz"),
                      Contains("pathq::read_idx: junk.gz: bad magic"));
  // A valid gzip file still reads.
  const std::string ok = header.substr(0, 8) + "\x05";
  const auto a = pathq::io::parse_idx(gzip(ok), "ok.idx.gz");
  REQUIRE(a.shape == std::vector<std::int64_t>{1});
  REQUIRE(a.at(0) == 5.0);
}

TEST_CASE("fuzz regression: a .npy of billions of empty rows converts at once", "[fuzz]") {
  // Found by the .npy harness (a timeout): shape (6016360163, 0) of int8 holds no element, but
  // converting it to another scalar type looped over its 6e9 empty rows for a minute.
  const auto bytes = pathq::io::read_file((corpus_root / "npy" / "regression_empty_rows_slow.npy").string());
  const auto array = pathq::io::parse_npy(bytes, "empty.npy");
  const auto start = std::chrono::steady_clock::now();
  const Eigen::MatrixXd M = pathq::io::to_matrix<double>(array, "empty.npy");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("to_matrix took " << seconds << " s");
  REQUIRE(M.rows() == 6016360163);
  REQUIRE(M.cols() == 0);
  REQUIRE(seconds < 0.5);
}

}  // namespace pathq_test_fuzz_regressions
