"""``report.html``: one self-contained page per results folder (or sweep folder).

The page of a results folder shows the experiment's question, its text and table, every number
of ``summary.json`` (exactly as stored), the figures (PNG or SVG embedded as base64 data, so
the page can be mailed on its own), the resolved config and the package versions. The page of
a sweep folder shows the sweep's definition and an index table: every point's status, swept
values and headline numbers, a thumbnail of its first figure and a link to the point's own
report (written too). Text is escaped with :func:`html.escape`; no dependencies.

A small inline script marks ``<body data-loaded="all">`` once every image has loaded, so a
headless browser can check the page (``--dump-dom``).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .experiment import get_experiment, headline_numbers, summary_numbers
from .store import ResultsDir, StoreError, atomic_write, confined
from .sweep import check_sweep_config, is_sweep, point_statuses

__all__ = ["write_report", "render_report"]

_MIME = {"png": "image/png", "svg": "image/svg+xml"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.key { text-align: left; font-family: monospace; }
.scroll { overflow-x: auto; } figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { max-width: 40em; } img.thumb { width: 12em; } .note { color: #666; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-loaded", ok ? "all" : "missing");
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(columns: Sequence[Any], rows: Sequence[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are HTML already)."""
    cell = (lambda v: v) if raw else _e
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _key_values(mapping: Mapping[str, Any]) -> str:
    rows = "".join(f'<tr><td class="key">{_e(k)}</td><td>{_e(json.dumps(v))}</td></tr>'
                   for k, v in mapping.items())
    return f'<div class="scroll"><table><tbody>{rows}</tbody></table></div>'


def _figure_files(folder: Path) -> list[Path]:
    """One file per figure of a results folder: its PNG, else its SVG; a file (or symlink)
    that leads out of the folder raises :class:`StoreError`."""
    by_stem: dict[str, Path] = {}
    for fmt in _MIME:
        for path in sorted(folder.glob(f"*.{fmt}")):
            confined(folder, path.name, what="image")
            by_stem.setdefault(path.stem, path)
    return [by_stem[stem] for stem in sorted(by_stem)]


def _data_uri(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{_MIME[path.suffix.lstrip('.')]};base64,{data}"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _versions(config: Mapping[str, Any]) -> str:
    versions = config.get("versions", {})
    return "<h2>Versions</h2>" + _key_values(versions) if versions else ""


def _run_body(results: ResultsDir, config: Mapping[str, Any]) -> str:
    name = config.get("experiment")
    parts = [f"<h1>{_e(name)}{' (smoke)' if config.get('smoke') else ''}</h1>"]
    try:
        parts.append(f"<p><em>{_e(get_experiment(name).question)}</em></p>")
    except ValueError:
        parts.append(f'<p class="note">(experiment {_e(name)} is not built in here)</p>')
    if (results.path / "summary.json").exists():
        summary = results.read_summary()
        parts += [f"<p>{_e(line)}</p>" for line in summary.get("text", [])]
        table = summary.get("table")
        if table:
            parts.append("<h2>Summary</h2>" + _table(table["columns"], table["rows"]))
        numbers = summary_numbers(summary)
        if numbers:
            parts.append("<details><summary>Every number of summary.json</summary>"
                         + _key_values(numbers) + "</details>")
    else:
        parts.append('<p class="note">Not complete: run the same command again to resume.</p>')
    figures = _figure_files(results.path)
    if figures:
        parts.append("<h2>Figures</h2>" + "".join(
            f'<figure><img src="{_data_uri(f)}" alt="{_e(f.stem)}"><figcaption>{_e(f.name)}'
            "</figcaption></figure>" for f in figures))
    parts.append("<h2>Config</h2>" + _key_values(config["config"]))
    parts.append(_versions(config))
    return "\n".join(parts)


def _headline_cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<span title="{_e(repr(value))}">{_e(f"{value:.4g}")}</span>'
    return _e("-" if value is None else value)


def _sweep_body(results: ResultsDir, config: Mapping[str, Any]) -> str:
    name = config.get("experiment")
    sweep = check_sweep_config(results.path / "config.json", config)
    keys = list(sweep["values"])
    points = point_statuses(results.path)
    exp = get_experiment(name)
    heads = []
    for point in points:
        done = point["status"] == "done"
        heads.append(headline_numbers(exp, results.read_summary(f"{point['dir']}/summary"))
                     if done else {})
    columns = list(dict.fromkeys(c for h in heads for c in h))
    rows = []
    for point, head in zip(points, heads):
        figures = _figure_files(results.path / point["dir"])
        thumb = (f'<img class="thumb" src="{_e(figures[0].relative_to(results.path).as_posix())}" '
                 f'alt="{_e(figures[0].stem)}">' if figures else "")
        link = (f'<a href="{_e(point["dir"])}/report.html">{point["index"]}</a>'
                if point["status"] != "pending" else str(point["index"]))
        rows.append([link, _e(point["status"]), *(_e(json.dumps(point["overrides"].get(k))) for k in keys),
                     *(_headline_cell(head.get(c)) for c in columns), thumb])
    done = sum(p["status"] == "done" for p in points)
    parts = [f"<h1>Sweep of {_e(name)}{' (smoke)' if config.get('smoke') else ''}</h1>",
             f"<p><em>{_e(exp.question)}</em></p>",
             f"<p>{done} of {len(points)} points finished ({_e(sweep.get('mode'))} over "
             f"{_e(', '.join(keys))}). Each point's results folder is points/&lt;index&gt;; "
             "click an index for its report.</p>",
             "<h2>Points</h2>" + _table(["point", "status", *keys, *columns, "figure"], rows, raw=True),
             "<h2>Sweep</h2>" + _key_values({"mode": sweep.get("mode"), **sweep.get("values", {}),
                                             "overrides of every point": sweep.get("overrides", {})}),
             _versions(config)]
    return "\n".join(parts)


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
        return _page(f"sweep of {config.get('experiment')}", _sweep_body(results, config))
    return _page(str(config.get("experiment")), _run_body(results, config))


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
