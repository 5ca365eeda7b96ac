"""Which figures a results folder holds, in the experiment's story order, with their captions.

An experiment writes ``figures.json`` beside its figures::

    {"figures": [{"name": "loss_curves", "caption": "One sentence.", "files": ["loss_curves.png"]},
                 ...]}

in the order its story tells them. :func:`folder_figures` reads it (shape-checked, every file
confined to the folder); figures on disk that it does not list follow at the end, captioned by
file name. A folder without ``figures.json`` (written before captions existed) gets its figures
in file-name order, captioned by file name, and a note saying so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..store import ResultsDir, StoreError, confined
from ..store import _expect, _shape_error
from .page import MIME

FIGURES = "figures"
"""The name of the file (``figures.json``) that lists a folder's figures in story order."""

NO_CAPTIONS = ("This folder has no figures.json (it was written before figures had captions): "
               "figures in file-name order, captioned by file name.")


@dataclasses.dataclass(frozen=True)
class FigureEntry:
    """One figure to show: its ``name``, one-sentence ``caption`` (may be empty) and the
    ``files`` that draw it (paths inside the folder; the first PNG or SVG is shown)."""

    name: str
    caption: str
    files: tuple[Path, ...]

    @property
    def image(self) -> Path | None:
        """The file a page shows: the first PNG, else the first SVG, else None."""
        for fmt in MIME:
            for path in self.files:
                if path.suffix == f".{fmt}" and path.is_file():
                    return path
        return None


def _images_on_disk(folder: Path) -> list[Path]:
    """One file per figure stem of ``folder``, its PNG else its SVG, by file name; a file (or
    symlink) that leads out of the folder raises :class:`StoreError`."""
    by_stem: dict[str, Path] = {}
    for fmt in MIME:
        for path in sorted(folder.glob(f"*.{fmt}")):
            confined(folder, path.name, what="image")
            by_stem.setdefault(path.stem, path)
    return [by_stem[stem] for stem in sorted(by_stem)]


def _field(path: Path, item: dict, key: str, name: str, kind: type) -> Any:
    """``item[name]`` of entry ``key`` of ``path``, checked to be of ``kind``."""
    if name not in item:
        raise StoreError(f"{str(path)!r} lacks key '{key}.{name}'; the file is damaged or not "
                         "written by landscape")
    value = item[name]
    if not isinstance(value, kind):
        raise _shape_error(path, f"{key}.{name}", value, "a list" if kind is list else "a string")
    return value


def check_figures_json(folder: Path, data: Any) -> list[FigureEntry]:
    """The entries of ``figures.json`` (the contents ``data`` of ``folder``'s file), checked
    for shape: an object with ``figures``, a list of objects each with ``name`` and ``caption``
    (strings) and ``files`` (a list of names inside the folder); else :class:`StoreError`
    naming the file and key.

    >>> check_figures_json(Path("r"), {"figures": [{"name": "a", "caption": "A.", "files": "a.png"}]})
    Traceback (most recent call last):
    landscape.lab.store.StoreError: 'r/figures.json': key 'figures.0.files' must be a list, got str; the file is damaged or not written by landscape
    """
    path = folder / f"{FIGURES}.json"
    if not isinstance(data, dict):
        raise _shape_error(path, "", data, "an object")
    entries = []
    for i, item in enumerate(_expect(path, data, "figures", list)):
        if not isinstance(item, dict):
            raise _shape_error(path, f"figures.{i}", item, "an object")
        key = f"figures.{i}"
        name, caption, files = (_field(path, item, key, k, kind)
                                for k, kind in (("name", str), ("caption", str), ("files", list)))
        for j, file in enumerate(files):
            if not isinstance(file, str):
                raise _shape_error(path, f"{key}.files.{j}", file, "a string")
        paths = tuple(confined(folder, file, what=f"{str(path)!r}: key '{key}.files.{j}'")
                      for j, file in enumerate(files))
        entries.append(FigureEntry(name, caption, paths))
    return entries


def folder_figures(folder: str | Path) -> tuple[list[FigureEntry], str | None]:
    """``(figures in story order, note)`` of a results folder: the entries of its
    ``figures.json`` then any image on disk it does not list; ``note`` is None, or says that
    the folder has no ``figures.json`` (file-name order).

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> _ = results.write_json("figures", {"figures": [
    ...     {"name": "b", "caption": "First B.", "files": ["b.png"]},
    ...     {"name": "a", "caption": "Then A.", "files": ["a.png"]}]})
    >>> [(f.name, f.caption) for f in folder_figures(results.path)[0]]
    [('b', 'First B.'), ('a', 'Then A.')]
    """
    results = ResultsDir(folder)
    on_disk = _images_on_disk(results.path)
    if not (results.path / f"{FIGURES}.json").is_file():
        return [FigureEntry(p.stem, "", (p,)) for p in on_disk], (NO_CAPTIONS if on_disk else None)
    listed = check_figures_json(results.path, results.read_json(FIGURES))
    named = {p.resolve() for entry in listed for p in entry.files}
    rest = [FigureEntry(p.stem, "", (p,)) for p in on_disk if p.resolve() not in named]
    return listed + rest, None


def first_image(folder: str | Path) -> Path | None:
    """The image of a results folder's first figure in story order (None when it has none)."""
    return next((f.image for f in folder_figures(folder)[0] if f.image is not None), None)

