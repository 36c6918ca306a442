"""Session-state keys and the per-user caches of the comparison page.

Everything a user computed lives in ``st.session_state`` (never in a process-wide cache), so
users never see each other's images. Entries are evicted oldest-first to bound memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import streamlit as st

#: SR results: (input key, method, weights sha256, LR kind, scale, device, tile) -> SRResult.
RESULTS = "msr_results"
#: Values derived from results (metrics, maps, alignment, consistency): key -> value.
DERIVED = "msr_derived"
#: Decoded images (decoding is not repeated on every rerun): uploads (content hash -> LoadedImage),
#: slide overviews and slide regions (:mod:`.slides`).
DECODED = "msr_decoded"
#: Messages of the last run (method errors, fallbacks), shown until the next run.
RUN_MESSAGES = "msr_run_messages"

#: Region of interest widgets (LR pixels) and bookkeeping.
ROI_ROW, ROI_COL, ROI_HEIGHT, ROI_WIDTH = "roi_row", "roi_col", "roi_height", "roi_width"
ROI_KEYS = (ROI_ROW, ROI_COL, ROI_HEIGHT, ROI_WIDTH)
ROI_IMAGE = "roi_image"  # (input key, LR shape, source image) of the ROI: rescaled for another LR of the same image, reset for a new one
# Streamlit drops widget values while another page is shown; this plain copy brings the ROI back.
ROI_SAVED = "roi_saved"
ROI_BOX_SEEN = "roi_box_seen"  # last box selection applied from the overview
ROI_SHARED = "roi_shared"  # region from a shared link, applied to the first image shown
SLIDE_SHARED = "slide_shared"  # (slide name or share.UPLOAD, region) from a shared link, applied when that slide opens
LINK_READ = "link_read"  # the URL's view has been applied in this session

#: Compare settings whose widgets a run may not draw (a refused upload stops the page before the
#: LR kind and teaching mode; the sample box is not drawn while an upload is chosen; only the
#: current scale and LR kind's methods box is drawn). Streamlit forgets a widget's value after a
#: run that did not draw it; :func:`keep_settings` writes these back so they come back unchanged.
KEPT_SETTINGS = ("lr_kind", "teaching", "degradation", "sample", "capture_noise", "capture_blur")
KEPT_PREFIX = "methods_x"

LIMITS = {RESULTS: 12, DERIVED: 64, DECODED: 4}


def _store(name: str) -> OrderedDict:
    if name not in st.session_state:
        st.session_state[name] = OrderedDict()
    return st.session_state[name]


def recall(name: str, key: Any) -> Any | None:
    """The cached value under ``key`` in store ``name`` (``None`` when absent)."""
    store = _store(name)
    if key in store:
        store.move_to_end(key)
        return store[key]
    return None


def remember(name: str, key: Any, value: Any) -> Any:
    """Cache ``value`` under ``key``, evicting the oldest entries beyond the store's limit."""
    store = _store(name)
    store[key] = value
    store.move_to_end(key)
    while len(store) > LIMITS.get(name, 32):
        store.popitem(last=False)
    return value


def cached(name: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``recall`` or compute and ``remember``."""
    store = _store(name)
    if key in store:
        store.move_to_end(key)
        return store[key]
    return remember(name, key, compute())


def derived(key: Any, compute: Callable[[], Any]) -> Any:
    """``cached`` in the store of derived values: the cache that
    :func:`~microsr_core.comparison.outcome.compute_outcome` takes."""
    return cached(DERIVED, key, compute)


def keep_settings() -> None:
    """Keep the Compare settings of :data:`KEPT_SETTINGS` (and every methods selection) across runs
    that do not draw their widgets: a setting changes only when the user, or a suggestion that says
    so on the page, changes it. Their widgets take no default argument (Streamlit would warn that
    a value was set both ways)."""
    for key in list(st.session_state):
        if key in KEPT_SETTINGS or str(key).startswith(KEPT_PREFIX):
            st.session_state[key] = st.session_state[key]
