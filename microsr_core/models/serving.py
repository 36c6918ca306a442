"""Which weights serve a method at a scale for a kind of LR image: one answer for inference, the
app's caches, provenance and precision.

The rule is data on the model cards (``weights/manifest.json``, the promoted models' and the
imported models' manifests), never a table in code. A card is a candidate for
``(method, scale, lr_kind)`` when

- it is in the name's own manifest: every shipped card for ``vdsr``, only entry ``mine`` of the
  promoted models for ``vdsr@mine``, only entry ``x`` of the imported models for ``import@x``;
- its ``method`` is the base name (``vdsr``) and its ``scales`` include the scale;
- its ``lr_kind`` is the kind asked for or ``"any"`` (a card without the field counts as
  ``"bicubic"``: every synthetic LR of :mod:`microsr_core.imaging.degrade`, MicroGAN's x1 blur included).

Cards with ``"role": "fallback"`` (the multi-scale ``vdsr`` behind ``vdsr_x2``...) serve only
where no other card does. Two candidates left at the same level are a :class:`WeightsError`
naming both. There is no switch from one LR kind to the other: a method without weights for a
kind does not serve it, as a missing scale is not served.

Everything here reads manifests only (no tensors), so the catalog and the cache keys can ask
before anything is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import ParameterError, WeightsError
from ..paths import imports_dir, promoted_models_dir
from .manifest import read_manifest, weights_dir

#: The kinds of LR image a method can have weights for.
LR_KINDS = ("bicubic", "real")
#: A card's ``lr_kind`` that matches every kind (imported models: their training LR is unknown).
ANY_KIND = "any"
#: The ``lr_kind`` of a card without the field.
DEFAULT_KIND = "bicubic"
#: ``role`` of a card that serves only where no other card does.
FALLBACK = "fallback"
#: Name prefix of imported models (``import@esrgan``).
IMPORTED = "import"
#: Degradation kinds (:mod:`microsr_core.imaging.degrade`) that model a real capture, not a synthetic one.
REAL_DEGRADATIONS = ("microscope",)
#: Largest Y-PSNR change (dB) bf16 may cause against fp32 for ``auto`` to pick it (issue 18);
#: measured per weights file and scale at publish time (``bf16_delta_db`` on the model card).
TOLERANCE_DB = 0.02
#: What may run a network on the CPU; a card measures bf16 in each (``bf16_delta_db_by_backend``),
#: since their bf16 differs: OpenVINO rounds every layer, PyTorch's autocast keeps some float32
#: (prior_x4: -0.054 dB in OpenVINO, -0.014 in PyTorch).
NETWORK_BACKENDS = ("pytorch", "openvino")


@dataclass(frozen=True)
class ServedWeights:
    """The weights that compute ``method`` at ``scale`` on LR images of ``lr_kind``.

    A light value, built from a card without loading anything. ``source`` is ``shipped``,
    ``promoted``, ``imported`` or ``none`` (a method without a network, such as bicubic).
    """

    method: str  # the name asked for: "vdsr", "vdsr@mine"
    scale: int
    lr_kind: str
    source: str
    entry: str | None = None  # manifest entry: "vdsr_x2"
    file: str | None = None
    sha256: str | None = None
    card: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: The backends in which precision auto runs this network in bf16 (:func:`bf16_backends`).
    bf16_backends: tuple[str, ...] = ()

    @property
    def bf16_auto(self) -> bool:
        """Whether precision auto may run this network in bf16 here, in some backend (measured on the card)."""
        return bool(self.bf16_backends)

    @property
    def reads_capture_maps(self) -> bool:
        """Whether these weights read the capture maps (trained with ``--capture-maps true``; :mod:`~microsr_core.imaging.capture_maps`)."""
        return bool(self.card.get("arch_kwargs", {}).get("conditions"))

    @property
    def ref(self) -> str | None:
        """The one full name of these weights: ``shipped/vdsr_x2`` (None without weights)."""
        return None if self.entry is None else f"{self.source}/{self.entry}"

    @property
    def resized_from(self) -> int | None:
        """The network's own scale where it is not ``scale`` (an imported x4 model serving x2 runs at
        x4 and its output is resized down), else None."""
        native = native_scale(self.card) if self.source == "imported" else self.scale
        return native if native != self.scale else None

    def provenance(self) -> dict[str, Any]:
        """What the report, the ZIP's settings.json, the metrics rows and ``evaluate`` write."""
        return {
            "method": self.method, "scale": self.scale, "lr_kind": self.lr_kind, "weights_source": self.source,
            "weights_entry": self.entry, "weights_file": self.file, "weights_sha256": self.sha256,
            "training_steps": self.card.get("training", {}).get("steps"), "bf16_auto": self.bf16_auto,
            "resized_from_scale": self.resized_from,
        }

    def label(self) -> str:
        """``vdsr_x2 (bicubic LR)``, ``realesr (real LR, run at x4, resized to x2)``, or ``bicubic LR``
        for a method without a network."""
        if not self.entry:
            return f"{self.lr_kind} LR"
        resized = f", run at x{self.resized_from}, resized to x{self.scale}" if self.resized_from else ""
        return f"{self.entry} ({self.lr_kind} LR{resized})"


def lr_kind_of(degradation_kind: str) -> str:
    """The LR kind a degradation of :mod:`microsr_core.imaging.degrade` makes: ``real`` for the physical
    microscope/camera model, ``bicubic`` for every synthetic one."""
    return "real" if degradation_kind in REAL_DEGRADATIONS else DEFAULT_KIND


def checked_kind(lr_kind: str) -> str:
    """``lr_kind`` if it is one of :data:`LR_KINDS`; anything else is a :class:`ParameterError`."""
    if lr_kind not in LR_KINDS:
        raise ParameterError(f"unknown LR kind '{lr_kind}' (choose from {', '.join(LR_KINDS)})")
    return lr_kind


def card_kind(card: Mapping[str, Any]) -> str:
    return card.get("lr_kind", DEFAULT_KIND)


def _within(deltas: Mapping[str, float], scale: int) -> bool:
    delta = deltas.get(str(scale))
    return delta is not None and abs(delta) <= TOLERANCE_DB


def native_scale(card: Mapping[str, Any]) -> int:
    """The scale an imported card's network itself upscales by (cards imported before the lower
    scales were served name only that one)."""
    return int(card.get("native_scale", card["scales"][0]))


def bf16_backends(card: Mapping[str, Any], scale: int) -> tuple[str, ...]:
    """The backends whose measured bf16 change at ``scale`` is within the tolerance (no measurement:
    none). A card measured before the per-backend figures holds the worst over them, for all."""
    by_backend = card.get("bf16_delta_db_by_backend")
    if by_backend is None:
        return NETWORK_BACKENDS if _within(card.get("bf16_delta_db", {}), scale) else ()
    return tuple(backend for backend in NETWORK_BACKENDS if _within(by_backend.get(backend, {}), scale))


def split_name(name: str) -> tuple[str, str | None]:
    """``"vdsr@mine"`` -> ``("vdsr", "mine")``; ``"vdsr"`` -> ``("vdsr", None)``."""
    base, _, model = name.partition("@")
    return base, (model or None)


def source_of(name: str) -> str:
    """Where the cards of ``name`` come from: ``shipped``, ``promoted`` or ``imported``."""
    base, model = split_name(name)
    return "shipped" if model is None else "imported" if base == IMPORTED else "promoted"


def folder_of(source: str) -> Path:
    """The folder holding the manifest and weights files of ``source``."""
    return {"shipped": weights_dir, "promoted": promoted_models_dir, "imported": imports_dir}[source]()


def _candidates(cards: Mapping[str, Mapping[str, Any]], name: str) -> dict[str, Mapping[str, Any]]:
    """The cards ``name`` may be served by, whatever the scale and kind."""
    base, model = split_name(name)
    if model is not None:
        return {model: cards[model]} if model in cards and cards[model].get("method") == base else {}
    return {entry: card for entry, card in cards.items() if card.get("method") == base}


def _row(name: str, entry: str, card: Mapping[str, Any], scale: int, lr_kind: str) -> ServedWeights:
    return ServedWeights(name, scale, lr_kind, source_of(name), entry, card.get("file"), card.get("sha256"),
                         MappingProxyType(dict(card)), bf16_backends(card, scale))


def no_weights(name: str, scale: int, lr_kind: str) -> ServedWeights:
    """What a method without a network (bicubic) serves: every kind, source ``none``."""
    return ServedWeights(name, scale, checked_kind(lr_kind), "none")


def resolve(cards: Mapping[str, Mapping[str, Any]], name: str, scale: int, lr_kind: str) -> ServedWeights:
    """The rule, over plain card dicts (``entry -> card`` of the name's manifest): the card that
    serves ``name`` at ``scale`` for ``lr_kind``.

    Raises
    ------
    WeightsError
        No card serves it, or two cards tie (both are named).
    """
    checked_kind(lr_kind)
    matching = {entry: card for entry, card in _candidates(cards, name).items()
                if scale in card.get("scales", ()) and card_kind(card) in (lr_kind, ANY_KIND)}
    for level in (False, True):  # the cards that serve in their own right, then the fallbacks
        found = sorted(entry for entry, card in matching.items() if (card.get("role") == FALLBACK) == level)
        if len(found) > 1:
            raise WeightsError(f"'{name}' at x{scale} for {lr_kind} LR is ambiguous: weights '{found[0]}' and '{found[1]}' "
                               "both serve it (mark one \"role\": \"fallback\" or narrow its scales)")
        if found:
            return _row(name, found[0], matching[found[0]], scale, lr_kind)
    raise WeightsError(f"no weights serve '{name}' at x{scale} for {lr_kind} LR")


def table(cards: Mapping[str, Mapping[str, Any]], name: str) -> list[ServedWeights]:
    """Every (scale, kind) that ``name``'s cards serve, resolved, sorted by kind then scale."""
    rows = []
    candidates = _candidates(cards, name)
    for kind in LR_KINDS:
        scales = {int(s) for card in candidates.values() if card_kind(card) in (kind, ANY_KIND) for s in card.get("scales", ())}
        rows += [resolve(cards, name, scale, kind) for scale in sorted(scales)]
    return rows


def cards_for(name: str) -> dict[str, dict[str, Any]]:
    """The manifest ``name``'s cards live in (shipped, promoted or imported)."""
    return read_manifest(folder_of(source_of(name)))


def served(name: str, scale: int, lr_kind: str = DEFAULT_KIND) -> ServedWeights:
    """The weights serving network method ``name`` (``vdsr``, ``vdsr@mine``) at ``scale`` for ``lr_kind``."""
    return resolve(cards_for(name), name, int(scale), lr_kind)


def _names(cards: Mapping[str, Mapping[str, Any]], source: str) -> list[str]:
    """The method names a manifest of ``source`` serves: ``vdsr`` (shipped), ``vdsr@mine``, ``import@x``."""
    if source == "shipped":
        return list(dict.fromkeys(card.get("method") for card in cards.values()))
    return [f"{IMPORTED if source == 'imported' else card.get('method')}@{entry}" for entry, card in cards.items()]


def check_unambiguous(cards: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """Raise :class:`WeightsError` if a manifest of ``source`` would leave any name ambiguous
    (``publish`` calls it on the manifest it is about to write)."""
    for name in _names(cards, source):
        table(cards, name)


def card_weights(name: str, entry: str, card: Mapping[str, Any] | None = None) -> list[ServedWeights]:
    """Card ``entry`` of ``name``'s manifest at each of its scales, resolved or not (to measure it);
    ``card`` is one not yet in the manifest (a model being imported)."""
    if card is None:
        cards = cards_for(name)
        if entry not in cards:
            raise WeightsError(f"no weights named '{entry}' for '{name}' (have: {', '.join(cards) or 'none'})")
        card = cards[entry]
    kind = DEFAULT_KIND if card_kind(card) == ANY_KIND else card_kind(card)
    return [_row(name, entry, card, int(scale), kind) for scale in card.get("scales", ())]


def serving_table(name: str | None = None) -> list[ServedWeights]:
    """Every served (method, scale, kind) of ``name``, or of every method with installed cards."""
    if name is not None:
        return table(cards_for(name), name)
    rows = []
    for source in ("shipped", "promoted", "imported"):
        cards = read_manifest(folder_of(source))
        for each in _names(cards, source):
            rows += table(cards, each)
    return rows
