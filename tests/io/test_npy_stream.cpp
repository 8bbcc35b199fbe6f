// NpyRowReader: batches of rows equal load_matrix's rows in every order, dtype and batch size;
// LayerStats streamed in batches equal one batch; malformed files fail as read_npy does.
#include <catch2/catch.hpp>

#include <pathq/io/npy.hpp>
#include <pathq/io/npy_stream.hpp>
#include <pathq/stats/layer_stats.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_npy_stream {

namespace fs = std::filesystem;
using Catch::Contains;

namespace {

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "pathq-npy-stream-test";
  fs::create_directories(dir);
  return (dir / name).string();
}

// Reads every row of `path` in batches of `batch` rows into one matrix.
Eigen::MatrixXd read_all(const std::string& path, Eigen::Index batch) {
  pathq::io::NpyRowReader r(path);
  Eigen::MatrixXd all(r.rows(), r.cols()), part;
  Eigen::Index at = 0;
  while (const Eigen::Index got = r.read_rows(batch, part)) {
    REQUIRE(part.rows() == got);
    all.middleRows(at, got) = part;
    at += got;
    REQUIRE(r.position() == at);
  }
  REQUIRE(at == r.rows());
  REQUIRE(r.rows_left() == 0);
  return all;
}

}  // namespace

TEST_CASE("NpyRowReader returns the rows of load_matrix in batches", "[io][npy_stream]") {
  const Eigen::MatrixXd X = pathq_test::gaussian(37, 5, 11);
  INFO("37 x 5, seed 11");
  const std::string f64 = temp_path("x64.npy"), f32 = temp_path("x32.npy"), i16 = temp_path("i16.npy");
  pathq::io::write_npy(f64, X);
  pathq::io::write_npy(f32, X.cast<float>().eval());
  const Eigen::Matrix<std::int16_t, Eigen::Dynamic, Eigen::Dynamic> I = (100 * X).array().round().cast<std::int16_t>();
  pathq::io::write_npy(i16, I);
  for (const Eigen::Index batch : {1, 4, 37, 100}) {
    INFO("batch " << batch);
    CHECK(read_all(f64, batch) == X);
    CHECK(read_all(f32, batch) == X.cast<float>().cast<double>());
    CHECK(read_all(i16, batch) == I.cast<double>());
  }
  pathq::io::NpyRowReader r(f32);
  CHECK(r.rows() == 37);
  CHECK(r.cols() == 5);
  CHECK(r.dtype() == pathq::io::DType::Float32);
  CHECK_FALSE(r.fortran_order());
  Eigen::MatrixXf part;
  CHECK_THROWS_WITH(r.read_rows(0, part), Contains("max_rows must be at least 1, got 0"));
}

TEST_CASE("NpyRowReader reads Fortran order and 1-D arrays", "[io][npy_stream]") {
  const Eigen::MatrixXd X = pathq_test::gaussian(9, 4, 3);
  pathq::io::NpyArray a;
  a.dtype = pathq::io::DType::Float64;
  a.shape = {9, 4};
  a.fortran_order = true;
  a.data.assign(reinterpret_cast<const char*>(X.data()), sizeof(double) * 36);  // column-major
  const std::string f = temp_path("fortran.npy");
  pathq::io::write_npy(f, a);
  CHECK(pathq::io::NpyRowReader(f).fortran_order());
  for (const Eigen::Index batch : {1, 2, 9}) CHECK(read_all(f, batch) == X);

  const std::string v = temp_path("vector.npy");
  pathq::io::write_npy(v, X.col(0).eval());
  pathq::io::NpyArray b = pathq::io::read_npy(v);
  b.shape = {9};
  pathq::io::write_npy(v, b);
  pathq::io::NpyRowReader r(v);
  CHECK(r.cols() == 1);
  CHECK(read_all(v, 4) == X.col(0));
}

TEST_CASE("LayerStats streamed in batches equal one batch", "[io][npy_stream]") {
  const Eigen::MatrixXd X = pathq_test::gaussian(50, 6, 21), Xq = pathq_test::gaussian(50, 6, 22);
  const std::string fx = temp_path("sx.npy"), fq = temp_path("sq.npy");
  pathq::io::write_npy(fx, X);
  pathq::io::write_npy(fq, Xq);
  pathq::io::NpyRowReader rx(fx), rq(fq);
  pathq::LayerStats<double> s(6);
  Eigen::MatrixXd bx, bq;
  while (rx.read_rows(7, bx) > 0) {
    rq.read_rows(7, bq);
    s.add(bx, bq);
  }
  const auto whole = pathq::LayerStats<double>::from(X, Xq);
  CHECK(s.samples() == 50);
  CHECK((s.H() - whole.H()).norm() <= 1e-12 * whole.H().norm());
  CHECK((s.G() - whole.G()).norm() <= 1e-12 * whole.G().norm());
  CHECK((s.K() - whole.K()).norm() <= 1e-12 * whole.K().norm());
}

TEST_CASE("NpyRowReader rejects what read_npy rejects", "[io][npy_stream]") {
  const std::string good = temp_path("good.npy");
  pathq::io::write_npy(good, pathq_test::gaussian(8, 3, 1));
  const std::string bytes = pathq::io::read_file(good);
  const auto write = [](const std::string& name, const std::string& content) {
    const std::string p = temp_path(name);
    pathq::io::write_file_atomically(p, content);
    return p;
  };
  CHECK_THROWS_WITH(pathq::io::NpyRowReader(write("trunc.npy", bytes.substr(0, bytes.size() - 8))),
                    Contains("truncated: expected 192 bytes of data, found 184"));
  CHECK_THROWS_WITH(pathq::io::NpyRowReader(write("trail.npy", bytes + "x")), Contains("trailing data"));
  CHECK_THROWS_WITH(pathq::io::NpyRowReader(write("magic.npy", "not an npy file")), Contains("bad magic"));
  CHECK_THROWS_WITH(pathq::io::NpyRowReader(write("short.npy", bytes.substr(0, 40))),
                    Contains("extends beyond the end of the file"));
  CHECK_THROWS_AS(pathq::io::NpyRowReader(temp_path("missing.npy")), pathq::io_error);
  pathq::io::NpyArray cube;
  cube.dtype = pathq::io::DType::Float64;
  cube.shape = {2, 2, 2};
  cube.data.assign(64, '\0');
  pathq::io::write_npy(temp_path("cube.npy"), cube);
  CHECK_THROWS_WITH(pathq::io::NpyRowReader(temp_path("cube.npy")), Contains("expected a 1-D or 2-D array"));
}

}  // namespace pathq_test_npy_stream
