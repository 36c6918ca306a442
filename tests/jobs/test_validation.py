"""Bad requests are refused before anything is stored or started; uploaded ZIPs unpack safely."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from microsr_core import jobs
from microsr_core.errors import ParameterError
from microsr_core.imaging.io import encode_image
from microsr_core.train import TRAINERS, Trainer

from .helpers import TINY, make_dataset


@dataclass
class MaskedConfig:
    """A stand-in for a trainer that needs masks (the mechanism, independent of the prior network)."""

    data: str
    out: str
    masks: str | None = None
    steps: int = 10
    device: str = "cpu"


def _never_run(config, **options):
    raise AssertionError("validation must not run the trainer")


@pytest.fixture
def masked_trainer(monkeypatch):
    monkeypatch.setitem(TRAINERS, "masked", Trainer(MaskedConfig, _never_run, "test", masks_field="masks"))
    return "masked"


def _refused(match: str, *args, **kwargs) -> None:
    with pytest.raises(ParameterError, match=match):
        jobs.submit(*args, start=False, **kwargs)


def test_every_bad_parameter_is_refused_before_anything_is_stored(job_env, masked_trainer, tmp_path):
    data = job_env.data
    (data / "empty").mkdir()
    (data / "one").mkdir()
    make_dataset(tmp_path / "outside", np.zeros((100, 100, 3), np.float32), train=1)
    os.symlink(tmp_path / "outside", data / "link")
    tiny = {**TINY, "steps": 5}

    _refused("unknown method 'srgan'", "srgan", "tiny", tiny)
    _refused("steps must be positive, got -5", "vdsr", "tiny", {**tiny, "steps": -5})
    _refused("steps must be positive, got 0", "vdsr", "tiny", {**tiny, "steps": 0})
    _refused("steps must be positive", "vdsr", "tiny", {**tiny, "steps": "-3"})
    _refused("unknown parameter 'depht'", "vdsr", "tiny", {**tiny, "depht": 3})
    _refused("parameter 'batch': expected int, got 'two'", "vdsr", "tiny", {**tiny, "batch": "two"})
    _refused("parameter 'batch': expected int, got 2.5", "vdsr", "tiny", {**tiny, "batch": 2.5})
    _refused("lr must be positive", "vdsr", "tiny", {**tiny, "lr": -0.1})
    _refused("scales must be integers >= 2", "vdsr", "tiny", {**tiny, "scales": "1"})
    _refused("set by the job itself", "vdsr", "tiny", {**tiny, "out": "/tmp/elsewhere"})
    _refused("set by the job itself", "vdsr", "tiny", {**tiny, "data": "/etc"})
    # Datasets: missing, empty, outside the data root (.., absolute, symbolic link), unsplittable.
    _refused("dataset 'nothing-here'.*is not a folder", "vdsr", "nothing-here", tiny)
    _refused("dataset 'empty'.*holds no images", "vdsr", "empty", tiny)
    _refused("outside the allowed folder", "vdsr", "../outside", tiny)
    _refused("outside the allowed folder", "vdsr", str(tmp_path / "outside"), tiny)
    _refused("outside the allowed folder", "vdsr", "link", tiny)
    _refused("outside the allowed folder", "vdsr", "tiny", {**tiny, "val": "../outside"})
    _refused("outside the allowed folder", "vdsr", "upload:../../data/tiny", tiny)
    _refused("not the root itself", "vdsr", ".", tiny)
    _refused("no dataset given", "vdsr", "", tiny)
    make_dataset(data / "one", np.zeros((100, 100, 3), np.float32), train=0)
    _refused("cannot split 1 images", "vdsr", "one", tiny)
    # Masks: a trainer that declares it needs them gets them, or the job is refused.
    _refused("has no masks folder", masked_trainer, "tiny", {"steps": 5})
    masks = data / "tiny" / "masks"
    masks.mkdir()
    (masks / "crop_000.png").write_bytes((data / "tiny" / "images" / "crop_000.png").read_bytes())
    _refused(r"5 of 6 images have no mask in .*masks \(first: ", masked_trainer, "tiny", {"steps": 5})
    # Processes and devices.
    _refused("nproc must be a positive integer, got 0", "vdsr", "tiny", tiny, nproc=0)
    _refused("nnodes must be a positive integer", "vdsr", "tiny", tiny, nnodes=-1)
    _refused("needs rdzv_endpoint", "vdsr", "tiny", tiny, nnodes=2)
    _refused("log_every must be a positive integer", "vdsr", "tiny", tiny, log_every=0)
    _refused("unknown device 'tpu'", "vdsr", "tiny", tiny, device="tpu")
    if not torch.cuda.is_available():
        _refused("no CUDA GPU is available", "vdsr", "tiny", tiny, device="cuda")

    assert job_env.store.list() == []  # nothing was stored
    assert not (job_env.home / "jobs").exists() or not any((job_env.home / "jobs").iterdir())


def test_a_trainer_that_needs_masks_gets_the_mask_folder(job_env, masked_trainer):
    images = job_env.data / "tiny" / "images"
    masks = job_env.data / "tiny" / "masks"
    masks.mkdir()
    for path in images.iterdir():
        (masks / path.name).write_bytes(path.read_bytes())
    job = jobs.submit(masked_trainer, "tiny", {"steps": "7"}, device="cpu", start=False)
    assert job.status == "queued" and job.total == 7
    assert job.params["masks"] == str(masks) and job.mask_dir == str(masks)
    assert job.params["data"] == str(images) and job.params["out"] == job.out_dir


@pytest.mark.parametrize("method", [name for name, trainer in TRAINERS.items() if trainer.needs_masks])
def test_registered_mask_trainers_refuse_a_dataset_without_masks(job_env, method):
    with pytest.raises(ParameterError, match="no masks folder"):
        jobs.submit(method, "tiny", {"steps": 5}, device="cpu", start=False)


def test_parameters_from_text_are_converted_to_the_config_types(job_env):
    job = jobs.submit(
        "vdsr", "tiny", {**{k: str(v) for k, v in TINY.items() if k != "scales"}, "scales": "2,4", "steps": "9",
                         "lr": "0.05", "augment": "no"},
        device="auto", start=False,
    )
    params = job.params
    assert (params["steps"], params["lr"], params["augment"], params["scales"]) == (9, 0.05, False, [2, 4])
    assert params["device"] == job.device == ("cuda" if torch.cuda.is_available() else "cpu")


# -- uploaded ZIPs ---------------------------------------------------------------------------


def _png(sample, top=0) -> bytes:
    return encode_image(sample[top : top + 64, :64], "png", 8)


def _zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def test_uploaded_zip_unpacks_images_and_masks_and_can_be_trained_on(job_env, sample):
    entries = {f"cells/images/c{i}.png": _png(sample, 50 * i) for i in range(6)}
    entries |= {f"cells/masks/c{i}.png": _png(sample, 50 * i) for i in range(6)}
    entries |= {"cells/readme.txt": b"not an image", "__MACOSX/cells/._c0.png": b"junk", "cells/.hidden.png": b"x"}
    archive = _zip(entries)
    name = jobs.unpack_zip(archive, "My cells.zip")
    assert name.startswith("upload:My-cells-")
    folder = jobs.uploads_dir() / name.removeprefix("upload:")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(
        f"{kind}/c{i}.png" for kind in ("images", "masks") for i in range(6)
    )
    assert jobs.unpack_zip(io.BytesIO(archive), "again.zip").endswith(name.split("-")[-1])  # same bytes, same folder
    dataset = jobs.inspect_dataset(name, needs_masks=True)
    assert dataset.count == 6 and dataset.masks == folder / "masks"
    job = jobs.submit("vdsr", name, {**TINY, "val_fraction": 0.3, "steps": 3}, device="cpu", start=False)
    assert job.dataset == name and job.data_dir == str(folder / "images")


@pytest.mark.parametrize(
    "entries, links, match, limits",
    [
        ({"../evil.png": b"x"}, None, r"outside the archive", {}),
        ({"a/../../evil.png": b"x"}, None, r"outside the archive", {}),
        ({"/etc/evil.png": b"x"}, None, r"absolute", {}),
        ({"C:/evil.png": b"x"}, None, r"absolute", {}),
        ({"a\\..\\evil.png": b"x"}, None, r"non-portable", {}),
        ({"ok.png": b"x"}, {"link.png": "/etc/passwd"}, r"symbolic link", {}),
        ({f"i{i}.png": b"x" for i in range(4)}, None, r"more than 3 images", {"max_files": 3}),
        ({"big.png": b"x" * 5000}, None, r"more than 4.0 KiB of images", {"max_bytes": 4096}),
        ({"notes.txt": b"x"}, None, r"holds no images", {}),
    ],
)
def test_unsafe_or_oversized_zips_are_refused_and_leave_nothing_behind(job_env, entries, links, match, limits):
    with pytest.raises(ParameterError, match=match):
        jobs.unpack_zip(_zip(entries, links), "bad.zip", **limits)
    uploads = jobs.uploads_dir()
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert not (job_env.home.parent / "evil.png").exists()


def test_a_file_that_is_not_a_zip_is_refused(job_env):
    with pytest.raises(ParameterError, match="not a ZIP archive"):
        jobs.unpack_zip(b"PNG? no", "images.zip")


def test_dataset_folders_under_the_data_root_are_listed_without_their_masks(job_env):
    (job_env.data / "empty").mkdir()
    masks = job_env.data / "tiny" / "masks"
    masks.mkdir()
    for image in (job_env.data / "tiny" / "images").iterdir():
        (masks / image.name).write_bytes(image.read_bytes())  # a masks/ folder of images: still masks
    assert jobs.list_dataset_folders() == ["tiny/images"]
    assert jobs.inspect_dataset("tiny").images == jobs.inspect_dataset("tiny/images").images
