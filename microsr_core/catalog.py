"""What the app and the command line know of every method before running it: its scales, its
weights and whether they are installed.

Read fresh on every call, because training can publish new weights at any time; the registry
itself reads nothing at registration. The scales are those a created method serves
(:class:`~microsr_core.methods.common.NetworkMethod`): its model card's, plus those of its
single-scale weights that are installed, so ``evaluate`` and the app offer the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import WeightsError
from .methods.common import NetworkMethod
from .paths import promoted_models_dir
from .registry import method_class, method_names, split_name
from .weights import read_manifest


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
                single = set(cls.shipped_scale_weights(shipped)) if issubclass(cls, NetworkMethod) and not model else set()
                scales = tuple(sorted({int(s) for s in card.get("scales", scales)} | single))
                version = str(card.get("sha256", ""))
        if model:
            title = f"{title} [{model}]"
        catalog.append(MethodInfo(name, title, cls.paper, scales, available, reason, version, card))
    return catalog


def method_scales(name: str) -> tuple[int, ...]:
    """The scales method ``name`` serves (its class's while its weights are not installed)."""
    info = next((info for info in method_catalog() if info.name == name), None)
    return info.scales if info is not None else method_class(name).scales
