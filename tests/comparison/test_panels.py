"""The zoom grid's panels (microsr_core.comparison.panels) and the HR reference's match
(microsr_core.comparison.outcome.matched_reference) on a real field: bicubic and the geometry
prior (which brings a parsing map) at x2, the HR the LR was made from as the reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from microsr_core.comparison.compare import match_reference
from microsr_core.comparison.inputs import result_key
from microsr_core.comparison.outcome import matched_reference, result_labels
from microsr_core.comparison.panels import Panel, build_panels, zoom_panel, zoomed_panels
from microsr_core.imaging.parsing import BACKGROUND
from microsr_core.imaging.roi import Roi
from tests.comparison.test_outcome import ROI, field  # noqa: F401 - the shared real field (a fixture)


def repeat(image: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def test_every_panel_shows_the_region_repeated_to_the_same_size(field):
    inputs, results, settings = field
    reference = match_reference(inputs.lr, inputs.reference, 2)
    panels = build_panels(inputs, results, reference, settings)
    assert [p.title for p in panels] == ["LR input", "Bicubic · " + results["bicubic"].served.label(),
                                         "Geometry prior · " + results["prior"].served.label(), "HR reference"]
    grid = zoomed_panels(panels, ROI, 2, 320, None)  # 24 LR px = 48 SR px, x7 = 336 px: the nearest to 320
    assert [shown.enlargement for shown in grid] == [14, 7, 7, 7]
    lr, bicubic, prior, hr = (shown.view.image for shown in grid)
    assert np.array_equal(lr, repeat(inputs.lr[8:32, 8:32], 14))  # nearest zoom: the LR crop, each pixel 14 x 14
    assert np.array_equal(bicubic, repeat(results["bicubic"].image[16:64, 16:64], 7))
    assert np.array_equal(prior, repeat(results["prior"].image[16:64, 16:64], 7))
    assert np.array_equal(hr, repeat(inputs.reference[16:64, 16:64], 7))
    assert grid[0].view.caption == "LR input · rows 8-32, cols 8-32 (LR px) · nearest x14"
    assert grid[3].view.caption == "HR reference · rows 16-64, cols 16-64 (SR px) · nearest x7"
    assert [shown.view.colour for shown in grid] == [None, "#8c8c8c", "#0072B2", None]


def test_a_reference_covering_part_of_the_region_is_grey_elsewhere(field):
    inputs, _, _ = field
    hr = inputs.reference
    panel = Panel("HR reference", hr[40:], 2, (40, 0))  # matched from SR row 40 down
    shown = zoom_panel(panel, ROI, 1)  # SR rows 16-64, cols 16-64
    assert np.all(shown[:24] == 0.5) and np.array_equal(shown[24:], hr[40:64, 16:64])


def test_the_scale_bar_is_its_micrometres_over_the_screen_pixel_size(field):
    inputs, results, settings = field
    panels = build_panels(inputs, results, None, settings)
    plain = zoomed_panels(panels, ROI, 2, 320, None)
    barred = zoomed_panels(panels, ROI, 2, 320, 0.25)
    # 0.25 µm per LR px shown 14 times larger: 0.25 / 14 µm per screen px; a quarter of 336 px is
    # 1.5 µm, so the bar is 1 µm = 14 / 0.25 = 56 px long, on every panel.
    for before, after in zip(plain, barred):
        image = after.view.image
        assert image.shape == (336, 336, 3) and after.view.caption == before.view.caption + " · bar 1 µm"
        changed = np.argwhere(np.any(image != before.view.image, axis=2))
        assert changed.min(axis=0).tolist() == [320, 9] and changed.max(axis=0).tolist() == [326, 66]  # bar and outline
        assert np.all(image[321:326, 10:66] == 1.0) and not np.all(image[321:326, 66] == 1.0)  # 56 white px
    assert np.array_equal(barred[0].view.image[:320], plain[0].view.image[:320])


def test_the_parsing_map_is_looked_up_once_and_overlaid_where_asked(field):
    inputs, results, settings = field
    asked = []

    def cache(key, compute):
        asked.append(key)
        return compute()

    panels = build_panels(inputs, results, None, settings, cache)
    assert asked == [("labels",) + result_key(inputs, settings, m) for m in ("bicubic", "prior")]
    bicubic, prior = panels[1], panels[2]
    assert bicubic.labels is None and bicubic.implausible() is None
    assert np.array_equal(prior.labels, result_labels(results["prior"])) and prior.labels.shape == results["prior"].image.shape[:2]
    assert np.array_equal(zoom_panel(bicubic, ROI, 7, overlay=True), zoom_panel(bicubic, ROI, 7))  # nothing to overlay
    plain, tinted = zoom_panel(prior, ROI, 1), zoom_panel(prior, ROI, 1, overlay=True)
    background = prior.labels[16:64, 16:64] == BACKGROUND
    assert np.array_equal(tinted[background], plain[background]) and not np.allclose(tinted[~background], plain[~background])


def test_the_reference_is_matched_once_or_says_why_not(field):
    inputs, _, _ = field
    found = matched_reference(inputs, 2)
    assert found.mode == "direct" and np.array_equal(found.hr, inputs.reference) and found.window == Roi(0, 0, 48, 48)
    kept = {}
    assert matched_reference(inputs, 2, lambda key, compute: kept.setdefault(key, compute())) is not None
    assert list(kept) == [("reference", "field-key", "hr-key", 2)]
    assert matched_reference(replace(inputs, reference=None), 2) is None
    too_large = np.tile(inputs.reference, (3, 3, 1))  # 288 px: more than the 48-px LR holds at x2
    reason = matched_reference(replace(inputs, reference=too_large), 2)
    assert isinstance(reason, str) and reason
