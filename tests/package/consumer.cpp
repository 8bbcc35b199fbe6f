// A program outside the project that uses the installed pathq through find_package(pathq).
#include <pathq/pathq.hpp>

#include <cstdio>

int main() {
  const Eigen::MatrixXd X = Eigen::MatrixXd::Random(40, 16);
  const Eigen::MatrixXd W = Eigen::MatrixXd::Random(16, 3);
  const auto stats = pathq::LayerStats<double>::from(X);
  const auto alphabet = pathq::Alphabet<double>::from_bits(3, pathq::StepRule::layer_radius(1.0));
  const auto q = pathq::Gpfq<double>().quantize(W, stats, alphabet);
  const auto m = pathq::msq(W, alphabet);
  const double e_gpfq = pathq::relative_error(W, q, stats);
  const double e_msq = pathq::relative_error(W, m, stats);
  std::printf("pathq %s: GPFQ %.4g, MSQ %.4g\n", pathq::version_string, e_gpfq, e_msq);
  return (e_gpfq >= 0 && e_gpfq < 1 && q.codes.rows() == 16) ? 0 : 1;
}
