"""The census: where the runs ended, as clusters modulo symmetry with their statistics, their
critical-point class (:mod:`landscape.curvature`; traps at infinity by
:func:`landscape.minima.growth_check`) and their degenerate units.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import stats
from .. import status as st
from ..models import Model
from .canonical import _one_axis, _resolve
from .cluster import ClusterOptions, Clustering, cluster_runs
from .distances import _outputs
from .growth import growth_check
from .structure import UnitStructure, unit_structure

_TRAP = st.EQUILIBRIUM.name(st.EQUILIBRIUM.code("trap_at_infinity"))
_CATEGORIES = tuple(st.CATEGORY.codes)


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterSummary:
    """One cluster of a :class:`Census`.

    cluster, size, members: its label, number of runs and their indices.
    loss_mean, loss_std, loss_min, loss_max: final losses of the members.
    representative: the member closest to the coordinate-wise median of the members'
        clustering features (a typical member, not an extreme one); representative_loss.
    kind: ``"trap_at_infinity"`` (:data:`landscape.status.EQUILIBRIUM`: the weights keep growing
        as the loss falls, :func:`growth_check`), else the Hessian's verdict ``hessian``;
        ``"unclassified"`` when ``classify=False``. :meth:`describe_kind` says it in words.
    hessian: a :data:`landscape.status.POINT` name (``"minimum"``, ``"saddle"``,
        ``"degenerate"``, ``"maximum"`` or ``"not_critical"``): the :mod:`landscape.curvature`
        label of the representative from its gradient (at the census' ``grad_tol``) and dense
        Hessian, at the point where training stopped.
    index: the number of negative Hessian eigenvalues (the saddle index; -1 unclassified);
        n_zero: near-zero eigenvalues.
    grad_norm: at the representative. growing: the growth test's verdict (None: not run).
    duplicates, dead, saturated: fraction of members with at least one duplicated pair, dead
        unit, saturated unit (:func:`unit_structure`); structure: the representative's counts.
        Dead and saturated units need an ``ls.mlp`` model: NaN fractions and -1 counts for
        any other model.
    outputs: the representative's outputs on the census inputs, ``(n_inputs, n_out)``.
    group: the function-space group of the cluster (clusters of one group compute the same
        function on the census inputs; -1 unknown: ``space="param"``).
    thresholds: the curvature thresholds of the representative's label (``grad_tol``,
        ``zero_tol``, ``round_tol``, ``loss_scale``, ``param_scale`` of
        :class:`landscape.curvature.CriticalPoint`; empty when unclassified).
    """

    cluster: int
    size: int
    members: np.ndarray
    loss_mean: float
    loss_std: float
    loss_min: float
    loss_max: float
    representative: int
    representative_loss: float
    kind: str
    hessian: str
    index: int
    n_zero: int
    grad_norm: float
    growing: bool | None
    duplicates: float
    dead: float
    saturated: float
    structure: dict
    outputs: np.ndarray
    group: int = -1
    thresholds: dict = dataclasses.field(default_factory=dict)

    def describe_hessian(self) -> str:
        """``hessian`` in words, with the saddle index (e.g. ``"saddle (index 2)"``)."""
        if self.hessian == "saddle":
            return f"saddle (index {self.index})"
        if self.hessian == "unresolved":
            return "unresolved at this precision"
        return self.hessian.replace("_", " ")

    def describe_kind(self) -> str:
        """``kind`` in words: the saddle index, and for a trap at infinity the Hessian's view
        where training stopped (e.g. ``"trap at infinity (Hessian: minimum)"``)."""
        if self.kind == _TRAP:
            return f"trap at infinity (Hessian: {self.describe_hessian()})"
        if self.kind == self.hessian:
            return self.describe_hessian()
        return self.kind.replace("_", " ")


@dataclasses.dataclass(frozen=True, eq=False)
class Census:
    """What :func:`census` returns: the clustering, one :class:`ClusterSummary` per cluster
    (in label order: ascending mean loss) and the per-run unit structures."""

    clustering: Clustering
    clusters: tuple[ClusterSummary, ...]
    structure: UnitStructure
    loss: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.clustering.labels

    @property
    def n_runs(self) -> int:
        return int(self.labels.size)

    def counts(self) -> dict[str, int]:
        return self.clustering.counts()

    def shares(self, *, groups=None, confidence: float = 0.95,
               method: str = "wilson") -> stats.BasinShares:
        """:func:`landscape.stats.basin_shares` of this census' labels (every cluster and run
        category)."""
        cats = np.concatenate([np.arange(len(self.clusters)), _CATEGORIES])
        return stats.basin_shares(self.labels, groups=groups, categories=cats, confidence=confidence,
                            method=method)

    def describe(self) -> str:
        """Every threshold the census used, in words: the moving rule, the loss windows, the
        hierarchy of each window (function-space groups, parameter-space classes, the cuts and
        the gap ratios that justify them, rejected gaps) and the curvature thresholds of each
        cluster's label."""
        lines = [self.clustering.describe()]
        for c in self.clusters:
            t = c.thresholds
            where = (f"grad_tol {t['grad_tol']:.3g}, zero_tol {t['zero_tol']:.3g}, round_tol "
                     f"{t['round_tol']:.3g}, loss scale {t['loss_scale']:.3g}" if t else "not classified")
            lines.append(f"cluster {c.cluster} (group {c.group}, {c.size} runs): "
                         f"{c.describe_kind()}; {where}")
        return "\n".join(lines)

    def representatives(self) -> np.ndarray:
        """``(n_clusters,)`` run index of each cluster's representative."""
        return np.array([c.representative for c in self.clusters], np.int64)

    def table(self, *, confidence: float = 0.95, max_rows: int = 12) -> dict:
        """``{"columns", "rows"}`` for printing: one row per cluster (the largest ``max_rows``
        by label order, the rest summed in one row), then the moving/diverged/nonfinite counts."""
        shares = self.shares(confidence=confidence)
        columns = ["cluster", "runs", f"share [{confidence:.0%} CI]", "loss mean", "loss sd", "kind",
                   "dup/dead/sat", "rep. run"]
        rows = []
        for c in self.clusters[:max_rows]:
            j = c.cluster
            rows.append([c.cluster, c.size,
                         f"{shares.shares[0, j]:.2%} [{shares.lo[0, j]:.2%}, {shares.hi[0, j]:.2%}]",
                         f"{c.loss_mean:.4g}", f"{c.loss_std:.2g}", c.describe_kind(),
                         f"{c.duplicates:.0%}/{c.dead:.0%}/{c.saturated:.0%}", c.representative])
        rest = self.clusters[max_rows:]
        if rest:
            size = sum(c.size for c in rest)
            rows.append([f"{len(rest)} more", size, f"{size / max(self.n_runs, 1):.2%}", "", "", "", "", ""])
        for code in _CATEGORIES:
            j = list(shares.categories).index(code)
            if shares.counts[0, j]:
                rows.append([st.CATEGORY[code], int(shares.counts[0, j]),
                             f"{shares.shares[0, j]:.2%} [{shares.lo[0, j]:.2%}, {shares.hi[0, j]:.2%}]",
                             "", "", "", "", ""])
        return {"columns": columns, "rows": rows}

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` of the census for a results folder (no pickles)."""
        cl = self.clusters
        out = {
            "labels": self.labels, "loss": self.loss, "windows": self.clustering.windows,
            "tolerance": np.array(self.clustering.level.cut),
            "duplicate_pairs": self.structure.duplicate_pairs,
            "cluster_size": np.array([c.size for c in cl], np.int64),
            "cluster_loss_mean": np.array([c.loss_mean for c in cl]),
            "cluster_loss_std": np.array([c.loss_std for c in cl]),
            "cluster_representative": np.array([c.representative for c in cl], np.int64),
            "cluster_index": np.array([c.index for c in cl], np.int64),
            "cluster_kind": np.array([c.kind for c in cl], dtype=np.str_),
            "cluster_hessian": np.array([c.hessian for c in cl], dtype=np.str_),
            "cluster_group": np.array([c.group for c in cl], np.int64),
            "groups": self.clustering.groups if self.clustering.groups is not None
            else np.full(self.n_runs, -1, np.int64),
        }
        for w, h in enumerate(self.clustering.hierarchies):
            tree = getattr(h, "groups", h)  # the function-space tree for space="both"
            out[f"linkage_{w}"] = tree.linkage
            out[f"cuts_{w}"] = np.array([lv.cut for lv in tree.levels])
        if self.structure.dead is not None:
            out["dead"] = self.structure.dead
            out["saturated"] = self.structure.saturated
        return out


@functools.lru_cache(maxsize=32)
def _loss_grad_program(loss_fn):
    def one(p, data):
        value, g = jax.value_and_grad(loss_fn)(p, data)
        return value, jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(g)))

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _share(counts, members) -> float:
    """Fraction of ``members`` with a positive count; NaN where the counts are unknown (None)."""
    return float("nan") if counts is None else float(np.mean(counts[members] > 0))


def _inputs_of(data, x):
    if x is not None:
        return np.asarray(x)
    if hasattr(data, "x"):
        return np.asarray(data.x)
    if isinstance(data, (tuple, list)) and len(data) >= 1:
        return np.asarray(data[0])
    raise ValueError("pass x= (the inputs to compare outputs on): data has no .x")


def census(loss_fn, params, data, *, model, apply=None, loss=None, status=None, grad_norm=None,
           grad_tol: float | None = None, x=None, optimizer=None, growth_steps: int = 2000,
           classify: bool = True, options: ClusterOptions | None = None) -> Census:
    """Where the runs ended: clusters modulo symmetry with their statistics.

    ``params``: final params of ``n_runs`` runs (leading axis), e.g. ``TrainResult.params``;
    ``loss`` and ``grad_norm`` per run are computed with ``loss_fn`` on ``data`` when not given,
    ``status`` (0 = ok) marks diverged runs. Clustering as in :func:`cluster_runs`, by
    ``options`` (:class:`ClusterOptions`; default ``ClusterOptions(space="both")``:
    function-space groups on ``x``, default ``data.x``, then the parameter-space classes modulo
    the group inside each, every scale read from the data by :func:`hierarchy`); the census'
    clusters are those classes, each with its ``group``. ``grad_tol`` (the moving threshold;
    None: from the data, :func:`grad_tolerance`) is also the gradient threshold of the labels:
    a run that stopped moving is critical to the precision its training reached. Per cluster
    (:class:`ClusterSummary`): size, loss mean and spread, representative, its critical-point
    class (the Hessian via :func:`landscape.curvature.classify_batched` at ``grad_tol``, its
    curvature floors from the dtype and the loss scale; with an ``optimizer``, the one the runs
    were trained with, also the growth test :func:`growth_check` over ``growth_steps`` steps,
    which wins: ``"trap_at_infinity"``, never called a minimum), and its degenerate units (:func:`unit_structure`).
    ``classify=False`` skips the curvature and growth work. Returns :class:`Census`.

    ``model``: anything :func:`landscape.units.layout` takes (``ls.mlp``, an Equinox, Flax NNX
    or Flax linen module, a ``UnitLayout``); the outputs (function space, the representatives'
    outputs) use ``apply(params, x)`` of one network when given, else the forward function read
    from the model (:func:`function_outputs`; a ``UnitLayout`` needs ``apply=``). Dead and
    saturated units need ``ls.mlp`` (:func:`unit_structure`).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> r = ls.train_many(loss_fn, ls.inits.normal(model, 1.0), optax.sgd(2.0), data,
    ...                   key=jax.random.key(0), n_runs=64, steps=2000, progress=False)
    >>> cen = minima.census(loss_fn, r.params, data, model=model, status=r.status, grad_tol=0.01)
    >>> cen.labels.shape, sum(c.size for c in cen.clusters) + sum(cen.counts().values()) >= 64
    ((64,), True)
    """
    from .. import curvature as cv

    _checks.loss_fn(loss_fn)
    spec, batch = _resolve(model, params, n_batch_axes=1)
    n = math.prod(batch)
    params = _one_axis(spec, params)
    xs = _inputs_of(data, x)
    if loss is None or grad_norm is None:
        values, norms = _loss_grad_program(loss_fn)(params, data)
        loss = np.asarray(values, np.float64) if loss is None else loss
        grad_norm = np.asarray(norms, np.float64) if grad_norm is None else grad_norm
    loss = _checks.per_item("loss", loss, n, dtype=np.float64)
    if options is None:
        options = ClusterOptions(space="both")
    clustering = cluster_runs(params, model=model, loss=loss,
                              x=xs, apply=apply, status=status, grad_norm=grad_norm,
                              grad_tol=grad_tol, options=options)
    structure = unit_structure(params, xs, model=model if isinstance(model, Model) else spec,
                               flips=options.flips)
    k = clustering.n_clusters
    reps = np.zeros(k, np.int64)
    for c in range(k):
        m = clustering.members(c)
        f = clustering.features[m]
        reps[c] = m[int(np.argmin(np.linalg.norm(f - np.median(f, axis=0), axis=1)))]
    kinds = ["unclassified"] * k
    hessians = ["unclassified"] * k
    index = np.full(k, -1, np.int64)
    n_zero = np.full(k, -1, np.int64)
    rep_grad = np.asarray(grad_norm, np.float64)[reps] if k else np.zeros(0)
    growing = [None] * k
    thresholds = [{} for _ in range(k)]
    groups = (clustering.groups if clustering.groups is not None
              else np.full(n, -1, np.int64))
    if classify and k:
        rep_params = jax.tree.map(lambda a: a[reps], params)
        point = cv.classify_batched(loss_fn, params=rep_params, data=data,
                                    grad_tol=clustering.grad_tol.value)
        names = ("grad_tol", "zero_tol", "round_tol", "loss_scale", "param_scale")
        thresholds = [{name: float(np.asarray(getattr(point, name))[c]) for name in names}
                      for c in range(k)]
        labels = np.asarray(point.label)
        index = np.asarray(point.index, np.int64)
        n_zero = np.asarray(point.n_zero, np.int64)
        rep_grad = np.asarray(point.grad_norm, np.float64)
        hessians = [st.POINT[int(lab)] for lab in labels]
        kinds = list(hessians)
        if optimizer is not None:
            g = growth_check(loss_fn, rep_params, data, optimizer=optimizer, steps=growth_steps)
            growing = [bool(v) for v in g.growing]
            kinds = [_TRAP if grow else kind for kind, grow in zip(kinds, growing)]
    outputs = (_outputs(model, spec, jax.tree.map(lambda a: a[reps], params), xs, apply)
               if k else None)
    summaries = []
    for c in range(k):
        m = clustering.members(c)
        lm = loss[m]
        r = int(reps[c])
        summaries.append(ClusterSummary(
            cluster=c, size=int(m.size), members=m, loss_mean=float(lm.mean()),
            loss_std=float(lm.std()), loss_min=float(lm.min()), loss_max=float(lm.max()),
            representative=r, representative_loss=float(loss[r]), kind=kinds[c], hessian=hessians[c],
            index=int(index[c]), n_zero=int(n_zero[c]), grad_norm=float(rep_grad[c]),
            growing=growing[c],
            duplicates=float(np.mean(structure.duplicate_pairs[m] > 0)),
            dead=_share(structure.dead, m), saturated=_share(structure.saturated, m),
            structure={"duplicate_pairs": int(structure.duplicate_pairs[r]),
                       "dead": -1 if structure.dead is None else int(structure.dead[r]),
                       "saturated": -1 if structure.saturated is None else int(structure.saturated[r])},
            outputs=outputs[c], group=int(groups[r]), thresholds=thresholds[c]))
    return Census(clustering, tuple(summaries), structure, loss)
