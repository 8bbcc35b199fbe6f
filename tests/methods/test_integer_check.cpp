// Proof by integers: worst cases against brute force, inference order and tiles, overflow counts, bad input.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <pathq/pathq.hpp>

#include "support/datapath.hpp"
#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_integer_check {

using pathq_test::datapath;

namespace {

pathq::Codes random_codes(Eigen::Index n, Eigen::Index n_out, int K, std::uint64_t seed) {
  const pathq::RandomStream s(seed, 5);
  pathq::Codes q(n, n_out);
  for (Eigen::Index k = 0; k < q.size(); ++k)
    q.data()[k] = std::int32_t(-K + std::int64_t(s.uniform(std::uint64_t(k)) * double(2 * K + 1)));
  return q;
}

}  // namespace

TEST_CASE("integer check: worst case equals brute force over every input, per tile", "[integer_check]") {
  for (bool is_signed : {false, true}) {
    for (Eigen::Index T : {0, 2, 3}) {
      const auto o = datapath(6, 2, is_signed, T);
      const Eigen::Index n = 7, n_out = 5;
      const auto q = random_codes(n, n_out, 4, 11 + std::uint64_t(T));
      const auto wc = pathq::accumulator_worst_case(q, o);
      const Eigen::Index TT = T > 0 ? T : n;
      REQUIRE(wc.tile == TT);
      REQUIRE(wc.tiles == (n + TT - 1) / TT);
      const std::int64_t span = o.input_max() - o.input_min() + 1;
      std::int64_t count = 1;
      for (Eigen::Index t = 0; t < n; ++t) count *= span;
      std::int64_t worst = 0, outer = 0;
      for (Eigen::Index j = 0; j < n_out; ++j) {
        Eigen::MatrixXd hi = Eigen::MatrixXd::Constant(wc.tiles, 1, -1e300), lo = -hi;
        for (std::int64_t s = 0; s < count; ++s) {
          std::int64_t v = s, total = 0;
          std::vector<std::int64_t> x(static_cast<std::size_t>(n));
          for (Eigen::Index t = 0; t < n; ++t, v /= span) x[std::size_t(t)] = o.input_min() + v % span;
          for (Eigen::Index k = 0; k < wc.tiles; ++k) {
            std::int64_t acc = 0;
            for (Eigen::Index t = k * TT; t < std::min(n, (k + 1) * TT); ++t) {
              acc += x[std::size_t(t)] * q(t, j);
              worst = std::max(worst, acc < 0 ? -acc : acc);  // every partial sum
            }
            hi(k) = std::max(hi(k), double(acc));
            lo(k) = std::min(lo(k), double(acc));
            total += acc;
            outer = std::max(outer, total < 0 ? -total : total);
          }
        }
        INFO("signed " << is_signed << " T " << T << " neuron " << j);
        for (Eigen::Index k = 0; k < wc.tiles; ++k) {
          REQUIRE(double(wc.tile_max(k, j)) == hi(k));
          REQUIRE(double(wc.tile_min(k, j)) == lo(k));
        }
      }
      REQUIRE(wc.worst == worst);
      REQUIRE(wc.outer_worst == outer);
      REQUIRE(wc.bits_needed == pathq::bounds::accumulator_bits_needed(worst));
    }
  }
}

TEST_CASE("integer check: inference sums in order, tile by tile, and counts every overflow", "[integer_check]") {
  // q = (7, 7, -7), x = (15, 15, 15): partial sums 105, 210, 105. With M = 127 (P = 8) the
  // second step overflows although the output fits; tiles of one feature never overflow.
  pathq::Codes q(3, 1);
  q << 7, 7, -7;
  pathq::IntegerInputs X(2, 3);
  X << 15, 15, 15, 1, 2, 3;
  const auto r = pathq::integer_inference(X, q, datapath(8, 4, false));
  REQUIRE(r.Y(0, 0) == 105);
  REQUIRE(r.Y(1, 0) == 7 + 14 - 21);
  REQUIRE(r.overflow_steps == 1);
  REQUIRE(r.overflow_outputs == 1);
  REQUIRE(r.max_partial == 210);
  const auto tiled = pathq::integer_inference(X, q, datapath(8, 4, false, 1));
  REQUIRE(tiled.overflow_outputs == 0);
  REQUIRE(tiled.max_partial == 105);
  REQUIRE(tiled.max_outer_partial == 210);
  REQUIRE(tiled.outer_overflow_outputs == 0);  // outer width 8 + 2 bits
  REQUIRE(tiled.Y == r.Y);
  // The worst case sees 210 too: it bounds every partial sum, not only the output.
  REQUIRE(pathq::accumulator_worst_case(q, datapath(8, 4, false)).worst == 210);
  REQUIRE(!pathq::accumulator_worst_case(q, datapath(8, 4, false)).fits());
  REQUIRE(pathq::accumulator_worst_case(q, datapath(9, 4, false)).fits());
}

TEST_CASE("integer check: inference equals X codes and adversarial inputs reach the worst case", "[integer_check]") {
  const auto q = random_codes(40, 6, 7, 3);
  for (bool is_signed : {false, true}) {
    const auto o = datapath(12, 5, is_signed, 8);
    const auto A = pathq::adversarial_inputs(q, o);
    REQUIRE(A.rows() == 12);
    REQUIRE(A.cols() == 40);
    const auto r = pathq::integer_inference(A, q, o);
    REQUIRE(r.Y == (A.cast<std::int64_t>() * q.cast<std::int64_t>()).eval());
    const auto wc = pathq::accumulator_worst_case(q, o);
    // Row 2j gives neuron j its largest whole sum, row 2j+1 its smallest.
    for (Eigen::Index j = 0; j < 6; ++j) {
      REQUIRE(r.Y(2 * j, j) == wc.tile_max.col(j).sum());
      REQUIRE(r.Y(2 * j + 1, j) == wc.tile_min.col(j).sum());
    }
    REQUIRE(r.max_partial == wc.worst);
  }
}

TEST_CASE("integer check: real inputs quantized to N-bit integers", "[integer_check]") {
  Eigen::MatrixXd X(2, 3);
  X << 0.5, -1.0, 2.0, 1.0, 0.25, 0.0;
  const auto u = pathq::quantize_inputs(X, datapath(16, 4, false));
  REQUIRE(u.scale == Approx(2.0 / 15.0));
  REQUIRE(u.X(0, 1) == 0);   // negative inputs clip to 0
  REQUIRE(u.X(0, 2) == 15);
  REQUIRE(u.X(0, 0) == 4);   // 0.5 / (2/15) = 3.75
  const auto s = pathq::quantize_inputs(X, datapath(16, 4, true));
  REQUIRE(s.scale == Approx(2.0 / 7.0));
  REQUIRE(s.X(0, 1) == -3);  // -1 / (2/7) = -3.5, ties up
  REQUIRE(s.X(0, 2) == 7);
  REQUIRE(pathq::quantize_inputs(Eigen::MatrixXd::Zero(2, 2), datapath(16, 4, true)).scale == 1.0);
}

TEST_CASE("integer check: bad input", "[integer_check][contract]") {
  using Catch::Contains;
  const auto q = random_codes(4, 2, 3, 1);
  pathq::IntegerInputs X = pathq::IntegerInputs::Zero(3, 4);
  REQUIRE_THROWS_WITH(pathq::integer_inference(pathq::IntegerInputs::Zero(3, 5), q, datapath(16, 4, false)),
                      Contains("pathq::integer_inference: X has 5 columns but the codes have 4 rows"));
  X(1, 2) = 16;
  REQUIRE_THROWS_WITH(pathq::integer_inference(X, q, datapath(16, 4, false)),
                      Contains("input (1, 2) = 16 is outside the 4-bit unsigned range [0, 15]"));
  X(1, 2) = -9;
  REQUIRE_THROWS_WITH(pathq::integer_inference(X, q, datapath(16, 4, true)),
                      Contains("outside the 4-bit signed range [-8, 7]"));
  REQUIRE_THROWS_WITH(pathq::integer_inference(X, q, datapath(1, 4, true)),
                      Contains("pathq::integer_inference: accumulator_bits must be in [2, 62]"));
  REQUIRE_THROWS_WITH(pathq::accumulator_worst_case(pathq::Codes(0, 3), datapath(16, 4, false)),
                      Contains("pathq::accumulator_worst_case: codes are empty"));
  REQUIRE_THROWS_WITH(pathq::accumulator_worst_case(q, datapath(16, 4, false, -2)), Contains("tile must be >= 0"));
  Eigen::MatrixXd W = pathq_test::gaussian(4, 2, 1);
  const auto midrise = pathq::msq(W, pathq::Alphabet<double>::midrise(2, 0.5));
  REQUIRE_THROWS_WITH(pathq::accumulator_worst_case(midrise, datapath(16, 4, false)),
                      Contains("pathq::accumulator_worst_case: accumulator constraints need a symmetric grid"));
  Eigen::MatrixXd bad = W;
  bad(0, 0) = INFINITY;
  REQUIRE_THROWS_WITH(pathq::quantize_inputs(bad, datapath(16, 4, false)), Contains("pathq::quantize_inputs: X has a non-finite entry"));
}

}  // namespace pathq_test_integer_check
