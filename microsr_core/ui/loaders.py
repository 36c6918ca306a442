"""Things loaded once per process and shared by every session (``st.cache_resource``).

Models are shared per (method, device, weights checksum): the first session pays for loading
one, every other session reuses it. The method catalogue is read fresh on every run, because
training can publish new weights at any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from ..errors import WeightsError
from ..device import resolve_device
from ..paths import promoted_models_dir
from ..registry import SRMethod, create, method_class, method_names, split_name
from ..samples import get_sample
from ..weights import read_manifest


@st.cache_resource(show_spinner="Loading model...", max_entries=16)
def shared_method(name: str, device: str, version: str) -> SRMethod:
    """Method ``name`` on ``device``, loaded once per process and shared by every session.

    ``version`` (the weights' sha256) is part of the key, so weights published while the app
    runs are picked up instead of serving the old ones. Raises WeightsError when missing.
    """
    return create(name, resolve_device(device))


@st.cache_resource(show_spinner=False)
def sample_pixels(key: str) -> np.ndarray:
    """Gallery sample ``key`` (:mod:`microsr_core.samples`), shared read-only by all sessions."""
    pixels = get_sample(key).load()
    pixels.setflags(write=False)
    return pixels


@dataclass(frozen=True)
class MethodInfo:
    name: str
    title: str
    paper: str
    scales: tuple[int, ...]
    available: bool
    reason: str = ""
    version: str = ""  # sha256 of the weights ("" for methods without weights)
    card: dict | None = field(default=None, compare=False)  # the weights' model card (None without weights)


def method_catalog() -> list[MethodInfo]:
    """Every registered method and promoted model (``method@model``), with its scales and
    whether its weights are installed."""
    problems = []
    try:
        shipped = read_manifest()
    except WeightsError as exc:
        shipped, problems = {}, [str(exc)]
    try:
        promoted = read_manifest(promoted_models_dir())
    except WeightsError as exc:
        promoted, problems = {}, problems + [str(exc)]
    try:
        names = method_names()
    except WeightsError as exc:  # a damaged promoted-models manifest must not hide the shipped methods
        names, problems = method_names(include_promoted=False), problems + [str(exc)]
    catalog = []
    for name in names:
        cls = method_class(name)
        _, model = split_name(name)
        title = cls.title or cls.name
        scales, available, reason, version, card = tuple(cls.scales), True, "", "", None
        if cls.weights:
            card = promoted.get(model) if model else shipped.get(cls.weights)
            if card is None:
                where = f"promoted model '{model}'" if model else f"weights '{cls.weights}' are not installed in weights/"
                available, reason = False, "; ".join(problems) or where
            else:
                scales = tuple(int(s) for s in card.get("scales", scales))
                version = str(card.get("sha256", ""))
        if model:
            title = f"{title} [{model}]"
        catalog.append(MethodInfo(name, title, cls.paper, scales, available, reason, version, card))
    return catalog


def default_scale(scales: list[int]) -> int:
    """The scale the page opens with: x2 where offered (the most common SR setting)."""
    return 2 if 2 in scales else scales[0]


def scale_choices(catalog: list[MethodInfo]) -> list[int]:
    """Scales worth offering: any scale an available method supports; x1 (same-size
    restoration) only when at least two methods support it, as there is nothing to compare
    otherwise."""
    counts: dict[int, int] = {}
    for info in catalog:
        if info.available:
            for s in info.scales:
                counts[s] = counts.get(s, 0) + 1
    return sorted(s for s, n in counts.items() if s > 1 or n >= 2)
