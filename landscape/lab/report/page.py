"""The building blocks of a report page: escaping, tables, plain-word headers, embedded images
and the page frame (style and the image-check script). No dependencies beyond the standard
library."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

MIME = {"png": "image/png", "svg": "image/svg+xml"}
"""The figure formats a page shows, by file suffix."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em; max-width: 80em;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; vertical-align: middle; }
th { background: #f0f0f0; max-width: 11em; white-space: normal; } td.key { text-align: left; font-family: monospace; }
.scroll { overflow-x: auto; max-width: 100%; }
figure { display: block; margin: 0 0 2em; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { margin-top: 0.4em; max-width: 60em; color: #333; }
figcaption .file { color: #888; font-size: 0.85em; font-family: monospace; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(24em, 1fr)); gap: 1em; }
.plots figure { margin: 0; }
img.thumb { width: 11em; height: auto; display: block; } .note { color: #666; }
.headline { border-left: 4px solid #4a7; padding: 0.2em 1em; margin: 1em 0; background: #f4faf6; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-loaded", ok ? "all" : "missing");
});
"""


def e(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too, so it may stand in an attribute)."""
    return html.escape(str(value), quote=True)


def words(key: str) -> str:
    """A name in plain words: underscores become spaces.

    >>> words("learning_rate")
    'learning rate'
    """
    return str(key).replace("_", " ")


def readable_keys(keys: Sequence[str]) -> dict[str, str]:
    """``{dotted key: header}``: the last two parts of each key in plain words, "qualifier:
    quantity" (more leading parts where two keys would read the same).

    >>> readable_keys(["starts.random.success_rate", "starts.constant.success_rate", "n"])
    {'starts.random.success_rate': 'random: success rate', 'starts.constant.success_rate': 'constant: success rate', 'n': 'n'}
    >>> readable_keys(["a.x.rate", "b.x.rate"])
    {'a.x.rate': 'a x: rate', 'b.x.rate': 'b x: rate'}
    """
    def label(key: str, n: int) -> str:
        parts = [words(p) for p in str(key).split(".")]
        head, last = parts[-n:-1], parts[-1]
        return f"{' '.join(head)}: {last}" if head else last

    depth = {key: 2 for key in keys}
    while True:
        labels = {key: label(key, depth[key]) for key in keys}
        clashes = [k for k in keys if list(labels.values()).count(labels[k]) > 1
                   and depth[k] < len(str(k).split("."))]
        if not clashes:
            return labels
        for key in clashes:
            depth[key] += 1


def header(key: str, text: str) -> str:
    """A table header cell showing ``text``, with the raw ``key`` in its title (hover)."""
    return f'<th title="{e(key)}">{e(text)}</th>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table. ``headers`` are plain texts (escaped here) or, with ``raw``, ready ``<th>``
    cells; cells are escaped unless ``raw`` (then they are HTML already)."""
    cell = (lambda v: v) if raw else e
    head = "".join(headers) if raw else "".join(f"<th>{e(c)}</th>" for c in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def key_values(mapping: Mapping[str, Any]) -> str:
    """A two-column table: each key, and its value as JSON (exactly as stored)."""
    rows = "".join(f'<tr><td class="key">{e(k)}</td><td>{e(json.dumps(v))}</td></tr>'
                   for k, v in mapping.items())
    return f'<div class="scroll"><table><tbody>{rows}</tbody></table></div>'


def data_uri(data: bytes, fmt: str) -> str:
    """``data:`` URI of an image's bytes (``fmt`` one of :data:`MIME`'s keys).

    >>> data_uri(b"<svg/>", "svg")
    'data:image/svg+xml;base64,PHN2Zy8+'
    """
    return f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"


def file_uri(path: Path) -> str:
    """The ``data:`` URI of an image file (PNG or SVG)."""
    return data_uri(path.read_bytes(), path.suffix.lstrip("."))


def page(title: str, body: str, *, styles: Sequence[str] = (), scripts: Sequence[str] = ()) -> str:
    """The whole page: ``body`` (HTML) in the frame with the style and the image-check script
    (``<body data-loaded="all">`` once every image has loaded), plus extra inline ``styles``
    and ``scripts`` (run after the body)."""
    extra = "".join(f"<script>{s}</script>" for s in scripts)
    style = "".join((_STYLE, *styles))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{style}</style><script>{_SCRIPT}</script></head>\n"
            f"<body>\n{body}\n{extra}</body></html>\n")
