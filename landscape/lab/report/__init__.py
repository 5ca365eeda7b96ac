"""``report.html``: one self-contained page per results folder (or sweep folder).

The page of a results folder shows the experiment's question, its text and table, the figures
in the experiment's story order with a one-sentence caption under each (from ``figures.json``,
see :mod:`.figures`; older folders fall back to file-name order with a note), an interactive
view of any stored 2D slice (:mod:`.interactive`: hover for values, drag to rotate; inline
script, works offline), every number of ``summary.json`` (exactly as stored), the settings and
the package versions. Images are embedded as base64 data, so the page can be mailed on its own,
and shown at their natural size up to the page width (readable at 1280 px).

The page of a sweep folder (:mod:`.sweep_page`) shows the sweep's definition, a plot of each
headline number against the swept parameter(s) (:mod:`.sweep_plots`) and an index table with
plain-word headers (the dotted keys in their titles): every point's status, swept values, a
thumbnail of its first figure, its headline numbers and a link to the point's own report
(written too). Text is escaped with :func:`html.escape`.

A small inline script marks ``<body data-loaded="all">`` once every image has loaded, so a
headless browser can check the page (``--dump-dom``).
"""

from __future__ import annotations

from pathlib import Path

from ..store import ResultsDir, StoreError, atomic_write
from ..sweep import is_sweep, point_statuses
from . import interactive
from .page import page
from .results_page import results_body, versions
from .sweep_page import sweep_body

__all__ = ["write_report", "render_report"]


def render_report(path: str | Path) -> str:
    """The HTML text of the report of results (or sweep) folder ``path`` (nothing is written).

    A folder without ``config.json`` raises :class:`~landscape.lab.store.StoreError`; one without
    ``summary.json`` (an unfinished run) gets a page that says so. Every JSON file read is
    checked for shape, a sweep's point folders and every image must stay inside the folder
    (else :class:`~landscape.lab.store.StoreError` naming the file).

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> results.bind_config({"experiment": "xor_train", "config": {"n_runs": 4}})
    >>> _ = results.write_json("summary", {"text": ["3 of 4 runs learned XOR."], "rate": 0.75})
    >>> page = render_report(results.path)
    >>> page.startswith("<!DOCTYPE html>"), "<p>3 of 4 runs learned XOR.</p>" in page
    (True, True)
    """
    results = ResultsDir(path)
    if not (results.path / "config.json").is_file():
        raise StoreError(f"{str(results.path)!r} is not a results folder (it has no config.json)")
    config = results.read_config()
    if is_sweep(results.path):
        return page(f"sweep of {config.get('experiment')}", sweep_body(results, config) + versions(config))
    body, has_slices = results_body(results, config)
    extra = {"styles": [interactive.STYLE], "scripts": [interactive.SCRIPT]} if has_slices else {}
    return page(str(config.get("experiment")), body, **extra)


def write_report(path: str | Path) -> Path:
    """Write ``path/report.html`` (and, for a sweep, every started point's report); returns it.

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> results.bind_config({"experiment": "xor_train", "config": {"n_runs": 4}})
    >>> out = write_report(results.path)  # no summary.json yet: the page says "Not complete"
    >>> out.name, "Not complete" in out.read_text()
    ('report.html', True)
    """
    text = render_report(path)
    if is_sweep(path):  # the index links every started point's own report
        for point in point_statuses(path):
            if point["status"] != "pending":
                write_report(Path(path) / point["dir"])
    out = Path(path) / "report.html"
    atomic_write(out, lambda f: f.write(text.encode("utf-8")))
    return out
