"""report.html: well-formed HTML, every image a valid PNG (embedded or beside the page), every
summary number on the page, text escaped; optionally rendered by a headless Chromium."""

import base64
import io
import html
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

import numpy as np

from landscape.lab.experiment import summary_numbers
from landscape.lab.report import render_report, write_report
from landscape.lab.report.figures import NO_CAPTIONS
from landscape.lab.store import ResultsDir, StoreError

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Tags (checked for nesting), images, links and the text of a page; attributes count as
    text. Also: each figure's ``data-name`` and caption text in page order, and each table
    header's text and title."""

    def __init__(self, text: str):
        super().__init__()
        self.open, self.images, self.links, self.text, self.errors = [], [], [], [], []
        self.figures, self.captions, self.headers, self.attrs = [], [], [], []
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
        self.attrs.append((tag, attrs))
        if tag == "figure":
            self.figures.append(attrs.get("data-name"))
        if tag == "figcaption":
            self.captions.append("")
        if tag == "th":
            self.headers.append([attrs.get("title"), ""])
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)
        if "figcaption" in self.open:
            self.captions[-1] += data
        if "th" in self.open:
            self.headers[-1][1] += data

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
    # the headline (finding, why) comes first: before the details and the table
    assert len(summary["headline"]) == 2
    where = [text.index(html.escape(line, quote=True)) for line in summary["headline"]]
    assert where == sorted(where) and where[-1] < text.index("<h2>Summary</h2>")
    for line in summary.get("text", []):
        assert where[-1] < text.index(html.escape(line, quote=True))
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
    thumbs = [src for src in page.images if not src.startswith("data:")]
    assert len(thumbs) == len(index)  # a thumbnail per point, linked beside the page
    for src in page.images:  # the thumbnails, then the embedded headline plots: valid PNGs
        assert _png(_image_bytes(src, sweep_copy))
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
    every image loaded (``<body data-loaded="all">``): the sweep's 4 thumbnails and its
    headline plots, the point's figure."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium installed")
    write_report(sweep_copy)
    for page in [sweep_copy / "report.html", sweep_copy / "points/0001/report.html"]:
        n_images = len(Page(page.read_text()).images)
        assert n_images >= 1
        dom = _dump_dom(browser, page, tmp_path / "profile")
        assert f'data-images="{n_images}"' in dom and 'data-loaded="all"' in dom, page


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120">'
       '<rect width="300" height="120" fill="teal"/></svg>')


@pytest.fixture
def story_folder(sweep_copy):
    """A point folder with three figures and a figures.json that tells them out of file-name
    order; ``unlisted.png`` is on disk but not in the story."""
    folder = sweep_copy / "points" / "0000"
    png = (folder / "loss_curves.png").read_bytes()
    (folder / "unlisted.png").write_bytes(png)
    (folder / "b_mechanism.svg").write_text(SVG)
    (folder / "a_detail.png").write_bytes(png)
    ResultsDir(folder).write_json("figures", {"figures": [
        {"name": "loss_curves", "caption": "Random starts learn; the constant start stays put.",
         "files": ["loss_curves.png"]},
        {"name": "b_mechanism", "caption": "Equal units get equal error signals.",
         "files": ["b_mechanism.svg"]},
        {"name": "a_detail", "caption": "A detail <last>.", "files": ["a_detail.png"]}]})
    return folder


STORY = ["loss_curves", "b_mechanism", "a_detail", "unlisted"]


def test_figures_follow_the_story_with_captions(story_folder):
    page = Page(render_report(story_folder))
    assert page.figures == STORY  # figures.json's order, then what it does not list
    assert page.captions[:3] == ["Random starts learn; the constant start stays put. loss_curves.png",
                                 "Equal units get equal error signals. b_mechanism.svg",
                                 "A detail <last>. a_detail.png"]
    assert page.captions[3] == "unlisted.png"
    assert NO_CAPTIONS not in page.all_text
    heads = [src.partition(",")[0] for src in page.images]
    assert heads == ["data:image/png;base64", "data:image/svg+xml;base64", "data:image/png;base64",
                     "data:image/png;base64"]
    assert base64.b64decode(page.images[1].partition(",")[2]).decode() == SVG


def test_folder_without_figures_json_falls_back_to_file_names(sweep_copy):
    folder = sweep_copy / "points" / "0001"
    (folder / "figures.json").unlink(missing_ok=True)  # a folder written before figures.json
    (folder / "a_first.svg").write_text(SVG)
    page = Page(render_report(folder))
    assert page.figures == ["a_first", "loss_curves"] and page.captions == ["a_first.svg", "loss_curves.png"]
    assert NO_CAPTIONS in page.all_text


@pytest.mark.parametrize("figures, message", [
    ([], "its top level must be an object, got list"),
    ({"figures": {}}, "key 'figures' must be a list, got dict"),
    ({"figures": ["a.png"]}, "key 'figures.0' must be an object, got str"),
    ({"figures": [{"name": "a", "files": ["a.png"]}]}, "lacks key 'figures.0.caption'"),
    ({"figures": [{"name": "a", "caption": "A.", "files": "a.png"}]}, "key 'figures.0.files' must be a list"),
    ({"figures": [{"name": "a", "caption": "A.", "files": [3]}]}, "key 'figures.0.files.0' must be a string"),
    ({"figures": [{"name": "a", "caption": "A.", "files": ["../a.png"]}]},
     "key 'figures.0.files.0' '../a.png' leaves the results folder"),
])
def test_a_damaged_figures_json_is_refused_naming_file_and_key(tmp_path, figures, message):
    results = ResultsDir(tmp_path / "r")
    results.bind_config({"experiment": "xor_train", "config": {}})
    results.write_json("figures", figures)
    with pytest.raises(StoreError, match="figures.json") as err:
        render_report(results.path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sweep_headers_read_in_words_and_plot_each_headline_number(sweep_copy):
    page = Page(render_report(sweep_copy))
    headers = dict((title, text) for title, text in page.headers)
    assert headers["starts.random.success_rate"] == "random: success rate"
    assert headers["learning_rate"] == "learning rate"
    assert not any("." in text for text in headers.values())  # no raw dotted key as a header
    summary = json.loads((sweep_copy / "summary.json").read_text())
    plottable = [key for key in summary["points"][0]["headline"]
                 if any(isinstance(p["headline"][key], (int, float)) for p in summary["points"])]
    plots = [attrs["data-column"] for tag, attrs in page.attrs if tag == "figure" and "data-column" in attrs]
    assert sorted(plots) == sorted(plottable) and len(plots) >= 2
    assert "random: success rate against learning rate, one line per seed." in page.captions


def _slice_folder(path, *, provenance=True):
    """A results folder that stores a 4 x 3 loss slice (``values[i, j] = 10 i + j + 0.5``)."""
    results = ResultsDir(path)
    results.bind_config({"experiment": "surface_tour", "config": {"plane_points": 4}})
    arrays = {"alphas": np.linspace(-1, 1, 4), "betas": np.linspace(0, 2, 3),
              "values": 10.0 * np.arange(4)[:, None] + np.arange(3)[None, :] + 0.5,
              "xlabel": np.array("symmetric <d_s>"), "ylabel": np.array("breaking d_b")}
    if provenance:
        results.write_arrays("plane", arrays)
    else:  # as written before arrays carried their provenance
        np.savez(results.path / "plane.npz", **arrays)
    return results.path, arrays


def test_a_stored_2d_slice_gets_an_interactive_view(tmp_path):
    folder, arrays = _slice_folder(tmp_path / "r")
    text = render_report(folder)
    page = Page(text)
    assert page.figures == ["plane"] and "drag the surface to rotate it" in page.all_text
    assert "symmetric <d_s> from -1 to 1, vertical (map) / depth (surface): breaking d_b from 0 to 2." in page.captions[0]
    data = json.loads(text.split('class="slice-data">')[1].split("</script>")[0])
    assert data["values"] == arrays["values"].tolist() and data["alphas"] == arrays["alphas"].tolist()
    assert (data["low"], data["high"], data["xlabel"]) == (0.5, 32.5, "symmetric <d_s>")
    assert "https://" not in text and "http://" not in text  # self-contained: nothing to fetch


def test_a_slice_without_provenance_is_left_out_with_a_note(tmp_path):
    folder, _ = _slice_folder(tmp_path / "r", provenance=False)
    page = Page(render_report(folder))
    assert "plane.npz is not shown" in page.all_text and "carries no provenance" in page.all_text
    assert "slice" not in [attrs.get("class") for tag, attrs in page.attrs if tag == "figure"]


def _dump_dom(browser: str, page: Path, profile: Path) -> str:
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1280,2000",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
         page.resolve().as_uri()], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


HOVER = """<script>
window.addEventListener("load", function () {
  var fig = document.querySelector("figure.slice"), map = fig.querySelector("canvas.map");
  var r = map.getBoundingClientRect(), n = 4, m = 3, i = 1, j = 2;
  map.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + (i + 0.5) * r.width / n,
                                                 clientY: r.top + (m - 1 - j + 0.5) * r.height / m}));
  var s = fig.querySelector("canvas.surface3d"), q = s.getBoundingClientRect();
  s.dispatchEvent(new MouseEvent("mousedown", {clientX: q.left + 10, clientY: q.top + 10}));
  s.dispatchEvent(new MouseEvent("mousemove", {clientX: q.left + 60, clientY: q.top + 10}));
});
</script></body>"""


def test_headless_browser_hover_reads_the_slice_and_drag_rotates(tmp_path):
    """Optional: in Chromium, a mouse move over grid point (1, 2) of the map (second column,
    top row) shows its value (12.5) and a drag turns the surface (azimuth 0.6 -> 1.1)."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium installed")
    folder, arrays = _slice_folder(tmp_path / "r")
    page = tmp_path / "r" / "hover.html"
    page.write_text(render_report(folder).replace("</body>", HOVER))
    dom = Page(_dump_dom(browser, page, tmp_path / "profile"))
    readout = next(attrs for tag, attrs in dom.attrs if attrs.get("class") == "readout")
    assert (readout["data-i"], readout["data-j"]) == ("1", "2")
    assert float(readout["data-value"]) == arrays["values"][1, 2] == 12.5
    assert "value 12.5000" in dom.all_text
    surface = next(attrs for tag, attrs in dom.attrs if attrs.get("class") == "surface3d")
    assert surface["data-azimuth"] == "1.100" and surface["data-elevation"] == "0.500"


def test_headless_browser_shows_the_story_in_order(story_folder, tmp_path):
    """Optional: the DOM Chromium builds has the figures in story order, their captions, and
    every image (PNG and SVG) loaded."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium installed")
    dom = Page(_dump_dom(browser, write_report(story_folder), tmp_path / "profile"))
    assert dom.figures == STORY and dom.captions[1] == "Equal units get equal error signals. b_mechanism.svg"
    body = next(attrs for tag, attrs in dom.attrs if tag == "body")
    assert (body["data-images"], body["data-loaded"]) == ("4", "all")


def test_headline_plot_of_a_named_parameter_skips_points_without_a_number():
    """Names (not numbers) sit at equal steps with their labels; a point without a number for
    the headline (unfinished, null, NaN) is left out of its line."""
    from landscape.lab.report.sweep_plots import headline_figure

    points = [{"overrides": {"activation": a}, "headline": {"rate": r}}
              for a, r in [("tanh", 0.75), ("sigmoid", 0.25), ("relu", None), ("gelu", float("nan"))]]
    fig = headline_figure(points, ["activation"], "rate", "success rate",
                          {"activation": ["sigmoid", "tanh", "relu", "gelu"]})
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    assert line.get_xdata().tolist() == [0, 1] and line.get_ydata().tolist() == [0.25, 0.75]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sigmoid", "tanh", "relu", "gelu"]
    assert ax.get_legend() is None and ax.get_xlabel() == "activation"
    assert headline_figure(points[2:], ["activation"], "rate", "success rate", {}) is None
