"""An interactive view of each 2D slice a results folder stores: a colour map whose grid points
report their value on hover, and a 3D surface that rotates when dragged. Self-contained: the
data sit in the page as JSON and the drawing is a small inline script (no library, no network).

A 2D slice is any ``<name>.npz`` at the folder's top level with ``alphas`` (n,), ``betas`` (m,)
and ``values`` (n, m) (``values[i, j]`` at ``alphas[i], betas[j]``), optionally ``xlabel`` and
``ylabel``: e.g. ``plane.npz`` of ``surface_tour``. The colour scale is logarithmic when the
values are positive and span two decades or more.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..store import ResultsDir, StoreError, confined
from .page import e

SLICE_KEYS = ("alphas", "betas", "values")

VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
"""The colour map's stops, low to high (shared by the script and the colour bar)."""


def _is_slice(path: Path) -> bool:
    """Whether ``path`` (an ``.npz``) holds the arrays of a 2D slice; a file that is not a
    readable ``.npz`` is not one (reading it for real says why)."""
    try:
        with zipfile.ZipFile(path) as archive:  # the names only: nothing is loaded
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return all(f"{key}.npy" in names for key in SLICE_KEYS)


def stored_slices(results: ResultsDir) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """``({name: arrays}, notes)``: every 2D slice of the folder whose arrays have matching
    shapes, by file name, read through :meth:`ResultsDir.read_arrays` (provenance checked); a
    slice that cannot be read (e.g. written before files carried their provenance) is left out
    with a note saying why."""
    found, notes = {}, []
    for path in sorted(results.path.glob("*.npz")):
        if not _is_slice(confined(results.path, path.name, what="array file")):
            continue
        try:
            arrays = results.read_arrays(path.stem)
        except StoreError as err:
            notes.append(f"{path.name} is not shown: {err}")
            continue
        alphas, betas, values = (np.asarray(arrays[k]) for k in SLICE_KEYS)
        if alphas.ndim == betas.ndim == 1 and values.shape == (alphas.size, betas.size):
            found[path.stem] = arrays
    return found, notes


def _finite_list(values: np.ndarray) -> Any:
    """Nested lists of floats, non-finite values as None (JSON null)."""
    return [[float(v) if math.isfinite(v) else None for v in row] for row in np.asarray(values, float)]


def slice_data(arrays: Mapping[str, np.ndarray]) -> dict:
    """The JSON the page's script reads: axes, values (null where not finite), labels, range.

    >>> d = slice_data({"alphas": np.array([0.0, 1.0]), "betas": np.array([0.0]),
    ...                 "values": np.array([[1.0], [np.inf]])})
    >>> d["values"], d["low"], d["high"], d["log"]
    ([[1.0], [None]], 1.0, 1.0, False)
    """
    values = np.asarray(arrays["values"], float)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return {"alphas": np.asarray(arrays["alphas"], float).tolist(),
            "betas": np.asarray(arrays["betas"], float).tolist(),
            "values": _finite_list(values),
            "xlabel": str(arrays.get("xlabel", "alpha")), "ylabel": str(arrays.get("ylabel", "beta")),
            "low": low, "high": high, "log": bool(low > 0 and high / low >= 100)}


def _json_in_html(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` can end it early)."""
    return json.dumps(data).replace("</", "<\\/")


def _span(axis: list) -> str:
    return f"{axis[0]:.4g} to {axis[-1]:.4g}"


def slice_view(name: str, arrays: Mapping[str, np.ndarray]) -> str:
    """The HTML of one slice's view (a ``<figure class="slice">``, drawn by :data:`SCRIPT`)."""
    d = slice_data(arrays)
    gradient = ", ".join(f"rgb{c}" for c in VIRIDIS)
    scale = "log scale" if d["log"] else "linear scale"
    return (f'<figure class="slice" data-name="{e(name)}">'
            '<div class="slice-panes">'
            '<canvas class="map" width="420" height="420" title="hover: the value at a grid point"></canvas>'
            '<canvas class="surface3d" width="420" height="420" title="drag to rotate"></canvas></div>'
            f'<div class="colorbar"><span>{d["low"]:.4g}</span>'
            f'<span class="bar" style="background: linear-gradient(to right, {gradient})"></span>'
            f'<span>{d["high"]:.4g}</span> <span class="note">({scale})</span></div>'
            '<p class="readout" data-i="" data-j="" data-value="">Hover the map to read the value '
            'at a grid point; drag the surface to rotate it.</p>'
            f'<figcaption>{e(name)}.npz: the stored values on a {len(d["alphas"])} x '
            f'{len(d["betas"])} grid; horizontal: {e(d["xlabel"])} from {_span(d["alphas"])}, '
            f'vertical (map) / depth (surface): {e(d["ylabel"])} from {_span(d["betas"])}.</figcaption>'
            f'<script type="application/json" class="slice-data">{_json_in_html(d)}</script>'
            "</figure>")


STYLE = """
.slice-panes { display: flex; flex-wrap: wrap; gap: 1em; }
.slice canvas { border: 1px solid #ccc; width: 420px; height: 420px; max-width: 100%; }
.slice canvas.surface3d { cursor: grab; }
.colorbar { display: flex; align-items: center; gap: 0.5em; margin-top: 0.4em; font-size: 0.9em; }
.colorbar .bar { display: inline-block; width: 16em; height: 0.9em; border: 1px solid #999; }
.readout { font-family: monospace; min-height: 1.4em; }
"""

SCRIPT = """
(function () {
  var STOPS = %s;
  function colour(t) {
    t = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
    var k = Math.min(STOPS.length - 2, Math.floor(t)), f = t - k, a = STOPS[k], b = STOPS[k + 1];
    return "rgb(" + [0, 1, 2].map(function (c) { return Math.round(a[c] + f * (b[c] - a[c])); }) + ")";
  }
  function level(d, v) {
    if (v === null) return null;
    if (d.high === d.low) return 0.5;
    return d.log ? Math.log(v / d.low) / Math.log(d.high / d.low) : (v - d.low) / (d.high - d.low);
  }
  function drawMap(canvas, d) {
    var ctx = canvas.getContext("2d"), n = d.alphas.length, m = d.betas.length;
    var w = canvas.width / n, h = canvas.height / m;
    for (var i = 0; i < n; i++) for (var j = 0; j < m; j++) {
      var t = level(d, d.values[i][j]);
      ctx.fillStyle = t === null ? "#fff" : colour(t);
      ctx.fillRect(i * w, (m - 1 - j) * h, w + 0.5, h + 0.5);
    }
  }
  function hover(canvas, readout, d) {
    return function (ev) {
      var r = canvas.getBoundingClientRect(), n = d.alphas.length, m = d.betas.length;
      var i = Math.floor((ev.clientX - r.left) / r.width * n);
      var j = m - 1 - Math.floor((ev.clientY - r.top) / r.height * m);
      if (i < 0 || i >= n || j < 0 || j >= m) return;
      var v = d.values[i][j];
      readout.dataset.i = i; readout.dataset.j = j; readout.dataset.value = String(v);
      readout.textContent = d.xlabel + " = " + d.alphas[i].toPrecision(4) + ", " + d.ylabel +
        " = " + d.betas[j].toPrecision(4) + ": value " + (v === null ? "not finite" : v.toPrecision(6));
    };
  }
  function drawSurface(canvas, d, az, el) {
    var ctx = canvas.getContext("2d"), n = d.alphas.length, m = d.betas.length;
    var s = canvas.width * 0.62, cx = canvas.width / 2, cy = canvas.height / 2;
    var ca = Math.cos(az), sa = Math.sin(az), ce = Math.cos(el), se = Math.sin(el);
    function project(i, j) {
      var t = level(d, d.values[i][j]); if (t === null) return null;
      var x = i / (n - 1) - 0.5, y = j / (m - 1) - 0.5, z = 0.6 * (t - 0.5);
      var xr = x * ca - y * sa, yr = x * sa + y * ca;
      return [cx + s * xr, cy - s * (yr * se + z * ce), yr * ce - z * se, t];
    }
    var quads = [];
    for (var i = 0; i + 1 < n; i++) for (var j = 0; j + 1 < m; j++) {
      var q = [project(i, j), project(i + 1, j), project(i + 1, j + 1), project(i, j + 1)];
      if (q.every(function (p) { return p !== null; })) quads.push(q);
    }
    function depth(q) { return q[0][2] + q[1][2] + q[2][2] + q[3][2]; }
    quads.sort(function (a, b) { return depth(b) - depth(a); });
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 0.3; ctx.strokeStyle = "rgba(0,0,0,0.35)";
    quads.forEach(function (q) {
      ctx.beginPath(); ctx.moveTo(q[0][0], q[0][1]);
      for (var k = 1; k < 4; k++) ctx.lineTo(q[k][0], q[k][1]);
      ctx.closePath(); ctx.fillStyle = colour((q[0][3] + q[1][3] + q[2][3] + q[3][3]) / 4);
      ctx.fill(); ctx.stroke();
    });
    canvas.dataset.azimuth = az.toFixed(3); canvas.dataset.elevation = el.toFixed(3);
  }
  Array.prototype.forEach.call(document.querySelectorAll("figure.slice"), function (fig) {
    var d = JSON.parse(fig.querySelector("script.slice-data").textContent);
    var map = fig.querySelector("canvas.map"), surface = fig.querySelector("canvas.surface3d");
    var readout = fig.querySelector(".readout"), az = 0.6, el = 0.5, last = null;
    drawMap(map, d);
    map.addEventListener("mousemove", hover(map, readout, d));
    drawSurface(surface, d, az, el);
    surface.addEventListener("mousedown", function (ev) { last = [ev.clientX, ev.clientY]; });
    window.addEventListener("mouseup", function () { last = null; });
    surface.addEventListener("mousemove", function (ev) {
      if (last === null) return;
      az += (ev.clientX - last[0]) * 0.01;
      el = Math.min(1.5, Math.max(-1.5, el + (ev.clientY - last[1]) * 0.01));
      last = [ev.clientX, ev.clientY];
      drawSurface(surface, d, az, el);
    });
  });
})();
""" % json.dumps(VIRIDIS)
"""The script that draws every slice view of a page and wires hover and drag."""


def slices_section(results: ResultsDir) -> tuple[str, bool]:
    """``(HTML, whether it holds a view)``: the section with a view of every 2D slice of the
    folder and a note per slice left out (empty when the folder stores none)."""
    found, notes = stored_slices(results)
    if not found and not notes:
        return "", False
    views = "".join(slice_view(name, arrays) for name, arrays in found.items())
    notes_html = "".join(f'<p class="note">{e(note)}</p>' for note in notes)
    title = f"Explore the 2D slice{'s' if len(found) + len(notes) > 1 else ''}"
    return f"<h2>{title}</h2>{notes_html}{views}", bool(found)
