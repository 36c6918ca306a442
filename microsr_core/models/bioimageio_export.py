"""A shipped model as a bioimage.io model package (format 0.5; ``bioimageio.spec``/``bioimageio.core`` 0.11).

The package holds the network twice: as a PyTorch state dict whose architecture is
:func:`packaged_network` of this module (``pip install microsr`` makes it importable), and as
TorchScript traced from it, both through :class:`PackagedNetwork` so that it takes the package's
one input tensor and returns one plain tensor: the SR image (the prior network's parsing map is
left out). Beside it: ``rdf.yaml`` (name, description from the card's
summary, authors, the card's paper as citation, licence, axes, the card's figures under
``config.microsr``), the rendered model card as documentation, test tensors computed from a
crop of the default gallery sample, and a cover showing them side by side.

The input is what the network reads inside MicroSR (:mod:`microsr_core.models.network_input`), not
the LR image: bioimage.io has no bicubic-upsampling or colour-conversion step, so the consumer
makes it, as the description says. VDSR and the prior read Y of the bicubic-upsampled LR image
(BT.601 studio swing, MATLAB scaling: Y/255 in [16/255, 235/255]); MicroGAN reads the
bicubic-upsampled RGB image clipped to [0, 1] (at x1 the LR image itself). The output has the
input's size.

Every package is checked by ``bioimageio.core.test_model`` (the test tensors reproduced by the
TorchScript, and inference at three sizes with batches of 1 and 2) before it is moved onto the
requested path; a package that fails is deleted, so no partial file is ever left there. The
validation runs offline: the description names no GitHub user (which the validator looks up on
GitHub) and cites by DOI, which it does not resolve. A paper without a known DOI is cited by a
URL, which the validator checks with one HEAD request (offline it only warns).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote_plus

import numpy as np
import torch

from .archs.prior import PriorSROutput
from ..errors import ExportError, ParameterError
from ..imaging.io import encode_image
from .network_input import upscale_rgb, upscale_ycbcr
from .papers import paper_of
from ..imaging.roi import default_roi
from .runtime import input_channels
from ..samples import DEFAULT, get_sample
from .archs import build_architecture
from .weights import build_model, render_card

#: Side in LR pixels of the sample crop the test tensors are made from (x4: a 128x128 input).
TEST_LR_SIDE = 32
#: Input sides a package accepts are multiples of this, or of the network's ``size_multiple``
#: where that is larger: the U-Nets (four 2x2 poolings in the prior's, three in MicroGAN's; at
#: LR resolution, times the scale) then need no padding, a branch a traced graph cannot take.
SIZE_STEP = 16
#: Licence of MicroSR's weights in the packages: MIT, except for weights that learned from
#: the wbc_seg images (Zheng et al. 2018, GPL-3.0), which keep their data's licence.
LICENSE = "MIT"
GPL_DATA_LICENSE = "GPL-3.0-only"


def license_of(card: dict) -> str:
    """The SPDX licence of a card's weights, from the data it was trained on."""
    return GPL_DATA_LICENSE if "wbc_seg" in str(card.get("training", {}).get("data", "")) else LICENSE
AUTHORS = ("MicroSR maintainers",)
TAGS = ("super-resolution", "transmission-light-microscopy", "2d", "cells", "image-restoration", "pytorch", "microsr")


def packaged_network(architecture: str, arch_kwargs: dict[str, Any]) -> "PackagedNetwork":
    """The package's network, untrained: what the ``pytorch_state_dict`` weights entry names as its
    architecture (a consumer with ``pip install microsr`` builds it, then loads the state dict)."""
    return PackagedNetwork(build_architecture(architecture, **arch_kwargs))


class PackagedNetwork(torch.nn.Module):
    """A MicroSR network as the package runs it: the input tensor in, the SR image out."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    @property
    def input_channels(self) -> int:
        """What the wrapped network reads (its first convolution may take more: PriorLRVDSR's s² phases)."""
        return input_channels(self.net)

    @property
    def size_step(self) -> int:
        """The multiple every input side must be (see ``SIZE_STEP``)."""
        return math.lcm(SIZE_STEP, getattr(self.net, "size_multiple", 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.sr if isinstance(out, PriorSROutput) else out


@dataclass(frozen=True)
class NetworkInput:
    """How a network's input is made from the LR image, and what its output is, in the package's words."""

    channel_names: tuple[str, ...]
    #: (H, W, 3) LR image, scale -> (H·s, W·s, C) network input.
    make: Callable[[np.ndarray, int], np.ndarray]
    description: str
    output: str


#: By the number of channels the network reads (the methods build them in :mod:`~microsr_core.models.network_input`).
NETWORK_INPUTS = {
    1: NetworkInput(
        ("y",), lambda lr, scale: upscale_ycbcr(lr, scale)[:, :, :1],
        "Y (BT.601 studio swing, MATLAB scaling: Y/255) of the LR image bicubic-upsampled by the scale (MATLAB imresize)",
        "only the SR Y (MicroSR merges it with the bicubic Cb/Cr)",
    ),
    3: NetworkInput(
        ("r", "g", "b"), upscale_rgb,
        "RGB in [0, 1] of the LR image bicubic-upsampled by the scale (MATLAB imresize), clipped; at x1 the image itself",
        "the SR RGB",
    ),
}


@dataclass(frozen=True)
class ExportResult:
    """A package written by :func:`export_bioimageio`."""

    path: Path
    size_bytes: int
    #: Wall time of ``bioimageio.core.test_model`` on the package.
    test_seconds: float


def export_bioimageio(name: str, out: str | Path) -> ExportResult:
    """Write manifest entry ``name`` as a bioimage.io package to ``out`` (a ``.zip``).

    Raises
    ------
    ParameterError
        ``out`` is not a ``.zip`` path in a writable folder.
    WeightsError
        No entry ``name``, or its weights are damaged.
    ExportError
        The card's paper is unknown, or the package fails ``bioimageio.core.test_model``.
    """
    try:
        from bioimageio.core import test_model
        from bioimageio.spec import save_bioimageio_package
    except ImportError as exc:
        raise ExportError(f"exporting for bioimage.io needs bioimageio.core ({exc}): pip install -r requirements.txt") from exc
    out = Path(out)
    if out.suffix.lower() != ".zip" or out.is_dir():
        raise ParameterError(f"'{out}': a bioimage.io package is written as a .zip file")
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial.zip")
    try:
        partial.open("wb").close()  # fails now, before any work, where the folder is missing or read-only
    except OSError as exc:
        raise ParameterError(f"cannot write '{out}': {exc.strerror}") from exc
    try:
        net, card = build_model(name)
        if getattr(net, "conditions", 0):
            raise ExportError(f"'{name}' reads capture maps besides the image; a bioimage.io package of it would take the image alone")
        cite = paper_citation(card["paper"])
        with tempfile.TemporaryDirectory() as folder:
            descr = describe(name, card, PackagedNetwork(net).eval(), cite, Path(folder))
            save_bioimageio_package(descr, output_path=partial)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            summary = test_model(partial, stop_early=True)  # the first failure is the one reported
        test_seconds = time.perf_counter() - start
        if summary.status != "passed":
            raise ExportError(f"the bioimage.io package of '{name}' fails bioimageio.core.test_model: {first_error(summary)}")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(out, out.stat().st_size, test_seconds)


def paper_citation(reference: str) -> dict[str, str]:
    """The citation of a card's ``paper`` (:mod:`microsr_core.models.papers`): its title and DOI, or a
    search for the title where it has no DOI."""
    paper = paper_of(reference)
    if paper is None:
        raise ExportError(f"the card's paper '{reference}' is not one microsr_core.models.papers knows: the citation needs its title")
    cite = {"text": f"{paper.title} ({paper.authors})"}
    if paper.doi:
        cite["doi"] = paper.doi
    else:
        cite["url"] = f"https://scholar.google.com/scholar?q={quote_plus(paper.title)}"
    return cite


def make_test_tensors(net: PackagedNetwork, network_input: NetworkInput, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The package's test input, (1, C, H, W) float32 made from a crop of the default sample (the
    region with the most detail), and the PyTorch network's output for it."""
    lr = get_sample(DEFAULT).load()
    crop = lr[default_roi(lr, TEST_LR_SIDE).slices()]
    test_input = np.ascontiguousarray(network_input.make(crop, scale).transpose(2, 0, 1)[None], dtype=np.float32)
    with torch.no_grad():
        return test_input, net(torch.from_numpy(test_input)).numpy()


def describe(name: str, card: dict[str, Any], net: PackagedNetwork, cite: dict[str, str], folder: Path):
    """The package's ``ModelDescr``, its files written into ``folder``."""
    from bioimageio.spec.model import v0_5

    network_input = NETWORK_INPUTS[input_channels(net)]
    scale = min(card["scales"])  # the smallest test: one network serves every scale on its card
    test_input, test_output = make_test_tensors(net, network_input, scale)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; test_model checks the trace at three sizes
        traced = torch.jit.trace(net, torch.from_numpy(test_input), check_trace=False)
    traced.save(str(folder / "model.pt"))
    torch.save({key: value.contiguous() for key, value in net.state_dict().items()}, folder / "state_dict.pt")
    np.save(folder / "test_input.npy", test_input)
    np.save(folder / "test_output.npy", test_output)
    cover = np.concatenate([test_input[0], test_output[0]], axis=2).transpose(1, 2, 0)  # input | output, 2:1
    (folder / "cover.png").write_bytes(encode_image(cover[:, :, 0] if cover.shape[2] == 1 else cover))
    (folder / "README.md").write_text(documentation(name, card, network_input, scale, net.size_step))

    scales = ", ".join(f"x{s}" for s in card["scales"])
    channel = v0_5.ChannelAxis(channel_names=[v0_5.Identifier(c) for c in network_input.channel_names])
    space_in = [v0_5.SpaceInputAxis(id=v0_5.AxisId(a), size=v0_5.ParameterizedSize(min=net.size_step, step=net.size_step)) for a in "yx"]
    space_out = [v0_5.SpaceOutputAxis(id=v0_5.AxisId(a), size=v0_5.SizeReference(tensor_id=v0_5.TensorId("input"), axis_id=v0_5.AxisId(a)))
                 for a in "yx"]
    return v0_5.ModelDescr(
        name=f"MicroSR {name} super-resolution",
        description=f"{card['summary'].strip()} Input: {network_input.description} ({scales}; {card['lr_kind']} LR); "
                    f"output: {network_input.output}, same size. {headline_metric(card)}",
        authors=[v0_5.Author(name=author) for author in AUTHORS],
        cite=[v0_5.CiteEntry(**cite)],
        license=v0_5.LicenseId(license_of(card)),
        documentation=v0_5.FileDescr(source=folder / "README.md"),
        covers=[v0_5.FileDescr(source=folder / "cover.png")],
        tags=[*TAGS, card["method"]],
        inputs=[v0_5.InputTensorDescr(
            id=v0_5.TensorId("input"), axes=[v0_5.BatchAxis(), channel, *space_in],
            description=f"bicubic-upsampled LR image ({scales}), channels {', '.join(network_input.channel_names)}",
            test_tensor=v0_5.FileDescr(source=folder / "test_input.npy"),
            data=v0_5.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        )],
        outputs=[v0_5.OutputTensorDescr(
            id=v0_5.TensorId("output"), axes=[v0_5.BatchAxis(), channel, *space_out],
            description=f"{network_input.output}, at the input's size",
            test_tensor=v0_5.FileDescr(source=folder / "test_output.npy"),
            data=v0_5.IntervalOrRatioDataDescr(type="float32"),
        )],
        weights=v0_5.WeightsDescr(
            pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
                source=folder / "state_dict.pt", pytorch_version=v0_5.Version(torch.__version__),
                architecture=v0_5.ArchitectureFromLibraryDescr(
                    callable=v0_5.Identifier("packaged_network"), import_from=__name__,
                    kwargs={"architecture": card["architecture"], "arch_kwargs": dict(card.get("arch_kwargs", {}))},
                ),
            ),
            torchscript=v0_5.TorchscriptWeightsDescr(
                source=folder / "model.pt", pytorch_version=v0_5.Version(torch.__version__), parent="pytorch_state_dict",
            ),
        ),
        config=v0_5.Config(
            bioimageio=v0_5.BioimageioConfig(model_parameter_count=card.get("parameters")),
            microsr={
                "entry": name, "method": card["method"], "architecture": card["architecture"],
                "arch_kwargs": card.get("arch_kwargs", {}), "scales": card["scales"], "lr_kind": card["lr_kind"],
                "weights_sha256": card["sha256"], "test_tensor_scale": scale, "preprocessing": network_input.description,
                "metrics": card.get("metrics", {}),
            },
        ),
    )


def headline_metric(card: dict[str, Any]) -> str:
    """One held-out figure of the card's method against bicubic (its first table that has both)."""
    for title, table in card.get("metrics", {}).items():
        if card["method"] in table and "bicubic" in table:
            return f"Held-out {title}: Y-PSNR {table[card['method']]['psnr_y']:.2f} dB (bicubic {table['bicubic']['psnr_y']:.2f} dB)."
    return "No held-out figures against bicubic on the card."


def documentation(name: str, card: dict[str, Any], network_input: NetworkInput, scale: int, size_step: int) -> str:
    """The rendered model card, with what the package's tensors are and how it was validated."""
    return render_card(name, card) + (
        f"\n## bioimage.io package\n\n"
        f"- Input `input` (batch, channel, y, x), float32: {network_input.description}.\n"
        f"- Output `output`: {network_input.output}; same axes and size. Sides: multiples of {size_step} pixels.\n"
        f"- Weights: TorchScript traced from MicroSR's PyTorch network (`{card['architecture']}`).\n"
        f"\n## Validation\n\n"
        f"The test tensors are a {TEST_LR_SIDE}x{TEST_LR_SIDE} crop of MicroSR's default sample "
        f"({get_sample(DEFAULT).source}) upsampled x{scale}, and the PyTorch network's output for it; "
        f"`bioimageio.core.test_model` reproduced them from the TorchScript, and ran it at three sizes "
        f"with batches of 1 and 2, before the package was written.\n"
    )


def first_error(summary) -> str:
    """The first failed check of a ``ValidationSummary`` and the first line of its first error."""
    for detail in summary.details:
        if detail.status == "failed":
            message = detail.errors[0].msg.strip() if detail.errors else ""
            return f"{detail.name}: {message.splitlines()[0] if message else 'failed'}"
    return f"status {summary.status}"
