// The do-nothing constraint: every code of the grid is admissible. It compiles away.
#ifndef PATHQ_CONSTRAINTS_NONE_HPP
#define PATHQ_CONSTRAINTS_NONE_HPP

#include <vector>

#include <Eigen/Core>

#include "pathq/core/grid.hpp"

namespace pathq {

/// The constraint-policy interface, in its simplest model.
///
/// A constraint narrows, per weight, the codes a rounding operator may choose, from state it
/// keeps per neuron (AXE keeps running sums of positive and negative codes). The engine calls
/// `panel(c0, w)` once per panel of neurons `[c0, c0 + w)`, on the thread that owns the panel,
/// and then, for every feature `i` (engine order; `t` is its index in the layer's original
/// order) and neuron `j` of the panel, in order:
///
///     x = p.adjust(i, t, j, x, step);    // may move the value (weight units; `step` is the grid's
///                                        // step for this weight) before rounding (AXE's soft threshold)
///     p.limits(i, t, j, lo, hi);         // may narrow [lo, hi]; must leave it non-empty
///     p.commit(i, t, j, code);           // the chosen code
///
/// Panel state must not be shared between panels, so that results do not depend on threads.
/// Before any panel, the engine calls `validate(grid, n, feature)` once (grid, number of features,
/// engine-to-original feature map, empty for the identity): a constraint built for a particular
/// layer throws `invalid_argument` there if the run does not match it.
struct NoConstraint {
  struct Panel {
    template <class Scalar>
    Scalar adjust(Eigen::Index, Eigen::Index, Eigen::Index, Scalar x, Scalar) const { return x; }
    void limits(Eigen::Index, Eigen::Index, Eigen::Index, int&, int&) const {}
    void commit(Eigen::Index, Eigen::Index, Eigen::Index, int) const {}
  };
  Panel panel(Eigen::Index, Eigen::Index) const { return {}; }
  template <class Scalar>
  void validate(const Grid<Scalar>&, Eigen::Index, const std::vector<Eigen::Index>&) const {}
};

}  // namespace pathq

#endif  // PATHQ_CONSTRAINTS_NONE_HPP
