"""The body of a sweep folder's page: the question, how many points finished, a plot of each
headline number against the swept parameter(s), the index of points (status, swept values,
a thumbnail of the point's first figure, headline numbers, a link to the point's own report)
and the sweep's definition. Headers are in plain words, the dotted keys in their titles."""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..experiment import get_experiment, headline_numbers
from ..store import ResultsDir
from ..sweep import check_sweep_config, point_statuses
from .figures import first_image
from .page import e, header, key_values, readable_keys, table, words
from .sweep_plots import headline_plots


def _headline_cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<span title="{e(repr(value))}">{e(f"{value:.4g}")}</span>'
    return e("-" if value is None else value)


def _thumbnail(results: ResultsDir, point_dir: str) -> str:
    image = first_image(results.path / point_dir)
    if image is None:
        return ""
    return (f'<img class="thumb" src="{e(image.relative_to(results.path).as_posix())}" '
            f'alt="{e(image.stem)}">')


def sweep_body(results: ResultsDir, config: Mapping[str, Any]) -> str:
    """The HTML body of the page of sweep folder ``results`` (its config ``config``)."""
    name = config.get("experiment")
    sweep = check_sweep_config(results.path / "config.json", config)
    keys = list(sweep["values"])
    points = point_statuses(results.path)
    exp = get_experiment(name)
    for point in points:
        done = point["status"] == "done"
        point["headline"] = (headline_numbers(exp, results.read_summary(f"{point['dir']}/summary"))
                             if done else {})
    columns = list(dict.fromkeys(c for p in points for c in p["headline"]))
    labels = readable_keys(columns)
    rows = []
    for point in points:
        link = (f'<a href="{e(point["dir"])}/report.html">{point["index"]}</a>'
                if point["status"] != "pending" else str(point["index"]))
        rows.append([link, e(point["status"]), *(e(json.dumps(point["overrides"].get(k))) for k in keys),
                     _thumbnail(results, point["dir"]),
                     *(_headline_cell(point["headline"].get(c)) for c in columns)])
    headers = [header("index", "point"), header("status", "status"),
               *(header(k, words(k)) for k in keys), header("figure", "first figure"),
               *(header(c, labels[c]) for c in columns)]
    done = sum(p["status"] == "done" for p in points)
    plots = headline_plots(points, keys, labels, sweep["values"])
    parts = [f"<h1>Sweep of {e(name)}{' (smoke run)' if config.get('smoke') else ''}</h1>",
             f"<p><em>{e(exp.question)}</em></p>",
             f"<p>{done} of {len(points)} points finished ({e(sweep.get('mode'))} over "
             f"{e(', '.join(keys))}). Each point's results folder is points/0000, points/0001, ...; "
             "click an index for its report; hover a header for its key in summary.json.</p>"]
    if plots:
        parts.append("<h2>Headline numbers against the swept parameters</h2>" + plots)
    parts += ["<h2>Points</h2>" + table(headers, rows, raw=True),
              "<h2>The sweep</h2>" + key_values({"mode": sweep.get("mode"), **sweep.get("values", {}),
                                                 "overrides of every point": sweep.get("overrides", {})})]
    return "\n".join(parts)
