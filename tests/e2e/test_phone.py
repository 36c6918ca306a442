"""The Compare page on a phone's screen (390×844) and on a 1280-px desktop, in Chromium.

On the phone: scale, methods and LR kind are in the page (the sidebar stays closed), every
figure of the results is inside the screen's width, and two panels fit one screen side by side.
On the desktop: with every method selected and an HR reference, every table shows every column. A good upload,
a refused upload and the same good upload again: the LR kind, the methods and the panel titles
are the same before and after (without state.keep_settings the LR kind fell back to the default).
Screenshots as in test_browser.py.
"""

from __future__ import annotations

import re

from tests.e2e.test_browser import browser_page, images, server, upload, wait_for_page, wait_until, whole_page_screenshot  # noqa: F401

PHONE = {"width": 390, "height": 844}
#: Boxes (left, right, bottom) of what the phone must show without the sidebar or sideways scrolling.
LAYOUT = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width, r.height]; };
  const labels = [...main.querySelectorAll("[data-testid='stWidgetLabel']")].map(e => e.innerText.trim());
  const cards = [...document.querySelectorAll(".st-key-result_cards [data-testid='stMarkdownContainer']")]
    .filter(e => e.innerText.includes("LR-consistency"));
  const pair = [...document.querySelectorAll("[data-testid='stImage']")].find(f => f.innerText.includes(" | "));
  return {labels, page: document.documentElement.scrollWidth, cards: cards.map(c => [box(c), c.innerText]),
          pair: pair ? box(pair.querySelector("img")) : null,
          sidebar: box(document.querySelector("[data-testid='stSidebar']"))};
}"""


def test_a_phone_reaches_the_settings_and_reads_every_figure(server, tmp_path):  # noqa: F811
    with browser_page(PHONE, is_mobile=True, has_touch=True) as page:
        page.goto(server + "/?sample=blood_smear&methods=bicubic,vdsr&scale=2&lr_kind=bicubic&region=120,200,40,40&panel=192")
        page.get_by_role("button", name=re.compile(r"^Run 2 method")).click()
        wait_for_page(page, lambda v: {"Bicubic", "VDSR-residual"} <= {t.split(" · ")[0] for t in v["panels"]}, "the panels")
        layout = page.evaluate(LAYOUT)
        assert {"Scale", "Methods", "This LR image is"} <= set(layout["labels"]), layout["labels"]
        assert layout["sidebar"][1] <= 0 or layout["sidebar"][2] == 0, layout["sidebar"]  # closed: the settings are in the page
        assert layout["page"] <= PHONE["width"], layout["page"]  # nothing scrolls sideways
        assert len(layout["cards"]) == 2 and all(right <= PHONE["width"] for (left, right, *_), _ in layout["cards"]), layout["cards"]
        text = " ".join(card for _, card in layout["cards"])
        assert "LR-consistency PSNR-Y" in text and "max |ΔY|" in text and "time" in text and "weights" in text and "nan" not in text
        left, right, width, height = layout["pair"]
        assert right <= PHONE["width"] and height < PHONE["height"] / 2, layout["pair"]  # both panels, side by side, on one screen
        whole_page_screenshot(page, tmp_path, "compare_phone")


#: Whether the results table's grid scrolls sideways (its columns wider than its box).
TABLE_OVERFLOW = """() => [...document.querySelectorAll("[data-testid='stDataFrame'] .dvn-scroller")]
  .map(s => s.scrollWidth - s.clientWidth)"""


def test_the_desktop_tables_show_every_column_at_1280_px(server, images):  # noqa: F811
    lr_path, hr_path = images
    with browser_page({"width": 1280, "height": 900}) as page:
        page.goto(server)
        page.get_by_text("Upload an image").click()
        upload(page, "Image", lr_path)
        page.get_by_role("button", name=f"Remove {lr_path.name}").wait_for()  # uploaded before the next one starts
        upload(page, "HR reference", hr_path)
        page.get_by_text("HR reference used directly").wait_for()
        page.get_by_role("button", name=re.compile(r"^Run \d+ method")).click()  # every usable method: the default
        wait_for_page(page, lambda v: len(v["panels"]) > 3, "the panels")
        page.get_by_text("The same figures as one table").click()
        wait_until(lambda: len(page.evaluate(TABLE_OVERFLOW)) >= 3, what="the results, whole-image and region tables")
        assert all(overflow <= 1 for overflow in page.evaluate(TABLE_OVERFLOW)), page.evaluate(TABLE_OVERFLOW)


def test_a_refused_upload_changes_no_setting(server, images, tmp_path):  # noqa: F811
    """Good upload, refused upload, the same good upload: the LR kind, the methods and the panel
    titles (which name the weights) are the same before and after."""
    lr_path, _ = images
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not a micrograph\n" * 40)
    with browser_page(PHONE, is_mobile=True, has_touch=True) as page:
        page.goto(server + "/?methods=bicubic,vdsr&scale=2&lr_kind=bicubic")
        page.get_by_text("Upload an image").click()

        def settings() -> tuple:
            view = wait_for_page(page, lambda v: len(v["panels"]) == 3, "the panels")
            kind = page.locator("[data-testid='stRadio']", has_text="This LR image is").locator("label:has(input:checked)")
            return kind.inner_text(), page.locator("[data-testid='stMultiSelect']").first.inner_text(), sorted(view["panels"])

        upload(page, "Image", lr_path)
        page.get_by_role("button", name=re.compile(r"^Run 2 method")).click()
        before = settings()
        page.get_by_role("button", name=f"Remove {lr_path.name}").click()
        upload(page, "Image", bad)
        page.locator("[data-testid='stAlert']", has_text="save it again as PNG").wait_for()
        page.get_by_role("button", name=f"Remove {bad.name}").click()
        upload(page, "Image", lr_path)
        assert settings() == before  # the results are still cached for them: no Run needed
