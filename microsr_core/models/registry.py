"""The one place SR methods are looked up by name.

The interface every method implements (:class:`SRMethod`) and the :func:`register` decorator
live in :mod:`microsr_core.models.methods.base`; importing this module imports the built-in methods.
To add a method: write one module in ``microsr_core/models/methods/`` whose class is decorated with
:func:`register`, and import it in ``microsr_core/models/methods/__init__.py``.
"""

from __future__ import annotations

import torch

from . import methods  # noqa: F401  (importing registers the built-in methods)
from ..errors import ParameterError
from .methods.base import REGISTRY as _REGISTRY, SRMethod, TileOutput, register
from .serving import DEFAULT_KIND, split_name

__all__ = ["SRMethod", "TileOutput", "register", "method_names", "method_class", "create", "split_name", "promoted_method_names",
           "imported_method_names"]


def promoted_method_names() -> list[str]:
    """``<method>@<model>`` for every model promoted from a finished training job."""
    from ..paths import promoted_models_dir
    from .weights import read_manifest

    cards = read_manifest(promoted_models_dir())
    return [f"{card['method']}@{model}" for model, card in sorted(cards.items()) if card.get("method") in _REGISTRY]


def imported_method_names() -> list[str]:
    """``import@<name>`` for every imported model (:mod:`microsr_core.models.imports`)."""
    from ..paths import imports_dir
    from .serving import IMPORTED
    from .weights import read_manifest

    return [f"{IMPORTED}@{name}" for name in sorted(read_manifest(imports_dir()))]


def method_names(include_promoted: bool = True) -> list[str]:
    """Registered methods in registration order, then promoted models (``vdsr@mymodel``) and
    imported ones (``import@esrgan``); ``include_promoted=False``: the registered methods only."""
    registered = [name for name, cls in _REGISTRY.items() if not cls.model_only]
    return registered + (promoted_method_names() + imported_method_names() if include_promoted else [])


def method_class(name: str) -> type[SRMethod]:
    """The class of method ``name`` (or of ``<method>@<model>``); unknown -> :class:`ParameterError`."""
    base, _ = split_name(name)
    try:
        return _REGISTRY[base]
    except KeyError:
        raise ParameterError(f"unknown method '{base}' (available: {', '.join(_REGISTRY)})") from None


def create(name: str, device: torch.device, lr_kind: str = DEFAULT_KIND) -> SRMethod:
    """Instantiate method ``name`` on ``device`` for LR images of ``lr_kind`` (loads the weights
    :mod:`microsr_core.models.serving` resolves; ``method@model`` loads a promoted model, ``import@name`` an imported one)."""
    cls = method_class(name)
    _, model = split_name(name)
    if model is not None and not cls.runs_network:
        raise ParameterError(f"method '{cls.name}' has no weights, so it has no promoted models")
    if model is None and cls.model_only:
        raise ParameterError(f"method '{cls.name}' needs a model name: {cls.name}@<name> (python -m microsr_core models list)")
    return cls(device, model, lr_kind)

