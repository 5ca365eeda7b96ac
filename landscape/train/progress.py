"""Progress output: bars of training (over chunks, or counting runs with the plan's
description) and one-line status notes for slow steps without a bar."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import TrainPlan

__all__ = ["progress_bar", "progress_note"]


def progress_bar(iterable, total: int, enabled: bool | None, desc: str = "train_many",
                 plan: "TrainPlan | None" = None):
    """``iterable`` wrapped in a tqdm bar of ``total`` items; ``enabled=None`` shows it when
    ``total > 1``, ``False`` never (then ``iterable`` itself comes back).

    With a ``plan`` the items are chunk indices of that plan: the bar counts runs (runs/s and
    time left) and :meth:`TrainPlan.describe` (how the runs were split, the chunk size chosen)
    is printed above it.

    >>> list(progress_bar(range(3), 3, enabled=False))
    [0, 1, 2]
    """
    if enabled is False or (enabled is None and total <= 1):
        return iterable
    from tqdm.auto import tqdm
    if plan is None:
        return tqdm(iterable, total=total, unit="chunk", desc=desc)
    return _runs_bar(tqdm, iterable, plan, desc)


def _runs_bar(tqdm, chunks, plan: "TrainPlan", desc: str):
    """The chunk indices ``chunks``, counting each chunk's runs on a tqdm bar once it is done."""
    sizes = {c: plan.chunk_bounds(c)[1] - plan.chunk_bounds(c)[0] for c in chunks}
    tqdm.write(f"{desc}: {plan.describe()}", file=sys.stderr)
    with tqdm(total=sum(sizes.values()), unit="run", unit_scale=True, desc=desc) as bar:
        for c in chunks:
            yield c
            bar.update(sizes[c])


def progress_note(line: str, enabled: bool | None) -> None:
    """Write the status line ``line`` to stderr through tqdm (so it never breaks a bar being
    drawn), unless ``enabled`` is False.

    >>> progress_note("nothing shown", enabled=False)
    """
    if enabled is False:
        return
    from tqdm.auto import tqdm
    tqdm.write(line, file=sys.stderr)
