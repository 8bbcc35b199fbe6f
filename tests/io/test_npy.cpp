// .npy reading and writing: round trips, hand-made headers, every malformed case, NumPy interop,
// and the all-or-nothing file writer.
#include <catch2/catch.hpp>

#include <pathq/io/atomic_file.hpp>
#include <pathq/io/npy.hpp>

#include "support/temp_dir.hpp"

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
namespace pathq_test_npy {

namespace fs = std::filesystem;
using Catch::Contains;
using pathq::io::DType;
using pathq::io::NpyArray;

using pathq_test::numpy_available;
using pathq_test::TempDir;

namespace {

template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// The raw little-endian bytes of `values`.
template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&out[0], values.data(), out.size());
  return out;
}

// A .npy file made by hand: magic, version major.0, header length (2 bytes for 1.0, else 4),
// `dict` padded with spaces and '\n' to a multiple of 64 bytes, then `data`.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  const std::size_t length = total - prefix;
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  out += dict + std::string(total - prefix - dict.size() - 1, ' ') + "\n";
  return out + data;
}

std::string dict_for(const std::string& descr, const std::string& fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

// A test value for entry (i, j) that every dtype holds exactly (signed types get negatives).
template <class Scalar>
Scalar test_value(Eigen::Index i, Eigen::Index j) {
  const long long base = (i * 7 + j * 3) % 100;
  if constexpr (std::is_floating_point_v<Scalar>) return static_cast<Scalar>(base - 50) + Scalar(0.25);
  else if constexpr (std::is_signed_v<Scalar>) return static_cast<Scalar>(base - 50);
  else return static_cast<Scalar>(base + 100);
}

}  // namespace

TEMPLATE_TEST_CASE("npy: matrices of every dtype and shape round-trip through bytes and files",
                   "[io][npy]", float, double, std::int8_t, std::int16_t, std::int32_t, std::int64_t,
                   std::uint8_t) {
  using Scalar = TestType;
  const TempDir dir;
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes = {{0, 3}, {3, 0}, {0, 0}, {1, 1},
                                                                      {4, 7}, {1, 5}, {5, 1}};
  for (const auto& [rows, cols] : shapes) {
    INFO("dtype " << pathq::io::to_string(pathq::io::dtype_of<Scalar>()) << ", " << rows << " x " << cols);
    Mat<Scalar> M(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i)
      for (Eigen::Index j = 0; j < cols; ++j) M(i, j) = test_value<Scalar>(i, j);

    const std::string bytes = pathq::io::to_npy_bytes(M);
    REQUIRE(bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
    const std::size_t header_length = static_cast<unsigned char>(bytes[8]) +
                                      256u * static_cast<unsigned char>(bytes[9]);
    REQUIRE((10 + header_length) % 64 == 0);
    REQUIRE(bytes[10 + header_length - 1] == '\n');
    REQUIRE(bytes.size() == 10 + header_length + static_cast<std::size_t>(M.size()) * sizeof(Scalar));

    const NpyArray array = pathq::io::parse_npy(bytes, "M");
    REQUIRE(array.dtype == pathq::io::dtype_of<Scalar>());
    REQUIRE(array.shape == std::vector<std::int64_t>{rows, cols});
    REQUIRE_FALSE(array.fortran_order);
    REQUIRE(array.size() == rows * cols);
    REQUIRE(pathq::io::to_matrix<Scalar>(array, "M") == M);

    const std::string path = dir.file("m.npy");
    pathq::io::write_npy(path, M);
    REQUIRE(pathq::io::read_file(path) == bytes);
    REQUIRE(pathq::io::load_matrix<Scalar>(path) == M);
  }
}

TEST_CASE("npy: expressions, fixed-size and row-major matrices are written in C order", "[io][npy]") {
  Eigen::Matrix<float, 2, 3, Eigen::RowMajor> R;
  R << 1, 2, 3, 4, 5, 6;
  const std::string bytes = pathq::io::to_npy_bytes(R);
  const NpyArray array = pathq::io::parse_npy(bytes, "R");
  REQUIRE(array.data == raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  REQUIRE(pathq::io::to_matrix<float>(array, "R") == Mat<float>(R));

  const Mat<double> T = pathq::io::to_matrix<double>(pathq::io::parse_npy(
      pathq::io::to_npy_bytes(R.cast<double>().transpose() * 2.0), "T"), "T");
  REQUIRE(T == (R.cast<double>().transpose() * 2.0).eval());
}

TEST_CASE("npy: special values and integer extremes survive a round trip", "[io][npy]") {
  Mat<double> D(1, 4);
  D << std::numeric_limits<double>::infinity(), -0.0, std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::denorm_min();
  const Mat<double> D2 = pathq::io::to_matrix<double>(pathq::io::parse_npy(pathq::io::to_npy_bytes(D), "D"), "D");
  REQUIRE(D2(0, 0) == D(0, 0));
  REQUIRE((D2(0, 1) == 0.0 && std::signbit(D2(0, 1))));
  REQUIRE(std::isnan(D2(0, 2)));
  REQUIRE(D2(0, 3) == D(0, 3));

  Mat<std::int64_t> I(2, 1);
  I << std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max();
  REQUIRE(pathq::io::to_matrix<std::int64_t>(pathq::io::parse_npy(pathq::io::to_npy_bytes(I), "I"), "I") == I);
}

TEST_CASE("npy: arrays of any rank round-trip as NpyArray; only 1-D and 2-D become matrices",
          "[io][npy]") {
  const std::vector<std::vector<std::int64_t>> shapes = {{}, {5}, {0}, {2, 3, 4}, {1, 0, 2}, {2, 1, 1, 3}};
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Int8, DType::Int16,
                          DType::Int32,   DType::Int64,   DType::UInt8};
  for (const DType dtype : dtypes) {
    for (const auto& shape : shapes) {
      for (const bool fortran : {false, true}) {
        NpyArray array;
        array.dtype = dtype;
        array.shape = shape;
        array.fortran_order = fortran;
        for (std::int64_t k = 0; k < array.size() * static_cast<std::int64_t>(pathq::io::item_size(dtype)); ++k)
          array.data += static_cast<char>(k * 37 % 251);
        INFO(pathq::io::to_string(dtype) << ", rank " << shape.size() << ", fortran " << fortran);
        const NpyArray back = pathq::io::parse_npy(pathq::io::to_npy_bytes(array), "a");
        REQUIRE(back.dtype == dtype);
        REQUIRE(back.shape == shape);
        REQUIRE(back.fortran_order == fortran);
        REQUIRE(back.data == array.data);
        if (shape.size() == 1) {
          const Mat<double> column = pathq::io::to_matrix<double>(back, "a");
          REQUIRE(column.rows() == shape[0]);
          REQUIRE(column.cols() == 1);
        } else if (shape.size() != 2) {
          REQUIRE_THROWS_WITH(pathq::io::to_matrix<double>(back, "a.npy"),
                              Contains("pathq::to_matrix: a.npy: expected a 1-D or 2-D array"));
        }
      }
    }
  }
  NpyArray bad;
  bad.dtype = DType::Float32;
  bad.shape = {2, 2};
  bad.data = std::string(12, '\0');
  REQUIRE_THROWS_WITH(pathq::io::to_npy_bytes(bad), Contains("12 bytes of data do not match shape (2, 2)"));
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<float>(bad, "b"), Contains("pathq::to_matrix: b: 12 bytes"));
}

TEST_CASE("npy: a 1-D array becomes an n x 1 column", "[io][npy]") {
  const std::string bytes =
      npy_file(dict_for("<i4", "False", "(4,)"), raw_bytes(std::vector<std::int32_t>{5, -6, 7, -8}));
  const NpyArray array = pathq::io::parse_npy(bytes, "v");
  REQUIRE(array.shape == std::vector<std::int64_t>{4});
  Mat<double> expected(4, 1);
  expected << 5, -6, 7, -8;
  REQUIRE(pathq::io::to_matrix<double>(array, "v") == expected);
  REQUIRE(pathq::io::to_matrix<std::int32_t>(array, "v") == expected.cast<std::int32_t>());
}

TEST_CASE("npy: Fortran order is read column by column", "[io][npy]") {
  const std::vector<double> values = {1, 2, 3, 4, 5, 6};
  Mat<double> column_major(2, 3), row_major(2, 3);
  column_major << 1, 3, 5, 2, 4, 6;
  row_major << 1, 2, 3, 4, 5, 6;
  const NpyArray f = pathq::io::parse_npy(npy_file(dict_for("<f8", "True", "(2, 3)"), raw_bytes(values)), "f");
  REQUIRE(f.fortran_order);
  REQUIRE(pathq::io::to_matrix<double>(f, "f") == column_major);
  REQUIRE(pathq::io::to_matrix<float>(f, "f") == column_major.cast<float>());  // converting path
  const NpyArray c = pathq::io::parse_npy(npy_file(dict_for("<f8", "False", "(2, 3)"), raw_bytes(values)), "c");
  REQUIRE(pathq::io::to_matrix<double>(c, "c") == row_major);
  REQUIRE(pathq::io::to_matrix<std::int16_t>(c, "c") == row_major.cast<std::int16_t>());

  const std::vector<std::int16_t> ints = {1, 2, 3, 4, 5, 6};
  const NpyArray fi = pathq::io::parse_npy(npy_file(dict_for("<i2", "True", "(2, 3)"), raw_bytes(ints)), "fi");
  REQUIRE(pathq::io::to_matrix<double>(fi, "fi") == column_major);
  REQUIRE(pathq::io::to_matrix<std::int16_t>(fi, "fi") == column_major.cast<std::int16_t>());
}

TEST_CASE("npy: format versions 2.0 and 3.0 are read, and 2.0 is written for huge headers", "[io][npy]") {
  const std::string data = raw_bytes(std::vector<float>{1.5f, -2.5f});
  for (const int major : {2, 3}) {
    INFO("version " << major << ".0");
    const NpyArray array = pathq::io::parse_npy(npy_file(dict_for("<f4", "False", "(1, 2)"), data, major), "v");
    REQUIRE(array.shape == std::vector<std::int64_t>{1, 2});
    REQUIRE(array.data == data);
  }
  NpyArray tall;  // 22000 dimensions of 1 need a header longer than 65535 bytes
  tall.dtype = DType::UInt8;
  tall.shape.assign(22000, 1);
  tall.data = "x";
  const std::string bytes = pathq::io::to_npy_bytes(tall);
  REQUIRE(bytes[6] == 2);
  REQUIRE(bytes.size() % 64 == 1);
  const NpyArray back = pathq::io::parse_npy(bytes, "tall");
  REQUIRE(back.shape == tall.shape);
  REQUIRE(back.data == "x");
}

TEST_CASE("npy: the header tolerates whitespace, key order, quotes and Python 2 longs", "[io][npy]") {
  const std::string data = raw_bytes(std::vector<std::int32_t>{1, 2, 3, 4, 5, 6});
  const std::vector<std::string> dicts = {
      "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<i4\"}",
      "  {  'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) ,\t'descr':'<i4' ,  }  \t",
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (const auto& dict : dicts) {
    INFO(dict);
    const NpyArray array = pathq::io::parse_npy(npy_file(dict, data), "t");
    REQUIRE(array.dtype == DType::Int32);
    REQUIRE(array.shape == std::vector<std::int64_t>{2, 3});
    REQUIRE_FALSE(array.fortran_order);
  }
  const std::vector<std::pair<std::string, DType>> descrs = {
      {"|i1", DType::Int8}, {"<i1", DType::Int8}, {"|u1", DType::UInt8}, {"<u1", DType::UInt8},
      {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<i2", DType::Int16}, {"<i8", DType::Int64}};
  for (const auto& [descr, dtype] : descrs) {
    INFO(descr);
    const std::string elements(3 * pathq::io::item_size(dtype), '\1');
    const std::string bytes = npy_file(dict_for(descr, "False", "(3,)"), elements);
    REQUIRE(pathq::io::parse_npy(bytes, "d").dtype == dtype);
  }
}

TEST_CASE("npy: malformed files are rejected with a message naming the problem", "[io][npy]") {
  const std::string good_data = raw_bytes(std::vector<double>(6, 1.0));
  const std::string good = npy_file(dict_for("<f8", "False", "(2, 3)"), good_data);
  REQUIRE_NOTHROW(pathq::io::parse_npy(good, "bad.npy"));
  const auto rejects = [](const std::string& bytes, const std::string& problem) {
    INFO("expected problem: " << problem);
    REQUIRE_THROWS_AS(pathq::io::parse_npy(bytes, "bad.npy"), pathq::invalid_argument);
    REQUIRE_THROWS_WITH(pathq::io::parse_npy(bytes, "bad.npy"),
                        Contains("pathq::read_npy: bad.npy: ") && Contains(problem));
  };
  const auto with_dict = [&](const std::string& dict) { return npy_file(dict, good_data); };

  SECTION("bad magic") {
    rejects("", "bad magic");
    rejects("hello, world", "bad magic");
    std::string b = good;
    b[5] = 'Z';
    rejects(b, "bad magic");
  }
  SECTION("unknown version") {
    std::string b = good;
    b[6] = 4;
    rejects(b, "unsupported .npy format version 4.0");
    b[6] = 1;
    b[7] = 1;
    rejects(b, "unsupported .npy format version 1.1");
    rejects(good.substr(0, 7), "truncated");
  }
  SECTION("header length beyond the file") {
    std::string b = good.substr(0, 80);
    b[8] = static_cast<char>(0xe8);  // 1000
    b[9] = 3;
    rejects(b, "header length 1000 extends beyond the end of the file (80 bytes)");
    rejects(good.substr(0, 9), "truncated: the file ends inside the header length field");
    std::string v2 = npy_file(dict_for("<f8", "False", "(2, 3)"), good_data, 2);
    v2[11] = 1;
    rejects(v2, "extends beyond the end of the file");
  }
  SECTION("missing, unexpected and repeated keys") {
    rejects(with_dict("{'descr': '<f8', 'fortran_order': False, }"), "header is missing the key 'shape'");
    rejects(with_dict("{'shape': (2, 3), 'fortran_order': False}"), "header is missing the key 'descr'");
    rejects(with_dict("{}"), "header is missing the key 'descr'");
    rejects(with_dict(dict_for("<f8", "False", "(2, 3)") + "'x': 1"), "malformed header");
    rejects(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}"),
            "unexpected key 'extra'");
    rejects(with_dict("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}"),
            "duplicate key 'descr'");
  }
  SECTION("unsupported dtypes") {
    rejects(with_dict(dict_for("<c16", "False", "(2, 3)")), "unsupported dtype '<c16'");
    rejects(with_dict(dict_for("<f2", "False", "(2, 3)")), "unsupported dtype '<f2'");
    rejects(with_dict(dict_for("<u4", "False", "(2, 3)")), "unsupported dtype '<u4'");
    rejects(with_dict(dict_for("|f8", "False", "(2, 3)")), "unsupported dtype '|f8'");
    rejects(with_dict(dict_for("", "False", "(2, 3)")), "unsupported dtype ''");
    rejects(with_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }"),
            "unsupported 'descr'");
  }
  SECTION("big-endian") {
    rejects(with_dict(dict_for(">f8", "False", "(2, 3)")), "big-endian dtype '>f8' is not supported");
    rejects(with_dict(dict_for(">i4", "False", "(2, 3)")), "big-endian");
  }
  SECTION("fortran_order that is not a literal") {
    rejects(with_dict(dict_for("<f8", "0", "(2, 3)")), "'fortran_order' must be True or False");
    rejects(with_dict(dict_for("<f8", "Truely", "(2, 3)")), "'fortran_order' must be True or False");
    rejects(with_dict(dict_for("<f8", "'False'", "(2, 3)")), "'fortran_order' must be True or False");
  }
  SECTION("bad shape text") {
    for (const char* shape :
         {"(2, x)", "[2, 3]", "(2,, 3)", "(2 3)", "2, 3", "(2, 3", "(6)", "(2.0, 3)", "(, )"}) {
      INFO(shape);
      rejects(with_dict(dict_for("<f8", "False", shape)), "malformed header");
    }
    rejects(with_dict(dict_for("<f8", "False", "(6)")), "'shape' '(6)' is not a tuple");
  }
  SECTION("other malformed dictionaries") {
    rejects(with_dict("'descr': '<f8'"), "malformed header: expected '{'");
    rejects(with_dict("{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3), }"), "malformed header");
    rejects(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } junk"), "malformed header");
    rejects(with_dict("{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3), }"), "expected ':'");
    const char with_nul[] = "{'descr': '<f8',\0 'fortran_order': False, 'shape': (2, 3), }";
    rejects(with_dict(std::string(with_nul, sizeof with_nul - 1)), "\\x00");
    rejects(with_dict("{'descr': '<f8'"), "malformed header");
  }
  SECTION("negative and huge dimensions") {
    rejects(with_dict(dict_for("<f8", "False", "(2, -3)")), "negative dimension '-3'");
    rejects(with_dict(dict_for("<f8", "False", "(99999999999999999999, 1)")), "in 'shape' is too large");
    rejects(with_dict(dict_for("<f8", "False", "(4294967296, 4294967296)")), "overflows 64-bit integers");
    rejects(with_dict(dict_for("<f8", "False", "(4611686018427387904,)")), "overflows 64-bit integers");
    rejects(with_dict(dict_for("|u1", "False", "(3037000500, 3037000500, 0)")),
            "trailing data: expected 0 bytes");  // a zero dimension makes the count 0
  }
  SECTION("truncated and trailing data") {
    rejects(good.substr(0, good.size() - 8), "truncated: expected 48 bytes of data, found 40");
    rejects(good + std::string(8, '\0'), "trailing data: expected 48 bytes of data, found 56");
    rejects(npy_file(dict_for("<f8", "False", "(2, 3)"), ""), "truncated: expected 48 bytes of data, found 0");
  }
}

TEST_CASE("npy: every prefix and random corruptions of a valid file parse or throw invalid_argument",
          "[io][npy]") {
  Mat<double> M(3, 4);
  for (Eigen::Index k = 0; k < M.size(); ++k) M(k) = 0.5 * static_cast<double>(k);
  const std::string good = pathq::io::to_npy_bytes(M);
  const auto parse_or_reject = [](const std::string& bytes) {
    try {
      const NpyArray array = pathq::io::parse_npy(bytes, "fuzz");
      if (array.shape.size() == 1 || array.shape.size() == 2) {
        const Mat<double> D = pathq::io::to_matrix<double>(array, "fuzz");
        REQUIRE(D.size() == array.size());
        try {
          (void)pathq::io::to_matrix<std::int8_t>(array, "fuzz");
        } catch (const pathq::invalid_argument&) {
        }
      }
    } catch (const pathq::invalid_argument& e) {
      REQUIRE(std::string(e.what()).rfind("pathq::read_npy: fuzz: ", 0) == 0);
    }
  };
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE_THROWS_AS(pathq::io::parse_npy(good.substr(0, n), "fuzz"), pathq::invalid_argument);
  }
  const unsigned seed = 20240611;
  std::mt19937 engine(seed);
  const char symbols[] = "0123456789(), '\"{}:-LTrueFalsdcfi<>|\n\t\x93\x00\xff";
  const std::string alphabet(symbols, sizeof symbols - 1);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(engine() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = engine() % 130;  // mostly the preamble and header
      if (at >= bytes.size()) continue;
      switch (engine() % 4) {
        case 0: bytes[at] = static_cast<char>(engine() & 0xff); break;
        case 1: bytes[at] = alphabet[engine() % alphabet.size()]; break;
        case 2: bytes.erase(at, 1 + engine() % 3); break;
        default: bytes.insert(at, 1, alphabet[engine() % alphabet.size()]); break;
      }
    }
    INFO("seed " << seed << ", trial " << trial);
    parse_or_reject(bytes);
  }
}

TEST_CASE("npy: to_matrix converts dtypes and rejects entries an integer type cannot hold", "[io][npy]") {
  const auto array_of = [](const std::string& descr, const std::string& data, const char* shape) {
    return pathq::io::parse_npy(npy_file(dict_for(descr, "False", shape), data), "x.npy");
  };
  const NpyArray i16 = array_of("<i2", raw_bytes(std::vector<std::int16_t>{-300, 0, 300, 32767}), "(2, 2)");
  Mat<double> expected(2, 2);
  expected << -300, 0, 300, 32767;
  REQUIRE(pathq::io::to_matrix<double>(i16, "x.npy") == expected);
  REQUIRE(pathq::io::to_matrix<std::int64_t>(i16, "x.npy") == expected.cast<std::int64_t>());
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::uint8_t>(i16, "x.npy"),
                      Contains("pathq::to_matrix: x.npy: entry (0, 0) = -300 of a int16 array") &&
                          Contains("uint8"));
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::int8_t>(i16, "x.npy"), Contains("entry (0, 0) = -300"));

  const NpyArray u8 = array_of("|u1", std::string("\x00\x7f\x80\xff", 4), "(4,)");
  Mat<float> u8_expected(4, 1);
  u8_expected << 0, 127, 128, 255;
  REQUIRE(pathq::io::to_matrix<float>(u8, "u") == u8_expected);
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::int8_t>(u8, "u"), Contains("entry (2, 0) = 128"));

  const auto f64 = [&](double v) { return array_of("<f8", raw_bytes(std::vector<double>{v}), "(1, 1)"); };
  REQUIRE_THROWS_WITH(pathq::io::to_matrix<std::int32_t>(f64(2.5), "x.npy"),
                      Contains("entry (0, 0) = 2.5 of a float64 array does not fit exactly in int32"));
  REQUIRE_THROWS_AS(pathq::io::to_matrix<std::int64_t>(f64(std::nan("")), "x"), pathq::invalid_argument);
  REQUIRE_THROWS_AS(pathq::io::to_matrix<std::int64_t>(f64(9.3e18), "x"), pathq::invalid_argument);
  REQUIRE_THROWS_AS(pathq::io::to_matrix<std::int64_t>(f64(HUGE_VAL), "x"), pathq::invalid_argument);
  REQUIRE_THROWS_AS(pathq::io::to_matrix<std::uint8_t>(f64(256.0), "x"), pathq::invalid_argument);
  REQUIRE_THROWS_AS(pathq::io::to_matrix<std::uint8_t>(f64(-1.0), "x"), pathq::invalid_argument);
  REQUIRE(pathq::io::to_matrix<std::int64_t>(f64(-9223372036854775808.0), "x")(0, 0) ==
          std::numeric_limits<std::int64_t>::min());
  REQUIRE(pathq::io::to_matrix<std::uint8_t>(f64(255.0), "x")(0, 0) == 255);
  REQUIRE(pathq::io::to_matrix<std::int8_t>(f64(-128.0), "x")(0, 0) == -128);
  REQUIRE(std::isinf(pathq::io::to_matrix<float>(f64(1e300), "x")(0, 0)));
  REQUIRE(pathq::io::to_matrix<float>(f64(0.1), "x")(0, 0) == 0.1f);
}

TEST_CASE("npy: files written by NumPy are read, and NumPy reads the files written here", "[io][npy]") {
  if (!numpy_available()) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  const TempDir dir;
  const std::string script = dir.file("interop.py");
  pathq::io::write_file_atomically(script, R"PY(
import sys
import numpy as np
d = sys.argv[1]
if sys.argv[2] == "write":
    np.save(d + "/f64_fortran.npy", np.asfortranarray(np.arange(12.0).reshape(3, 4) * 0.25 - 1.0))
    np.save(d + "/i16.npy", (np.arange(12, dtype=np.int16).reshape(4, 3) - 6) * 1000)
    np.save(d + "/u8_1d.npy", np.arange(250, 256, dtype=np.uint8))
else:
    a = np.load(d + "/ours_f32.npy")
    assert a.dtype == np.float32 and a.shape == (3, 5) and not np.isfortran(a), (a.dtype, a.shape)
    assert (a == np.arange(3)[:, None] * 10 + np.arange(5)[None, :] + 0.5).all()
    b = np.load(d + "/ours_i64.npy")
    assert b.dtype == np.int64 and b.shape == (2, 1)
    assert b[0, 0] == np.iinfo(np.int64).min and b[1, 0] == np.iinfo(np.int64).max
    c = np.load(d + "/ours_u8_empty.npy")
    assert c.dtype == np.uint8 and c.shape == (0, 4)
)PY");
  const std::string python = "/usr/bin/python3 '" + script + "' '" + dir.path().string() + "' ";
  REQUIRE(std::system((python + "write").c_str()) == 0);

  const NpyArray f = pathq::io::read_npy(dir.file("f64_fortran.npy"));
  REQUIRE(f.dtype == DType::Float64);
  REQUIRE(f.fortran_order);
  const Mat<double> A = pathq::io::load_matrix<double>(dir.file("f64_fortran.npy"));
  REQUIRE(A.rows() == 3);
  REQUIRE(A.cols() == 4);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 4; ++j) REQUIRE(A(i, j) == static_cast<double>(i * 4 + j) * 0.25 - 1.0);

  const NpyArray s = pathq::io::read_npy(dir.file("i16.npy"));
  REQUIRE(s.dtype == DType::Int16);
  REQUIRE_FALSE(s.fortran_order);
  const Mat<std::int16_t> B = pathq::io::load_matrix<std::int16_t>(dir.file("i16.npy"));
  REQUIRE(B.rows() == 4);
  REQUIRE(B.cols() == 3);
  for (Eigen::Index i = 0; i < 4; ++i)
    for (Eigen::Index j = 0; j < 3; ++j) REQUIRE(B(i, j) == (i * 3 + j - 6) * 1000);

  const Mat<std::uint8_t> u = pathq::io::load_matrix<std::uint8_t>(dir.file("u8_1d.npy"));
  REQUIRE(u.rows() == 6);
  REQUIRE(u.cols() == 1);
  REQUIRE(u(5, 0) == 255);

  Mat<float> ours(3, 5);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 5; ++j) ours(i, j) = static_cast<float>(i * 10 + j) + 0.5f;
  pathq::io::write_npy(dir.file("ours_f32.npy"), ours);
  Mat<std::int64_t> extremes(2, 1);
  extremes << std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max();
  pathq::io::write_npy(dir.file("ours_i64.npy"), extremes);
  pathq::io::write_npy(dir.file("ours_u8_empty.npy"), Mat<std::uint8_t>(0, 4));
  REQUIRE(std::system((python + "read").c_str()) == 0);
}

TEST_CASE("atomic_file: an existing file is replaced entirely", "[io][atomic_file]") {
  const TempDir dir;
  const std::string path = dir.file("out.bin");
  pathq::io::write_file_atomically(path, std::string(10000, 'A'));
  REQUIRE(pathq::io::read_file(path) == std::string(10000, 'A'));
  pathq::io::write_file_atomically(path, "short");
  REQUIRE(pathq::io::read_file(path) == "short");
  pathq::io::write_file_atomically(path, "");
  REQUIRE(pathq::io::read_file(path).empty());
  REQUIRE(dir.entries() == std::vector<std::string>{"out.bin"});
}

TEST_CASE("atomic_file: a failed write throws io_error and leaves nothing behind", "[io][atomic_file]") {
  const TempDir dir;
  SECTION("missing directory") {
    const std::string path = dir.file("missing/out.npy");
    REQUIRE_THROWS_AS(pathq::io::write_file_atomically(path, "data"), pathq::io_error);
    REQUIRE_THROWS_WITH(pathq::io::write_file_atomically(path, "data"),
                        Contains("pathq::write_file_atomically: ") && Contains("'" + path + "'") &&
                            Contains("No such file or directory"));
    REQUIRE_THROWS_AS(pathq::io::write_npy(path, Mat<double>::Ones(2, 2)), pathq::io_error);
    REQUIRE(dir.entries().empty());
  }
  SECTION("the target is a directory") {
    fs::create_directory(dir.path() / "sub");
    REQUIRE_THROWS_WITH(pathq::io::write_file_atomically(dir.file("sub"), "data"),
                        Contains("cannot rename the temporary file onto '" + dir.file("sub") + "'"));
    REQUIRE(dir.entries() == std::vector<std::string>{"sub"});
    REQUIRE(fs::is_directory(dir.path() / "sub"));
    REQUIRE_THROWS_AS(pathq::io::write_file_atomically(dir.file("sub") + "/", "data"), pathq::io_error);
  }
  SECTION("an existing file survives a failed replacement") {
    const std::string path = dir.file("keep.bin");
    pathq::io::write_file_atomically(path, "old contents");
    fs::create_directory(dir.path() / "blocker");
    REQUIRE_THROWS_AS(pathq::io::write_file_atomically(dir.file("blocker"), "new"), pathq::io_error);
    REQUIRE(pathq::io::read_file(path) == "old contents");
    REQUIRE(dir.entries().size() == 2);
  }
}

TEST_CASE("atomic_file: reading a missing file or a directory throws io_error naming it", "[io][atomic_file]") {
  const TempDir dir;
  const std::string missing = dir.file("none.npy");
  REQUIRE_THROWS_WITH(pathq::io::read_file(missing),
                      Contains("pathq::read_file: cannot open '" + missing + "': No such file or directory"));
  REQUIRE_THROWS_AS(pathq::io::read_npy(missing), pathq::io_error);
  REQUIRE_THROWS_AS(pathq::io::load_matrix<float>(missing), pathq::io_error);
  REQUIRE_THROWS_WITH(pathq::io::read_file(dir.path().string()), Contains("Is a directory"));
}

TEST_CASE("write_files_atomically: all files or none", "[io][atomic_file]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pathq-multi-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string a = (dir / "a.bin").string(), b = (dir / "b.bin").string();
  pathq::io::write_files_atomically({{a, "first"}, {b, "second"}});
  REQUIRE(pathq::io::read_file(a) == "first");
  REQUIRE(pathq::io::read_file(b) == "second");
  // The second target's directory is missing: the first file must keep its old contents.
  const std::string missing = (dir / "no" / "c.bin").string();
  REQUIRE_THROWS_AS(pathq::io::write_files_atomically({{a, "changed"}, {missing, "x"}}), pathq::io_error);
  REQUIRE(pathq::io::read_file(a) == "first");
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += (e.path().filename().string()[0] == '.') ? 100 : 1;
  REQUIRE(entries == 2);  // a.bin and b.bin, no temporary file
  fs::remove_all(dir);
}

}  // namespace pathq_test_npy
