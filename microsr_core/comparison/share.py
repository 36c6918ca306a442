"""A view of the Compare page as URL query parameters, and back, so a link restores it.

The query string holds the sample (or ``upload``: an uploaded image cannot travel in a URL),
or, for a region of a whole slide, the slide (its name under the data root's slides folder, or
``upload``: an uploaded slide cannot travel either) and the region of it (``slide_region=x,y,width,height``,
level-0 px), the methods, the scale, the kind of LR image (which picks the weights), the region of interest
(LR px), the panel size, teaching mode (``teach=`` how the LR is made from the image) and whether
an HR reference was uploaded (``hr=upload``: it cannot travel either; the link asks for it), and the
noise and blur that weights reading capture maps assume where they are not ``auto``
(``noise=high&blur=low``, :mod:`microsr_core.imaging.capture_maps`)::

    ?sample=blood_smear&methods=bicubic,vdsr&scale=2&lr_kind=bicubic&region=10,20,20,40&panel=320
    ?sample=leukocyte&methods=bicubic,prior&scale=4&teach=microscope&region=5,5,20,20
    ?slide=ward/smear.ome.tif&slide_region=700,300,128,96&methods=bicubic&scale=2&lr_kind=real&region=0,0,48,48

A link without ``lr_kind`` (made before real-capture weights existed) reads as bicubic.

:func:`from_query` never raises: each value it cannot read is left out (``None``) and named in
its list of problems, so a damaged link still opens the page. Whether the methods and scale
exist on this installation, and the slide in the slides folder, is for the app to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..imaging.capture_maps import CHOICES
from ..imaging.degrade import DEGRADATIONS
from ..imaging.roi import Roi
from ..samples import SAMPLES
from ..models.serving import DEFAULT_KIND, LR_KINDS
from ..uploads import UPLOAD_PREFIX

#: The value of ``sample`` (``slide``) for a view made on an uploaded image (slide).
UPLOAD = "upload"
#: Zoom panel sizes (px) the page offers.
PANEL_SIZES = (192, 256, 320, 384, 512)


@dataclass(frozen=True)
class View:
    """What a link restores; ``None`` means "not in the link" (the page's default applies)."""

    sample: str | None = None  # a gallery key or UPLOAD
    methods: tuple[str, ...] | None = None
    scale: int | None = None
    roi: Roi | None = None
    panel: int | None = None
    lr_kind: str | None = None
    teach: str | None = None  # teaching mode on, the LR made by this degradation
    reference: bool = False  # an HR reference was uploaded (it is not in the link)
    slide: str | None = None  # the slide (a name under the data root's slides folder, or UPLOAD) the LR is a region of
    slide_region: Roi | None = None  # that region, level-0 px
    noise: str | None = None  # the capture maps' assumption (low, high) where it is not auto
    blur: str | None = None


def to_query(view: View) -> dict[str, str]:
    """The query parameters of ``view`` (the fields that are set)."""
    query = {}
    if view.sample is not None:
        query["sample"] = view.sample
    if view.methods is not None:
        query["methods"] = ",".join(view.methods)
    if view.scale is not None:
        query["scale"] = str(view.scale)
    if view.lr_kind is not None:
        query["lr_kind"] = view.lr_kind
    if view.roi is not None:
        query["region"] = f"{view.roi.row},{view.roi.col},{view.roi.height},{view.roi.width}"
    if view.panel is not None:
        query["panel"] = str(view.panel)
    if view.teach is not None:
        query["teach"] = view.teach
    if view.reference:
        query["hr"] = UPLOAD
    if view.slide is not None:
        query["slide"] = view.slide
    if view.slide_region is not None:
        box = view.slide_region
        query["slide_region"] = f"{box.col},{box.row},{box.width},{box.height}"
    for name in ("noise", "blur"):
        if getattr(view, name) is not None:
            query[name] = getattr(view, name)
    return query


def from_query(query: Mapping[str, str]) -> tuple[View, list[str]]:
    """The view a query string describes, and one message per value that could not be read."""
    problems: list[str] = []
    sample = query.get("sample")
    if sample is not None and sample != UPLOAD and sample not in SAMPLES:
        problems.append(f"sample '{sample}' is not in the gallery ({', '.join(SAMPLES)})")
        sample = None
    methods = query.get("methods")
    methods = tuple(m for m in methods.split(",") if m) if methods is not None else None
    scale = _integers(query, "scale", 1, problems)
    lr_kind = query.get("lr_kind", DEFAULT_KIND if query else None)
    if lr_kind is not None and lr_kind not in LR_KINDS:
        problems.append(f"LR kind '{lr_kind}' is not one of {', '.join(LR_KINDS)}")
        lr_kind = None
    region = _box(query, "region", "row, col >= 0 and height, width >= 1 (LR px)", problems)
    roi = None if region is None else Roi(*region)
    slide = query.get("slide")
    if slide is not None and (not slide or slide.startswith(UPLOAD_PREFIX)):
        problems.append(f"slide '{slide}' is not a name under the data root's slides folder (an uploaded slide travels as '{UPLOAD}')")
        slide = None
    box = _box(query, "slide_region", "x, y >= 0 and width, height >= 1 (level-0 px)", problems)
    slide_region = None if box is None else Roi(box[1], box[0], box[3], box[2])
    panel = _integers(query, "panel", 1, problems)
    if panel is not None and panel[0] not in PANEL_SIZES:
        problems.append(f"panel '{panel[0]}' is not one of the panel sizes ({', '.join(map(str, PANEL_SIZES))} px)")
        panel = None
    teach = query.get("teach")
    if teach is not None and teach not in DEGRADATIONS:
        problems.append(f"teaching degradation '{teach}' is not one of {', '.join(DEGRADATIONS)}")
        teach = None
    reference = query.get("hr")
    if reference is not None and reference != UPLOAD:
        problems.append(f"hr '{reference}' is not '{UPLOAD}' (an HR reference travels only as a note to upload it again)")
    scale_value = None
    if scale is not None:
        if scale[0] < 1:
            problems.append(f"scale '{scale[0]}' must be at least 1")
        else:
            scale_value = scale[0]
    return View(sample, methods, scale_value, roi, None if panel is None else panel[0], lr_kind, teach, reference == UPLOAD,
                slide, slide_region, *_assumption(query, problems)), problems


def _assumption(query: Mapping[str, str], problems: list[str]) -> tuple[str | None, str | None]:
    """The link's ``noise`` and ``blur`` (:data:`~microsr_core.imaging.capture_maps.CHOICES`), each None where absent or unreadable."""
    values = []
    for name in ("noise", "blur"):
        value = query.get(name)
        if value is not None and value not in CHOICES:
            problems.append(f"{name} '{value}' is not one of {', '.join(CHOICES)}")
            value = None
        values.append(value)
    return values[0], values[1]


def _box(query: Mapping[str, str], name: str, need: str, problems: list[str]) -> tuple[int, ...] | None:
    """Four comma-separated integers from ``query[name]``, the first two at least 0 and the last two
    at least 1; ``None`` (and a problem saying it ``need``s that) otherwise."""
    values = _integers(query, name, 4, problems)
    if values is not None and (min(values[:2]) < 0 or min(values[2:]) < 1):
        problems.append(f"{name} '{query[name]}' needs {need}")
        return None
    return values


def _integers(query: Mapping[str, str], name: str, count: int, problems: list[str]) -> tuple[int, ...] | None:
    """``count`` comma-separated integers from ``query[name]``; ``None`` (and a problem) otherwise."""
    if name not in query:
        return None
    try:
        values = tuple(int(part) for part in query[name].split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        problems.append(f"{name} '{query[name]}' is not {'an integer' if count == 1 else f'{count} comma-separated integers'}")
        return None
    return values
