"""What a comparison works on: the inputs (the LR image, how it was made, the optional HR
reference), the settings of a run (scale, LR kind, methods and the weights that serve them,
device, tiling), and the key of one result under them.

Plain values, built by the app's widgets (:mod:`microsr_core.ui.inputs`, :mod:`microsr_core.ui.running`)
and read by :mod:`.outcome` and the app's views.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.capture_maps import CaptureAssumption
from ..imaging.degrade import Degradation
from ..imaging.roi import Roi
from ..models.serving import ServedWeights
from ..samples import Sample


@dataclass(frozen=True)
class SlidePlace:
    """Where on a whole slide an LR image was read: the slide's ``name`` (a path under the data
    root's slides folder, or an upload's ``upload:<file>``, :mod:`microsr_core.scale_out.slides`)
    and the ``region`` in level-0 px."""

    name: str
    region: Roi


@dataclass
class Inputs:
    """What the comparison works on.

    ``key`` identifies the LR pixels (content hash plus how they were made) for the result
    cache; ``reference`` is the HR reference (``None`` without one); ``degradation`` is how
    the LR was made (teaching mode) or assumed to be made (for the LR-consistency check);
    ``lr_kind`` is the kind of LR image (:data:`~microsr_core.models.serving.LR_KINDS`), which picks
    the weights.
    """

    lr: np.ndarray
    name: str
    bit_depth: int
    key: str
    degradation: Degradation
    origin: str
    lr_kind: str
    reference: np.ndarray | None = None
    reference_name: str = ""
    reference_key: str = ""
    notes: list[str] = field(default_factory=list)
    sample: Sample | None = None  # the gallery sample the image comes from (None: an upload)
    source_key: str = ""  # the image the LR comes from (the same with teaching mode on or off, at any scale)
    teaching: bool = False  # the LR was made here from the image (which is then the HR truth)
    jpeg_quality: int | None = None  # an uploaded JPEG's quality (its file, not its pixels, tells it; the LR facts use it)
    slide_um_per_px: float | None = None  # a slide region's pixel size from the slide's metadata
    slide: SlidePlace | None = None  # the slide region the LR was read from (None: not from a slide)

    def pixel_size(self) -> tuple[float | None, str]:
        """The LR pixel size in µm where the sample's or the slide's metadata gives it, and where it comes from."""
        factor = self.degradation.scale if self.teaching else 1
        made = f", x{factor} for the LR made from it" if factor > 1 else ""
        if self.slide_um_per_px is not None:
            return self.slide_um_per_px * factor, "from the slide's metadata" + made
        if self.sample is None:
            return None, "unknown for an upload: enter your microscope's (camera pixel / total magnification)"
        if self.sample.um_per_px is None:
            return None, f"{self.sample.um_per_px_note}: enter it if you know it"
        return self.sample.um_per_px * factor, self.sample.um_per_px_note + made


@dataclass
class Settings:
    """How the methods run: what the Compare page's controls chose, with the weights each method's
    result will come from."""

    scale: int
    lr_kind: str  # the kind of LR image (serving.LR_KINDS): picks the weights
    methods: list[str]
    titles: dict[str, str]
    served: dict[str, ServedWeights]  # method -> the weights that will compute it; its sha256 is in the result key
    fingerprints: dict[str, tuple]  # method -> the shas of all its weights for the kind: the model-cache key
    colours: dict[str, str]  # method -> its colour in every panel, chart and legend
    device: str | None  # resolved ("cpu", "cuda"); None when the choice is not available
    device_choice: str
    tile: int | None
    region_first: bool
    #: The noise and blur that weights reading capture maps assume (auto: estimated from the image).
    capture: CaptureAssumption = CaptureAssumption()

    def capture_of(self, method: str) -> CaptureAssumption | None:
        """:attr:`capture` where ``method``'s weights read capture maps, else None (they assume nothing)."""
        return self.capture if self.served[method].reads_capture_maps else None


def result_key(inputs: Inputs, settings: Settings, method: str) -> tuple:
    """The key of ``method``'s result on ``inputs`` under ``settings`` (the serving weights' sha256
    in it, so republished weights never reuse an old result; the capture assumption of weights that read it)."""
    served = settings.served[method]
    return (inputs.key, method, served.sha256, served.lr_kind, settings.scale, settings.device, settings.tile, settings.capture_of(method))
