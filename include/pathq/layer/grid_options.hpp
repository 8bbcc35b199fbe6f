// `--grid KIND` and `--group-size G`: the grid family and per-group steps, for methods that take them.
#ifndef PATHQ_LAYER_GRID_OPTIONS_HPP
#define PATHQ_LAYER_GRID_OPTIONS_HPP

#include <set>
#include <string>

#include <pathq/core/alphabet.hpp>

#include <pathq/layer/options.hpp>

namespace pathq {
namespace layer {

/// The option names a method lists among its valued options to accept a grid choice.
inline std::set<std::string> grid_valued_options() { return {"grid", "group-size"}; }

/// The alphabet the common options describe (`common`: from --levels/--bits and
/// --step/--scale/--step-rule), turned into the family `--grid`
/// symmetric|even|midrise|asymmetric (default symmetric) and split into groups of
/// `--group-size G` features:
/// - symmetric: `common` itself (2K+1 levels);
/// - even: `--bits B` (default 4), codes -2^(B-1)..2^(B-1)-1, the step rule of `common`;
/// - midrise: 2L levels, `L = --levels` or `2^(B-1)`;
/// - asymmetric: `--bits B` (default 4), per-column (or per-group) min-max, `--scale C` scaling
///   the span (default 1); `--step` and `--step-rule layer` do not apply.
/// With `--group-size` and no `--step`/`--step-rule`, the step rule is per column (per group).
template <class Scalar>
pathq::Alphabet<Scalar> grid_alphabet(const Options& a, const pathq::Alphabet<Scalar>& common) {
  const std::string kind = a.text("grid").value_or("symmetric");
  const auto group = a.integer("group-size", 1, 1LL << 40);
  pathq::StepRule rule = common.rule();
  if (group && !a.has("step") && !a.has("step-rule") && rule.kind == pathq::StepRule::Kind::LayerRadius)
    rule = pathq::StepRule::column_radius(rule.value);
  const int bits = int(a.integer("bits", 2, 24).value_or(4));
  pathq::Alphabet<Scalar> out = common;
  if (kind == "symmetric") {
    out = pathq::Alphabet<Scalar>::symmetric(common.levels_per_side(), rule);
  } else if (kind == "even") {
    if (a.has("levels")) throw option_error{"--grid even has 2^B levels: give --bits B, not --levels"};
    out = pathq::Alphabet<Scalar>::even(bits, rule);
  } else if (kind == "midrise") {
    const auto L = a.integer("levels", 1, (1 << 30) - 1);
    out = pathq::Alphabet<Scalar>::midrise(L ? int(*L) : 1 << (bits - 1), rule);
  } else if (kind == "asymmetric") {
    if (a.has("levels")) throw option_error{"--grid asymmetric has 2^B levels: give --bits B, not --levels"};
    if (a.has("step"))
      throw option_error{"--grid asymmetric fits its step and zero point per column (min-max): --step does not apply"};
    if (a.text("step-rule").value_or("column") != "column")
      throw option_error{"--grid asymmetric fits each column (or group) on its own: --step-rule must be 'column'"};
    out = pathq::Alphabet<Scalar>::asymmetric(bits, a.real("scale", true).value_or(1.0));
  } else {
    throw option_error{"--grid must be 'symmetric', 'even', 'midrise' or 'asymmetric', got '" + kind + "'"};
  }
  return group ? out.with_group_size(*group) : out;
}

}  // namespace layer
}  // namespace pathq

#endif  // PATHQ_LAYER_GRID_OPTIONS_HPP
