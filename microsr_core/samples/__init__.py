"""The built-in sample gallery: micrographs people bring to MicroSR, each with its source,
licence and (where known) pixel size.

The blood-smear field is the default. The image files live beside this module (under 1 MB in
all); the immunohistochemistry section comes with scikit-image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..imaging.io import load_image, sample_image

FOLDER = Path(__file__).resolve().parent

#: A red blood cell is about 7.5 µm across (the usual textbook figure for a normocyte).
RED_CELL_UM = 7.5


@dataclass(frozen=True)
class Sample:
    """One gallery entry. ``um_per_px`` is ``None`` where the source does not give a pixel size.

    ``file`` is relative to this folder; ``None`` means scikit-image's immunohistochemistry image.
    """

    key: str
    title: str
    description: str
    source: str
    licence: str
    file: str | None
    um_per_px: float | None = None
    um_per_px_note: str = "pixel size not published by the source"

    def load(self) -> np.ndarray:
        """The pixels in the image contract (float32 (H, W, 3) RGB in [0, 1])."""
        return sample_image() if self.file is None else load_image(FOLDER / self.file).pixels


SAMPLES: dict[str, Sample] = {sample.key: sample for sample in (
    Sample(
        "blood_smear", "Blood smear (BCCD)",
        "Peripheral blood smear field, 640x480 JPEG: red cells and a segmented neutrophil.",
        "BCCD dataset, BloodImage_00000.jpg (github.com/Shenggan/BCCD_Dataset)", "MIT (c) 2017 shenggan",
        "bccd_BloodImage_00000.jpg", round(RED_CELL_UM / 103.5, 4),
        f"estimated: the median red-cell box in the BCCD annotations is 103.5 px across, a red cell about {RED_CELL_UM} µm",
    ),
    Sample(
        "leukocyte", "Leukocyte close-up (Zheng et al. 2018)",
        "A lymphocyte among red cells, 300x300 (CellaVision image, stored as lossless PNG).",
        "Zheng et al. 2018, leukocyte segmentation dataset 2, image 001 (github.com/zxaoyou/segmentation_WBC)", "GPL-3.0",
        "wbc_dataset2_001.png",
    ),
    Sample(
        "ihc", "Immunohistochemistry section (scikit-image)",
        "Colonic glands, FHL2 protein revealed with DAB, hematoxylin counterstain, 512x512.",
        "scikit-image data.immunohistochemistry (Center for Microscopy And Molecular Imaging)", "no known copyright restrictions",
        None,
    ),
)}

#: The sample the app opens with.
DEFAULT = "blood_smear"


def get_sample(key: str) -> Sample:
    """The gallery entry ``key``; raises ParameterError naming the choices for an unknown key."""
    if key not in SAMPLES:
        raise ParameterError(f"unknown sample '{key}' (choose from {', '.join(SAMPLES)})")
    return SAMPLES[key]
