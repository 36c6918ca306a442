"""End-to-end: the real app in a real browser.

Starts ``streamlit run app.py`` on a free localhost port, drives Debian's Chromium through
Playwright, uploads an LR image and its HR reference through the file chooser, runs every
available method (bicubic and VDSR at least), waits for the result panels and the metrics
table, moves the region of interest (by dragging a box on the overview, then by typing
coordinates) and checks that every panel followed, checks the view in the URL, downloads the
HTML report and opens it offline, and takes a screenshot of the whole page. A second test opens
a shared link to the blood-smear sample (view restored, scale bars, pixel-exact panels), runs
x4 in teaching mode and checks its report names the x4 weights, then opens the Benchmarks,
Models and Train pages, and takes a screenshot of each.

The page is read in one atomic DOM query (``page.evaluate``) and only once Streamlit says its
run is over (``data-test-script-state="notRunning"``, no stale elements, the panels loaded);
every wait is for a state of the page, none for a length of time.

With ``MICROSR_UPDATE_SCREENSHOT=1`` the screenshots replace those in ``docs/screenshots/`` (the
README shows them); otherwise they stay in the test's temporary folder, so a test run leaves the
tree clean.

A third imports an ESRGAN, a Compact and an ONNX model on the Models page and runs them
beside ours on Compare, with their report rows.

Skips, saying why, when Chromium, Playwright or the VDSR weights are missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from microsr_core.imaging.degrade import Degradation
from microsr_core.imaging.io import encode_image
from microsr_core.samples import SAMPLES
from microsr_core.models.serving import served
from microsr_core.models.weights import card_heading, read_manifest
from tests.helpers import save_foreign_model, tiny_foreign_model

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
TIMEOUT_MS = 180_000

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served on a free port; always terminated. Its output goes to a temporary log."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    log = open(log_path, "w")
    home = tmp_path_factory.mktemp("home")  # its own MicroSR home: imports, timings and caches stay out of the checkout
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MICROSR_HOME": str(home)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit code {process.poll()}):\n{log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    hr = SAMPLES["blood_smear"].load()[144:336, 192:448]  # 192 x 256 HR field around the neutrophil
    lr = Degradation("bicubic", 2).apply(hr)  # 96 x 128 LR
    (folder / "field_lr.png").write_bytes(encode_image(lr, "png", 8))
    (folder / "field_hr.png").write_bytes(encode_image(hr, "png", 8))
    return folder / "field_lr.png", folder / "field_hr.png"


def wait_until(condition, timeout: float = TIMEOUT_MS / 1000, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def upload(page, label: str, path: Path) -> None:
    """Send ``path`` to the uploader ``label`` once the previous action's run is over (a file sent
    mid-run can be lost on a busy machine), then wait until the uploader holds it."""
    wait_until(lambda: settled(page) is not None, what=f"the page to settle before uploading {path.name}")
    zone = page.locator(f"[data-testid='stFileUploaderDropzone'][aria-label^='{label}']")
    zone.wait_for(timeout=TIMEOUT_MS)
    with page.expect_file_chooser() as chooser:
        zone.locator("button").click()
    chooser.value.set_files(str(path))
    page.get_by_role("button", name=f"Remove {path.name}").wait_for()


#: One atomic read of the page (a single DOM query, so nothing re-renders between its parts):
#: Streamlit's script state, how many elements are stale (drawn by the previous run and not yet
#: replaced) or still placeholders (skeletons of elements not yet drawn), every image with its
#: caption, source and whether it has loaded, and the ROI inputs.
SNAPSHOT = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const figures = [...document.querySelectorAll("[data-testid='stImage']")].map(figure => {
    const img = figure.querySelector("img");
    return {caption: figure.innerText.trim(), src: img ? img.src : "", loaded: !!img && img.complete && img.naturalWidth > 0};
  });
  const inputs = {};
  for (const input of document.querySelectorAll("[data-testid='stNumberInput'] input")) inputs[input.getAttribute("aria-label")] = input.value;
  return {state: app && app.getAttribute("data-test-script-state"),
          stale: document.querySelectorAll("[data-stale='true'], [data-testid='stSkeleton']").length, figures, inputs};
}"""
#: (CSS width, natural width) of every zoom panel's image.
PANEL_WIDTHS = """() => [...document.querySelectorAll("[data-testid='stImage']")]
  .filter(figure => figure.innerText.includes(" · rows "))
  .map(figure => { const img = figure.querySelector("img"); return [img.getBoundingClientRect().width, img.naturalWidth]; })"""
ROI_LABELS = ("Row (LR px)", "Column (LR px)", "Height (LR px)", "Width (LR px)")


def settled(page) -> dict | None:
    """The page once Streamlit has finished a run and every zoom panel has loaded, else ``None``.

    ``panels`` maps each zoom panel's title to (caption, image source): the images whose caption
    names a region. ``roi`` is the region inputs (row, col, height, width) in LR px.
    """
    snapshot = page.evaluate(SNAPSHOT)
    figures = [f for f in snapshot["figures"] if " · rows " in f["caption"]]
    if snapshot["state"] != "notRunning" or snapshot["stale"] or not all(f["loaded"] for f in figures):
        return None
    panels = {f["caption"].split(" · ")[0]: (f["caption"], f["src"]) for f in figures}
    inputs = snapshot["inputs"]
    roi = tuple(int(inputs[label]) for label in ROI_LABELS) if all(inputs.get(label) for label in ROI_LABELS) else None
    return {"panels": panels, "roi": roi}


def wait_for_page(page, condition, what: str) -> dict:
    """The first settled snapshot for which ``condition(snapshot)`` holds (Streamlit reruns
    asynchronously, so a snapshot taken right after an action may still be the old page)."""
    return wait_until(lambda: (view := settled(page)) is not None and condition(view) and view, what=what)


def moved(page, before: dict, arrived, what: str) -> dict:
    """Wait until the region inputs satisfy ``arrived(roi, old roi)`` and every panel shows a new
    image, then check that every panel shows that LR rectangle (SR panels at x2)."""
    view = wait_for_page(page, lambda v: v["roi"] and arrived(v["roi"], before["roi"]) and set(v["panels"]) == set(before["panels"])
                         and all(v["panels"][t][1] != before["panels"][t][1] for t in before["panels"]), what)
    row, col, height, width = view["roi"]
    for title, (caption, _) in view["panels"].items():
        factor = 1 if title == "LR input" else 2
        expected = f"rows {row * factor}-{(row + height) * factor}, cols {col * factor}-{(col + width) * factor}"
        assert expected in caption, (title, caption)
    return view


def whole_page_screenshot(page, folder: Path, name: str) -> Path:
    """A screenshot of the whole page as ``folder/name.png``, copied to ``docs/screenshots/`` with
    ``MICROSR_UPDATE_SCREENSHOT=1``. Streamlit's main area scrolls inside the page, so the
    viewport is grown to the content's height (``full_page`` would cut it) and restored after."""
    viewport = page.viewport_size
    height = page.evaluate(
        "() => { document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; }); window.scrollTo(0, 0);"
        " const b = document.querySelector(\"[data-testid='stMainBlockContainer']\");"
        " return b.getBoundingClientRect().top + b.scrollHeight; }")
    page.set_viewport_size({"width": viewport["width"], "height": min(int(height) + 40, 8000)})
    wait_for_page(page, lambda v: True, "the page to settle after resizing")
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(viewport)
    assert path.stat().st_size > 10_000, name  # a blank page compresses to far less
    if os.environ.get("MICROSR_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path


@contextlib.contextmanager
def browser_page(viewport: dict, **options):
    """A page of a fresh Chromium at ``viewport`` (``options``: Playwright's, e.g. ``is_mobile``);
    skips where the VDSR weights are missing; the browser is always closed."""
    if "vdsr" not in read_manifest():
        pytest.skip("weights/manifest.json has no 'vdsr' entry: train and publish VDSR first")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport, **options)
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def test_upload_run_compare_move_region_and_screenshot(server, images, tmp_path):
    if "vdsr" not in read_manifest():
        pytest.skip("weights/manifest.json has no 'vdsr' entry: train and publish VDSR first")
    lr_path, hr_path = images
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)  # generous: widgets load lazily, slowly on a busy machine
            page.goto(server)
            page.get_by_text("Compare super-resolution methods").wait_for(timeout=TIMEOUT_MS)
            page.get_by_text("Upload an image").click()
            upload(page, "Image", lr_path)
            upload(page, "HR reference", hr_path)
            page.get_by_text("HR reference used directly").wait_for(timeout=TIMEOUT_MS)
            methods = page.locator("[data-testid='stMultiSelect']").first.inner_text()
            assert "Bicubic" in methods and "VDSR" in methods, methods

            page.get_by_role("button", name=re.compile(r"^Run \d+ method")).click()
            page.get_by_text("Region of interest in every panel").wait_for(timeout=TIMEOUT_MS)
            page.get_by_text("Against the HR reference", exact=True).wait_for(timeout=TIMEOUT_MS)
            wait_until(lambda: page.locator("[data-testid='stDataFrame']").count() >= 2, what="results and metrics tables")
            titles = {"LR input", "Bicubic", "VDSR-residual", "HR reference"}
            view = wait_for_page(page, lambda v: titles <= set(v["panels"]) and v["roi"], "result panels")
            # The default region is where the image has detail: there the methods' panels differ
            # (media URLs are content hashes, so equal images would share one).
            sources = [source for title, (_, source) in view["panels"].items() if title not in ("LR input", "HR reference")]
            assert len(set(sources)) == len(sources) >= 2, view["panels"]

            # Drag a box on the overview: rows ~10-30, cols ~20-60 of the 96 x 128 LR image.
            area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()

            def at(row: float, col: float) -> tuple[float, float]:
                return area["x"] + (col + 0.5) / 128 * area["width"], area["y"] + (row + 0.5) / 96 * area["height"]

            start, end = at(10, 20), at(30, 60)
            page.mouse.move(*start)
            page.mouse.down()
            page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
            page.mouse.move(*end, steps=5)
            page.mouse.up()
            view = moved(page, view, lambda roi, old: roi != old, "every panel to follow the box")
            roi = view["roi"]
            assert abs(roi[0] - 10) <= 2 and abs(roi[1] - 20) <= 2 and abs(roi[2] - 20) <= 3 and abs(roi[3] - 40) <= 3, roi

            # Typing coordinates moves every panel too.
            field = page.get_by_label("Row (LR px)")
            field.fill("50")
            field.press("Enter")
            view = moved(page, view, lambda roi, old: roi[0] == 50, "every panel to follow the typed row")

            # The address bar holds the view; opened elsewhere it asks for the upload, which cannot travel.
            row, col, height, width = view["roi"]
            wait_until(lambda: f"region={row}%2C{col}%2C{height}%2C{width}" in page.url, what="the region in the URL")
            assert "sample=upload" in page.url and "scale=2" in page.url and "vdsr" in page.url, page.url
            shared = browser.new_page(viewport={"width": 1500, "height": 1100})
            shared.goto(page.url)
            shared.get_by_text("This link was made on an uploaded image").wait_for()
            shared.get_by_text("This view had an HR reference").wait_for()  # hr=upload: asked for again too
            shared.close()

            # The one-click report: one HTML file that opens with the network cut off, panels and checksums in it.
            with page.expect_download() as download:
                page.get_by_role("button", name="Report (HTML)").click()
            report = tmp_path / "report.html"
            download.value.save_as(report)
            text = report.read_text()
            vdsr = served("vdsr", 2)  # the weights that computed the x2 panel, not the multi-scale fallback card
            assert vdsr.sha256 in text and vdsr.file in text and "fp32" in text and "CIEDE2000" in text and "rows 100-" in text
            assert vdsr.entry == "vdsr" or read_manifest()["vdsr"]["sha256"] not in text
            offline = browser.new_page()
            offline.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
            offline.goto(report.as_uri())
            loaded = offline.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth > 0)")
            # Every zoom panel on the page (each shipped method runs by default) plus the LR input, then
            # the maps: three colour bars and three maps (LR consistency, error, SSIM) per method, and the
            # verdict's uncertainty and disagreement maps of every method but bicubic.
            methods = len(view["panels"]) - 2  # not the LR input and the HR reference
            assert len(loaded) == len(view["panels"]) + 1 + 3 + 3 * methods + 2 * (methods - 1) and all(loaded), (loaded, sorted(view["panels"]))
            sections = offline.evaluate("() => [...document.querySelectorAll('h2')].map(h => h.textContent)")
            assert {"PSNR-Y gain over bicubic (dB)", "ΔE00 mean change vs bicubic (below 0: truer colour; 1 = just noticeable)",
                    "Maps", "Settings"} <= set(sections), sections
            settings = dict(offline.evaluate("() => Array.from([...document.querySelectorAll('h2')].at(-1).nextElementSibling.rows,"
                                             " r => [r.cells[0].textContent, r.cells[1].textContent])"))
            assert settings["scale"] == "x2" and settings["LR size"] == "128 x 96 px (width x height), 8-bit", settings
            assert not any("{" in value or value == "None" for value in settings.values()), settings  # rows in words, no raw dicts
            offline.close()

            whole_page_screenshot(page, tmp_path, "compare_upload")
        finally:
            browser.close()


def test_a_shared_sample_link_opens_the_view_with_scale_bars(server, tmp_path):
    """A link to the blood-smear sample restores sample, method, scale, region and panel size,
    and every zoom panel carries a scale bar (the sample's pixel size is known); a report at x4
    names the x4 weights; then the Benchmarks page shows its leaderboard and speed table, the
    Models page its cards and the Train page its form, each in a screenshot."""
    link = "?sample=blood_smear&methods=bicubic,vdsr,microgan&scale=2&region=20,30,40,40&panel=512"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server + "/" + link)
            page.get_by_text("Compare super-resolution methods").wait_for()
            wait_for_page(page, lambda v: v["roi"] == (20, 30, 40, 40), "the linked region in the inputs")
            page.get_by_text("Source: BCCD dataset").wait_for()
            page.get_by_role("button", name=re.compile(r"^Run 3 method")).click()
            titles = {"LR input", "Bicubic", "VDSR-residual", "MicroGAN"}
            view = wait_for_page(page, lambda v: titles <= set(v["panels"]), "result panels")
            assert set(view["panels"]) == titles
            for title, (caption, _) in view["panels"].items():
                factor = 1 if title == "LR input" else 2
                assert f"rows {20 * factor}-{60 * factor}, cols {30 * factor}-{70 * factor}" in caption, caption
                assert f"nearest x{12 // factor}" in caption, caption  # panel 512 px: 40 LR px x2 enlarged x6
                assert re.search(r" · bar [\d.]+ µm$", caption), caption
            page.get_by_text("Region: 2.9 x 2.9 µm").wait_for()
            # Pixel-exact zoom: all four panels are drawn at their own pixel size (480 = 40 LR px x2 x6),
            # never resampled by the browser (four 512-px panels showed 303 px wide in columns).
            widths = page.evaluate(PANEL_WIDTHS)
            assert len(widths) == 4 and all(shown == natural == 480 for shown, natural in widths), widths
            whole_page_screenshot(page, tmp_path, "compare_sample_link")

            # At x4 (teaching mode: the LR made from the sample) the report names the x4 weights that ran.
            page.goto(server + "/?sample=blood_smear&methods=bicubic,vdsr&scale=4&teach=bicubic")
            page.get_by_role("button", name=re.compile(r"^Run 2 method")).click()
            wait_for_page(page, lambda v: {"Bicubic", "VDSR-residual"} <= set(v["panels"]), "the x4 panels")
            with page.expect_download() as download:
                page.get_by_role("button", name="Report (HTML)").click()
            report = tmp_path / "report_x4.html"
            download.value.save_as(report)
            text = report.read_text()
            vdsr = served("vdsr", 4)
            assert vdsr.sha256 in text and vdsr.file in text and "x4" in text, vdsr
            assert served("vdsr", 2).sha256 not in text  # not the x2 model, nor a fallback's card

            # The Benchmarks page: one leaderboard and the speed table.
            page.goto(server + "/benchmarks")
            page.get_by_text("Leaderboard", exact=True).wait_for()
            page.get_by_text("Speed (docs/benchmarks.md, newest run)").wait_for()
            wait_until(lambda: page.locator("[data-testid='stDataFrame']").count() >= 2, what="leaderboard and speed tables")
            whole_page_screenshot(page, tmp_path, "benchmarks")

            # The Models page: which weights serve what, and a card per shipped weights file; one opened.
            page.goto(server + "/models")
            page.get_by_text("Which weights serve each scale and kind of LR image").wait_for()
            card = read_manifest()["vdsr_x2"]
            page.get_by_text(card_heading("vdsr_x2", card)).click()
            page.get_by_text(card["sha256"]).wait_for()
            whole_page_screenshot(page, tmp_path, "models")

            # The Train page: the job form, and no job yet in this fresh home.
            page.goto(server + "/train")
            page.get_by_role("button", name=re.compile("^Start")).wait_for()
            whole_page_screenshot(page, tmp_path, "train")
        finally:
            browser.close()


def test_imported_models_run_beside_ours_with_metrics_and_report(server, images, tmp_path):
    """An ESRGAN (.pth), a Real-ESRGAN Compact (.safetensors, x4) and an ONNX model are each imported
    in one step on the Models page, then run beside the shipped methods on Compare at x2, and the
    report names each with its file's sha256 and its metrics, and says the x4 one was resized."""
    files = {
        "esrgan": save_foreign_model(tiny_foreign_model("esrgan", 2), tmp_path / "esrgan.pth"),
        "compact": save_foreign_model(tiny_foreign_model("compact", 4, seed=1), tmp_path / "compact.safetensors"),  # x4, serves x2
        "onnx": save_foreign_model(tiny_foreign_model("compact", 2, seed=2), tmp_path / "compact.onnx"),
    }
    lr_path, hr_path = images
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            for name, path in files.items():
                page.goto(server + "/models")  # a fresh page per import, as a user coming back would
                page.get_by_text("Import a model trained elsewhere").click()
                upload(page, "Model file", path)
                page.get_by_role("button", name=f"Remove {path.name}").wait_for()  # uploaded
                field = page.get_by_label("Name (a-z, 0-9, _ and -)")
                field.fill(name)
                field.press("Enter")
                # Enabled once a run has seen both the file and the name (the page starts without a name).
                button = page.get_by_role("button", name="Import", exact=True)
                wait_until(button.is_enabled, what="the Import button")
                button.click()
                alerts = page.locator("[data-testid='stAlert']")
                wait_until(lambda: any(f"import@{name}:" in t or "error" in t.lower() or " is not " in t for t in alerts.all_inner_texts()),
                           what=f"the import of {path.name}")
                assert any(t.startswith(f"Imported as method import@{name}:") for t in alerts.all_inner_texts()), alerts.all_inner_texts()

            page.goto(server)
            page.get_by_text("Upload an image").click()
            upload(page, "Image", lr_path)
            page.get_by_role("button", name=f"Remove {lr_path.name}").wait_for()  # uploaded before the next one starts
            upload(page, "HR reference", hr_path)
            page.get_by_role("button", name=f"Remove {hr_path.name}").wait_for()
            page.get_by_text("HR reference used directly").wait_for()
            page.get_by_role("button", name=re.compile(r"^Run \d+ method")).click()
            titles = {f"import@{name}" for name in files} | {"Bicubic", "VDSR-residual"}
            wait_for_page(page, lambda v: titles <= set(v["panels"]), "the imported models' panels beside ours")
            page.get_by_text("Against the HR reference", exact=True).wait_for()
            with page.expect_download() as download:
                page.get_by_role("button", name="Report (HTML)").click()
            report = tmp_path / "report.html"
            download.value.save_as(report)
            text = report.read_text()
            for name, path in files.items():
                assert f"import@{name}" in text and hashlib.sha256(path.read_bytes()).hexdigest() in text, name
            assert "compact (bicubic LR, run at x4, resized to x2)" in text  # the x4 import says how it served x2
        finally:
            browser.close()
