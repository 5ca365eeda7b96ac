"""What an experiment module defines: :class:`Experiment` and the range checks of its config.

The built-in experiments (``landscape.lab.experiments``) import this small module only, never the
registry (:mod:`landscape.lab.experiment`), which discovers them; so nothing imports in a circle.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Mapping

import numpy as np

from landscape import _checks
from landscape.train import progress_note

from .store import ResultsDir

__all__ = ["Experiment", "phase", "start_names", "require_counts", "require_positive", "check_numbers",
           "memory_estimate", "runs_bytes", "available_memory", "check_memory"]

MAX_INT = 2**31 - 1
"""Largest integer config value (counts, steps, sizes): JAX counts in 32-bit integers."""
MAX_FLOAT = float(np.finfo(np.float32).max)
"""Largest magnitude of a real config value: the numbers train in float32."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A research question with its configs, its ``run`` and (optionally) its ``figures``.

    ``headline`` names the summary numbers a sweep tabulates per point, as dotted paths into
    the summary (``"starts.random.success_rate"``); empty: every number of the summary.
    ``captions`` maps each figure's name to a one-sentence caption saying what to see, in the
    experiment's story order (the answer first): ``save_figures`` writes them, in that order,
    to ``figures.json``. ``run``'s summary has ``"headline"``: two plain sentences (the finding,
    then why), printed before its table.
    ``plans(config) -> {tag: TrainPlan}``: the training phases ``run`` trains through
    :func:`landscape.lab.resumable.train_resumable` (under the same tags, built by the same
    function), as far as they do not depend on an earlier analysis; with several processes the
    others train their share of these chunks while process 0 runs ``run`` (None: no such phases).

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
    captions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    plans: Callable[[Any], Mapping[str, Any]] | None = None


def phase(progress: bool | None, step: int, total: int, what: str) -> None:
    r"""Write the status line ``[step/total] what ...`` of an experiment's phase to stderr
    (:func:`landscape.train.progress_note`), unless ``progress`` is False (an experiment's ``run`` calls it before each slow step that shows no
    progress bar, so the terminal never stays silent for long).

    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     phase(None, 2, 4, "symmetric equilibrium")
    >>> err.getvalue()
    '[2/4] symmetric equilibrium ...\n'
    """
    progress_note(f"[{step}/{total}] {what} ...", progress)


def start_names(config: Any) -> dict[str, str]:
    """Each start's name with its distribution, as every output reports it: ``"constant"``,
    ``"perturbed"`` (where the config has ``perturb_eps``) and ``"random"``. ``config``: a config
    or its dict from ``config.json``.

    >>> start_names({"constant": 0.5, "random_std": 1.0})
    {'constant': 'constant 0.5', 'random': 'random N(0, 1^2)'}
    """
    get = config.get if isinstance(config, dict) else lambda key: getattr(config, key, None)
    c, eps = get("constant"), get("perturb_eps")
    names = {"constant": f"constant {c:g}"}
    if eps is not None:
        names["perturbed"] = f"constant {c:g} + {eps:g} N(0, 1)"
    names["random"] = f"random N(0, {get('random_std'):g}^2)"
    return names


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


def check_numbers(config: Any) -> None:
    """Range-check every number of a config dataclass (inside tuples too), naming the key:
    integers within ``[-(2**31 - 1), 2**31 - 1]`` (a key named ``seed``: ``[0, 2**64)``), reals
    finite and within float32's range. Raises ``ValueError``.

    >>> import types
    >>> @dataclasses.dataclass
    ... class Toy:
    ...     seed: int = 0
    ...     random_std: float = 1.0
    >>> check_numbers(Toy(random_std=float("nan")))
    Traceback (most recent call last):
    ValueError: config key 'random_std': random_std=nan must be a finite number >= -3.4028234663852886e+38 and <= 3.4028234663852886e+38
    >>> check_numbers(Toy(seed=2**64))
    Traceback (most recent call last):
    ValueError: config key 'seed': seed=18446744073709551616 must be an integer >= 0 and <= 18446744073709551615
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for i, item in items:
            name = field.name if i is None else f"{field.name}[{i}]"
            try:
                if isinstance(item, bool) or item is None or isinstance(item, str):
                    continue
                if isinstance(item, (int, np.integer)):
                    if "seed" in field.name:
                        _checks.count(name, item, minimum=0, maximum=_checks.MAX_SEED)
                    else:
                        _checks.count(name, item, minimum=-MAX_INT, maximum=MAX_INT)
                elif isinstance(item, (float, np.floating)):
                    _checks.real(name, item, low=-MAX_FLOAT, high=MAX_FLOAT)
            except (TypeError, ValueError) as err:
                raise ValueError(f"config key {field.name!r}: {err}") from None


def memory_estimate(config: Any) -> int:
    """A lower bound of the bytes a config needs, from the keys it has: ``n_runs`` runs of a
    ``2-hidden-1`` network (at least ``4 * hidden + 1`` parameters) with
    ``steps // record_every + 1`` loss records each, kept on the host (chunks and the joined
    result), ``chunk_size`` runs at once on the device (params, gradients, optimizer state),
    ``n_trajectories`` recorded trajectories. A config may define ``memory_bytes()`` instead.
    0 when the config has no ``n_runs``.

    >>> import types
    >>> memory_estimate(types.SimpleNamespace(n_runs=1000, hidden=2, steps=100, record_every=10,
    ...                                       chunk_size=100))
    206400
    """
    own = getattr(config, "memory_bytes", None)
    if callable(own):
        return int(own())
    n_runs = getattr(config, "n_runs", None)
    if not isinstance(n_runs, int):
        return 0
    hidden = getattr(config, "hidden", 2)
    params = 4 * (hidden if isinstance(hidden, int) else 2) + 1
    steps, every = getattr(config, "steps", None), getattr(config, "record_every", None)
    records = steps // every + 1 if isinstance(steps, int) and isinstance(every, int) and every > 0 else 1
    trajectories = getattr(config, "n_trajectories", 0) if isinstance(every, int) else 0
    return (runs_bytes(n_runs, params, records, getattr(config, "chunk_size", n_runs))
            + trajectories * records * params * 4)


def runs_bytes(n_runs: int, params: int, records: int = 1, chunk_size: int | None = None) -> int:
    """A lower bound of the bytes of ``n_runs`` float32 training runs of ``params`` parameters
    with ``records`` loss records each: kept twice on the host (chunks and the joined result),
    ``chunk_size`` runs (default all) at once on the device (params, gradients, optimizer state).
    For a config's ``memory_bytes()``.

    >>> runs_bytes(1000, 9, records=11, chunk_size=100)
    206400
    """
    chunk = n_runs if chunk_size is None else min(chunk_size, n_runs)
    return 2 * n_runs * (records + params + 4) * 4 + 4 * chunk * params * 4


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` of ``/proc/meminfo``, else the physical
    memory), ``None`` when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(config: Any, default: Any, available: int | None = None) -> None:
    """Refuse (``ValueError``) a config whose :func:`memory_estimate` exceeds the available
    memory, naming the changed key (from ``default``) whose reset saves most, with both numbers.

    >>> import types
    >>> check_memory(types.SimpleNamespace(n_runs=10, hidden=10**8), types.SimpleNamespace(
    ...     n_runs=10, hidden=2), available=2**30)
    Traceback (most recent call last):
    ValueError: config key 'hidden' = 100000000 needs about 89.4 GiB of memory (a lower bound), more than the 1 GiB available; lower it
    """
    need = memory_estimate(config)
    available = available_memory() if available is None else available
    if available is None or need <= available:
        return
    names = [f.name for f in dataclasses.fields(config)] if dataclasses.is_dataclass(config) \
        else list(vars(config))
    best, best_need = None, math.inf
    for name in names:
        if getattr(config, name) != getattr(default, name, getattr(config, name)):
            if dataclasses.is_dataclass(config):
                trial = dataclasses.replace(config, **{name: getattr(default, name)})
            else:
                trial = type(config)(**{**vars(config), name: getattr(default, name)})
            if memory_estimate(trial) < best_need:
                best, best_need = name, memory_estimate(trial)
    what = (f"config key {best!r} = {getattr(config, best)!r}" if best is not None
            else "config keys n_runs, hidden, chunk_size")
    raise ValueError(f"{what} needs about {_size(need)} of memory (a lower bound), more than the "
                     f"{_size(available)} available; lower it")
