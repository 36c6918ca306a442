"""What the app and the command line know of every method before running it: the weights that
serve each (scale, LR kind), and whether they are installed.

Read fresh on every call, because training can publish new weights at any time; the registry
itself reads nothing at registration. The answers are :mod:`microsr_core.models.serving`'s, the same
that a created method loads, so ``evaluate``, the command line and the app offer the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ParameterError, WeightsError
from ..imaging.io import LoadedImage
from ..imaging.lr_facts import lr_facts
from .choices import AUTO_KIND
from .registry import method_class, method_names
from .serving import DEFAULT_KIND, LR_KINDS, ServedWeights, checked_kind, no_weights, serving_table, source_of


@dataclass(frozen=True)
class MethodInfo:
    name: str
    title: str
    paper: str
    available: bool
    reason: str = ""
    #: The weights serving each (scale, LR kind) it serves.
    served: dict[tuple[int, str], ServedWeights] = field(default_factory=dict, compare=False)
    #: The class's scales, offered while its weights are not installed.
    class_scales: tuple[int, ...] = ()

    def scales_for(self, lr_kind: str = DEFAULT_KIND) -> tuple[int, ...]:
        """The scales it serves for ``lr_kind`` (the class's while nothing is installed)."""
        if not self.available:
            return self.class_scales
        return tuple(sorted(scale for scale, kind in self.served if kind == lr_kind))

    def fingerprint(self, lr_kind: str) -> tuple[tuple[int, str | None], ...]:
        """The (scale, sha256) of every weights file serving ``lr_kind``: what a loaded instance holds."""
        return tuple((scale, row.sha256) for (scale, kind), row in sorted(self.served.items()) if kind == lr_kind)

    @property
    def scales(self) -> tuple[int, ...]:
        """The scales it serves for bicubic LR (what the command line's default kind offers)."""
        return self.scales_for(DEFAULT_KIND)


def display_name(name: str) -> str:
    """The one name a method goes by on every page: a registered method's title ("VDSR-residual");
    a promoted or imported model's own name ("vdsr@mine", "import@realesr"), which is what the
    command line and the Models page call it and the only thing telling two imports apart."""
    return name if "@" in name else (method_class(name).title or name)


def _info(name: str, problems: list[str]) -> MethodInfo:
    cls = method_class(name)
    model = name.partition("@")[2]
    title = display_name(name)
    scales = tuple(cls.scales)
    if not cls.runs_network:
        served = {(scale, kind): no_weights(name, scale, kind) for scale in scales for kind in LR_KINDS}
        return MethodInfo(name, title, cls.paper, True, "", served, scales)
    try:
        served = {(row.scale, row.lr_kind): row for row in serving_table(name)}
    except WeightsError as exc:  # an ambiguous or damaged manifest: shown as the reason
        return MethodInfo(name, title, cls.paper, False, str(exc), {}, scales)
    if not served:
        where = f"{source_of(name)} model '{model}' is not installed" if model else f"weights for '{name}' are not installed in weights/"
        return MethodInfo(name, title, cls.paper, False, "; ".join(problems) or where, {}, scales)
    return MethodInfo(name, title, cls.paper, True, "", served, scales)


def method_catalog() -> list[MethodInfo]:
    """Every registered method, promoted model (``method@model``) and imported model (``import@name``), with what serves it."""
    try:
        names, problems = method_names(), []
    except WeightsError as exc:  # a damaged promoted-models manifest must not hide the shipped methods
        names, problems = method_names(include_promoted=False), [str(exc)]
    return [_info(name, problems) for name in names]


def unavailable_reason(info: MethodInfo, scale: int, lr_kind: str) -> str | None:
    """Why ``info`` cannot run at ``scale`` on ``lr_kind`` LR (None when it can), in words for a caption."""
    if not info.available:
        return f"not available ({info.reason})"
    if (scale, lr_kind) in info.served:
        return None
    scales = info.scales_for(lr_kind)
    if not scales:
        return f"no weights for {lr_kind} LR installed"
    return f"no x{scale} for {lr_kind} LR (supports {', '.join(f'x{s}' for s in scales)})"


#: Hex digits of a weights sha256 in the serving rows (as git shortens hashes): every column fits; the card has it whole.
SHORT_SHA = 12


def serving_rows(catalog: list[MethodInfo]) -> list[dict]:
    """One row per served (method, scale, LR kind) with weights: what the Models page lists."""
    return [{"method": info.name, "scale": f"x{scale}", "LR kind": kind, "entry": row.ref, "file": row.file,
             "sha256": row.sha256[:SHORT_SHA], "training steps": row.card.get("training", {}).get("steps"), "bf16 auto": row.bf16_auto}
            for info in catalog for (scale, kind), row in sorted(info.served.items(), key=lambda item: (item[0][1], item[0][0]))
            if row.source != "none"]


def served_entries(catalog: list[MethodInfo]) -> dict[tuple[str, int, str], str | None]:
    """(method, scale, LR kind) -> the manifest entry that serves it (None for a method without weights)."""
    return {(info.name, scale, kind): row.entry for info in catalog for (scale, kind), row in info.served.items()}


#: The LR kind assumed for an image whose kind is unknown (its facts cannot tell): the weights
#: measured least likely to make it worse. On the held-out captures the bicubic-kind VDSR loses
#: 0.13 dB to bicubic on average (worst cell -0.92); the real-capture one on a bicubic downscale
#: loses 4.5 dB (worst -6.0): docs/results.md, "Which weights when the kind is unknown".
UNKNOWN_KIND = DEFAULT_KIND


def default_lr_kind(catalog: list[MethodInfo]) -> str:
    """The LR kind of an image known to be a capture (a slide scanner's region): ``real`` once some
    network method has weights for real captures installed, ``bicubic`` until then."""
    has_real = any(row.source != "none" and kind == "real" for info in catalog for (_, kind), row in info.served.items())
    return "real" if has_real else DEFAULT_KIND


def method_scales(name: str, lr_kind: str = DEFAULT_KIND) -> tuple[int, ...]:
    """The scales method ``name`` serves for ``lr_kind`` (its class's while its weights are not installed)."""
    info = next((info for info in method_catalog() if info.name == name), None)
    return info.scales_for(lr_kind) if info is not None else method_class(name).scales


def check_methods(methods: list[str], scale: int, lr_kind: str) -> None:
    """Refuse (:class:`ParameterError`) a method that does not serve ``scale`` for ``lr_kind``."""
    checked_kind(lr_kind)
    for name in methods:
        scales = method_scales(name, lr_kind)  # what the app offers too
        if scale not in scales:
            offered = ", ".join(f"x{s}" for s in scales) or f"none: no weights for {lr_kind} LR are installed"
            raise ParameterError(f"method '{name}' does not support x{scale} for {lr_kind} LR (supports {offered})")


@dataclass(frozen=True)
class KindChoice:
    """The LR kind that runs, and why (what the command line prints)."""

    kind: str
    reason: str


def choose_lr_kind(requested: str, image: LoadedImage) -> KindChoice:
    """``requested``, or for :data:`AUTO_KIND` the kind the image's LR facts suggest, else (they
    cannot tell) :data:`UNKNOWN_KIND`, as the app does for an upload."""
    if requested != AUTO_KIND:
        return KindChoice(requested, "as asked (--lr-kind)")
    facts = lr_facts(image)
    if facts.suggested_kind is not None:
        return KindChoice(facts.suggested_kind, f"suggested by the image's facts, confidence {facts.confidence:.0%}: {facts.reason}")
    return KindChoice(UNKNOWN_KIND, f"the image's facts cannot tell ({facts.reason}): the kind measured least likely to make an image of unknown kind worse")
