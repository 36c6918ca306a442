"""One image larger than memory, block by block on Dask, into a multiscale OME-Zarr.

The LR image is cut into a grid of ``block``-pixel blocks (:func:`~microsr_core.imaging.tiling.block_grid`);
each task reads its block with the method's margin of context (:meth:`~microsr_core.models.registry.SRMethod.margin`:
the network's receptive radius in LR pixels plus the bicubic support, the margin the in-memory
tiler uses), runs :func:`~microsr_core.models.inference.upscale` on that window and writes the
block's output into its own chunk of level 0 (chunks are ``block × scale`` pixels, so no two
tasks touch one chunk and no lock is needed). A done-marker is written after each chunk, so
``resume`` skips exactly the finished chunks, also after the whole command was killed. Lower
pyramid levels (2× mean each) follow the same way, one task per chunk.

Blocks the foreground mask (:mod:`microsr_core.imaging.foreground`, on a pyramid's smallest level
or a strided view) marks as slide background are filled with the *bicubic* upscale of their
window, not white: glass is rarely pure white, and a bicubic background matches the tint the
network gives the glass next to tissue, where a white fill would show every skipped block's edge.

The output's NGFF metadata (version 0.5, Zarr v3) gives the physical pixel size as the input's
divided by the scale (relative units when the input has none) and, under ``microsr``, the method,
weights entry and sha256, LR kind, scale, block and source.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ParameterError
from ..imaging.capture_condition import TILE_SIDE, CaptureCondition, estimate_condition
from ..imaging.foreground import is_background, region_view
from ..imaging.tiling import Block, block_grid
from ..models.serving import DEFAULT_KIND
from .cluster import resolve_on_a_worker, run_tasks, worker_method
from .outputs import done_marker, mark_done, writing
from .sources import describe, open_large

#: NGFF version written.
NGFF_VERSION = "0.5"
DTYPES = {8: "uint8", 16: "uint16"}
#: Output dtypes that :func:`~microsr_core.models.inference.upscale` blends into tile by tile, so a
#: block's output is never whole in float32 in the worker (a 2048² block: 48 MiB, and its copy).
BLENDED = {"uint8": np.uint8}


@dataclass(frozen=True)
class LargeJob:
    """Everything a block task needs (small: only names travel to the workers)."""

    source: str
    level: int
    out: str
    method: str
    scale: int
    lr_kind: str
    sha256: str | None
    precision: str  # resolved once for the run (fp32, bf16, fp16), never auto
    margin: int
    dtype: str
    tile: int | None  # LR tile side inside a block (None: upscale's automatic choice); bounds a worker's memory
    #: When the output was created (ns): a worker's open arrays are kept per output and this stamp,
    #: so an output deleted and made again at the same path is never written through a stale handle.
    created: int
    #: The whole image's estimated capture, for weights that read capture maps (every block the same maps).
    condition: CaptureCondition | None = None


@dataclass
class LargeReport:
    out: Path
    blocks: int
    computed: int
    background: int
    skipped: int
    levels: int
    seconds: float
    source: str


def _to_dtype(pixels: np.ndarray, dtype: str) -> np.ndarray:
    if pixels.dtype == np.dtype(dtype):
        return pixels  # blended into it already (BLENDED)
    top = {"uint8": 255, "uint16": 65535}.get(dtype)
    return pixels.astype(dtype) if top is None else np.round(np.clip(pixels, 0, 1) * top).astype(dtype)


@functools.lru_cache(maxsize=16)
def _output_level(out: str, level: int, created: int):
    import zarr

    return zarr.open_array(f"{out}/{level}", mode="r+")


def upscale_block(job: LargeJob, block: Block, background: bool) -> str:
    """The task: one block's SR (bicubic for background) into its level-0 chunk, then its marker."""
    from ..models.inference import upscale  # here, not at the top: the client, which imports this module, runs no network

    image = open_large(job.source, job.level)
    window = image.window((block.window.top, block.window.bottom), (block.window.left, block.window.right))
    method = "bicubic" if background else worker_method(job.method, job.scale, job.lr_kind, job.sha256)
    sr = upscale(window, method, job.scale, precision=job.precision, tile=job.tile, output_dtype=BLENDED.get(job.dtype, np.float32),
                 condition=job.condition).image
    rows, cols = block.core_in_window(job.scale)
    s = job.scale
    with writing(job.out):
        _output_level(job.out, 0, job.created)[:, block.core.top * s : block.core.bottom * s, block.core.left * s : block.core.right * s] = \
            np.moveaxis(_to_dtype(sr[rows, cols], job.dtype), -1, 0)
        mark_done(done_marker(job.out, 0, block.row, block.col))
    return "background" if background else "computed"


def _mean_2x2(previous, top: int, bottom: int, left: int, right: int, dtype: str) -> np.ndarray:
    """Rows ``top``…``bottom``, columns ``left``…``right`` of the level below ``previous``: its 2×2
    means (its last row and column repeated where its side is odd), in ``dtype``."""
    source = np.asarray(previous[:, 2 * top : 2 * bottom, 2 * left : 2 * right], dtype=np.float32)
    source = np.pad(source, ((0, 0), (0, 2 * (bottom - top) - source.shape[1]), (0, 2 * (right - left) - source.shape[2])), mode="edge")
    mean = source.reshape(source.shape[0], bottom - top, 2, right - left, 2).mean(axis=(2, 4))
    return np.round(mean).astype(dtype) if dtype.startswith("uint") else mean


def downsample_chunk(job: LargeJob, level: int, row: int, col: int, chunk: int) -> str:
    """The task: chunk (row, col) of pyramid ``level`` as the 2×2 mean of ``level - 1``, averaged
    half a chunk of rows at a time: a whole chunk's source in float32 is 4 × chunk² × 3 × 4 bytes
    (192 MiB at 2048-px chunks), a worker's largest array; the chunk is written once."""
    out, dtype = job.out, job.dtype
    previous, target = _output_level(out, level - 1, job.created), _output_level(out, level, job.created)
    top, left = row * chunk, col * chunk
    bottom, right = min(target.shape[1], top + chunk), min(target.shape[2], left + chunk)
    pixels = np.empty((target.shape[0], bottom - top, right - left), dtype=target.dtype)
    band = max(1, chunk // 2)
    for band_top in range(top, bottom, band):
        band_bottom = min(bottom, band_top + band)
        pixels[:, band_top - top : band_bottom - top] = _mean_2x2(previous, band_top, band_bottom, left, right, dtype)
    with writing(out):
        target[:, top:bottom, left:right] = pixels
        mark_done(done_marker(out, level, row, col))
    return "computed"


def level_shapes(height: int, width: int, chunk: int) -> list[tuple[int, int]]:
    """Level 0 and each 2× smaller level until one fits in a chunk."""
    shapes = [(height, width)]
    while max(shapes[-1]) > chunk:
        shapes.append(((shapes[-1][0] + 1) // 2, (shapes[-1][1] + 1) // 2))
    return shapes


def ngff_attributes(shapes: list[tuple[int, int]], pixel_size: tuple[float, float] | None, scale: int,
                    provenance: dict[str, Any]) -> dict[str, Any]:
    """The group's attributes: NGFF multiscales (c, y, x; pixel size = the input's / ``scale``,
    doubling per level) and MicroSR's provenance."""
    base = (1.0, 1.0) if pixel_size is None else pixel_size
    unit = {"unit": "micrometer"} if pixel_size is not None else {}
    datasets = [{"path": str(level), "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, base[0] / scale * 2 ** level, base[1] / scale * 2 ** level]}]}
        for level in range(len(shapes))]
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}]
    return {"ome": {"version": NGFF_VERSION, "multiscales": [{"name": provenance["source"], "axes": axes, "datasets": datasets}]},
            "microsr": provenance}


def _create_output(out: Path, shapes, chunk: int, dtype: str, attributes: dict[str, Any], resume: bool) -> None:
    """Create the OME-Zarr (or, resuming, check that ``out`` was made by the same run)."""
    import zarr

    if out.exists():
        if not resume:
            raise ParameterError(f"{out} exists: pass --resume to continue it, or choose another --out")
        made = dict(zarr.open_group(out, mode="r").attrs).get("microsr")
        if made != attributes["microsr"]:
            raise ParameterError(f"{out} was made by another run ({made}); choose another --out")
        return
    with writing(out):
        group = zarr.open_group(out, mode="w", zarr_format=3)
        for level, (height, width) in enumerate(shapes):
            group.create_array(str(level), shape=(3, height, width), chunks=(3, chunk, chunk), dtype=dtype, fill_value=0)
        group.attrs.update(attributes)


def _background_blocks(image, blocks: list[Block], skip_background: bool) -> set[Block]:
    if not skip_background:
        return set()
    thumbnail, factor = image.thumbnail()
    return {b for b in blocks if is_background(region_view(thumbnail, factor, (b.window.top, b.window.bottom), (b.window.left, b.window.right)))}


class _Windows:
    """A large image as :func:`~microsr_core.imaging.capture_condition.estimate_condition` slices it: only the windows asked for are read."""

    def __init__(self, image):
        self.image, self.shape = image, (image.height, image.width, 3)

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        rows, cols = index
        return self.image.window((rows.start, rows.stop), (cols.start, cols.stop))


def large_condition(image) -> CaptureCondition:
    """The capture of a large image (a source of :func:`~.sources.open_large`) estimated once for all
    its blocks, as :func:`~microsr_core.imaging.capture_condition.estimate_condition` reads an image
    larger than its tile: the median of 3 × 3 spread tiles of 240 px, only those read (the whole of a small one)."""
    if min(image.height, image.width) <= TILE_SIDE:
        return estimate_condition(image.window((0, image.height), (0, image.width)))
    return estimate_condition(_Windows(image))


def upscale_large(client, source: str | Path, method: str, scale: int, out: str | Path, *, block: int = 1024, level: int = 0,
                  lr_kind: str = DEFAULT_KIND, precision: str = "auto", resume: bool = False, skip_background: bool = True,
                  output_dtype: str | None = None, tile: int | None = None,
                  progress: Callable[[int, int, str], None] | None = None) -> LargeReport:
    """Super-resolve the large image ``source`` (pyramid ``level``) into the OME-Zarr ``out`` on ``client``.

    Neither the input nor the output is ever whole in memory: the client reads only the
    thumbnail (and, for weights reading capture maps, the 9 tiles of :func:`large_condition`), each
    task one window and writes one chunk. ``output_dtype`` (``uint8``,
    ``uint16``, ``float32``) defaults to the input's bit depth; ``tile`` (LR px) splits each
    block further inside its task, which bounds a worker's memory (the network's activations)
    and leaves the result equal. ``progress(done, total, what)`` is called per chunk of every level.
    """
    if block < 16:
        raise ParameterError(f"--block must be at least 16 LR pixels, got {block}")
    start = time.perf_counter()
    image = open_large(source, level)
    resolved = resolve_on_a_worker(client, [method], scale, lr_kind, precision)[method]
    dtype = output_dtype or DTYPES[image.bit_depth]
    provenance = {"method": method, "scale": scale, "lr_kind": lr_kind, "weights_entry": resolved.entry,
                  "weights_sha256": resolved.sha256, "block": block, "source": Path(source).name, "source_level": level,
                  "background_fill": "bicubic", "dtype": dtype, "tile": tile}
    chunk = block * scale
    shapes = level_shapes(image.height * scale, image.width * scale, chunk)
    out = Path(out)
    _create_output(out, shapes, chunk, dtype, ngff_attributes(shapes, image.pixel_size, scale, provenance), resume)
    job = LargeJob(str(Path(source).resolve()), level, str(out.resolve()), method, scale, lr_kind, resolved.sha256, resolved.precision,
                   resolved.margin, dtype, tile, (out / "zarr.json").stat().st_mtime_ns,
                   large_condition(image) if resolved.reads_capture_maps else None)
    blocks = block_grid(image.height, image.width, block, max(resolved.margin, 1))
    todo = [b for b in blocks if not done_marker(out, 0, b.row, b.col).exists()]
    background = _background_blocks(image, todo, skip_background)
    levels = [[(job, index, r, c, chunk) for r in range(-(-height // chunk)) for c in range(-(-width // chunk))
               if not done_marker(out, index, r, c).exists()] for index, (height, width) in enumerate(shapes) if index]
    total = len(todo) + sum(map(len, levels))
    offset = 0

    def step(done: int, _total: int, what: str) -> None:
        if progress:
            progress(offset + done, total, what)

    results = run_tasks(client, upscale_block, [(job, b, b in background) for b in todo], step)
    offset = len(todo)
    for calls in levels:  # each level reads the one above, so they run one after the other
        run_tasks(client, downsample_chunk, calls, step)
        offset += len(calls)
    return LargeReport(out, len(blocks), results.count("computed"), results.count("background"), len(blocks) - len(todo),
                       len(shapes), time.perf_counter() - start, describe(image))
