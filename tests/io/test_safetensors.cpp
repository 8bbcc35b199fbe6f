// safetensors reading and writing: F16/BF16 rounding against a search over every value, round
// trips of every dtype, the exact written layout, every malformed case, and interop with NumPy.
#include <catch2/catch.hpp>

#include <pathq/detail/float16.hpp>
#include <pathq/io/safetensors.hpp>

#include "support/temp_dir.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_safetensors {

namespace fs = std::filesystem;
using Catch::Contains;
using pathq::io::SafetensorsDType;
using pathq::io::SafetensorsFile;
using pathq::io::SafetensorsTensor;

using pathq_test::numpy_available;
using pathq_test::TempDir;

namespace {

template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// A safetensors file made by hand: the 8-byte length of `json`, `json` as it is, then `data`.
std::string st_file(const std::string& json, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + data;
}

template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&out[0], values.data(), out.size());
  return out;
}

// Naive reference for rounding to a 16-bit format, written from the definition: list every
// non-negative finite value (their bit patterns are in increasing order), find the neighbours of
// |x| by binary search, take the nearer, and on a tie the even bit pattern. Beyond the largest
// finite value, the halfway point to the next power of two (where the next value would be) and
// above give infinity.
template <class Format>
struct NearestByTable {
  std::vector<double> values;  // values[b] = value of pattern b, b = 0 .. largest finite
  NearestByTable() {
    for (std::uint32_t b = 0; b < Format::exponent_mask; ++b)
      values.push_back(Format::decode(static_cast<std::uint16_t>(b)));
  }
  std::uint16_t operator()(double x) const {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(x);
    const double top = values.back(), below = values[values.size() - 2];
    if (a >= top + (top - below) / 2) return static_cast<std::uint16_t>(sign | Format::exponent_mask);
    const auto it = std::lower_bound(values.begin(), values.end(), a);
    std::size_t k = static_cast<std::size_t>(it - values.begin());
    if (k == values.size()) k = values.size() - 1;
    if (values[k] != a && k > 0) {
      const double up = values[k] - a, down = a - values[k - 1];
      if (down < up || (down == up && (k - 1) % 2 == 0)) k = k - 1;
    }
    return static_cast<std::uint16_t>(sign | k);
  }
};

// Test doubles spread over a format's whole range: random magnitudes at every exponent, the exact
// midpoints between neighbouring values (ties) and their neighbouring doubles.
template <class Format>
std::vector<double> probe_values(const NearestByTable<Format>& table, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<double> xs;
  for (int e = Format::min_exponent - Format::mantissa_bits - 4; e <= Format::bias + 2; ++e)
    for (int r = 0; r < 8; ++r) xs.push_back((r % 2 ? -1.0 : 1.0) * std::ldexp(1.0 + unit(rng), e));
  std::uniform_int_distribution<std::size_t> pick(0, table.values.size() - 2);
  for (int r = 0; r < 3000; ++r) {
    const std::size_t k = r < 40 ? static_cast<std::size_t>(r) : pick(rng);  // the subnormals too
    const double mid = (table.values[k] + table.values[k + 1]) / 2;          // exact in double
    xs.push_back(mid);
    xs.push_back(std::nextafter(mid, 0.0));
    xs.push_back(-std::nextafter(mid, HUGE_VAL));
  }
  const double top = table.values.back(), below = table.values[table.values.size() - 2];
  const double threshold = top + (top - below) / 2;
  for (const double x : {top, threshold, std::nextafter(threshold, 0.0), std::nextafter(threshold, HUGE_VAL),
                         1e300, std::numeric_limits<double>::denorm_min(), 0.0, -0.0})
    xs.push_back(x);
  return xs;
}

std::uint16_t f16(double x) {
  bool overflow = false;
  return pathq::detail::Binary16::encode(x, overflow);
}
std::uint16_t bf16(double x) {
  bool overflow = false;
  return pathq::detail::BFloat16::encode(x, overflow);
}

}  // namespace

TEST_CASE("float16: known F16 and BF16 bit patterns", "[io][safetensors][float16]") {
  using pathq::detail::BFloat16;
  using pathq::detail::Binary16;
  REQUIRE(f16(1.0) == 0x3c00);
  REQUIRE(f16(-2.5) == 0xc100);
  REQUIRE(f16(65504.0) == 0x7bff);
  REQUIRE(f16(-65504.0) == 0xfbff);
  REQUIRE(f16(65519.99) == 0x7bff);
  REQUIRE(f16(0.1) == 0x2e66);
  REQUIRE(f16(1.0 / 3.0) == 0x3555);
  REQUIRE(f16(std::ldexp(1.0, -14)) == 0x0400);        // smallest normal
  REQUIRE(f16(std::ldexp(1.0, -24)) == 0x0001);        // smallest subnormal
  REQUIRE(f16(std::ldexp(1023.0, -24)) == 0x03ff);     // largest subnormal
  REQUIRE(f16(std::ldexp(1.0, -25)) == 0x0000);        // tie between 0 and 2^-24: even is 0
  REQUIRE(f16(std::ldexp(3.0, -26)) == 0x0001);        // above the tie
  REQUIRE(f16(std::ldexp(3.0, -25)) == 0x0002);        // tie between 1 and 2 ulps: even is 2
  REQUIRE(f16(std::ldexp(2047.0, -25)) == 0x0400);     // a subnormal that rounds up to the smallest normal
  REQUIRE(f16(1.0 + std::ldexp(1.0, -11)) == 0x3c00);  // tie: stays at the even 1.0
  REQUIRE(f16(1.0 + std::ldexp(3.0, -11)) == 0x3c02);  // tie: goes up to the even 0x3c02
  REQUIRE(f16(2048.0 - 0.5) == 0x6800);                // rounds up into the next binade
  REQUIRE(f16(-0.0) == 0x8000);
  REQUIRE(f16(HUGE_VAL) == 0x7c00);
  REQUIRE(f16(-HUGE_VAL) == 0xfc00);
  REQUIRE(f16(std::nan("")) == 0x7e00);
  bool overflow = false;
  REQUIRE(Binary16::encode(65520.0, overflow) == 0x7c00);
  REQUIRE(overflow);
  REQUIRE(Binary16::encode(HUGE_VAL, overflow) == 0x7c00);
  REQUIRE_FALSE(overflow);  // infinity is not an overflow
  REQUIRE(Binary16::max_finite() == 65504.0);

  REQUIRE(Binary16::decode(0x3c00) == 1.0);
  REQUIRE(Binary16::decode(0xc100) == -2.5);
  REQUIRE(Binary16::decode(0x7bff) == 65504.0);
  REQUIRE(Binary16::decode(0x0001) == std::ldexp(1.0, -24));
  REQUIRE(Binary16::decode(0x3555) == 0.333251953125);
  REQUIRE(Binary16::decode(0xfc00) == -HUGE_VAL);
  REQUIRE(std::isnan(Binary16::decode(0x7e00)));
  REQUIRE(std::isnan(Binary16::decode(0xfc01)));
  REQUIRE(std::signbit(Binary16::decode(0x8000)));

  REQUIRE(bf16(1.0) == 0x3f80);
  REQUIRE(bf16(-2.5) == 0xc020);
  REQUIRE(bf16(3.14159265358979) == 0x4049);
  REQUIRE(bf16(0.1) == 0x3dcd);
  REQUIRE(bf16(std::ldexp(1.0, -126)) == 0x0080);
  REQUIRE(bf16(std::ldexp(1.0, -133)) == 0x0001);
  REQUIRE(bf16(1e-40) == 0x0001);
  REQUIRE(bf16(1.0 + std::ldexp(1.0, -8)) == 0x3f80);  // tie to even
  REQUIRE(bf16(1.0 + std::ldexp(3.0, -8)) == 0x3f82);
  REQUIRE(bf16(-HUGE_VAL) == 0xff80);
  REQUIRE(bf16(std::nan("")) == 0x7fc0);
  REQUIRE(BFloat16::max_finite() == 3.3895313892515355e38);
  REQUIRE(BFloat16::encode(std::numeric_limits<float>::max(), overflow) == 0x7f80);
  REQUIRE(overflow);
  REQUIRE(BFloat16::decode(0x4049) == 3.140625);
  REQUIRE(BFloat16::decode(0x0001) == std::ldexp(1.0, -133));
}

TEMPLATE_TEST_CASE("float16: encode agrees with a search over every value, decode inverts it",
                   "[io][safetensors][float16]", pathq::detail::Binary16, pathq::detail::BFloat16) {
  using Format = TestType;
  const NearestByTable<Format> table;
  const unsigned seed = 20240607;
  INFO("seed " << seed << ", " << table.values.size() << " non-negative finite values");
  for (const double x : probe_values(table, seed)) {
    bool overflow = false;
    const std::uint16_t ours = Format::encode(x, overflow);
    INFO("x = " << x);
    REQUIRE(ours == table(x));
    REQUIRE(overflow == (std::isfinite(x) && (ours & Format::exponent_mask) == Format::exponent_mask));
  }
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const double value = Format::decode(bits);
    INFO("pattern " << b);
    if ((bits & Format::exponent_mask) == Format::exponent_mask && (bits & Format::mantissa_mask) != 0) {
      REQUIRE(std::isnan(value));
      continue;
    }
    REQUIRE(static_cast<double>(static_cast<float>(value)) == value);  // every value is a float
    bool overflow = false;
    REQUIRE(Format::encode(value, overflow) == bits);
    REQUIRE_FALSE(overflow);
  }
}

TEST_CASE("float16: BF16 from float agrees with the usual bit trick", "[io][safetensors][float16]") {
  // bits(float) + 0x7fff + (bit 16), shifted right by 16: round to nearest even for non-NaN floats.
  std::mt19937 rng(17);
  for (int r = 0; r < 100000; ++r) {
    std::uint32_t u = static_cast<std::uint32_t>(rng());
    if ((u & 0x7f800000u) == 0x7f800000u) continue;  // NaN and infinity
    float x;
    std::memcpy(&x, &u, 4);
    const auto expected = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    INFO("float bits " << u);
    REQUIRE(bf16(x) == expected);
  }
}

TEMPLATE_TEST_CASE("safetensors: matrices of every scalar type round-trip with their own dtype",
                   "[io][safetensors]", float, double, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t,
                   std::int32_t, std::uint32_t, std::int64_t, std::uint64_t) {
  using Scalar = TestType;
  const TempDir dir;
  for (const auto& [rows, cols] :
       std::vector<std::pair<Eigen::Index, Eigen::Index>>{{3, 5}, {1, 1}, {0, 4}, {6, 1}}) {
    INFO("dtype " << pathq::io::to_string(pathq::io::safetensors_dtype_of<Scalar>()) << ", " << rows << " x "
                  << cols);
    Mat<Scalar> M(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i)
      for (Eigen::Index j = 0; j < cols; ++j)
        M(i, j) = static_cast<Scalar>((i * 7 + j * 3) % 100 + (std::is_floating_point_v<Scalar> ? 0.25 : 0));
    if (M.size() > 0) M(0, 0) = std::numeric_limits<Scalar>::max();
    if (M.size() > 1) M(rows - 1, cols - 1) = std::numeric_limits<Scalar>::lowest();
    SafetensorsFile file;
    file.add("layer.weight", M);
    file.set_metadata("format", "pt");
    pathq::io::write_safetensors(dir.file("m.safetensors"), file);
    const SafetensorsFile back = pathq::io::read_safetensors(dir.file("m.safetensors"));
    REQUIRE(back.names() == std::vector<std::string>{"layer.weight"});
    REQUIRE(back.metadata().at("format") == "pt");
    REQUIRE(back.tensor("layer.weight").dtype == pathq::io::safetensors_dtype_of<Scalar>());
    REQUIRE(back.tensor("layer.weight").shape == std::vector<std::int64_t>{rows, cols});
    REQUIRE(back.matrix<Scalar>("layer.weight") == M);
    REQUIRE(back.source() == dir.file("m.safetensors"));
  }
}

TEST_CASE("safetensors: every dtype stores small integers exactly and converts back to any scalar",
          "[io][safetensors]") {
  const std::vector<SafetensorsDType> all = {
      SafetensorsDType::Bool, SafetensorsDType::U8,  SafetensorsDType::I8,   SafetensorsDType::U16,
      SafetensorsDType::I16,  SafetensorsDType::U32, SafetensorsDType::I32,  SafetensorsDType::U64,
      SafetensorsDType::I64,  SafetensorsDType::F16, SafetensorsDType::BF16, SafetensorsDType::F32,
      SafetensorsDType::F64};
  for (const SafetensorsDType dtype : all) {
    INFO("dtype " << pathq::io::to_string(dtype));
    Mat<double> M(2, 3);
    if (dtype == SafetensorsDType::Bool)
      M << 0, 1, 1, 0, 0, 1;
    else
      M << 0, 1, 2, 100, 7, 64;
    SafetensorsFile file;
    file.add("t", M, dtype);
    file.add("t_from_int", M.cast<std::int32_t>(), dtype);
    const SafetensorsFile back = pathq::io::parse_safetensors(pathq::io::to_safetensors_bytes(file), "mem");
    REQUIRE(back.tensor("t").dtype == dtype);
    REQUIRE(back.tensor("t").data.size() == 6 * pathq::io::item_size(dtype));
    REQUIRE(back.matrix<double>("t") == M);
    REQUIRE(back.matrix<float>("t") == M.cast<float>());
    REQUIRE(back.matrix<std::int8_t>("t") == M.cast<std::int8_t>());
    REQUIRE(back.matrix<std::uint64_t>("t_from_int") == M.cast<std::uint64_t>());
    REQUIRE(pathq::io::to_vector<std::int16_t>(back.tensor("t"), "t")(3) ==
            static_cast<std::int16_t>(M(1, 0)));
  }
}

TEST_CASE("safetensors: F16 and BF16 tensors round values to nearest even and read back exactly",
          "[io][safetensors][float16]") {
  Mat<float> M(1, 6);
  M << 1.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -24), std::ldexp(1.0f, -25), 0.1f;
  SafetensorsFile file;
  file.add("h", M, SafetensorsDType::F16);
  file.add("b", M, SafetensorsDType::BF16);
  const SafetensorsTensor& h = file.tensor("h");
  std::vector<std::uint16_t> bits(6);
  std::memcpy(bits.data(), h.data.data(), 12);
  REQUIRE(bits == std::vector<std::uint16_t>{0x3c00, 0xc100, 0x7bff, 0x0001, 0x0000, 0x2e66});
  const Mat<double> back = pathq::io::to_matrix<double>(h, "h");
  REQUIRE(back(0, 0) == 1.0);
  REQUIRE(back(0, 2) == 65504.0);
  REQUIRE(back(0, 3) == std::ldexp(1.0, -24));
  REQUIRE(back(0, 5) == pathq::detail::Binary16::decode(0x2e66));
  const Mat<float> b = pathq::io::to_matrix<float>(file.tensor("b"), "b");
  REQUIRE(b(0, 1) == -2.5f);
  REQUIRE(b(0, 2) == 65536.0f);  // 65504 is not a BF16 value: the nearest is 2^16
  REQUIRE(b(0, 5) == static_cast<float>(pathq::detail::BFloat16::decode(0x3dcd)));

  // Infinities and NaN are stored as such; a finite value that overflows is an error.
  Mat<double> special(1, 3);
  special << HUGE_VAL, -HUGE_VAL, std::nan("");
  SafetensorsFile s;
  s.add("s", special, SafetensorsDType::F16);
  const Mat<double> sb = s.matrix<double>("s");
  REQUIRE(sb(0, 0) == HUGE_VAL);
  REQUIRE(sb(0, 1) == -HUGE_VAL);
  REQUIRE(std::isnan(sb(0, 2)));
  Mat<double> big(2, 2);
  big << 1, 2, 3, 70000;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(big, SafetensorsDType::F16),
                      Contains("pathq::SafetensorsTensor::from_matrix: entry (1, 1) = 70000 overflows F16") &&
                          Contains("65504"));
  big(1, 1) = 1e39;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(big, SafetensorsDType::BF16),
                      Contains("overflows BF16"));
  big(1, 1) = 1e300;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(big, SafetensorsDType::F32), Contains("overflows F32"));
  // Above FLT_MAX but below the rounding threshold 2^128 - 2^103: rounds to FLT_MAX.
  big(1, 1) = std::nextafter(static_cast<double>(std::numeric_limits<float>::max()), HUGE_VAL);
  REQUIRE(pathq::io::to_matrix<float>(SafetensorsTensor::from_matrix(big, SafetensorsDType::F32), "t")(
              1, 1) == std::numeric_limits<float>::max());
  big(1, 1) = std::ldexp(1.0, 128) - std::ldexp(1.0, 103);  // the tie: to even, which is 2^128
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(big, SafetensorsDType::F32), Contains("overflows F32"));
}

TEST_CASE("safetensors: conversions that would lose information are rejected with the entry",
          "[io][safetensors]") {
  Mat<double> M(2, 2);
  M << 1, 2, 3, 2.5;
  REQUIRE_THROWS_WITH(
      SafetensorsTensor::from_matrix(M, SafetensorsDType::I32),
      Contains("pathq::SafetensorsTensor::from_matrix: entry (1, 1) = 2.5 does not fit exactly in I32"));
  M(1, 1) = 300;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(M, SafetensorsDType::I8),
                      Contains("= 300 does not fit exactly in I8"));
  M(1, 1) = -1;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(M, SafetensorsDType::U64),
                      Contains("= -1 does not fit exactly in U64"));
  M(1, 1) = 2;
  REQUIRE_THROWS_WITH(SafetensorsTensor::from_matrix(M, SafetensorsDType::Bool),
                      Contains("entry (0, 1) = 2 does not fit exactly in BOOL"));
  M(1, 1) = std::nan("");
  REQUIRE_THROWS_AS(SafetensorsTensor::from_matrix(M, SafetensorsDType::I64), pathq::invalid_argument);

  SafetensorsTensor f16;
  f16.dtype = SafetensorsDType::F16;
  f16.shape = {3};
  f16.data = raw_bytes(std::vector<std::uint16_t>{0x3c00, 0x4100, 0x3800});  // 1, 2.5, 0.5
  REQUIRE_THROWS_WITH(
      pathq::io::to_matrix<std::int32_t>(f16, "w.safetensors: tensor 'h'"),
      Contains("pathq::to_matrix: w.safetensors: tensor 'h': entry (1, 0) = 2.5 of a F16 tensor "
               "does not fit exactly in I32"));
  REQUIRE_THROWS_WITH(pathq::io::to_vector<std::int32_t>(f16, "h"),
                      Contains("pathq::to_vector: h: element 1 = 2.5"));
  SafetensorsTensor flags;
  flags.dtype = SafetensorsDType::Bool;
  flags.shape = {2};
  flags.data = std::string("\x01\x02", 2);
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<float>(flags, "flags"),
                      Contains("entry (1, 0) of a BOOL tensor is byte 2, not 0 or 1"));
  SafetensorsTensor big;
  big.dtype = SafetensorsDType::U64;
  big.shape = {1};
  big.data = raw_bytes(std::vector<std::uint64_t>{18446744073709551615ull});
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::int64_t>(big, "u"),
                      Contains("= 18446744073709551615 of a U64 tensor does not fit exactly in I64"));
  REQUIRE(pathq::io::to_matrix<std::uint64_t>(big, "u")(0, 0) == 18446744073709551615ull);
  REQUIRE(pathq::io::to_matrix<double>(big, "u")(0, 0) == 18446744073709551616.0);

  SafetensorsTensor cube;
  cube.dtype = SafetensorsDType::I16;
  cube.shape = {2, 1, 3};
  cube.data = raw_bytes(std::vector<std::int16_t>{1, 2, 3, 4, 5, 6});
  REQUIRE_THROWS_WITH(
      pathq::io::to_matrix<float>(cube, "k"),
      Contains("pathq::to_matrix: k: expected a 0-D, 1-D or 2-D tensor, found shape [2, 1, 3]"));
  const Eigen::VectorXf flat = pathq::io::to_vector<float>(cube, "k");
  REQUIRE(flat.size() == 6);
  REQUIRE(flat(4) == 5.0f);
  cube.shape = {};
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<float>(cube, "k"),
                      Contains("12 bytes of data do not match shape [] of I16"));
  cube.data.resize(2);
  const Mat<float> scalar = pathq::io::to_matrix<float>(cube, "k");
  REQUIRE(scalar.rows() == 1);
  REQUIRE(scalar.cols() == 1);
  REQUIRE(scalar(0, 0) == 1.0f);
}

TEST_CASE("safetensors: the written bytes follow the format exactly", "[io][safetensors]") {
  SafetensorsFile file;
  Mat<std::int8_t> codes(1, 3);
  codes << -1, 0, 1;
  Mat<double> step(1, 1);
  step << 0.5;
  Mat<float> bias(2, 1);
  bias << 1.0f, 2.0f;
  file.add("codes", codes);
  file.add("step", step);
  file.add("bias", bias);
  file.set_metadata("scheme", "codes * step");
  file.set_metadata("a\"quote", "line\nbreak\x01");
  const std::string bytes = pathq::io::to_safetensors_bytes(file);
  const std::string json =
      "{\"__metadata__\":{\"a\\\"quote\":\"line\\nbreak\\u0001\",\"scheme\":\"codes * step\"},"
      "\"bias\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[8,16]},"
      "\"codes\":{\"dtype\":\"I8\",\"shape\":[1,3],\"data_offsets\":[16,19]},"
      "\"step\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[0,8]}}";
  const std::size_t padded = (json.size() + 7) / 8 * 8;
  REQUIRE(bytes.size() == 8 + padded + 19);
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  REQUIRE(length == padded);
  REQUIRE(bytes.substr(8, json.size()) == json);
  REQUIRE(bytes.substr(8 + json.size(), padded - json.size()) == std::string(padded - json.size(), ' '));
  double first;
  std::memcpy(&first, bytes.data() + 8 + padded, 8);
  REQUIRE(first == 0.5);  // the widest dtype first, so every tensor is aligned to its item size
  REQUIRE(bytes.substr(8 + padded + 16) == std::string("\xff\x00\x01", 3));
  REQUIRE(pathq::io::to_safetensors_bytes(file) == bytes);  // deterministic

  const SafetensorsFile back = pathq::io::parse_safetensors(bytes, "mem");
  REQUIRE(back.metadata() == file.metadata());
  REQUIRE(back.names() == std::vector<std::string>{"bias", "codes", "step"});
  REQUIRE(back.matrix<std::int8_t>("codes") == codes);
  REQUIRE(pathq::io::to_safetensors_bytes(back) == bytes);

  const std::string empty = pathq::io::to_safetensors_bytes(SafetensorsFile());
  REQUIRE(empty == st_file("{}      ", ""));
  REQUIRE(pathq::io::parse_safetensors(empty, "e").size() == 0);
}

TEST_CASE("safetensors: hand-written headers with whitespace, escapes and empty tensors parse",
          "[io][safetensors]") {
  const std::string data = raw_bytes(std::vector<float>{1.0f, 2.0f, 3.0f});
  const std::string json =
      " {\n\t\"__metadata__\" : { \"caf\\u00e9\" : \"\\ud83d\\ude00 \\/ok\" } ,"
      "\"e\\u0301\": {\"shape\": [0, 5], \"dtype\": \"BF16\", \"data_offsets\": [12, 12]},"
      "\"x\": {\"data_offsets\": [0, 12], \"dtype\": \"F32\", \"shape\": [3]}, "
      "\"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [12, 12]}}   ";
  // A leading space is not allowed (the header must begin with '{'); without it the file parses.
  REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(st_file(json, data), "f"),
                      Contains("must begin with '{'"));
  REQUIRE_THROWS_AS(pathq::io::parse_safetensors(st_file(json.substr(1), data), "f"),
                    pathq::invalid_argument);
  const std::string fixed =
      "{\"__metadata__\" : { \"caf\\u00e9\" : \"\\ud83d\\ude00 \\/ok\" } ,"
      "\"e\\u0301\": {\"shape\": [0, 5], \"dtype\": \"BF16\", \"data_offsets\": [12, 12]},"
      "\"x\": {\"data_offsets\": [0, 12], \"dtype\": \"F32\", \"shape\": [3]}}   \n";
  const SafetensorsFile file = pathq::io::parse_safetensors(st_file(fixed, data), "f");
  REQUIRE(file.metadata().at("caf\xc3\xa9") == "\xf0\x9f\x98\x80 /ok");
  REQUIRE(file.contains("e\xcc\x81"));
  REQUIRE(file.tensor("e\xcc\x81").shape == std::vector<std::int64_t>{0, 5});
  REQUIRE(file.matrix<float>("e\xcc\x81").rows() == 0);
  REQUIRE(file.matrix<float>("x") == (Mat<float>(3, 1) << 1, 2, 3).finished());
  // A 0-d tensor needs one element: 4 bytes of F32.
  REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(st_file(json.substr(1), data), "f"),
                      Contains("tensor 's': data_offsets [12, 12] hold 0 bytes but shape [] of F32 needs 4"));
}

TEST_CASE("safetensors: every malformed file is rejected with a message naming the problem",
          "[io][safetensors]") {
  const std::string eight(8, '\0');
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  const std::string a = entry("a", "F32", "[2]", "[0,8]");
  struct Case {
    std::string bytes;
    std::string message;
  };
  std::string huge_length = st_file("{}", "");
  huge_length[4] = '\x01';  // 2^32 + 2
  std::string beyond = st_file("{}", "");
  beyond[0] = 10;
  const std::vector<Case> cases = {
      {"", "truncated: the file has 0 bytes, fewer than the 8-byte header length"},
      {std::string("\x02\x00\x00", 3), "truncated: the file has 3 bytes"},
      {huge_length, "header length 4294967298 exceeds the limit of 100000000 bytes"},
      {beyond, "truncated: header length 10 extends beyond the end of the file (10 bytes)"},
      {st_file("{", ""), "header length 1 is too short"},
      {st_file("[]", ""), "the JSON header must begin with '{'"},
      {st_file("{" + a, eight), "expected ',' or '}' after a value at offset"},
      {st_file("{" + a + "}x", eight), "expected only whitespace padding after the header object"},
      {st_file("{" + a + ",}", eight), "expected a quoted tensor name or '}'"},
      {st_file("{\"a\" {}}", ""), "expected ':' after a key"},
      {st_file("{\"a:{}}", ""), "expected a closing '\"'"},
      {st_file("{\"a\\x\":{}}", ""), "expected a valid escape"},
      {st_file("{\"a\\u12\":{}}", ""), "four hex digits after \\u"},
      {st_file("{\"\\udc00\":{}}", ""), "no lone low surrogate"},
      {st_file("{\"\\ud800x\":{}}", ""), "a low surrogate"},
      {st_file("{\"a\tb\":{}}", ""), "no raw control character in a string"},
      {st_file("{\"\xc3\x28\":{}}", ""), "invalid UTF-8 at offset 2"},
      {st_file("{\"\xed\xa0\x80\":{}}", ""), "invalid UTF-8"},  // an encoded surrogate
      {st_file("{\"\xc0\xaf\":{}}", ""), "invalid UTF-8"},      // overlong
      {st_file("{\"a\":[]}", ""), "expected an object '{' describing tensor 'a'"},
      {st_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "tensor 'a' has no 'data_offsets'"},
      {st_file("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "tensor 'a' has no 'dtype'"},
      {st_file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", eight), "tensor 'a' has no 'shape'"},
      {st_file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", eight),
       "duplicate key 'dtype' in tensor 'a'"},
      {st_file("{\"a\":{\"dtype\":\"F32\",\"stride\":[1]}}", eight), "unexpected key 'stride' in tensor 'a'"},
      {st_file("{\"a\":{\"dtype\":32}}", eight), "expected a quoted dtype string"},
      {st_file("{" + a + "," + a + "}", eight), "duplicate tensor name 'a'"},
      {st_file("{\"__metadata__\":{},\"__metadata__\":{}}", ""), "duplicate key '__metadata__'"},
      {st_file("{\"__metadata__\":{\"k\":1}}", ""), "a string value for '__metadata__' key 'k'"},
      {st_file("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", ""), "duplicate key 'k' in '__metadata__'"},
      {st_file("{\"__metadata__\":[]}", ""), "an object '{' of strings for '__metadata__'"},
      {st_file("{" + entry("a", "F32", "[2.5]", "[0,8]") + "}", eight),
       "value '2.5' in 'shape' of tensor 'a' is not an integer"},
      {st_file("{" + entry("a", "F32", "[2e0]", "[0,8]") + "}", eight), "is not an integer"},
      {st_file("{" + entry("a", "F32", "[-2]", "[0,8]") + "}", eight),
       "negative value '-2' in 'shape' of tensor 'a'"},
      {st_file("{" + entry("a", "F32", "[02]", "[0,8]") + "}", eight), "number '02' with a leading zero"},
      {st_file("{" + entry("a", "F32", "[9223372036854775808]", "[0,8]") + "}", eight), "is too large"},
      {st_file("{" + entry("a", "F32", "[2]", "[0,99999999999999999999]") + "}", eight), "is too large"},
      {st_file("{" + entry("a", "F32", "[x]", "[0,8]") + "}", eight),
       "a non-negative integer in 'shape' of tensor 'a'"},
      {st_file("{" + entry("a", "F32", "2", "[0,8]") + "}", eight), "an array '[' for 'shape' of tensor 'a'"},
      {st_file("{" + entry("a", "F32", "[2]", "[0,8,16]") + "}", eight),
       "'data_offsets' of tensor 'a' must hold two integers"},
      {st_file("{" + entry("a", "F8_E4M3", "[2]", "[0,2]") + "}", std::string(2, '\0')),
       "tensor 'a': unknown dtype 'F8_E4M3' (supported: BOOL"},
      {st_file("{" + entry("a", "f32", "[2]", "[0,8]") + "}", eight), "unknown dtype 'f32'"},
      {st_file("{" + entry("a", "F64", "[4294967296,4294967296]", "[0,8]") + "}", eight),
       "the byte size of shape [4294967296, 4294967296] of F64 overflows"},
      {st_file("{" + entry("a", "F32", "[2]", "[8,0]") + "}", eight),
       "tensor 'a': data_offsets [8, 0] end before they begin"},
      {st_file("{" + entry("a", "F32", "[2]", "[0,8]") + "}", "1234"),
       "truncated: tensor 'a': data_offsets [0, 8] extend beyond the data buffer (4 bytes)"},
      {st_file("{" + entry("a", "F32", "[3]", "[0,8]") + "}", eight),
       "tensor 'a': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12"},
      {st_file("{" + a + "," + entry("b", "F32", "[1]", "[4,8]") + "}", eight),
       "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 8]) overlap"},
      {st_file("{" + entry("b", "F32", "[1]", "[4,8]") + "}", eight),
       "bytes [0, 4) of the data buffer belong to no tensor"},
      {st_file("{" + a + "}", eight + "xyz"),
       "trailing data: bytes [8, 11) of the data buffer belong to no tensor"},
      {st_file("{}", "x"), "trailing data: bytes [0, 1)"},
  };
  for (const Case& c : cases) {
    INFO("file bytes: " << c.bytes.substr(std::min<std::size_t>(8, c.bytes.size())));
    REQUIRE_THROWS_AS(pathq::io::parse_safetensors(c.bytes, "bad.safetensors"), pathq::invalid_argument);
    REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(c.bytes, "bad.safetensors"),
                        Contains("pathq::read_safetensors: bad.safetensors: ") && Contains(c.message));
  }
  // A zero-size tensor may sit between others; the same file with 'b' moved inside 'a' may not.
  const std::string ok = "{" + a + "," + entry("z", "F32", "[0]", "[8,8]") + "}";
  REQUIRE(pathq::io::parse_safetensors(st_file(ok, eight), "f").size() == 2);
  const std::string inside = "{" + a + "," + entry("z", "F32", "[0]", "[4,4]") + "}";
  REQUIRE_THROWS_WITH(pathq::io::parse_safetensors(st_file(inside, eight), "f"), Contains("overlap"));
}

TEST_CASE("safetensors: truncations and random corruptions of a valid file never crash",
          "[io][safetensors]") {
  SafetensorsFile file;
  file.add("w", Mat<float>::Constant(3, 4, 0.5f));
  file.add("b", Mat<double>::Constant(4, 1, -1.0), SafetensorsDType::BF16);
  file.add("c", Mat<std::int32_t>::Constant(2, 2, 7), SafetensorsDType::I8);
  file.set_metadata("format", "pt");
  const std::string good = pathq::io::to_safetensors_bytes(file);
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n << " bytes");
    REQUIRE_THROWS_AS(pathq::io::parse_safetensors(good.substr(0, n), "t"), pathq::invalid_argument);
  }
  std::mt19937 rng(5);
  int parsed = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    INFO("trial " << trial);
    try {
      const SafetensorsFile back = pathq::io::parse_safetensors(bytes, "fuzz");
      for (const std::string& name : back.names())
        (void)pathq::io::to_vector<double>(back.tensor(name), name);
      ++parsed;
    } catch (const pathq::invalid_argument&) {
    }
  }
  REQUIRE(parsed > 0);  // corruptions inside the data leave a valid file
}

TEST_CASE("safetensors: the file API checks names and reports missing tensors", "[io][safetensors]") {
  SafetensorsFile file;
  file.add("fc1.weight", Mat<float>::Ones(2, 2));
  REQUIRE_THROWS_WITH(file.add("fc1.weight", Mat<float>::Ones(1, 1)),
                      Contains("pathq::SafetensorsFile::add: a tensor named 'fc1.weight' already exists"));
  REQUIRE_THROWS_WITH(file.add("__metadata__", Mat<float>::Ones(1, 1)),
                      Contains("'__metadata__' is reserved"));
  REQUIRE_THROWS_WITH(file.add("bad\xff", Mat<float>::Ones(1, 1)), Contains("is not valid UTF-8"));
  SafetensorsTensor wrong;
  wrong.dtype = SafetensorsDType::F64;
  wrong.shape = {3};
  wrong.data = std::string(16, '\0');
  REQUIRE_THROWS_WITH(file.add("w", wrong),
                      Contains("tensor 'w': 16 bytes of data do not match shape [3] of F64"));
  wrong.shape = {-2};
  REQUIRE_THROWS_WITH(file.add("w", wrong), Contains("shape [-2] is invalid"));
  REQUIRE_THROWS_WITH(file.set_metadata("k", "\xc3"),
                      Contains("pathq::SafetensorsFile::set_metadata: the value of key 'k'"));
  file.set_metadata("k", "1");
  file.set_metadata("k", "2");
  REQUIRE(file.metadata().at("k") == "2");
  REQUIRE_THROWS_WITH(file.tensor("fc2.weight"),
                      Contains("pathq::SafetensorsFile::tensor: (in memory): no tensor named 'fc2.weight' "
                               "(tensors: 'fc1.weight')"));

  const TempDir dir;
  const std::string path = dir.file("model.safetensors");
  pathq::io::write_safetensors(path, file);
  REQUIRE_THROWS_WITH(pathq::io::read_safetensors(path).matrix<float>("missing"),
                      Contains("pathq::SafetensorsFile::tensor: " + path + ": no tensor named 'missing'"));
  REQUIRE_THROWS_AS(pathq::io::read_safetensors(dir.file("none.safetensors")), pathq::io_error);
  REQUIRE_THROWS_AS(pathq::io::write_safetensors(dir.file("no/dir.safetensors"), file), pathq::io_error);
  REQUIRE(pathq::io::read_safetensors(path).matrix<double>("fc1.weight") == Mat<double>::Ones(2, 2));
}

TEST_CASE("safetensors: files written with Python's json and NumPy are read, and ours are read there",
          "[io][safetensors]") {
  if (!numpy_available()) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  const TempDir dir;
  const std::string script = dir.file("interop.py");
  pathq::io::write_file_atomically(script, R"PY(
import json, struct, sys
import numpy as np
d, mode = sys.argv[1], sys.argv[2]

def bf16_bits(x):  # round to nearest even on the float32 bits
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)

if mode == "write":
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(300) * 10.0 ** rng.integers(-9, 6, 300)).astype(np.float32)
    x = np.concatenate([x, np.float32([1, -2.5, 65504, 65519.99, 2**-24, 2**-25, 3 * 2**-26, 0.1, 1e-8])])
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    tensors = {
        "x": ("F32", x.tobytes(), [x.size]),
        "x_f16": ("F16", h.tobytes(), [x.size]),
        "x_bf16": ("BF16", bf16_bits(x).tobytes(), [x.size]),
        "w": ("F64", (np.arange(12.0).reshape(3, 4) * 0.5 - 1).tobytes(), [3, 4]),
        "codes": ("I64", np.array([[-3, 0], [7, -9223372036854775808]], np.int64).tobytes(), [2, 2]),
        "mask": ("BOOL", np.array([True, False, True]).tobytes(), [3]),
        "u": ("U8", np.array([0, 255], np.uint8).tobytes(), [2]),
        "empty": ("F32", b"", [0, 3]),
    }
    header, blobs, offset = {"__metadata__": {"format": "pt", "note": "caf\u00e9 \u2603"}}, [], 0
    for name, (dtype, blob, shape) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    with open(d + "/numpy.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
else:
    raw = open(d + "/ours.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0, n
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    assert header.pop("__metadata__") == {"format": "pt", "note": "caf\u00e9 \u2603"}
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data), spans
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), spans
    kinds = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": np.uint16, "I8": np.int8, "I32": np.int32}
    def get(name):
        e = header[name]
        b, c = e["data_offsets"]
        return np.frombuffer(data[b:c], kinds[e["dtype"]]).reshape(e["shape"])
    v = get("v")
    assert v.shape == (4, 5), v.shape
    assert (get("v_f16").view(np.uint16) == v.astype(np.float16).view(np.uint16)).all()
    assert (get("v_bf16") == bf16_bits(v)).all()
    assert (get("v_f64") == v.astype(np.float64)).all()
    assert (get("codes") == np.arange(-10, 10).reshape(4, 5)).all() and get("codes").dtype == np.int8
)PY");
  const std::string python = "/usr/bin/python3 '" + script + "' '" + dir.path().string() + "' ";
  REQUIRE(std::system((python + "write").c_str()) == 0);

  const SafetensorsFile theirs = pathq::io::read_safetensors(dir.file("numpy.safetensors"));
  REQUIRE(theirs.metadata().at("note") == "caf\xc3\xa9 \xe2\x98\x83");
  const Eigen::VectorXf x = pathq::io::to_vector<float>(theirs.tensor("x"), "x");
  const Eigen::VectorXf h = pathq::io::to_vector<float>(theirs.tensor("x_f16"), "x_f16");
  const Eigen::VectorXf b = pathq::io::to_vector<float>(theirs.tensor("x_bf16"), "x_bf16");
  REQUIRE(x.size() == 309);
  for (Eigen::Index k = 0; k < x.size(); ++k) {
    INFO("element " << k << " = " << x(k));
    bool overflow = false;
    const std::uint16_t ours_f16 = pathq::detail::Binary16::encode(x(k), overflow);
    const std::uint16_t ours_bf16 = pathq::detail::BFloat16::encode(x(k), overflow);
    std::uint16_t numpy_f16, numpy_bf16;
    std::memcpy(&numpy_f16, theirs.tensor("x_f16").data.data() + 2 * k, 2);
    std::memcpy(&numpy_bf16, theirs.tensor("x_bf16").data.data() + 2 * k, 2);
    REQUIRE(ours_f16 == numpy_f16);
    REQUIRE(ours_bf16 == numpy_bf16);
    REQUIRE((h(k) == static_cast<float>(pathq::detail::Binary16::decode(numpy_f16)) || std::isinf(h(k))));
    REQUIRE(b(k) == static_cast<float>(pathq::detail::BFloat16::decode(numpy_bf16)));
  }
  REQUIRE(theirs.matrix<double>("w")(2, 3) == 4.5);
  REQUIRE(theirs.matrix<std::int64_t>("codes")(1, 1) == std::numeric_limits<std::int64_t>::min());
  REQUIRE(theirs.matrix<std::int32_t>("mask") == (Mat<std::int32_t>(3, 1) << 1, 0, 1).finished());
  REQUIRE(theirs.matrix<std::uint8_t>("u")(1, 0) == 255);
  REQUIRE(theirs.matrix<float>("empty").rows() == 0);
  REQUIRE(theirs.matrix<float>("empty").cols() == 3);

  Mat<float> v(4, 5);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 30.0f);
  for (Eigen::Index i = 0; i < v.size(); ++i) v(i) = normal(rng);
  v(0, 0) = 65504.0f;
  v(0, 1) = std::ldexp(1.0f, -25);
  SafetensorsFile ours;
  ours.add("v", v);
  ours.add("v_f16", v, SafetensorsDType::F16);
  ours.add("v_bf16", v, SafetensorsDType::BF16);
  ours.add("v_f64", v, SafetensorsDType::F64);
  Mat<std::int32_t> codes(4, 5);
  for (Eigen::Index i = 0; i < 4; ++i)
    for (Eigen::Index j = 0; j < 5; ++j) codes(i, j) = static_cast<std::int32_t>(i * 5 + j - 10);
  ours.add("codes", codes, SafetensorsDType::I8);
  ours.set_metadata("format", "pt");
  ours.set_metadata("note", "caf\xc3\xa9 \xe2\x98\x83");
  pathq::io::write_safetensors(dir.file("ours.safetensors"), ours);
  REQUIRE(std::system((python + "read").c_str()) == 0);
}

}  // namespace pathq_test_safetensors
