"""report.html: well-formed HTML, every image a valid PNG (embedded or beside the page), every
summary number on the page, text escaped; optionally rendered by a headless Chromium."""

import base64
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from landscape.lab.experiment import summary_numbers
from landscape.lab.report import render_report, write_report
from landscape.lab.store import ResultsDir, StoreError

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Tags (checked for nesting), images, links and the text of a page; attributes count as text."""

    def __init__(self, text: str):
        super().__init__()
        self.open, self.images, self.links, self.text, self.errors = [], [], [], [], []
        self.feed(text)
        self.close()
        assert not self.open, f"unclosed tags {self.open}"
        assert not self.errors, self.errors

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        self.text += [v for k, v in attrs.items() if k == "title"]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "\n".join(self.text)


def _png(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()  # decodes every pixel: raises on a truncated or corrupt file
    return image.size


def _image_bytes(src: str, page_dir: Path) -> bytes:
    if src.startswith("data:"):
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64", head
        return base64.b64decode(data, validate=True)
    path = page_dir / src
    assert path.resolve().is_relative_to(page_dir.resolve()) and path.is_file(), src
    return path.read_bytes()


@pytest.fixture
def sweep_copy(xor_sweep, tmp_path):
    out, _ = xor_sweep
    return Path(shutil.copytree(out, tmp_path / "sweep", ignore=shutil.ignore_patterns("compile_cache")))


def test_results_folder_report(sweep_copy):
    folder = sweep_copy / "points" / "0000"
    path = write_report(folder)
    text = path.read_text()
    assert path == folder / "report.html" and text.startswith("<!DOCTYPE html>")
    page = Page(text)
    figures = sorted(folder.glob("*.png"))
    assert len(page.images) == len(figures) >= 1
    for src in page.images:  # embedded, so the page stands alone
        assert src.startswith("data:") and _png(_image_bytes(src, folder))[0] > 100
    summary = json.loads((folder / "summary.json").read_text())
    numbers = summary_numbers(summary)
    assert len(numbers) > 10
    for key, value in numbers.items():
        assert key in page.all_text and json.dumps(value) in page.all_text, key
    for row in summary["table"]["rows"]:
        for cell in row:
            assert str(cell) in page.all_text
    config = json.loads((folder / "config.json").read_text())
    for key, value in config["config"].items():
        assert key in page.all_text and json.dumps(value) in page.all_text
    for name, version in config["versions"].items():
        assert json.dumps(version) in page.all_text


def test_sweep_report_indexes_and_links_every_point(sweep_copy):
    page = Page(write_report(sweep_copy).read_text())
    index = json.loads((sweep_copy / "sweep.json").read_text())["points"]
    assert page.links == [f"{p['dir']}/report.html" for p in index]
    for link in page.links:  # every point's own report was written beside its results
        Page((sweep_copy / link).read_text())
    assert len(page.images) == len(index)  # a thumbnail per point, linked beside the page
    for src in page.images:
        assert not src.startswith("data:") and _png(_image_bytes(src, sweep_copy))
    summary = json.loads((sweep_copy / "summary.json").read_text())
    for point in summary["points"]:
        for value in point["headline"].values():
            if value is not None:
                assert repr(value) in page.all_text or str(value) in page.all_text
    assert "4 of 4 points finished (grid over learning_rate, seed)" in page.all_text


def test_text_is_escaped(tmp_path):
    results = ResultsDir(tmp_path / "r")
    results.bind_config({"experiment": "xor_train", "smoke": True,
                         "config": {"note": "<b>bold</b> & more"}, "versions": {}})
    results.write_json("summary", {"text": ["<script>alert(1)</script>"], "rate": 0.25})
    text = render_report(results.path)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
    assert "<script>alert(1)</script>" in page.all_text and "0.25" in page.all_text
    assert "<b>bold</b> & more" in page.all_text


def test_report_of_a_folder_without_results_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is not a results folder"):
        write_report(tmp_path)


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_headless_browser_loads_every_figure(sweep_copy, tmp_path):
    """Optional: Chromium renders both kinds of page and the page's own script reports that
    every image loaded (``<body data-loaded="all">``)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium installed")
    write_report(sweep_copy)
    for page, n_images in [(sweep_copy / "report.html", 4), (sweep_copy / "points/0001/report.html", 1)]:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
             page.resolve().as_uri()], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        assert f'data-images="{n_images}"' in done.stdout and 'data-loaded="all"' in done.stdout, page
