// The bad-input contract of docs/reliability.md#bad-input, through the C++ API: one test per row.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <pathq/detail/npy_header.hpp>
#include <pathq/io/idx.hpp>
#include <pathq/io/npy.hpp>
#include <pathq/io/npz.hpp>
#include <pathq/io/safetensors.hpp>
#include <pathq/pathq.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_bad_input {

using Catch::Contains;

namespace {

// A .npy file's bytes with the given header fields and raw data.
std::string npy_file(const char* descr, const std::vector<std::int64_t>& shape, const std::string& data) {
  return pathq::detail::npy_preamble(descr, false, shape) + data;
}

// A safetensors file's bytes with the given JSON header and data buffer.
std::string safetensors_file(const std::string& json, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + data;
}

// An IDX header: type byte, then each dimension as a big-endian uint32.
std::string idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
  std::string out = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((d >> s) & 0xff);
  return out;
}

const pathq::Alphabet<double> four_bits = pathq::Alphabet<double>::from_bits(4, pathq::StepRule::layer_radius(1.0));

}  // namespace

TEST_CASE("bad input: W and X disagree on N_in", "[bad-input]") {
  const Eigen::MatrixXd W = pathq_test::gaussian(8, 3, 1);
  const Eigen::MatrixXd X7 = pathq_test::gaussian(20, 7, 2);
  INFO("W 8 x 3, X 20 x 7");
  const auto stats = pathq::LayerStats<double>::from(X7);
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>().quantize(W, stats, four_bits),
                      Contains("pathq::gpfq: W has 8 rows but the inputs have N_in = 7 columns"));
  pathq::LayerStats<double> s8(8);
  REQUIRE_THROWS_WITH(s8.add(X7), Contains("pathq::LayerStats::add: X has 7 columns but the layer has N_in = 8"));
}

TEST_CASE("bad input: X and Xq disagree", "[bad-input]") {
  const Eigen::MatrixXd X = pathq_test::gaussian(20, 8, 3);
  const Eigen::MatrixXd Xq = pathq_test::gaussian(19, 8, 4);
  pathq::LayerStats<double> s(8);
  REQUIRE_THROWS_WITH(s.add(X, Xq), Contains("pathq::LayerStats::add: X has 20 rows but Xq has 19"));
}

TEST_CASE("bad input: NaN or infinity in the weights", "[bad-input]") {
  Eigen::MatrixXd W = pathq_test::gaussian(8, 3, 5);
  const auto stats = pathq::LayerStats<double>::from(pathq_test::gaussian(20, 8, 6));
  W(2, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>().quantize(W, stats, four_bits),
                      Contains("pathq::gpfq: W has a non-finite entry (nan) at (2, 1)"));
  W(2, 1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(pathq::msq(W, four_bits), Contains("W has a non-finite entry (inf) at (2, 1)"));
}

TEST_CASE("bad input: NaN or infinity in the data", "[bad-input]") {
  Eigen::MatrixXd X = pathq_test::gaussian(20, 8, 7);
  X(0, 0) = -std::numeric_limits<double>::infinity();
  pathq::LayerStats<double> s(8);
  REQUIRE_THROWS_WITH(s.add(X), Contains("pathq::LayerStats::add: X has a non-finite entry (-inf) at (0, 0)"));
  X(0, 0) = 0;
  Eigen::MatrixXd Xq = X;
  Xq(5, 3) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(s.add(X, Xq), Contains("Xq has a non-finite entry (nan) at (5, 3)"));
}

TEST_CASE("bad input: empty weights or no samples", "[bad-input]") {
  const Eigen::MatrixXd W0(8, 0);
  REQUIRE_THROWS_WITH(pathq::msq(W0, four_bits), Contains("pathq::msq: W is empty (8 x 0)"));
  const pathq::LayerStats<double> none(8);  // no rows added
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>().quantize(pathq_test::gaussian(8, 3, 8), none, four_bits),
                      Contains("pathq::gpfq: the statistics hold no samples"));
  REQUIRE_THROWS_WITH(pathq::LayerStats<double>(0), Contains("pathq::LayerStats: N_in must be at least 1, got 0"));
}

TEST_CASE("bad input: bits, levels or step out of range", "[bad-input]") {
  using A = pathq::Alphabet<double>;
  const auto radius = pathq::StepRule::layer_radius(1.0);
  REQUIRE_THROWS_WITH(A::from_bits(1, radius), Contains("pathq::Alphabet::from_bits: bits must be in [2, 24]"));
  REQUIRE_THROWS_WITH(A::from_bits(25, radius), Contains("got 25"));
  REQUIRE_THROWS_WITH(A::symmetric(0, radius),
                      Contains("pathq::Alphabet::symmetric: levels per side K must be in [1, 2^30), got 0"));
  REQUIRE_THROWS_WITH(A::symmetric(3, -0.5), Contains("step must be finite and positive, got -0.5"));
  REQUIRE_THROWS_WITH(A::symmetric(3, std::numeric_limits<double>::quiet_NaN()),
                      Contains("step must be finite and positive, got nan"));
  REQUIRE_THROWS_WITH(A::symmetric(3, pathq::StepRule::layer_radius(0)),
                      Contains("radius scale C must be finite and positive, got 0"));
}

TEST_CASE("bad input: options out of range", "[bad-input]") {
  pathq::GpfqOptions g;
  g.dead_tolerance = 1;
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>(g), Contains("pathq::GpfqOptions: dead_tolerance must be in [0, 1), got 1"));
  g = {};
  g.engine.block_size = 0;
  REQUIRE_THROWS_WITH(pathq::Gpfq<double>(g), Contains("block_size must be >= 1, got 0"));
  pathq::io::NpzOptions z;
  z.level = 10;
  REQUIRE_THROWS_WITH(z.validate(), Contains("pathq::NpzOptions: level must be in 1..9, got 10"));
}

TEST_CASE("bad input: a dead layer is reported", "[bad-input]") {
  // The library does not refuse a dead layer (an all-zero X): it reports every input as dead
  // and the quantized weights are zero; `pathq layer` refuses it.
  const Eigen::MatrixXd W = pathq_test::gaussian(8, 3, 9);
  const auto stats = pathq::LayerStats<double>::from(Eigen::MatrixXd::Zero(20, 8));
  for (bool d : stats.dead_inputs()) REQUIRE(d);
  const auto r = pathq::Gpfq<double>().quantize(W, stats, four_bits);
  REQUIRE(r.info.dead_inputs == 8);
  REQUIRE((r.codes.array() == 0).all());
}

TEST_CASE("bad input: malformed files", "[bad-input]") {
  REQUIRE_THROWS_WITH(pathq::io::parse_npy("not an npy file", "W.npy"),
                      Contains("pathq::read_npy: W.npy: bad magic: not an .npy file"));
  REQUIRE_THROWS_WITH(pathq::io::parse_npy(npy_file("<f8", {2}, "").replace(10, 1, "["), "W.npy"),
                      Contains("pathq::read_npy: W.npy: malformed header"));
  REQUIRE_THROWS_WITH(pathq::io::parse_npz("PK\x03\x04 and then nothing useful", "a.npz"),
                      Contains("pathq::read_npz: a.npz: no end of central directory record"));
  REQUIRE_THROWS_WITH(pathq::io::parse_npz("GIF89a......................", "a.npz"),
                      Contains("pathq::read_npz: a.npz: bad signature: not a zip archive"));
  REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(safetensors_file("{\"a\": [", ""), "m.safetensors"),
                      Contains("pathq::read_safetensors: m.safetensors:"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(std::string("\x01\x02\x08\x01", 4), "x.idx"),
                      Contains("pathq::read_idx: x.idx: bad magic: not an IDX file"));
  // A member that is not a .npy file, and a corrupted CRC.
  pathq::io::NpzFile npz;
  npz.add("W", Eigen::MatrixXd::Ones(2, 2));
  std::string bytes = pathq::io::to_npz_bytes(npz);
  const std::size_t at = bytes.find("\x93NUMPY");
  bytes[at + 60] = static_cast<char>(bytes[at + 60] ^ 1);
  REQUIRE_THROWS_WITH(pathq::io::parse_npz(bytes, "a.npz"), Contains("member 'W.npy': CRC mismatch"));
}

TEST_CASE("bad input: truncated files", "[bad-input]") {
  const std::string npy = pathq::io::to_npy_bytes(Eigen::MatrixXd::Ones(4, 4));
  REQUIRE_THROWS_WITH(pathq::io::parse_npy(npy.substr(0, npy.size() - 8), "W.npy"),
                      Contains("pathq::read_npy: W.npy: truncated: expected 128 bytes of data, found 120"));
  pathq::io::NpzFile npz;
  npz.add("W", Eigen::MatrixXd::Ones(4, 4));
  const std::string zip = pathq::io::to_npz_bytes(npz);
  REQUIRE_THROWS_WITH(pathq::io::parse_npz(zip.substr(0, zip.size() - 30), "a.npz"),
                      Contains("pathq::read_npz: a.npz:"));
  pathq::io::SafetensorsFile st;
  st.add("w", Eigen::MatrixXf::Ones(4, 4));
  const std::string s = pathq::io::to_safetensors_bytes(st);
  REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(s.substr(0, s.size() - 4), "m.safetensors"),
                      Contains("pathq::read_safetensors: m.safetensors: truncated"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(idx_header(0x08, {3, 2, 2}) + "12345", "x.idx"),
                      Contains("pathq::read_idx: x.idx: truncated: expected 12 bytes of data, found 5"));
}

TEST_CASE("bad input: dtype mismatch or unsupported dtype", "[bad-input]") {
  REQUIRE_THROWS_WITH(pathq::io::parse_npy(npy_file("<U1", {2}, "ab"), "W.npy"),
                      Contains("pathq::read_npy: W.npy: unsupported dtype '<U1'"));
  REQUIRE_THROWS_WITH(pathq::io::parse_npy(npy_file(">f8", {1}, std::string(8, '\0')), "W.npy"),
                      Contains("big-endian dtype '>f8' is not supported"));
  const auto half = pathq::io::parse_npy(pathq::io::to_npy_bytes(Eigen::MatrixXd::Constant(1, 1, 0.5)), "W.npy");
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::int32_t>(half, "W.npy"),
                      Contains("pathq::to_matrix: W.npy: entry (0, 0) = 0.5 of a float64 array does not fit exactly in int32"));
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<double>(pathq::io::parse_npy(npy_file("<f8", {1, 1, 1}, std::string(8, '\0')), "T.npy"), "T.npy"),
                      Contains("expected a 1-D or 2-D array, found shape (1, 1, 1)"));
  REQUIRE_THROWS_WITH(
      pathq::io::parse_safetensors(safetensors_file(R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x"),
                                   "m.safetensors"),
      Contains("tensor 'w': unknown dtype 'F8'"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(idx_header(0x0A, {1}) + "x", "x.idx"),
                      Contains("pathq::read_idx: x.idx: unknown element type byte 0x0a"));
}

TEST_CASE("bad input: sizes whose product overflows", "[bad-input]") {
  const std::int64_t huge = std::int64_t{1} << 62;
  REQUIRE_THROWS_WITH(pathq::io::parse_npy(npy_file("<f8", {huge, 4}, ""), "W.npy"),
                      Contains("pathq::read_npy: W.npy: the data size of shape (4611686018427387904, 4) overflows 64-bit integers"));
  // An archive whose member's .npy has a shape that overflows.
  REQUIRE_THROWS_WITH(
      pathq::io::parse_npz(pathq::detail::zip_archive({{"W.npy", npy_file("<f8", {huge, huge}, "")}}, false, 6,
                                                      false, "test"),
                           "a.npz"),
      Contains("pathq::read_npz: a.npz: member 'W.npy': the data size of shape"));
  REQUIRE_THROWS_WITH(
      pathq::io::parse_safetensors(
          safetensors_file(R"({"w":{"dtype":"F64","shape":[4611686018427387904,8],"data_offsets":[0,0]}})", ""),
          "m.safetensors"),
      Contains("tensor 'w': the byte size of shape [4611686018427387904, 8] of F64 overflows 64-bit integers"));
  REQUIRE_THROWS_WITH(pathq::io::parse_idx(idx_header(0x0E, {0xffffffffu, 0xffffffffu, 16}), "x.idx"),
                      Contains("pathq::read_idx: x.idx: the dimensions overflow 64-bit integers"));
}

}  // namespace pathq_test_bad_input
