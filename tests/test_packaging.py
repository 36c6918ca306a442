"""pyproject.toml: ``pip install .`` ships every package and the files they read, ``microsr`` is
``python -m microsr_core``, and an installed copy finds the shipped weights without a checkout.

The install itself (a fresh virtual environment, ``pip install .``, ``microsr upscale``) takes
longer than a unit test should; README's "Install as a package" has the steps."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from microsr_core.models import manifest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PROJECT["tool"]["setuptools"]


def test_every_package_and_its_data_files_are_installed():
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "microsr_core").rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == found | {"microsr_weights"}
    assert SETUPTOOLS["package-dir"] == {"microsr_weights": "weights"}
    for package, folder in (("microsr_weights", ROOT / "weights"), ("microsr_core.samples", ROOT / "microsr_core" / "samples"),
                            ("microsr_core.comparison", ROOT / "microsr_core" / "comparison")):  # assess_calibration.json
        data = [path.name for path in folder.iterdir() if path.is_file() and path.suffix not in (".py", ".pyc")]
        assert data and all(any(fnmatch(name, pattern) for pattern in SETUPTOOLS["package-data"][package]) for name in data)


def test_the_command_is_python_m_microsr_core():
    assert PROJECT["project"]["scripts"] == {"microsr": "microsr_core.cli:main"}
    assert "from .cli import main" in (ROOT / "microsr_core" / "__main__.py").read_text()


def test_the_version_pins_live_only_in_pyproject():
    """requirements*.txt install the project with its extras; no pin is written twice."""
    for name in ("requirements.txt", "requirements-test.txt"):
        lines = [line.strip() for line in (ROOT / name).read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert lines and all(line.startswith("-e .[") for line in lines), name
    pinned = PROJECT["project"]["dependencies"] + sum(PROJECT["project"]["optional-dependencies"].values(), [])
    assert all("==" in pin for pin in pinned)


def test_weights_are_read_from_the_checkout_else_from_the_installed_data_package(tmp_path, monkeypatch):
    monkeypatch.delenv("MICROSR_WEIGHTS", raising=False)
    monkeypatch.setattr(manifest, "PROJECT_ROOT", tmp_path)  # site-packages of an installed copy: no weights/
    assert manifest.weights_dir() == tmp_path / "microsr_weights"
    (tmp_path / "weights").mkdir()  # a checkout
    assert manifest.weights_dir() == tmp_path / "weights"
    monkeypatch.setenv("MICROSR_WEIGHTS", str(tmp_path / "mine"))
    assert manifest.weights_dir() == tmp_path / "mine"
