"""Every status and label vocabulary of the toolkit: int codes with names and one-line meanings.

A batch of thousands of runs or points reports what happened to each one as data (an int array
of codes), never as an exception. Each vocabulary below says what its codes mean; results and
``summary.json`` spell them one way: by :meth:`Vocabulary.name` (counts by
:meth:`Vocabulary.counts`).

>>> import numpy as np
>>> from landscape import status
>>> status.RUN.name(1), status.RUN.meaning(1)
('nonfinite', 'the loss or gradient turned NaN/Inf; the run was frozen at failed_step')
>>> status.RUN.counts(np.array([0, 0, 1]))
{'ok': 2, 'nonfinite': 1}
>>> status.POINT.code("saddle")
2
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["Vocabulary", "RUN", "POINT", "GAP", "CATEGORY", "EQUILIBRIUM"]


class Vocabulary:
    """Int codes with names and one-line meanings (immutable).

    ``vocab[code]`` is the code's name; ``vocab.code(name)`` the reverse. Iterating a vocabulary
    is refused (it would be ambiguous between codes and names): use :meth:`items`, :attr:`codes`
    or :attr:`names`.
    """

    __slots__ = ("title", "_entries")

    def __init__(self, title: str, entries: Sequence[tuple[int, str, str]]):
        codes = [int(c) for c, _, _ in entries]
        names = [n for _, n, _ in entries]
        if len(set(codes)) != len(codes) or len(set(names)) != len(names):
            raise ValueError(f"{title}: codes and names must be unique, got {codes} / {names}")
        self.title = title
        self._entries = tuple((int(c), str(n), str(m)) for c, n, m in entries)

    def __setattr__(self, name, value):
        if hasattr(self, "_entries"):
            raise AttributeError("a Vocabulary is immutable")
        object.__setattr__(self, name, value)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(c for c, _, _ in self._entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for _, n, _ in self._entries)

    def items(self) -> tuple[tuple[int, str], ...]:
        """``((code, name), ...)`` in declaration order."""
        return tuple((c, n) for c, n, _ in self._entries)

    def _entry(self, code) -> tuple[int, str, str]:
        for entry in self._entries:
            if entry[0] == int(code):
                return entry
        raise KeyError(f"{code!r} is not a {self.title} code; expected one of {list(self.codes)}")

    def __getitem__(self, code) -> str:
        return self._entry(code)[1]

    def name(self, code) -> str:
        """The name of ``code``."""
        return self._entry(code)[1]

    def meaning(self, code) -> str:
        """The one-line meaning of ``code``."""
        return self._entry(code)[2]

    def code(self, name: str) -> int:
        """The code named ``name``."""
        for c, n, _ in self._entries:
            if n == name:
                return c
        raise KeyError(f"{name!r} is not a {self.title} name; expected one of {list(self.names)}")

    def __contains__(self, name) -> bool:
        return name in self.names

    def __iter__(self):
        raise TypeError(f"iterate {self.title} codes with .items(), .codes or .names")

    def __len__(self) -> int:
        return len(self._entries)

    def counts(self, codes) -> dict[str, int]:
        """``{name: how many of codes}`` for every name (zeros included), the one way results
        and ``summary.json`` count codes."""
        codes = np.asarray(codes)
        return {n: int(np.sum(codes == c)) for c, n, _ in self._entries}

    def __repr__(self) -> str:
        return f"Vocabulary({self.title!r}: " + ", ".join(f"{c}={n}" for c, n, _ in self._entries) + ")"


RUN = Vocabulary("run status", [
    (0, "ok", "finite loss and gradient at every step"),
    (1, "nonfinite", "the loss or gradient turned NaN/Inf; the run was frozen at failed_step"),
])
"""Status of a training run (``TrainResult.status``)."""

POINT = Vocabulary("critical-point label", [
    (0, "not_critical", "the gradient norm is above grad_tol"),
    (1, "minimum", "critical, every Hessian eigenvalue positive beyond zero_tol"),
    (2, "saddle", "critical, Hessian eigenvalues negative and positive beyond zero_tol"),
    (3, "maximum", "critical, every Hessian eigenvalue negative beyond zero_tol"),
    (4, "degenerate", "critical, no eigenvalue of one sign beyond zero_tol, some zero to rounding "
        "(round_tol): a resolved semi-definite spectrum with zero modes"),
    (5, "plateau", "critical and every eigenvalue within zero_tol: flat, nothing known about "
        "its shape"),
    (6, "unresolved", "critical, no eigenvalue of one sign beyond zero_tol, some above rounding "
        "but within zero_tol: not resolved at this precision and gradient (neither minimum nor "
        "saddle can be claimed)"),
])
"""Label of a point from its gradient and Hessian (``curvature.classify``)."""

GAP = Vocabulary("symmetry-gap status", [
    (0, "exact", "the hidden units are bit-identical: the run never left the symmetric subspace"),
    (1, "rounding", "the gap is within float rounding of the params' norm"),
    (2, "amplified", "the gap is above rounding but small: rounding noise grown by the dynamics"),
    (3, "broken", "the gap is a sizeable fraction of the params' norm: symmetry is broken"),
])
"""How far a run is from the symmetric subspace (``symmetry.gap_status``)."""

CATEGORY = Vocabulary("run category", [
    (-1, "moving", "the gradient norm is above grad_tol: the run had not settled"),
    (-2, "diverged", "the trainer's status is not ok"),
    (-3, "nonfinite", "a NaN/Inf in the loss, gradient norm or params although the status is ok"),
])
"""Runs kept out of the clusters (negative labels of ``minima.cluster_runs``; labels >= 0 are
clusters)."""

EQUILIBRIUM = Vocabulary("equilibrium kind", [
    (0, "critical_point", "a finite critical point of the loss restricted to the subspace"),
    (1, "trap_at_infinity", "the loss kept falling while the weights grew without bound"),
    (2, "not_converged", "neither: training inside the subspace had not settled"),
])
"""Where training inside the symmetric subspace goes (``symmetry.symmetric_equilibrium``)."""
