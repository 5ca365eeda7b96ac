"""Run every ```python block of README.md, in order and in one namespace, inside a folder.

The README's examples save their figures into the working directory, so running them in
``docs/images/`` regenerates the README's figures; ``tests/test_docs.py`` runs them in a
temporary folder so the examples cannot rot.

    python docs/readme_examples.py [OUT_DIR]     # default: docs/images
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the fenced ```python blocks of a Markdown ``text``, in order.

    >>> python_blocks("a\\n```python\\nx = 1\\n```\\n```bash\\nls\\n```\\n")
    ['x = 1\\n']
    """
    return [m.group(1) for m in _BLOCK.finditer(text)]


def run_blocks(blocks: list[str], folder: str | Path) -> dict:
    """Execute ``blocks`` in order in one namespace with ``folder`` as the working directory
    (created if needed; the previous one is restored). Returns the namespace."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    namespace = {"__name__": "__readme__"}
    with _chdir(folder):
        for i, block in enumerate(blocks):
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    return namespace


@contextlib.contextmanager
def _chdir(folder: Path):  # contextlib.chdir needs Python 3.11
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else README.parent / "docs" / "images"
    blocks = python_blocks(README.read_text())
    run_blocks(blocks, out)
    print(f"ran {len(blocks)} python blocks of {README.name} in {out}/")


if __name__ == "__main__":
    main(sys.argv[1:])
