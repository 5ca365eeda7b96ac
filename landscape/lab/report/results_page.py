"""The body of a results folder's page: the question, the headline (the finding and why, in
bold), the text and table of ``summary.json``,
the figures in story order with their captions, an interactive view of any stored 2D slice,
every number of the summary (exactly as stored), the settings and the package versions."""

from __future__ import annotations

from typing import Any, Mapping

from ..experiment import get_experiment, summary_numbers
from ..store import ResultsDir
from .figures import FigureEntry, folder_figures
from .interactive import slices_section
from .page import e, file_uri, key_values, table


def versions(config: Mapping[str, Any]) -> str:
    """The section listing the package versions of ``config.json`` (empty when it has none)."""
    found = config.get("versions", {})
    return "<h2>Package versions</h2>" + key_values(found) if found else ""


def _figure(entry: FigureEntry) -> str:
    image = entry.image
    files = ", ".join(p.name for p in entry.files)
    if image is None:
        return (f'<figure data-name="{e(entry.name)}"><p class="note">(no PNG or SVG image among '
                f'{e(files or "its files")})</p><figcaption>{e(entry.caption)}</figcaption></figure>')
    caption = (f'{e(entry.caption)} <span class="file">{e(image.name)}</span>' if entry.caption
               else e(image.name))  # no caption (an older folder): the file name says what it is
    return (f'<figure data-name="{e(entry.name)}"><img src="{file_uri(image)}" '
            f'alt="{e(entry.caption or entry.name)}"><figcaption>{caption}</figcaption></figure>')


def _figures(results: ResultsDir) -> str:
    entries, note = folder_figures(results.path)
    if not entries:
        return ""
    head = f'<p class="note">{e(note)}</p>' if note else ""
    return "<h2>Figures</h2>" + head + "".join(_figure(f) for f in entries)


def results_body(results: ResultsDir, config: Mapping[str, Any]) -> tuple[str, bool]:
    """``(HTML body, whether it holds an interactive slice view)`` of the page of results
    folder ``results`` (its config ``config``)."""
    name = config.get("experiment")
    parts = [f"<h1>{e(name)}{' (smoke run)' if config.get('smoke') else ''}</h1>"]
    try:
        parts.append(f"<p><em>{e(get_experiment(name).question)}</em></p>")
    except ValueError:
        parts.append(f'<p class="note">(experiment {e(name)} is not built in here)</p>')
    numbers = {}
    if (results.path / "summary.json").exists():
        summary = results.read_summary()
        if summary.get("headline"):
            parts.append('<div class="headline">'
                         + "".join(f"<p><strong>{e(line)}</strong></p>" for line in summary["headline"])
                         + "</div>")
        parts += [f"<p>{e(line)}</p>" for line in summary.get("text", [])]
        if summary.get("table"):
            parts.append("<h2>Summary</h2>" + table(summary["table"]["columns"], summary["table"]["rows"]))
        numbers = summary_numbers(summary)
    else:
        parts.append('<p class="note">Not complete: run the same command again to resume.</p>')
    parts.append(_figures(results))
    explore, interactive = slices_section(results)
    parts.append(explore)
    if numbers:
        parts.append("<h2>Every number of the summary</h2><details><summary>summary.json, "
                     f"{len(numbers)} numbers</summary>" + key_values(numbers) + "</details>")
    parts.append("<h2>Settings</h2>" + key_values(config["config"]))
    parts.append(versions(config))
    return "\n".join(p for p in parts if p), interactive
