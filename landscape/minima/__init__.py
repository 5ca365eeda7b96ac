"""Where thousands of runs end: canonical forms modulo symmetry, alignment, distances,
clustering, the census and connectivity between minima.

Random restarts reach many end points; most are copies of each other under the network's
symmetry group (permuted, sign-flipped and, for ReLU, rescaled hidden units), some are
genuinely different minima, plateaus or traps at infinity. This module takes a batch of runs
and says which basins exist and how much of the initialization space drains into each.

Centered coordinates
--------------------
Logistic units flip with a shift of the next layer's bias (``sigmoid(-z) = 1 - sigmoid(z)``),
so in raw parameters a flip is affine, not an isometry. :func:`centered_params` writes each bias
after a logistic layer as ``b + (1/2) sum_j w[j, :]``; there every group element is a signed
permutation of unit blocks, Euclidean distance is invariant (``|g x - g y| = |x - y|``) and the
distance between two orbits is symmetric. All parameter-space distances here are measured in
these coordinates (they equal the raw ones for odd activations).

Canonical forms and alignment
-----------------------------
:func:`canonicalize` / :func:`canonical_element`: a documented representative of each orbit
(signs: the first significant incoming entry of each unit positive; order: a fixed generic
projection of the incoming weights), batched and compiled, idempotent and invariant under the
group. :func:`align`: weight matching of one network to another by optimal assignment
(``scipy.optimize.linear_sum_assignment``), layer by layer, for deeper nets where a sort is
ambiguous.

Distances
---------
:func:`param_distances` (plain, canonical, exact orbit distance, or aligned) and
:func:`function_distances` (RMS output difference on the data or a probe set), batched;
:func:`function_outputs`, :func:`flat_centered` and :func:`orbit_vectors` give the features.

Clustering and the census
-------------------------
:func:`cluster_runs` keeps diverged, non-finite and still-moving runs apart (negative label
codes of :data:`landscape.status.CATEGORY`; counted, never dropped), splits the rest
into loss windows (the moving threshold read from the runs' gradient norms,
:func:`grad_tolerance`), and finds clusters at every scale without a hand tolerance
(:func:`hierarchy`: exact duplicates collapsed, the exact single-linkage tree, cuts where the
log-spaced merge heights leave gaps; :func:`groups_and_classes`: function-space groups and the
parameter-space classes inside each; ``space="both"`` of :func:`cluster_runs` is it, with the
orbit merge as its last step), or joins runs closer than a given ``tol``
(:func:`single_linkage`), never with an ``n^2`` matrix. ``Clustering.level`` is the chosen
:class:`Level` (``describe_tolerance()`` in words). :func:`census` adds per-cluster loss statistics, a
representative, its critical-point class (:mod:`landscape.curvature`; traps at infinity by
:func:`growth_check`) and the degenerate units symmetry produces (:func:`unit_structure`:
duplicated, dead, saturated). How clusters are formed (space, symmetry, tolerance rule, loss
windows, seed) is one frozen :class:`ClusterOptions`, shared by both.

Connectivity
------------
:func:`connectivity` (loss barriers along straight paths between aligned representatives and
the disconnectivity tree :func:`merge_tree`). Basin shares with their intervals and restart
curves are in :mod:`landscape.stats`; plots are in :mod:`landscape.plotting`.

Files: ``canonical`` (centered coordinates, canonical forms, host views), ``align`` (weight
matching), ``distances``, ``hierarchy`` (clusters at every scale, groups and classes),
``cluster`` (the moving threshold, categories, :func:`cluster_runs`), ``structure``
(duplicated/dead/saturated units), ``growth`` (traps at infinity), ``connectivity`` (closest
images, barriers, merge tree), ``census``; ``_union_find`` (the one disjoint-sets helper).

Any model
---------
``model=`` is anything :func:`landscape.units.layout` takes: an ``ls.mlp`` Model, an Equinox
or Flax NNX module, a Flax linen module (functions with one run axis: ``cluster_runs``,
``census``, ``connectivity``, ``run_categories``, ``unit_structure``; elsewhere pass
``units.layout(net, one_network_params)``) or a :class:`landscape.units.UnitLayout`. It is
resolved once to a unit layout; canonical forms, alignment, distances and clustering in
parameter space read only the layout (its unit axes and each hidden layer's symmetry: flips
for odd and logistic layers, and for ``"rescale"`` (ReLU-like) layers positive rescaling,
quotiented out by :func:`normalized_params`). Function space needs a forward function:
``apply(params, x)`` of one network, or read from an ``ls.mlp``, Equinox, NNX or linen model.
Dead and saturated units (hidden activations) are ``ls.mlp`` only.

Conventions: functions that know the unit layout take ``(params, ..., *, model)``; analyses that
need a loss take ``(loss_fn, params, data, *, model, ...)``. Params carry leading run axes.
Heavy array work runs compiled (canonical forms, outputs, growth); assignment problems,
KD-trees and linkage run on the host with SciPy.
"""


from .align import Alignment, align
from .canonical import (SIGN_RTOL, canonical_element, canonicalize, centered_params,
                        flat_centered, normalized_params, uncentered_params)
from .census import Census, ClusterSummary, census
from .cluster import (GRAD_GAP, LOSS_GAP, SPACES, ClusterOptions, Clustering, GradTolerance,
                      cluster_runs, grad_tolerance, loss_windows, run_categories, single_linkage)
from .connectivity import Connectivity, closest_image, connectivity, merge_tree
from .distances import (AUTO_ORBIT, SYMMETRY_MODES, function_distances, function_outputs,
                        orbit_vectors, param_distances)
from .growth import Growth, growth_check
from .hierarchy import (LEVELS, MAX_ALONE, MIN_GAP, GroupsAndClasses, Hierarchy, Level,
                        groups_and_classes, hierarchy)
from .structure import UnitStructure, unit_structure

__all__ = [
    # coordinates, canonical forms, alignment
    "SIGN_RTOL", "centered_params", "uncentered_params", "normalized_params", "canonical_element",
    "canonicalize",
    "flat_centered", "orbit_vectors", "Alignment", "align", "closest_image",
    # distances
    "SYMMETRY_MODES", "AUTO_ORBIT", "param_distances", "function_outputs", "function_distances",
    # clustering
    "SPACES", "LEVELS", "MIN_GAP", "MAX_ALONE", "LOSS_GAP", "GRAD_GAP",
    "single_linkage", "Hierarchy", "Level", "hierarchy", "GroupsAndClasses",
    "groups_and_classes", "loss_windows", "GradTolerance", "grad_tolerance", "run_categories",
    "ClusterOptions", "Clustering", "cluster_runs",
    # structures, growth, census
    "UnitStructure", "unit_structure", "Growth", "growth_check", "ClusterSummary", "Census",
    "census",
    # connectivity
    "Connectivity", "connectivity", "merge_tree",
]
