"""The serving rule over plain card dicts: which card serves (method, scale, LR kind)."""

import pytest

from microsr_core.errors import ParameterError, WeightsError
from microsr_core.models.serving import NETWORK_BACKENDS, check_unambiguous, lr_kind_of, no_weights, resolve, served, table


def card(method="vdsr", scales=(2,), sha="a", **fields):
    return {"method": method, "scales": list(scales), "file": f"{sha}.safetensors", "sha256": sha * 64, **fields}


SHIPPED = {
    "vdsr": card(scales=(2, 3, 4), sha="b", role="fallback", bf16_delta_db={"2": -0.005, "3": 0.019, "4": -0.0201}),
    "vdsr_x2": card(sha="e", lr_kind="bicubic", bf16_delta_db={"2": -0.034}, training={"steps": 2000}),
    "vdsr_x2_real": card(sha="r", lr_kind="real", bf16_delta_db={"2": 0.001}),
    "microgan": card("microgan", (1,), sha="m"),
}


def test_a_single_scale_card_beats_the_fallback_and_the_fallback_fills_a_gap():
    x2 = resolve(SHIPPED, "vdsr", 2, "bicubic")
    assert (x2.entry, x2.file, x2.sha256, x2.source) == ("vdsr_x2", "e.safetensors", "e" * 64, "shipped")
    assert x2.ref == "shipped/vdsr_x2" and x2.provenance()["training_steps"] == 2000
    x3 = resolve(SHIPPED, "vdsr", 3, "bicubic")
    assert (x3.entry, x3.sha256) == ("vdsr", "b" * 64)


def test_a_tie_is_an_error_naming_both_entries():
    cards = {**SHIPPED, "vdsr_x2_long": card(sha="l")}
    with pytest.raises(WeightsError, match="'vdsr_x2' and 'vdsr_x2_long'"):
        resolve(cards, "vdsr", 2, "bicubic")
    two_fallbacks = {"a": card(role="fallback"), "b": card(role="fallback", sha="c")}
    with pytest.raises(WeightsError, match="'a' and 'b'"):
        resolve(two_fallbacks, "vdsr", 2, "bicubic")


def test_kinds_never_switch_and_a_card_without_lr_kind_is_bicubic():
    real = resolve(SHIPPED, "vdsr", 2, "real")
    assert real.entry == "vdsr_x2_real" and real.lr_kind == "real"
    with pytest.raises(WeightsError, match="no weights serve 'vdsr' at x3 for real LR"):
        resolve(SHIPPED, "vdsr", 3, "real")  # the bicubic fallback does not stand in for real captures
    assert resolve(SHIPPED, "microgan", 1, "bicubic").entry == "microgan"
    with pytest.raises(WeightsError):
        resolve(SHIPPED, "microgan", 1, "real")


def test_publish_refuses_a_manifest_that_would_tie():
    check_unambiguous(SHIPPED, "shipped")
    with pytest.raises(WeightsError, match="'vdsr' and 'vdsr_x2'"):
        check_unambiguous({**SHIPPED, "vdsr": {**SHIPPED["vdsr"], "role": None}}, "shipped")
    check_unambiguous({"a": card(), "b": card(sha="c")}, "promoted")  # each promoted name has its own card


def test_any_matches_both_kinds():
    cards = {"esrgan": card("import", (4,), sha="x", lr_kind="any")}
    assert resolve(cards, "import@esrgan", 4, "bicubic").entry == resolve(cards, "import@esrgan", 4, "real").entry == "esrgan"
    assert resolve(cards, "import@esrgan", 4, "real").source == "imported"


def test_promoted_and_imported_names_see_only_their_own_card():
    promoted = {"mine": card(scales=(2, 4), sha="p"), "other": card(scales=(2, 3), sha="o")}
    mine = resolve(promoted, "vdsr@mine", 2, "bicubic")
    assert (mine.entry, mine.source, mine.method) == ("mine", "promoted", "vdsr@mine")  # no tie with 'other'
    with pytest.raises(WeightsError):
        resolve(promoted, "vdsr@mine", 3, "bicubic")  # 'other' serves x3, but not for vdsr@mine
    with pytest.raises(WeightsError):
        resolve(promoted, "prior@mine", 2, "bicubic")  # a vdsr card is not a prior model
    imported = {"esrgan": card("import", (4,), sha="x"), "swin": card("import", (4,), sha="s")}
    assert resolve(imported, "import@swin", 4, "bicubic").sha256 == "s" * 64
    assert [(r.scale, r.lr_kind) for r in table(promoted, "vdsr@mine")] == [(2, "bicubic"), (4, "bicubic")]


def test_bf16_auto_comes_from_the_measured_delta_of_that_scale():
    assert resolve(SHIPPED, "vdsr", 2, "bicubic").bf16_auto is False  # vdsr_x2: -0.034 dB
    assert resolve(SHIPPED, "vdsr", 3, "bicubic").bf16_auto is True  # 0.019 dB
    assert resolve(SHIPPED, "vdsr", 4, "bicubic").bf16_auto is False  # -0.0201 dB, just outside
    assert resolve(SHIPPED, "microgan", 1, "bicubic").bf16_auto is False  # no measurement: fp32
    assert resolve({"vdsr": card(bf16_delta_db={"3": 0.0})}, "vdsr", 2, "bicubic").bf16_auto is False  # none for x2


def test_bf16_backends_come_from_each_backends_own_figure():
    measured = card("prior", (4,), bf16_delta_db={"4": -0.054}, bf16_delta_db_by_backend={"pytorch": {"4": -0.014}, "openvino": {"4": -0.054}})
    row = resolve({"prior_x4": measured}, "prior", 4, "bicubic")
    assert row.bf16_backends == ("pytorch",) and row.bf16_auto is True
    # A card measured before the per-backend figures: its worst figure holds for every backend.
    assert resolve(SHIPPED, "vdsr", 3, "bicubic").bf16_backends == NETWORK_BACKENDS
    assert resolve(SHIPPED, "vdsr", 2, "bicubic").bf16_backends == ()


def test_the_table_lists_every_served_scale_and_kind():
    rows = table(SHIPPED, "vdsr")
    assert [(r.scale, r.lr_kind, r.entry) for r in rows] == [
        (2, "bicubic", "vdsr_x2"), (3, "bicubic", "vdsr"), (4, "bicubic", "vdsr"), (2, "real", "vdsr_x2_real")]


def test_methods_without_weights_serve_every_kind_and_kinds_are_checked(tmp_path, monkeypatch):
    assert no_weights("bicubic", 2, "real").source == "none" and no_weights("bicubic", 2, "real").sha256 is None
    with pytest.raises(ParameterError, match="unknown LR kind 'jpeg'"):
        resolve(SHIPPED, "vdsr", 2, "jpeg")
    assert lr_kind_of("microscope") == "real" and lr_kind_of("bicubic") == lr_kind_of("gaussian") == "bicubic"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))  # no manifest at all
    with pytest.raises(WeightsError, match="no weights serve 'vdsr' at x2"):
        served("vdsr", 2)


def test_the_catalog_shows_a_tie_as_the_reason_and_offers_nothing_for_a_missing_kind(tmp_path, monkeypatch, microsr_home):
    from microsr_core.models.catalog import method_catalog, unavailable_reason
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path))
    publish_random(tmp_path, "vdsr_a", "vdsr", "VDSR", (2,), seed=1, depth=3, channels=4)
    publish_random(tmp_path, "vdsr_b", "vdsr", "VDSR", (2, 4), seed=2, depth=3, channels=4)
    publish_random(tmp_path, "microgan", "microgan", "MicroGANGenerator", (1, 2), levels=2, width=4)
    catalog = {info.name: info for info in method_catalog()}
    assert not catalog["vdsr"].available and "'vdsr_a' and 'vdsr_b'" in catalog["vdsr"].reason
    microgan = catalog["microgan"]
    assert unavailable_reason(microgan, 2, "bicubic") is None and microgan.served[2, "bicubic"].entry == "microgan"
    assert unavailable_reason(microgan, 2, "real") == "no weights for real LR installed"
    assert unavailable_reason(microgan, 4, "bicubic") == "no x4 for bicubic LR (supports x1, x2)"
    assert unavailable_reason(catalog["bicubic"], 2, "real") is None
