"""Single-cell extraction from a multi-cell field (MicroGAN, Gautam et al., §3.1).

The paper's unsupervised recipe, step by step:

1. adaptive mean thresholding with an 11×11 window (a pixel is foreground when it is darker
   than the mean of its window by more than ``offset``); on a stained smear this marks cell
   outlines and dark texture, because inside a large cell the local mean equals the pixel;
2. dilation (closes the outlines into rings), hole filling (turns rings into solid cells) and
   opening (drops thin bridges, speckle and debris);
3. one bounding box per connected region, and the crop of the field inside it.

The result is a list of single-cell images of *varying* sizes, which MicroGAN trains on
without resizing.

Additions, all switchable, adapt the recipe to JPEG-compressed blood smears such as BCCD,
where cells (about 100 px across) are far larger than the 11×11 window and touch each other:
the green channel (where pink cells differ most from the pale background), a light Gaussian
smoothing (the window otherwise responds to 8×8 JPEG blocks), Otsu's global threshold OR-ed
with the adaptive one (fills cell bodies whose outlines do not close), and a watershed on the
distance transform that splits touching cells, which the paper's recipe returns as one region.
:func:`paper_settings` turns them all off. The share of the annotated BCCD cells each setting
recovers is in ``docs/results.md`` (``python -m microsr_core.imaging.cells DATA_DIR [--paper]``).

Boxes are ``(row0, col0, row1, col1)`` in pixels, half-open (``image[row0:row1, col0:col1]``),
rows first as in scikit-image. All functions are pure except :func:`read_voc_boxes`,
:func:`annotation_recall` and :func:`save_cells`, which read or write files.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy import ndimage
from skimage import measure, morphology, segmentation
from skimage.feature import peak_local_max
from skimage.filters import threshold_local, threshold_otsu

from ..errors import ImageError, ParameterError

Box = tuple[int, int, int, int]

#: Window of the adaptive mean threshold (paper §3.1).
WINDOW = 11
CHANNELS = ("luma", "green")


@dataclass(frozen=True)
class CellSettings:
    """Parameters of :func:`segment_cells` (all sizes in pixels of the input field).

    The defaults were chosen on the BCCD annotations (``docs/results.md``); the paper gives
    only the 11×11 window and the order of the operations.
    """

    #: Grey image thresholded: ``"luma"`` (BT.601) or ``"green"`` (the channel where stained
    #: cells differ most from a pale background).
    channel: str = "green"
    #: Side of the adaptive-mean window (odd); the paper's 11.
    window: int = WINDOW
    #: How much darker than its window's mean a pixel must be, in [0, 1] grey levels.
    offset: float = 0.01
    #: σ of a Gaussian smoothing of the grey image before thresholding (0: none, as the paper).
    smooth_sigma: float = 1.5
    #: Also mark pixels darker than Otsu's global threshold (not in the paper): fills the bodies
    #: of large, evenly stained cells whose outlines alone do not close.
    global_threshold: bool = True
    #: Radius of the disk used to dilate the thresholded outlines.
    dilate_radius: int = 2
    #: Radius of the disk used to open the filled regions.
    open_radius: int = 5
    #: Regions smaller than this many pixels are dropped (platelets, debris).
    min_area: int = 800
    #: Split touching cells with a watershed on the distance transform (not in the paper).
    split_touching: bool = True
    #: Smallest distance, in pixels, between two cell centres when splitting.
    split_min_distance: int = 25

    def __post_init__(self):
        if self.window < 3 or self.window % 2 == 0:
            raise ParameterError(f"the threshold window must be odd and >= 3, got {self.window}")
        for name in ("offset", "smooth_sigma", "dilate_radius", "open_radius", "min_area", "split_min_distance"):
            if getattr(self, name) < 0:
                raise ParameterError(f"cell setting {name} must be >= 0, got {getattr(self, name)}")
        if self.channel not in CHANNELS:
            raise ParameterError(f"cell setting channel must be one of {', '.join(CHANNELS)}, got '{self.channel}'")


def paper_settings() -> CellSettings:
    """The recipe exactly as §3.1 describes it: no smoothing, no splitting of touching cells."""
    return CellSettings(channel="luma", smooth_sigma=0.0, global_threshold=False, split_touching=False)


def _grey(image: np.ndarray, channel: str) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    if image.ndim == 3 and image.shape[2] == 3:
        if channel == "green":
            return image[:, :, 1].astype(np.float32)
        # BT.601 luma weights; stained cells are darker than the background in every channel.
        return image.astype(np.float32, copy=False) @ np.array([0.299, 0.587, 0.114], np.float32)
    raise ParameterError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


def segment_cells(image: np.ndarray, settings: CellSettings = CellSettings()) -> np.ndarray:
    """Label image of the cells of a field.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W, 3) or (H, W)
        RGB (or grey) values in [0, 1]; cells darker than the background (bright field).
    settings : CellSettings

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
        0 for background, 1..N for the cells, in raster order of their first pixel.

    References
    ----------
    Gautam et al., "MicroGAN: Size-invariant learning of GAN for super-resolution of
    microscopic images", §3.1 (paper ``004_67d765c92f46390f``).
    """
    grey = _grey(image, settings.channel)
    if settings.smooth_sigma:
        grey = ndimage.gaussian_filter(grey, settings.smooth_sigma)
    foreground = grey < threshold_local(grey, settings.window, method="mean", offset=settings.offset)
    if settings.global_threshold and grey.max() > grey.min():
        foreground |= grey < threshold_otsu(grey)
    if settings.dilate_radius:
        foreground = ndimage.binary_dilation(foreground, morphology.disk(settings.dilate_radius))
    foreground = ndimage.binary_fill_holes(foreground)
    if settings.open_radius:
        foreground = ndimage.binary_opening(foreground, morphology.disk(settings.open_radius))
    if settings.split_touching:
        labels = _split_touching(foreground, settings.split_min_distance)
    else:
        labels = measure.label(foreground, connectivity=2)
    if settings.min_area:
        small = np.bincount(labels.ravel()) < settings.min_area
        small[0] = False
        labels[small[labels]] = 0
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)


def _split_touching(mask: np.ndarray, min_distance: int) -> np.ndarray:
    """Watershed of the inverted distance transform, one marker per distance maximum."""
    distance = ndimage.distance_transform_edt(mask)
    regions = measure.label(mask, connectivity=2)
    peaks = peak_local_max(distance, min_distance=max(1, min_distance), labels=regions, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # Regions without a peak (too small for min_distance) keep their own label.
    unmarked = np.setdiff1d(np.unique(regions[mask]), np.unique(regions[tuple(peaks.T)]))
    for offset, region in enumerate(unmarked, start=len(peaks) + 1):
        markers[regions == region] = offset
    return segmentation.watershed(-distance, markers, mask=mask)


def label_boxes(labels: np.ndarray) -> list[Box]:
    """Half-open bounding boxes ``(row0, col0, row1, col1)`` of labels 1..N, in label order."""
    return [tuple(int(v) for v in region.bbox) for region in measure.regionprops(labels)]


def cell_boxes(image: np.ndarray, settings: CellSettings = CellSettings()) -> list[Box]:
    """Bounding boxes of the cells of ``image`` (see :func:`segment_cells` for the input)."""
    return label_boxes(segment_cells(image, settings))


def pad_box(box: Box, pad: int, shape: tuple[int, ...]) -> Box:
    """``box`` grown by ``pad`` pixels on every side, clipped to an image of ``shape``."""
    row0, col0, row1, col1 = box
    return max(0, row0 - pad), max(0, col0 - pad), min(shape[0], row1 + pad), min(shape[1], col1 + pad)


def crop_boxes(image: np.ndarray, boxes: Iterable[Box], pad: int = 0) -> list[np.ndarray]:
    """Copies of ``image[row0:row1, col0:col1]`` for every box, each grown by ``pad`` pixels."""
    crops = []
    for box in boxes:
        row0, col0, row1, col1 = pad_box(box, pad, image.shape)
        crops.append(image[row0:row1, col0:col1].copy())
    return crops


def extract_cells(image: np.ndarray, settings: CellSettings = CellSettings(), pad: int = 0) -> tuple[list[Box], list[np.ndarray]]:
    """Boxes (grown by ``pad``, clipped) and crops of every cell of a field.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W, 3)
        A field in the MicroSR image contract.
    settings : CellSettings
    pad : int
        Context in pixels added around every box.

    Returns
    -------
    boxes : list of (row0, col0, row1, col1)
    crops : list of ndarray, float32, shape (row1 - row0, col1 - col0, 3)
        Single-cell images of varying sizes.
    """
    boxes = [pad_box(box, pad, image.shape) for box in cell_boxes(image, settings)]
    return boxes, crop_boxes(image, boxes)


# --- Checking against annotated boxes -----------------------------------------------------------


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two half-open boxes."""
    rows = min(a[2], b[2]) - max(a[0], b[0])
    cols = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, rows) * max(0, cols)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(found: list[Box], truth: list[Box], threshold: float = 0.5) -> list[int | None]:
    """One-to-one greedy matching: for each true box, the index of its found box or None.

    Pairs are taken in order of decreasing IoU (the usual detection-evaluation rule), so one
    found box never recovers two annotated cells.
    """
    pairs = sorted(
        ((box_iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
        reverse=True,
    )
    matched: list[int | None] = [None] * len(truth)
    used = set()
    for iou, i, j in pairs:
        if iou < threshold:
            break
        if i not in used and matched[j] is None:
            matched[j] = i
            used.add(i)
    return matched


def read_voc_boxes(path: str | Path, classes: Iterable[str] = ("WBC", "RBC")) -> list[Box]:
    """Boxes of the objects of ``classes`` in a Pascal VOC annotation file.

    VOC corners are 1-based and inclusive (``xmin..xmax``); they become half-open 0-based
    ``(ymin - 1, xmin - 1, ymax, xmax)``.
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise ImageError(f"{path}: not a readable Pascal VOC annotation ({exc})") from exc
    wanted = set(classes)
    boxes = []
    for obj in root.iter("object"):
        if obj.findtext("name", "").strip() not in wanted:
            continue
        box = obj.find("bndbox")
        xmin, ymin, xmax, ymax = (int(float(box.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((ymin - 1, xmin - 1, ymax, xmax))
    return boxes


def annotation_recall(
    data_dir: str | Path,
    settings: CellSettings = CellSettings(),
    threshold: float = 0.5,
    classes: Iterable[str] = ("WBC", "RBC"),
    limit: int | None = None,
) -> dict:
    """Share of annotated cells that :func:`cell_boxes` recovers at IoU >= ``threshold``.

    ``data_dir`` holds ``images/NAME.jpg`` and ``annotations/NAME.xml`` (the BCCD layout).

    Returns
    -------
    dict
        ``recall`` (overall), ``recall_<class>``, ``annotated``, ``found`` (boxes returned),
        ``matched``, ``fields``, the settings and the threshold. ``precision`` is matched /
        found; BCCD leaves many cells unannotated, so it understates the true precision.
    """
    from .data import list_images
    from .io import load_image

    data_dir = Path(data_dir)
    classes = tuple(classes)
    files = list_images(data_dir / "images")[:limit]
    per_class = {name: [0, 0] for name in classes}  # [matched, annotated]
    found_total = 0
    for path in files:
        xml = data_dir / "annotations" / f"{path.stem}.xml"
        if not xml.is_file():
            raise ParameterError(f"{path.name}: no annotation {xml}")
        found = cell_boxes(load_image(path).pixels, settings)
        found_total += len(found)
        boxes = {name: read_voc_boxes(xml, (name,)) for name in classes}
        truth = [box for name in classes for box in boxes[name]]
        matched = match_boxes(found, truth, threshold)
        position = 0
        for name in classes:
            hits = matched[position : position + len(boxes[name])]
            per_class[name][0] += sum(m is not None for m in hits)
            per_class[name][1] += len(boxes[name])
            position += len(boxes[name])
    matched_total = sum(m for m, _ in per_class.values())
    annotated = sum(n for _, n in per_class.values())
    return {
        "recall": matched_total / annotated if annotated else math.nan,
        **{f"recall_{name}": (m / n if n else math.nan) for name, (m, n) in per_class.items()},
        "annotated": annotated,
        "matched": matched_total,
        "found": found_total,
        "precision": matched_total / found_total if found_total else math.nan,
        "fields": len(files),
        "iou_threshold": threshold,
        "settings": asdict(settings),
    }


def save_cells(image_path: str | Path, out_dir: str | Path, settings: CellSettings = CellSettings(), pad: int = 0) -> list[Box]:
    """Cut every cell of the field in ``image_path`` into ``out_dir`` (PNG) with ``cells.json``.

    Files are named ``<stem>_cell<NNN>_r<row0>_c<col0>.png``; ``cells.json`` lists the boxes.
    """
    from .io import load_image, save_image

    image = load_image(image_path)
    boxes, crops = extract_cells(image.pixels, settings, pad)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(image_path).stem
    names = []
    for index, (box, crop) in enumerate(zip(boxes, crops)):
        name = f"{stem}_cell{index:03d}_r{box[0]}_c{box[1]}.png"
        save_image(out / name, crop, bit_depth=image.bit_depth)
        names.append({"file": name, "box": list(box)})
    (out / "cells.json").write_text(
        json.dumps({"image": str(image_path), "box_format": "row0, col0, row1, col1 (half-open)", "settings": asdict(settings), "pad": pad, "cells": names}, indent=2) + "\n"
    )
    return boxes


def _main(argv: list[str] | None = None) -> int:
    """``python -m microsr_core.imaging.cells DATA_DIR``: recall against the BCCD annotations."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m microsr_core.imaging.cells", description=annotation_recall.__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="folder with images/ and annotations/ (Pascal VOC)")
    parser.add_argument("--iou", type=float, default=0.5)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--paper", action="store_true", help="the §3.1 recipe alone (no smoothing, no splitting)")
    for f in fields(CellSettings):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default) if not isinstance(f.default, bool) else (lambda v: v.lower() in ("1", "true", "yes")), default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    base = paper_settings() if args.paper else CellSettings()
    changes = {f.name: getattr(args, f.name) for f in fields(CellSettings) if getattr(args, f.name) is not None}
    settings = CellSettings(**{**asdict(base), **changes})
    report = annotation_recall(args.data_dir, settings, args.iou, limit=args.limit)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
