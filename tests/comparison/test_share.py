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


def test_a_slide_region_travels_as_the_slide_name_and_x_y_width_height():
    view = View(methods=("bicubic",), scale=2, roi=Roi(0, 4, 48, 40), lr_kind="real", slide="ward/smear.ome.tif",
                slide_region=Roi(300, 700, 96, 128))
    query = to_query(view)
    assert query["slide"] == "ward/smear.ome.tif" and query["slide_region"] == "700,300,128,96" and "sample" not in query
    assert from_query(query) == (view, [])
    uploaded = View(lr_kind="bicubic", slide=UPLOAD, slide_region=Roi(0, 0, 512, 512))
    assert to_query(uploaded)["slide"] == "upload" and from_query(to_query(uploaded)) == (uploaded, [])


def test_an_uploaded_slides_name_or_a_bad_slide_region_is_dropped_and_named():
    view, problems = from_query({"slide": "upload:0123-smear.ome.tif", "slide_region": "1,2,0,5"})
    assert view == View(lr_kind="bicubic") and len(problems) == 2
    assert "slide 'upload:0123-smear.ome.tif' is not a name under the data root's slides folder" in problems[0]
    assert "slide_region '1,2,0,5' needs x, y >= 0 and width, height >= 1 (level-0 px)" in problems[1]
    view, problems = from_query({"slide": "smear.svs", "slide_region": "1,2,3"})
    assert view == View(lr_kind="bicubic", slide="smear.svs") and problems == ["slide_region '1,2,3' is not 4 comma-separated integers"]


def test_the_capture_maps_assumption_travels_where_it_is_not_auto():
    view = View("leukocyte", ("vdsr",), 2, lr_kind="real", noise="high", blur="low")
    query = to_query(view)
    assert query["noise"] == "high" and query["blur"] == "low" and from_query(query) == (view, [])
    assert "noise" not in to_query(View("leukocyte", lr_kind="real", blur="high"))
    damaged, problems = from_query({"sample": "leukocyte", "noise": "loud", "blur": "high"})
    assert damaged == View("leukocyte", lr_kind="bicubic", blur="high") and problems == ["noise 'loud' is not one of auto, low, high"]
