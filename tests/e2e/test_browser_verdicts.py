"""End-to-end: an upload without an HR reference gets a verdict and the maps under every result
panel; a bad file gets one line and no traceback. The real app in Debian's Chromium (the server
and helpers of :mod:`tests.e2e.test_browser`); every wait is for a state of the page."""

from __future__ import annotations

import re

import pytest

from microsr_core.models.weights import read_manifest
from tests.e2e.test_browser import (CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, images, server, settled, sync_api, upload,  # noqa: F401
                                    wait_for_page, wait_until)

VERDICT = re.compile(r"^(likely helped, [+-]\d+\.\d dB ± \d+\.\d|likely made it worse, [+-]\d+\.\d dB ± \d+\.\d|can't tell)$")
FIGURE_CAPTIONS = "() => [...document.querySelectorAll(\"[data-testid='stImage']\")].map(f => f.innerText.trim())"
#: The verdict badges under the panels: leaf elements reading a verdict, outside the method cards
#: (which repeat each verdict among the method's figures).
PANEL_BADGES = ("(pattern) => [...document.querySelectorAll('body *')].filter(e => e.children.length === 0"
                " && new RegExp(pattern).test(e.textContent.trim()) && !e.closest('.st-key-result_cards')).map(e => e.textContent.trim())")


def test_an_upload_without_hr_shows_a_verdict_and_maps_on_every_panel_and_a_bad_file_one_line(server, images, tmp_path):
    if "vdsr" not in read_manifest():
        pytest.skip("weights/manifest.json has no 'vdsr' entry: train and publish VDSR first")
    lr_path, _ = images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server + "/?methods=bicubic,vdsr&scale=2&lr_kind=bicubic")  # two methods keep the test short
            page.get_by_text("Compare super-resolution methods").wait_for()
            page.get_by_text("Upload an image").click()
            upload(page, "Image", lr_path)
            page.get_by_role("button", name=re.compile(r"^Run \d+ method")).click()
            page.get_by_text("Region of interest in every panel").wait_for()
            view = wait_for_page(page, lambda v: {"LR input", "Bicubic", "VDSR-residual"} <= set(v["panels"])
                                 and len(page.evaluate(PANEL_BADGES, VERDICT.pattern)) == len(v["panels"]) - 2, "a verdict under every result panel")
            methods = [title for title in view["panels"] if title not in ("LR input", "Bicubic")]
            badges = page.evaluate(PANEL_BADGES, VERDICT.pattern)
            assert len(badges) == len(methods) >= 1, (badges, methods)
            captions = page.evaluate(FIGURE_CAPTIONS)
            for method in methods:
                assert f"{method}: uncertainty (self-ensemble spread)" in captions, (method, captions)
                assert f"{method}: disagreement with the other methods" in captions, (method, captions)
            page.get_by_text("Super-resolved images are not for diagnosis", exact=False).first.wait_for()

            # Replace the upload with a bad file (the chooser button now also has a "Remove" beside it).
            page.locator("[data-testid='stFileUploaderDropzone'][aria-label^='Image'] input[type='file']").set_input_files(str(broken))
            error = page.locator("[data-testid='stAlertContentError']").first
            error.wait_for()
            text = error.inner_text().strip()
            assert text.startswith("Image: broken.png") and "\n" not in text, text
            wait_until(lambda: settled(page) is not None, what="the page to settle after the bad file")
            assert page.locator("[data-testid='stException']").count() == 0
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
