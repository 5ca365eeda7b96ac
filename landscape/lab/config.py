"""What an experiment module defines: :class:`Experiment` and the range checks of its config.

The built-in experiments (``landscape.lab.experiments``) import this small module only, never the
registry (:mod:`landscape.lab.experiment`), which discovers them; so nothing imports in a circle.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from .store import ResultsDir

__all__ = ["Experiment", "require_counts", "require_positive"]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A research question with its configs, its ``run`` and (optionally) its ``figures``.

    ``headline`` names the summary numbers a sweep tabulates per point, as dotted paths into
    the summary (``"starts.random.success_rate"``); empty: every number of the summary.

    >>> from landscape.lab.experiment import get_experiment
    >>> exp = get_experiment("xor_train")
    >>> exp.name, exp.smoke.n_runs < exp.config.n_runs
    ('xor_train', True)
    """

    name: str
    question: str
    config: Any
    smoke: Any
    run: Callable[[Any, ResultsDir, bool | None], dict]
    figures: Callable[[ResultsDir], dict] | None = None
    headline: tuple[str, ...] = ()


def require_counts(config: Any, keys) -> None:
    """Raise ``ValueError`` naming the first of ``keys`` whose value in ``config`` is below 1
    (for an experiment config's ``check()``).

    >>> import types
    >>> require_counts(types.SimpleNamespace(n_runs=0), ["n_runs"])
    Traceback (most recent call last):
    ValueError: config key 'n_runs' = 0 must be >= 1
    """
    for key in keys:
        if getattr(config, key) < 1:
            raise ValueError(f"config key {key!r} = {getattr(config, key)!r} must be >= 1")


def require_positive(config: Any, keys) -> None:
    """Raise ``ValueError`` naming the first of ``keys`` whose value in ``config`` is not > 0."""
    for key in keys:
        if not getattr(config, key) > 0:
            raise ValueError(f"config key {key!r} = {getattr(config, key)!r} must be > 0")
