"""Things loaded once per process and shared by every session (``st.cache_resource``).

Models are shared per (method, device, LR kind, weights checksums): the first session pays for loading
one, every other session reuses it. The method catalogue (:mod:`microsr_core.models.catalog`) is read
fresh on every run, because training can publish new weights at any time.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ..models.catalog import MethodInfo
from ..models.device import resolve_device
from ..models.registry import SRMethod, create
from ..samples import get_sample


@st.cache_resource(show_spinner="Loading model...", max_entries=16)
def shared_method(name: str, device: str, lr_kind: str, fingerprint: tuple) -> SRMethod:
    """Method ``name`` on ``device`` for ``lr_kind`` LR, loaded once per process and shared by every session.

    ``fingerprint`` (the sha256 of every weights file serving that kind,
    :meth:`~microsr_core.models.catalog.MethodInfo.fingerprint`) is part of the key, so weights
    published while the app runs are picked up instead of serving the old ones. Raises
    WeightsError when missing.
    """
    return create(name, resolve_device(device), lr_kind)


@st.cache_resource(show_spinner=False)
def sample_pixels(key: str) -> np.ndarray:
    """Gallery sample ``key`` (:mod:`microsr_core.samples`), shared read-only by all sessions."""
    pixels = get_sample(key).load()
    pixels.setflags(write=False)
    return pixels


def default_scale(scales: list[int]) -> int:
    """The scale the page opens with: x2 where offered (the most common SR setting)."""
    return 2 if 2 in scales else scales[0]


def scale_choices(catalog: list[MethodInfo]) -> list[int]:
    """Scales worth offering: any scale an available method serves for some LR kind; x1
    (same-size restoration) only when at least two methods serve it, as there is nothing to
    compare otherwise."""
    counts: dict[int, int] = {}
    for info in catalog:
        for s in {scale for scale, _ in info.served}:
            counts[s] = counts.get(s, 0) + 1
    return sorted(s for s, n in counts.items() if s > 1 or n >= 2)
