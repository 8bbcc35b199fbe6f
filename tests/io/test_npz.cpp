// .npz reading and writing: round trips (stored, deflate, zip64), archives built by hand, every
// malformed case, truncation and corruption, and interop with numpy.savez/savez_compressed.
#include <catch2/catch.hpp>

#include <pathq/io/npz.hpp>

#include "support/temp_dir.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_npz {

namespace fs = std::filesystem;
using Catch::Contains;
using pathq::io::DType;
using pathq::io::NpyArray;
using pathq::io::NpzFile;
using pathq::io::NpzOptions;

using pathq_test::numpy_available;
using pathq_test::TempDir;

namespace {

template <class Scalar>
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

void put(std::string& bytes, std::size_t at, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}
std::uint64_t get(const std::string& bytes, std::size_t at, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= std::uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return value;
}
// Offsets of every occurrence of a 4-byte little-endian signature.
std::vector<std::size_t> find_signature(const std::string& bytes, std::uint32_t signature) {
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i + 4 <= bytes.size(); ++i)
    if (get(bytes, i, 4) == signature) at.push_back(i);
  return at;
}

// One member of a zip archive written by hand_zip: every field given explicitly.
struct HandMember {
  std::string name;
  std::uint16_t method = 0;
  std::string payload;  // the bytes stored in the archive (compressed or not)
  std::uint32_t crc = 0;
  std::uint32_t size = 0;  // uncompressed size
  std::uint16_t flags = 0;
  std::string local_name;  // empty: same as name
};

// A zip archive written from APPNOTE's record layouts, independently of the library's writer:
// local header + payload per member, then the central directory and the end record.
std::string hand_zip(const std::vector<HandMember>& members) {
  std::string out, directory;
  const auto append = [](std::string& s, std::uint64_t v, int w) {
    for (int i = 0; i < w; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  for (const HandMember& m : members) {
    const std::string& local_name = m.local_name.empty() ? m.name : m.local_name;
    const std::size_t offset = out.size();
    append(out, 0x04034b50, 4);
    append(out, 20, 2);
    append(out, m.flags, 2);
    append(out, m.method, 2);
    append(out, 0, 4);
    append(out, m.crc, 4);
    append(out, m.payload.size(), 4);
    append(out, m.size, 4);
    append(out, local_name.size(), 2);
    append(out, 0, 2);
    out += local_name + m.payload;
    append(directory, 0x02014b50, 4);
    append(directory, 20, 2);
    append(directory, 20, 2);
    append(directory, m.flags, 2);
    append(directory, m.method, 2);
    append(directory, 0, 4);
    append(directory, m.crc, 4);
    append(directory, m.payload.size(), 4);
    append(directory, m.size, 4);
    append(directory, m.name.size(), 2);
    append(directory, 0, 6);
    append(directory, 0, 2);
    append(directory, 0, 4);
    append(directory, offset, 4);
    directory += m.name;
  }
  const std::size_t directory_offset = out.size();
  out += directory;
  append(out, 0x06054b50, 4);
  append(out, 0, 4);
  append(out, members.size(), 2);
  append(out, members.size(), 2);
  append(out, directory.size(), 4);
  append(out, directory_offset, 4);
  append(out, 0, 2);
  return out;
}

// A stored member holding `data` with its correct CRC.
HandMember stored(const std::string& name, const std::string& data) {
  HandMember m;
  m.name = name;
  m.payload = data;
  m.crc = pathq::detail::zip_crc32(data);
  m.size = static_cast<std::uint32_t>(data.size());
  return m;
}
// A deflated member holding `data` with its correct CRC.
HandMember deflated(const std::string& name, const std::string& data) {
  HandMember m = stored(name, data);
  m.method = 8;
  m.payload = pathq::detail::zip_deflate(data, 6, "test");
  return m;
}

std::string npy_of(const Mat<float>& M) { return pathq::io::to_npy_bytes(M); }

NpzFile two_arrays() {
  NpzFile file;
  file.add("a", (Mat<float>(2, 2) << 1, 2, 3, 4).finished());
  file.add("b", (Mat<std::int32_t>(3, 1) << -1, 0, 7).finished());
  return file;
}

}  // namespace

TEST_CASE("npz: arrays of every dtype, rank and order round-trip stored, deflated and as zip64",
          "[io][npz]") {
  NpzFile file;
  file.add("f32", (Mat<float>(2, 3) << 1.5f, -2, 3, 4, 5, 6).finished());
  file.add("f64", (Mat<double>(1, 2) << 0.1, -1e300).finished());
  file.add("i8", (Mat<std::int8_t>(2, 1) << -128, 127).finished());
  file.add("i16", (Mat<std::int16_t>(1, 1) << -300).finished());
  file.add("i32", Mat<std::int32_t>::Constant(40, 50, -7));  // compresses well
  file.add("i64", (Mat<std::int64_t>(1, 2) << std::numeric_limits<std::int64_t>::min(), 5).finished());
  file.add("u8", Mat<std::uint8_t>(0, 4));
  NpyArray cube;
  cube.dtype = DType::Float32;
  cube.shape = {2, 1, 3};
  cube.fortran_order = true;
  cube.data = std::string(24, '\x01');
  file.add("cube", cube);
  NpyArray scalar;
  scalar.dtype = DType::Float64;
  scalar.shape = {};
  scalar.data = std::string(8, '\0');
  file.add("layer.0/weight", scalar);

  const TempDir dir;
  for (const bool compress : {false, true}) {
    for (const bool zip64 : {false, true}) {
      INFO("compress " << compress << ", zip64 " << zip64);
      NpzOptions options;
      options.compress = compress;
      options.zip64 = zip64;
      const std::string path = dir.file("all.npz");
      pathq::io::write_npz(path, file, options);
      const NpzFile back = pathq::io::read_npz(path);
      REQUIRE(back.names() == file.names());
      REQUIRE(back.source() == path);
      for (const std::string& key : file.names()) {
        INFO("key " << key);
        const NpyArray& a = file.array(key);
        const NpyArray& b = back.array(key);
        REQUIRE(b.dtype == a.dtype);
        REQUIRE(b.shape == a.shape);
        REQUIRE(b.fortran_order == a.fortran_order);
        REQUIRE(b.data == a.data);
      }
      REQUIRE(back.matrix<std::int64_t>("i64")(0, 0) == std::numeric_limits<std::int64_t>::min());
      REQUIRE(back.matrix<double>("f32")(1, 2) == 6.0);
      const std::string bytes = pathq::io::read_file(path);
      REQUIRE(pathq::io::to_npz_bytes(file, options) == bytes);  // deterministic
      if (compress) {
        options.compress = false;
        REQUIRE(bytes.size() < pathq::io::to_npz_bytes(file, options).size());
      }
      REQUIRE(find_signature(bytes, 0x07064b50).size() == (zip64 ? 1u : 0u));
    }
  }
  const std::string empty = pathq::io::to_npz_bytes(NpzFile());
  REQUIRE(empty.size() == 22);
  REQUIRE(pathq::io::parse_npz(empty, "empty.npz").size() == 0);
}

TEST_CASE("npz: archives built by hand from the record layouts are read", "[io][npz]") {
  const std::string a = npy_of((Mat<float>(1, 2) << 3, 4).finished());
  const std::string b = npy_of(Mat<float>::Constant(30, 30, 0.25f));
  const NpzFile file =
      pathq::io::parse_npz(hand_zip({stored("x.npy", a), deflated("sub/y.npy", b)}), "hand.npz");
  REQUIRE(file.names() == std::vector<std::string>{"x", "sub/y"});
  REQUIRE(file.matrix<float>("x") == (Mat<float>(1, 2) << 3, 4).finished());
  REQUIRE(file.matrix<float>("sub/y") == Mat<float>::Constant(30, 30, 0.25f));
  // A data descriptor flag (bit 3) is fine: the central directory has the sizes.
  HandMember m = stored("x.npy", a);
  m.flags = 0x0008;
  REQUIRE(pathq::io::parse_npz(hand_zip({m}), "f").contains("x"));
}

TEST_CASE("npz: every malformed archive is rejected with a message naming the problem", "[io][npz]") {
  const std::string a = npy_of((Mat<float>(2, 2) << 1, 2, 3, 4).finished());
  const std::string big = npy_of(Mat<float>::Constant(20, 20, 1.0f));
  const std::string good = hand_zip({stored("a.npy", a), stored("b.npy", a)});
  const std::size_t end = good.size() - 22;
  const std::vector<std::size_t> central = find_signature(good, 0x02014b50);
  REQUIRE(central.size() == 2);
  const std::size_t local_b = get(good, central[1] + 42, 4);
  struct Case {
    std::string bytes;
    std::string message;
  };
  std::vector<Case> cases;
  const auto patched = [&](std::size_t at, std::uint64_t value, int width) {
    std::string bytes = good;
    put(bytes, at, value, width);
    return bytes;
  };
  cases.push_back({a, "bad signature: not a zip archive (it begins with '\\x93NUM', not 'PK\\x03\\x04')"});
  cases.push_back({"", "truncated: 0 bytes is shorter than a zip end of central directory record"});
  cases.push_back({std::string("PK\x03\x04", 4), "truncated: 4 bytes is shorter"});
  cases.push_back({good.substr(0, good.size() - 1), "no end of central directory record"});
  cases.push_back({good.substr(0, good.size() / 2), "no end of central directory record"});
  cases.push_back({patched(end + 4, 1, 2), "multi-disk (split) zip archives are not supported"});
  cases.push_back(
      {patched(end + 12, get(good, end + 12, 4) + 1000, 4), "truncated central directory: offset"});
  cases.push_back(
      {patched(end + 16, 0xffffffff, 4), "the end record points to a zip64 end record that is missing"});
  cases.push_back({patched(end + 8, 9, 2) /* entries on this disk != total */, "multi-disk"});
  {
    std::string bytes = patched(end + 8, 5, 2);
    put(bytes, end + 10, 5, 2);
    cases.push_back({bytes, "truncated central directory: 102 bytes cannot hold 5 entries"});
    put(bytes, end + 8, 1, 2);
    put(bytes, end + 10, 1, 2);
    cases.push_back({bytes, "central directory size 102 does not match its 1 entries (51 bytes)"});
  }
  cases.push_back({patched(central[1], 0x02014b51, 4), "bad central directory signature at offset"});
  cases.push_back({patched(central[0] + 28, 200, 2), "truncated central directory at entry 0"});
  cases.push_back({patched(local_b, 0x04034b51, 4), "member 'b.npy': bad local header signature at offset"});
  cases.push_back({patched(central[1] + 42, end + 5, 4), "member 'b.npy': local header offset"});
  cases.push_back(
      {patched(central[0] + 10, 12, 2),
       "member 'a.npy': unsupported compression method 12 (bzip2) (supported: 0 stored, 8 deflate)"});
  cases.push_back({patched(central[0] + 10, 14, 2), "unsupported compression method 14 (LZMA)"});
  cases.push_back({patched(central[0] + 10, 99, 2), "unsupported compression method 99 (supported"});
  cases.push_back({patched(central[0] + 8, 1, 2), "member 'a.npy': encrypted members are not supported"});
  cases.push_back(
      {patched(central[0] + 20, 5, 4), "member 'a.npy': stored member has compressed size 5 but size"});
  {
    std::string bytes = patched(central[1] + 20, 1000, 4);
    put(bytes, central[1] + 24, 1000, 4);
    cases.push_back({bytes, "member 'b.npy': truncated: 1000 bytes of data at offset"});
    bytes = patched(central[1] + 42, 0, 4);  // b's entry points at a's local header, named a.npy
    bytes[central[1] + 46] = 'a';
    cases.push_back({bytes, "members 'a.npy' and 'a.npy' overlap in the archive"});
  }
  {
    std::string bytes = good;
    bytes[local_b + 30] = 'x';
    cases.push_back({bytes, "member 'b.npy': the local header names it 'x.npy' instead"});
    bytes = good;
    bytes[local_b + 30 + 5 + 20] ^= 0x01;  // one bit of b's data
    const std::string crc = pathq::detail::zip_hex(pathq::detail::zip_crc32(a));
    cases.push_back({bytes, "member 'b.npy': CRC mismatch (stored " + crc + ", computed 0x"});
    cases.push_back({patched(central[0] + 16, 0x12345678, 4),
                     "member 'a.npy': CRC mismatch (stored 0x12345678, computed " + crc + ")"});
  }
  cases.push_back(
      {hand_zip({stored("a.npy", a), stored("a.npy", a)}), "member 'a.npy' appears twice in the archive"});
  cases.push_back({hand_zip({stored("readme.txt", "hello")}), "member 'readme.txt' is not a .npy file"});
  cases.push_back({hand_zip({stored("dir/", "")}), "member 'dir/' is not a .npy file"});
  cases.push_back(
      {hand_zip({stored("x.npy", "not an npy file")}), "member 'x.npy': bad magic: not an .npy file"});
  cases.push_back({hand_zip({stored("x.npy", a.substr(0, a.size() - 4))}),
                   "member 'x.npy': truncated: expected 16 bytes of data, found 12"});
  {
    HandMember m = deflated("d.npy", big);
    m.payload = std::string("\xff\xff\xff\xff", 4);
    cases.push_back({hand_zip({m}), "member 'd.npy': corrupt deflate data (zlib: invalid block type)"});
    m = deflated("d.npy", big);
    m.payload.resize(m.payload.size() / 2);
    cases.push_back({hand_zip({m}), "member 'd.npy': truncated deflate data (the stream ends early)"});
    m = deflated("d.npy", big);
    m.payload += "xyz";
    cases.push_back({hand_zip({m}), "the deflate stream ends after"});
    m = deflated("d.npy", big);
    m.size += 10;
    cases.push_back({hand_zip({m}), "the deflate data inflates to " + std::to_string(big.size()) +
                                        " bytes but the declared size is"});
    m.size -= 20;
    cases.push_back({hand_zip({m}), "the deflate data inflates to more than the declared size " +
                                        std::to_string(big.size() - 10)});
    m.size = 0xfffffff0;
    cases.push_back({hand_zip({m}), "member 'd.npy': declared size 4294967280 is impossible for"});
    m = deflated("d.npy", big);
    m.crc ^= 1;
    cases.push_back({hand_zip({m}), "member 'd.npy': CRC mismatch"});
  }
  {
    NpzOptions options;
    options.zip64 = true;
    const std::string z = pathq::io::to_npz_bytes(two_arrays(), options);
    const std::vector<std::size_t> z_central = find_signature(z, 0x02014b50);
    const std::size_t extra = z_central[0] + 46 + 5;  // after the name 'a.npy'
    std::string bytes = z;
    put(bytes, extra, 7, 2);  // not the zip64 id
    cases.push_back({bytes, "member 'a.npy': sizes saturated at 0xffffffff but no zip64 extra field"});
    bytes = z;
    put(bytes, extra + 2, 8, 2);
    cases.push_back({bytes, "member 'a.npy': zip64 extra field is too short"});
    bytes = z;
    put(bytes, extra + 2, 200, 2);
    cases.push_back({bytes, "member 'a.npy': malformed extra field in the central directory"});
    const std::size_t locator = find_signature(z, 0x07064b50).at(0);
    bytes = z;
    put(bytes, locator + 8, 3, 8);
    cases.push_back({bytes, "bad zip64 end of central directory signature at offset 3"});
    bytes = z;
    put(bytes, locator + 8, locator, 8);
    cases.push_back({bytes, "truncated zip64 end of central directory record"});
    bytes = z;
    const std::size_t record = find_signature(z, 0x06064b50).at(0);
    put(bytes, record + 40, 1u << 20, 8);
    cases.push_back({bytes, "truncated central directory: offset"});
  }
  for (const Case& c : cases) {
    INFO("expected: " << c.message);
    REQUIRE_THROWS_AS(pathq::io::parse_npz(c.bytes, "bad.npz"), pathq::invalid_argument);
    REQUIRE_THROWS_WITH(pathq::io::parse_npz(c.bytes, "bad.npz"),
                        Contains("pathq::read_npz: bad.npz: ") && Contains(c.message));
  }
}

TEST_CASE("npz: truncations and random corruptions never crash", "[io][npz]") {
  for (const bool compress : {false, true}) {
    NpzOptions options;
    options.compress = compress;
    NpzFile file = two_arrays();
    file.add("c", Mat<double>::Constant(5, 5, 2.0));
    const std::string good = pathq::io::to_npz_bytes(file, options);
    for (std::size_t n = 0; n < good.size(); ++n) {
      INFO("compress " << compress << ", truncated to " << n << " bytes");
      REQUIRE_THROWS_AS(pathq::io::parse_npz(good.substr(0, n), "t"), pathq::invalid_argument);
    }
    std::mt19937 rng(compress ? 3 : 4);
    int parsed = 0;
    for (int trial = 0; trial < 2000; ++trial) {
      std::string bytes = good;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
      INFO("compress " << compress << ", trial " << trial);
      try {
        const NpzFile back = pathq::io::parse_npz(bytes, "fuzz");
        parsed += back.size() == 3;
      } catch (const pathq::invalid_argument&) {
      }
    }
    REQUIRE(parsed > 0);  // changes to timestamps and similar fields leave a valid archive
  }
}

TEST_CASE("npz: the file API checks keys and options and reports missing arrays", "[io][npz]") {
  NpzFile file = two_arrays();
  REQUIRE_THROWS_WITH(file.add("a", Mat<float>::Ones(1, 1)),
                      Contains("pathq::NpzFile::add: an array named 'a' already exists"));
  NpyArray wrong;
  wrong.dtype = DType::Float64;
  wrong.shape = {3};
  wrong.data = std::string(16, '\0');
  REQUIRE_THROWS_WITH(file.add("w", wrong),
                      Contains("pathq::NpzFile::add: array 'w': 16 bytes of data do not match shape (3,)"));
  REQUIRE_THROWS_WITH(file.array("c"),
                      Contains("pathq::NpzFile::array: (in memory): no array named 'c' (arrays: 'a', 'b')"));
  REQUIRE_THROWS_WITH(NpzFile().array("c"), Contains("(the archive is empty)"));
  NpzOptions options;
  options.level = 0;
  REQUIRE_THROWS_WITH(pathq::io::to_npz_bytes(file, options),
                      Contains("pathq::NpzOptions: level must be in 1..9, got 0"));
  options.level = 10;
  REQUIRE_THROWS_WITH(options.validate(), Contains("got 10"));

  const TempDir dir;
  const std::string path = dir.file("x.npz");
  pathq::io::write_npz(path, file);
  REQUIRE_THROWS_WITH(pathq::io::read_npz(path).matrix<float>("W"),
                      Contains("pathq::NpzFile::array: " + path + ": no array named 'W'"));
  REQUIRE_THROWS_WITH(
      pathq::io::read_npz(path).matrix<std::uint8_t>("b"),
      Contains("pathq::to_matrix: " + path + ": array 'b': entry (0, 0) = -1 of a int32 array"));
  REQUIRE(pathq::io::read_npz(path).matrix<std::int8_t>("b")(2, 0) == 7);
  REQUIRE_THROWS_AS(pathq::io::read_npz(dir.file("none.npz")), pathq::io_error);
  REQUIRE_THROWS_AS(pathq::io::write_npz(dir.file("no/x.npz"), file), pathq::io_error);
}

TEST_CASE("npz: numpy.savez and savez_compressed files are read, and NumPy reads ours", "[io][npz]") {
  if (!numpy_available()) {
    WARN("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  const TempDir dir;
  const std::string script = dir.file("interop.py");
  pathq::io::write_file_atomically(script, R"PY(
import sys, zipfile
import numpy as np
d, mode = sys.argv[1], sys.argv[2]
if mode == "write":
    arrays = dict(
        W=np.arange(12.0).reshape(3, 4) * 0.25 - 1.0,
        codes=(np.arange(20, dtype=np.int8).reshape(4, 5) - 10),
        fortran=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        s=np.float64(3.5),
        e=np.zeros((0, 3), np.int64),
        big=np.tile(np.arange(100, dtype=np.float32), (50, 1)),
    )
    np.savez(d + "/plain.npz", **arrays)
    np.savez_compressed(d + "/compressed.npz", **arrays)
    np.savez(d + "/positional.npz", np.ones(2), np.zeros(3))
    with zipfile.ZipFile(d + "/bzip2.npz", "w", compression=zipfile.ZIP_BZIP2) as z:
        z.writestr("W.npy", b"\x93NUMPY")
    with zipfile.ZipFile(d + "/extra.npz", "w") as z:
        z.writestr("notes.txt", "hello")
else:
    for name in ["ours_stored", "ours_deflate", "ours_zip64"]:
        path = d + "/" + name + ".npz"
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None, name
            methods = {i.compress_type for i in z.infolist()}
            assert methods == ({zipfile.ZIP_STORED} if name == "ours_stored" else {zipfile.ZIP_DEFLATED}), methods
        with np.load(path) as f:
            assert list(f.keys()) == ["W", "codes", "layer.1/step"], list(f.keys())
            W = f["W"]
            assert W.dtype == np.float32 and W.shape == (3, 4), (W.dtype, W.shape)
            assert (W == np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5).all()
            c = f["codes"]
            assert c.dtype == np.int8 and (c == np.array([[-128, 0, 127]], np.int8)).all()
            s = f["layer.1/step"]
            assert s.dtype == np.float64 and s.shape == (1, 1) and s[0, 0] == 0.125
)PY");
  const std::string python = "/usr/bin/python3 '" + script + "' '" + dir.path().string() + "' ";
  REQUIRE(std::system((python + "write").c_str()) == 0);

  for (const std::string name : {"plain.npz", "compressed.npz"}) {
    INFO(name);
    const NpzFile f = pathq::io::read_npz(dir.file(name));
    REQUIRE(f.names() == std::vector<std::string>{"W", "codes", "fortran", "s", "e", "big"});
    const Mat<double> W = f.matrix<double>("W");
    for (Eigen::Index i = 0; i < 3; ++i)
      for (Eigen::Index j = 0; j < 4; ++j) REQUIRE(W(i, j) == static_cast<double>(i * 4 + j) * 0.25 - 1.0);
    REQUIRE(f.matrix<std::int32_t>("codes")(3, 4) == 9);
    REQUIRE(f.array("fortran").fortran_order);
    REQUIRE(f.matrix<float>("fortran") == (Mat<float>(2, 3) << 0, 1, 2, 3, 4, 5).finished());
    REQUIRE(f.array("s").shape.empty());
    REQUIRE(f.array("e").shape == std::vector<std::int64_t>{0, 3});
    REQUIRE(f.matrix<float>("big")(49, 99) == 99.0f);
  }
  REQUIRE(pathq::io::read_npz(dir.file("positional.npz")).names() ==
          std::vector<std::string>{"arr_0", "arr_1"});
  REQUIRE_THROWS_WITH(pathq::io::read_npz(dir.file("bzip2.npz")),
                      Contains("member 'W.npy': unsupported compression method 12 (bzip2)"));
  REQUIRE_THROWS_WITH(pathq::io::read_npz(dir.file("extra.npz")),
                      Contains("member 'notes.txt' is not a .npy file"));

  NpzFile ours;
  Mat<float> W(3, 4);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 4; ++j) W(i, j) = static_cast<float>(i * 4 + j) - 5.5f;
  ours.add("W", W);
  ours.add("codes", (Mat<std::int8_t>(1, 3) << -128, 0, 127).finished());
  ours.add("layer.1/step", Mat<double>::Constant(1, 1, 0.125));
  NpzOptions options;
  pathq::io::write_npz(dir.file("ours_stored.npz"), ours, options);
  options.compress = true;
  pathq::io::write_npz(dir.file("ours_deflate.npz"), ours, options);
  options.zip64 = true;
  options.level = 9;
  pathq::io::write_npz(dir.file("ours_zip64.npz"), ours, options);
  REQUIRE(std::system((python + "read").c_str()) == 0);
}

}  // namespace pathq_test_npz
