"""Views as URL query parameters (microsr_core.comparison.share): round trip and damaged links."""

from __future__ import annotations

from microsr_core.imaging.roi import Roi
from microsr_core.comparison.share import UPLOAD, View, from_query, to_query


def test_a_view_round_trips_through_its_query_string():
    view = View("leukocyte", ("bicubic", "vdsr@long"), 4, Roi(10, 20, 30, 40), 384, "real")
    query = to_query(view)
    assert query == {"sample": "leukocyte", "methods": "bicubic,vdsr@long", "scale": "4", "region": "10,20,30,40", "panel": "384",
                     "lr_kind": "real"}
    assert from_query(query) == (view, [])
    assert from_query(to_query(View(UPLOAD, lr_kind="bicubic"))) == (View(UPLOAD, lr_kind="bicubic"), [])
    assert to_query(View()) == {} and from_query({}) == (View(), [])
    teaching = View("leukocyte", ("bicubic", "prior"), 4, lr_kind="real", teach="microscope")
    assert to_query(teaching)["teach"] == "microscope" and from_query(to_query(teaching)) == (teaching, [])
    with_hr = View(UPLOAD, ("vdsr",), 2, lr_kind="bicubic", reference=True)
    assert to_query(with_hr)["hr"] == "upload" and from_query(to_query(with_hr)) == (with_hr, [])


def test_a_bad_teaching_degradation_or_hr_value_is_dropped_and_named():
    view, problems = from_query({"sample": "leukocyte", "teach": "blur", "hr": "http://x/hr.png"})
    assert view == View("leukocyte", lr_kind="bicubic") and len(problems) == 2
    assert "teaching degradation 'blur' is not one of bicubic, gaussian, microscope" in problems[0]
    assert "hr 'http://x/hr.png' is not 'upload'" in problems[1]


def test_a_link_without_the_lr_kind_reads_as_bicubic():
    old = {"sample": "leukocyte", "methods": "vdsr", "scale": "2"}  # made before real-capture weights existed
    assert from_query(old) == (View("leukocyte", ("vdsr",), 2, lr_kind="bicubic"), [])
    view, problems = from_query({**old, "lr_kind": "jpeg"})
    assert view.lr_kind is None and problems == ["LR kind 'jpeg' is not one of bicubic, real"]


def test_damaged_values_are_dropped_and_named_the_rest_is_kept():
    view, problems = from_query({"sample": "cat", "methods": "vdsr,,bicubic", "scale": "two", "region": "1,2,3",
                                 "panel": "300"})
    assert view == View(None, ("vdsr", "bicubic"), None, None, None, "bicubic")
    assert len(problems) == 4
    assert "sample 'cat' is not in the gallery" in problems[0]
    assert "scale 'two' is not an integer" in problems[1]
    assert "region '1,2,3' is not 4 comma-separated integers" in problems[2]
    assert "panel '300' is not one of the panel sizes" in problems[3]
    view, problems = from_query({"region": "-1,0,0,5", "scale": "0"})
    assert view == View(lr_kind="bicubic") and len(problems) == 2
