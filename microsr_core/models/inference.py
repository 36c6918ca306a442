"""Running a method on an image: device, model cache, tiling, timing.

:func:`upscale` is the one entry point used by the CLI, ``evaluate``, the app and the
benchmark. Images of any size run in bounded memory: the LR image is cut into overlapping tiles
(:mod:`microsr_core.imaging.tiling`) and only the tile being computed is on the device. A CUDA
out-of-memory error retries with tiles half the size. Networks run in the precision of
:mod:`microsr_core.models.precision` (``auto``: bf16 autocast on CPUs that run it faster, fp32 on
the others); the result records which one was used.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .device import resolve_device
from ..errors import ParameterError
from .precision import autocast, checked_choice, resolve_precision
from .registry import SRMethod, create, method_class
from .serving import DEFAULT_KIND, ServedWeights, checked_kind, serving_table
from ..imaging.capture_condition import CaptureCondition, estimate_condition
from ..imaging.capture_maps import CaptureAssumption, CaptureMaps
from ..imaging.tiling import Blender, make_tiles

#: Smallest LR tile side :func:`upscale` will shrink to after CUDA out-of-memory errors.
MIN_TILE = 32

#: (name, device, LR kind) -> (the sha256 of the weights serving that kind, the instance holding them).
_cache: dict[tuple[str, str, str], tuple[tuple, SRMethod]] = {}
_cache_lock = threading.Lock()


def get_method(name: str, device: str | torch.device = "auto", lr_kind: str = DEFAULT_KIND) -> SRMethod:
    """The shared instance of method ``name`` on ``device`` for ``lr_kind`` LR (weights loaded once
    per process, and again once they are republished, replaced or removed)."""
    dev = resolve_device(device)
    key = (name, str(dev), checked_kind(lr_kind))
    fingerprint = tuple(row.sha256 for row in serving_table(name) if row.lr_kind == lr_kind) if method_class(name).runs_network else ()
    with _cache_lock:
        if key not in _cache or _cache[key][0] != fingerprint:
            _cache[key] = (fingerprint, create(name, dev, lr_kind))
        return _cache[key][1]


#: Output tile side that bounds memory: a 64-channel float32 activation of 1024² pixels is
#: 256 MB, and a network holds a few at once.
OUTPUT_TILE = {"cpu": 1024, "cuda": 2048}
#: A tile is at least this many margins wide, so that the overlap between neighbours (three
#: margins) stays under 40 % of it: U-Nets reach ~40 LR pixels at x4, and 192-pixel tiles
#: made the prior compute 35 tiles for one 640x480 field (issue 26).
TILE_MARGINS = 8
#: The smallest tile, in margins: neighbours overlap by three margins, so a tile of four adds a
#: margin of new pixels; the three-margin minimum of make_tiles adds one pixel, and a 24-pixel
#: tile request made VDSR compute 2601 tiles for a 90-pixel block (340 s instead of 0.5 s).
SMALLEST_TILE_MARGINS = 4


def smallest_tile(margin: int) -> int:
    """The smallest LR tile side :func:`upscale` runs for a network reaching ``margin`` pixels."""
    return max(SMALLEST_TILE_MARGINS * margin, 3 * margin + 2)


def default_tile(device: torch.device, scale: int, margin: int = 0, feature_stride: int = 1) -> int:
    """LR tile side from a memory bound (``OUTPUT_TILE`` output pixels, times the network's
    ``feature_stride``: its activations are that much smaller per side) and the network's
    reach (at least ``TILE_MARGINS`` margins)."""
    return max(64, OUTPUT_TILE.get(device.type, OUTPUT_TILE["cpu"]) * feature_stride // scale, TILE_MARGINS * margin)


@dataclass
class SRResult:
    """A super-resolved image with its extras and how it was made."""

    image: np.ndarray
    method: str
    scale: int
    device: str
    seconds: float
    tiles: int
    #: The weights that computed it (:mod:`microsr_core.models.serving`; source ``none`` without a network).
    served: ServedWeights
    #: ``fp32``, ``bf16`` or ``fp16``: what the network's forward pass ran in.
    precision: str = "fp32"
    #: ``numpy``, ``pytorch`` or ``openvino``: what computed it.
    backend: str = "numpy"
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The capture maps the network read (weights trained with ``--capture-maps true``), else None.
    capture_maps: CaptureMaps | None = None


def _run_tiled(method: SRMethod, lr: np.ndarray, scale: int, tile: int, progress, dtype,
               conditions: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], int]:
    height, width = lr.shape[:2]
    margin = method.margin(scale)
    tiles = make_tiles(height, width, max(tile, smallest_tile(margin)), margin)
    blender = Blender(height, width, scale, margin, dtype)
    extra = {} if conditions is None else {"conditions": conditions}  # the same maps for every tile
    for index, t in enumerate(tiles):
        window = lr[t.top : t.bottom, t.left : t.right]
        output = method.process(np.asarray(window, dtype=np.float32) / (255.0 if lr.dtype == np.uint8 else 1.0), scale, **extra)
        blender.add(t, {"sr": output.sr, **output.maps})
        if progress:
            progress(index + 1, len(tiles))
    return blender.result(), len(tiles)


def _tile_side(method: SRMethod, scale: int, tile: int | None, shape: tuple[int, int]) -> tuple[int, list[str]]:
    """The LR tile side :func:`upscale` starts with for ``tile`` (None: :func:`default_tile`; 0: the
    whole image), and a note where a requested side that would tile the image is widened."""
    if tile is not None and tile < 0:
        raise ParameterError(f"tile size must be >= 0, got {tile}")
    size = tile if tile is not None else default_tile(method.device, scale, method.margin(scale), method.feature_stride(scale))
    if size == 0:
        return max(shape), []
    smallest = smallest_tile(method.margin(scale))
    if size < min(smallest, max(shape)):
        return size, [f"tiles of {smallest} px, not {size}: a tile spans at least {SMALLEST_TILE_MARGINS} times the network's reach"]
    return size, []


def method_precision(method: SRMethod, served: ServedWeights, choice: str) -> str:
    """The precision ``method`` runs in at ``served``'s scale for the user's ``choice``.

    A card may list the ``precisions`` its network runs in (an imported architecture without
    bf16 or fp16 support): asking for another is a :class:`ParameterError`; auto falls back to fp32.
    """
    choice = checked_choice(choice)  # a wrong value is an error even where it changes nothing
    if not method.runs_network:
        return "fp32"
    if choice == "auto" and method.backend_at(served.scale) not in served.bf16_backends:
        return "fp32"  # auto never trades accuracy: bf16 was not measured within the tolerance for these weights in this backend
    used = resolve_precision(choice, method.device)
    allowed = served.card.get("precisions")
    if allowed is not None and used not in allowed:
        if choice == "auto":
            return "fp32"
        raise ParameterError(f"'{served.method}' cannot run in {used}: its architecture ({served.card.get('architecture')}) "
                             f"supports {', '.join(allowed)}")
    return used


def capture_maps(method: SRMethod, scale: int, image: np.ndarray, capture: CaptureAssumption | CaptureMaps | None = None,
                 condition: CaptureCondition | None = None) -> CaptureMaps | None:
    """The capture maps ``method`` reads at ``scale`` for ``image`` (None where its weights read none):
    ``capture``'s overrides, else ``condition`` (the image's estimate, if the caller has it) or the
    estimate made now, once for the whole image; ``capture`` may also be the maps a result ran with
    (:attr:`SRResult.capture_maps`), to run a flip or a crop of its image as it ran. An override for
    weights without maps is a :class:`ParameterError`: ignoring it would run another assumption than the one asked for."""
    capture = capture or CaptureAssumption()
    if not method.reads_capture_maps(scale):
        if isinstance(capture, CaptureMaps) or capture.overridden:
            raise ParameterError(f"'{method.full_name}' x{scale} ({method.served(scale).label()}) reads no capture maps: "
                                 f"the noise/blur assumption ({capture.describe()}) applies only to weights trained with --capture-maps true")
        return None
    if isinstance(capture, CaptureMaps):
        return capture
    if condition is None and "auto" in (capture.noise, capture.blur):
        condition = estimate_condition(image if image.dtype != np.uint8 else image.astype(np.float32) / 255)
    return capture.maps(condition)


def upscale(
    image: np.ndarray,
    method: str | SRMethod,
    scale: int,
    *,
    device: str | torch.device = "auto",
    tile: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    output_dtype=np.float32,
    precision: str = "auto",
    lr_kind: str = DEFAULT_KIND,
    capture: CaptureAssumption | CaptureMaps | None = None,
    condition: CaptureCondition | None = None,
) -> SRResult:
    """Super-resolve ``image`` by ``scale`` with ``method``.

    ``image`` is float32 (H, W, 3) in [0, 1], or uint8 (H, W, 3) for very large images (each
    tile is converted on its own, so no float copy of the whole input is made).

    Parameters
    ----------
    method : str or SRMethod
        A registered name (the shared instance for ``device`` is used) or an instance.
    tile : int, optional
        LR tile side; ``None`` picks :func:`default_tile` for the device, ``0`` disables tiling.
    progress : callable(done, total), optional
        Called after every tile.
    output_dtype : float32, float16 or uint8
        Type of the returned arrays (uint8: 0..255). Smaller types bound the memory of huge
        outputs: only a band of rows is ever held in float32.
    precision : auto, fp32, bf16 or fp16
        Precision of the network's forward pass (:func:`~microsr_core.models.precision.resolve_precision`);
        ``auto`` runs fp32 where the serving weights' card does not measure bf16 within
        :data:`~microsr_core.models.serving.TOLERANCE_DB`; methods without a network always compute in float32.
    lr_kind : bicubic or real
        The kind of LR image (:data:`~microsr_core.models.serving.LR_KINDS`), which picks the weights
        when ``method`` is a name; an instance serves the kind it was created for.
    capture, condition : CaptureAssumption, CaptureCondition, optional
        What weights trained with capture maps assume (default: estimated), and ``image``'s estimate
        where the caller has it (made here otherwise, once for all tiles): :func:`capture_maps`.

    Returns
    -------
    SRResult
        ``image`` is (H·s, W·s, 3) in [0, 1] (0..255 for uint8); ``maps`` holds method extras.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ParameterError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    scale = int(scale)
    sr_method = method if isinstance(method, SRMethod) else get_method(method, device, lr_kind)
    served = sr_method.served(scale)
    used = method_precision(sr_method, served, precision)
    maps = capture_maps(sr_method, scale, image, capture, condition)
    size, notes = _tile_side(sr_method, scale, tile, image.shape[:2])
    lr = image if image.dtype == np.uint8 else np.ascontiguousarray(image, dtype=np.float32)
    start = time.perf_counter()
    while True:
        try:
            with torch.inference_mode(), autocast(used, sr_method.device):
                outputs, count = _run_tiled(sr_method, lr, scale, size, progress, output_dtype, maps.values() if maps else None)
            break
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            if size // 2 < MIN_TILE:
                raise
            size //= 2
            notes.append(f"CUDA out of memory: retried with {size}-pixel tiles")
    if sr_method.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    sr = outputs.pop("sr")
    return SRResult(sr, sr_method.full_name, scale, str(sr_method.device), seconds, count, served, used, sr_method.backend,
                    outputs, notes, maps)
