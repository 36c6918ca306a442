"""bioimage.io export: a shipped model's package passes bioimageio.core's test_model offline, and
a package that fails it is refused without leaving a file."""

import io
import socket
import zipfile

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

from ruyaml import YAML  # noqa: E402  (bioimageio.spec's YAML library; PyYAML is not a requirement)

from microsr_core.models import bioimageio_export  # noqa: E402
from microsr_core.models.archs.prior import PriorLRVDSR  # noqa: E402
from microsr_core.models.archs.vdsr import VDSR  # noqa: E402
from microsr_core.cli import main  # noqa: E402
from microsr_core.models.runtime import input_channels  # noqa: E402
from microsr_core.models.weights import read_manifest  # noqa: E402

NAME = "vdsr_x4"  # the cheapest shipped network: 20 plain convolutions on a 128x128 test input


@pytest.fixture(scope="module")
def network_attempts():
    """Every DNS lookup or connection tried while the module's exports run (each one refused)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("no network in this test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", refuse)
        patch.setattr(socket.socket, "connect", refuse)
        yield attempts


@pytest.fixture(scope="module")
def package(tmp_path_factory, network_attempts):
    out = tmp_path_factory.mktemp("bioimageio") / f"{NAME}.zip"
    assert main(["export-bioimageio", NAME, str(out)]) == 0
    return out


def test_the_package_describes_axes_paper_licence_and_metrics(package, network_attempts):
    with zipfile.ZipFile(package) as archive:
        files = set(archive.namelist())
        rdf = YAML(typ="safe").load(archive.read("rdf.yaml"))
        test_input = np.load(io.BytesIO(archive.read(rdf["inputs"][0]["test_tensor"]["source"])))
        test_output = np.load(io.BytesIO(archive.read(rdf["outputs"][0]["test_tensor"]["source"])))
    for tensor in (*rdf["inputs"], *rdf["outputs"]):
        assert [axis.get("id", axis["type"]) for axis in tensor["axes"]] == ["batch", "channel", "y", "x"]
        assert tensor["axes"][1]["channel_names"] == ["y"]
    assert test_input.shape == test_output.shape == (1, 1, 128, 128)  # a 32x32 crop upsampled x4
    assert 16 / 255 <= test_input.min() and test_input.max() <= 235 / 255  # Y in MATLAB's scaling
    assert rdf["cite"] == [{"text": "Microscopic image super resolution using deep convolutional neural networks (Ayas & Ekinci 2019)",
                            "doi": "10.1007/s11042-019-7397-7"}]
    assert rdf["license"] == "GPL-3.0-only"  # vdsr_x4 learned from the wbc_seg images (GPL-3.0) too
    assert bioimageio_export.license_of({"training": {"data": "../shared/data/bccd/images (236 images)"}}) == "MIT"
    assert "bicubic-upsampled" in rdf["description"] and "Y-PSNR 47.32 dB (bicubic 46.46 dB)" in rdf["description"]
    assert rdf["config"]["microsr"]["metrics"] == read_manifest()[NAME]["metrics"]
    assert {rdf["weights"]["torchscript"]["source"], rdf["documentation"]["source"], *(c["source"] for c in rdf["covers"])} <= files
    state_dict = rdf["weights"]["pytorch_state_dict"]
    assert state_dict["source"] in files and state_dict["architecture"]["import_from"] == "microsr_core.models.bioimageio_export"
    assert state_dict["architecture"]["kwargs"] == {"architecture": "VDSR", "arch_kwargs": read_manifest()[NAME]["arch_kwargs"]}
    assert network_attempts == []


def test_the_state_dict_entry_rebuilds_the_network_that_was_traced(package):
    import torch

    with zipfile.ZipFile(package) as archive:
        rdf = YAML(typ="safe").load(archive.read("rdf.yaml"))
        entry = rdf["weights"]["pytorch_state_dict"]
        state = torch.load(io.BytesIO(archive.read(entry["source"])), weights_only=True)
        test_input = np.load(io.BytesIO(archive.read(rdf["inputs"][0]["test_tensor"]["source"])))
        test_output = np.load(io.BytesIO(archive.read(rdf["outputs"][0]["test_tensor"]["source"])))
    net = getattr(bioimageio_export, entry["architecture"]["callable"])(**entry["architecture"]["kwargs"]).eval()
    net.load_state_dict(state)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.from_numpy(test_input)).numpy(), test_output, atol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_bioimageio_core_passes_the_written_package(package, network_attempts):
    from bioimageio.core import test_model

    summary = test_model(package)
    assert summary.status == "passed", bioimageio_export.first_error(summary)
    assert network_attempts == []


def test_a_package_failing_test_model_is_refused_and_leaves_no_file(tmp_path, monkeypatch, capsys, network_attempts):
    made = bioimageio_export.make_test_tensors

    def wrong_output(*args):
        test_input, test_output = made(*args)
        return test_input, test_output + 0.05

    monkeypatch.setattr(bioimageio_export, "make_test_tensors", wrong_output)
    assert main(["export-bioimageio", NAME, str(tmp_path / "out.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the bioimage.io package of '{NAME}' fails bioimageio.core.test_model: Reproduce test outputs")
    assert "elements disagree with expected values" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, out, message", [
    ("no_such_model", "out.zip", "no weights named 'no_such_model'"),
    (NAME, "missing/out.zip", "cannot write"),
    (NAME, "out.tar", "written as a .zip file"),
])
def test_a_bad_name_or_path_is_one_line_and_leaves_no_file(tmp_path, capsys, name, out, message):
    assert main(["export-bioimageio", name, str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_input_sides_are_multiples_of_what_the_network_needs_unpadded():
    assert bioimageio_export.PackagedNetwork(VDSR(depth=3)).size_step == 16
    # At LR resolution the U-Net's four poolings need 16 LR pixels, 64 HR pixels at x4.
    assert bioimageio_export.PackagedNetwork(PriorLRVDSR(scale=4, depth=3)).size_step == 64
    assert bioimageio_export.PackagedNetwork(PriorLRVDSR(scale=4, prior=False, depth=3)).size_step == 16
    # It reads one Y plane (its first convolution sees the 16 phases cut from it): the package's input is Y.
    assert input_channels(bioimageio_export.PackagedNetwork(PriorLRVDSR(scale=4, depth=3))) == 1


def test_weights_that_read_capture_maps_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from tests.helpers import publish_random

    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "weights"))
    publish_random(tmp_path / "weights", "vdsr_maps", "vdsr", "VDSR", (2,), depth=3, channels=4, conditions=2)
    assert main(["export-bioimageio", "vdsr_maps", str(tmp_path / "out.zip")]) == 2
    err = capsys.readouterr().err
    assert err == "error: 'vdsr_maps' reads capture maps besides the image; a bioimage.io package of it would take the image alone\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["weights"]
