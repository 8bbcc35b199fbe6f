// Alphabets, grids and step rules: levels, codes, values and the radius rules.
#include <catch2/catch.hpp>

#include <pathq/core/alphabet.hpp>
#include <pathq/core/result.hpp>

#include "support/random_data.hpp"

// Each test file's names live in their own namespace (the tests also build as one unity unit).
namespace pathq_test_alphabet {

using pathq::Alphabet;
using pathq::StepRule;

TEST_CASE("alphabet: level counts and bits are the true ones", "[alphabet]") {
  REQUIRE(Alphabet<double>::symmetric(1, 0.5).levels() == 3);
  REQUIRE(Alphabet<double>::symmetric(1, 0.5).bits() == 2);
  REQUIRE(Alphabet<double>::symmetric(8, 0.5).levels() == 17);  // SIMODS "4 bits" = 17 levels
  REQUIRE(Alphabet<double>::symmetric(8, 0.5).bits() == 5);
  for (int b = 2; b <= 8; ++b) {
    const auto a = Alphabet<float>::from_bits(b, StepRule::fixed(1));
    REQUIRE(a.levels() == (1 << b) - 1);
    REQUIRE(a.bits() == b);
  }
  REQUIRE(Alphabet<double>::midrise(4, 1.0).levels() == 8);
  REQUIRE(Alphabet<double>::midrise(4, 1.0).bits() == 3);
  REQUIRE(Alphabet<double>::binary(2.0).levels() == 2);
  REQUIRE(Alphabet<double>::binary(2.0).bits() == 1);
}

TEST_CASE("alphabet: codes map to the stated levels", "[alphabet][grid]") {
  const Eigen::MatrixXd W = Eigen::MatrixXd::Ones(3, 2);
  const auto sym = Alphabet<double>::symmetric(2, 0.25).resolve(W);
  REQUIRE(sym.value(-2, 0, 0) == -0.5);
  REQUIRE(sym.value(0, 1, 1) == 0.0);
  REQUIRE(sym.value(1, 2, 0) == 0.25);
  const auto mid = Alphabet<double>::midrise(2, 0.5).resolve(W);
  REQUIRE(mid.code_lo == -2);
  REQUIRE(mid.code_hi == 1);
  REQUIRE(mid.value(-2, 0, 0) == -0.75);
  REQUIRE(mid.value(-1, 0, 0) == -0.25);
  REQUIRE(mid.value(0, 0, 0) == 0.25);
  REQUIRE(mid.value(1, 0, 0) == 0.75);
  const auto bin = Alphabet<double>::binary(2.0).resolve(W);
  REQUIRE(bin.value(-1, 0, 0) == -1.0);
  REQUIRE(bin.value(0, 0, 0) == 1.0);
}

TEST_CASE("alphabet: step rules", "[alphabet]") {
  Eigen::MatrixXd W(3, 3);
  W << 1, -4, 0,  //
      -2, 1, 0,   //
      0.5, 2, 0;
  // layer rule: R = mean of column maxima (2 + 4 + 0) / 3 = 2; delta = C R / K.
  const auto layer = Alphabet<double>::symmetric(4, StepRule::layer_radius(1.5)).steps_for(W);
  REQUIRE(layer(0) == Approx(1.5 * 2 / 4));
  REQUIRE(layer(2) == layer(0));
  // column rule: delta_j = C max|w_j| / K; an all-zero column gets step 1.
  const auto col = Alphabet<double>::symmetric(4, StepRule::column_radius(1.0)).steps_for(W);
  REQUIRE(col(0) == Approx(0.5));
  REQUIRE(col(1) == Approx(1.0));
  REQUIRE(col(2) == 1.0);
  // midrise: the largest level (L - 1/2) delta equals C R.
  const auto mid = Alphabet<double>::midrise(2, StepRule::layer_radius(1.0)).steps_for(W);
  REQUIRE(mid(0) * 1.5 == Approx(2.0));
  // all-zero layer: step 1
  REQUIRE(Alphabet<double>::symmetric(3, StepRule::layer_radius(1.0)).steps_for(Eigen::MatrixXd::Zero(2, 2))(0) == 1.0);
}

TEST_CASE("alphabet: bad parameters throw naming the problem", "[alphabet][contract]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(0, 1.0), Contains("K must be in [1, 2^30)"));
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(3, -1.0), Contains("step must be finite and positive"));
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(3, 0.0), Contains("step must be finite and positive"));
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(3, std::nan("")), Contains("step"));
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(3, StepRule::layer_radius(0)), Contains("radius scale C"));
  REQUIRE_THROWS_WITH(Alphabet<double>::from_bits(1, StepRule::fixed(1)), Contains("bits must be in [2, 24]"));
  REQUIRE_THROWS_WITH(Alphabet<double>::from_bits(25, StepRule::fixed(1)), Contains("bits must be in [2, 24]"));
  REQUIRE_THROWS_WITH(Alphabet<double>::midrise(0, 1.0), Contains("L must be"));
  REQUIRE_THROWS_AS(Alphabet<double>::unbounded(-2.0), pathq::invalid_argument);
  const Eigen::MatrixXd bad = Eigen::MatrixXd::Constant(2, 2, std::numeric_limits<double>::infinity());
  REQUIRE_THROWS_WITH(Alphabet<double>::symmetric(3, StepRule::layer_radius(1)).steps_for(bad), Contains("non-finite"));
}

TEST_CASE("result: values, sparsity and require_success", "[result]") {
  const Eigen::MatrixXd W = Eigen::MatrixXd::Ones(2, 2);
  pathq::Result<double> r;
  r.grid = Alphabet<double>::symmetric(3, 0.5).resolve(W);
  r.codes.resize(2, 2);
  r.codes << 0, 1, -3, 0;
  Eigen::MatrixXd V(2, 2);
  V << 0, 0.5, -1.5, 0;
  REQUIRE(r.values() == V);
  REQUIRE(r.sparsity() == 0.5);
  REQUIRE_NOTHROW(pathq::require_success(r, "test"));
  r.info.status = pathq::Info::NumericalIssue;
  r.info.message = "damping raised to 0.1";
  REQUIRE_THROWS_WITH(pathq::require_success(r, "test"), Catch::Contains("damping raised"));
}

}  // namespace pathq_test_alphabet
