"""MicroSR: super-resolution methods compared on microscope images.

The public API: :func:`load_image` and :func:`save_image` (the image contract: float32 RGB,
(H, W, 3), values in [0, 1]), :func:`upscale` (``upscale(image, "vdsr", 2).image``),
:func:`method_names` and :class:`MicroSRError`, the error every user mistake raises. The rest
lives in the wings: ``imaging``, ``models``, ``comparison``, ``train`` (and ``jobs``, ``ui``,
``samples``).

``import microsr_core`` imports neither torch nor streamlit: each public function is loaded from
its module on first use.
"""

from importlib import import_module

from .errors import MicroSRError

__all__ = ["MicroSRError", "load_image", "method_names", "save_image", "upscale"]

#: The module each public function lives in, imported when the name is first read.
_HOMES = {"load_image": ".imaging.io", "save_image": ".imaging.io", "upscale": ".models.inference",
          "method_names": ".models.registry"}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value
