"""The package's import graph has no cycle, and each wing keeps its rule, counting every import
statement (deferred ones too)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "microsr_core"


def _imports(package_dir: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: every name it imports, absolute}: ``torch.nn``, ``microsr_core.imaging.io.load_image``;
    modules named like ``microsr_core.train.loop``."""
    imports = {}
    for path in package_dir.rglob("*.py"):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        package = module if is_package else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                targets |= {f"{source}.{alias.name}" for alias in node.names}
        imports[module] = targets
    return imports


def _import_graph() -> dict[str, set[str]]:
    """{module: the package modules it imports}."""
    imports = _imports()

    def known(name: str) -> str | None:  # the module itself, or the package that defines the name
        while name and name not in imports:
            name = name.rpartition(".")[0]
        return name or None

    return {module: {found for found in map(known, targets) if found and found != module} for module, targets in imports.items()}


def test_no_module_imports_itself_through_others():
    graph = _import_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module not in done:
            for target in sorted(graph[module]):
                visit(target, path + [module])
            done.add(module)

    for module in sorted(graph):
        visit(module, [])


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


#: (the rule, the modules it binds, what they may not import, what they may import all the same).
WING_RULES = [
    ("imaging imports neither torch nor streamlit nor another wing", lambda module: _under(module, "microsr_core.imaging"),
     ("torch", "torchvision", "streamlit", "microsr_core"), ("microsr_core.imaging", "microsr_core.errors")),
    ("only ui/ (and pages/, app.py) imports streamlit", lambda module: not _under(module, "microsr_core.ui"), ("streamlit",), ()),
    ("comparison does not import train", lambda module: _under(module, "microsr_core.comparison"), ("microsr_core.train",), ()),
    ("train does not import comparison", lambda module: _under(module, "microsr_core.train"), ("microsr_core.comparison",), ()),
    ("models imports none of comparison, train, jobs, ui", lambda module: _under(module, "microsr_core.models"),
     ("microsr_core.comparison", "microsr_core.train", "microsr_core.jobs", "microsr_core.ui"), ()),
    ("scale_out imports none of train, jobs, ui", lambda module: _under(module, "microsr_core.scale_out"),
     ("microsr_core.train", "microsr_core.jobs", "microsr_core.ui"), ()),
]


def rule_breaks(imports: dict[str, set[str]]) -> list[str]:
    """One line per import that breaks a wing rule."""
    return [f"{rule}: {module} imports {name}"
            for rule, binds, forbidden, allowed in WING_RULES
            for module, names in sorted(imports.items()) if binds(module)
            for name in sorted(names)
            if any(_under(name, prefix) for prefix in forbidden) and not any(_under(name, prefix) for prefix in allowed)]


def test_every_wing_keeps_its_rule():
    assert rule_breaks(_imports()) == []


#: Imports a rule forbids: (the rule's index in WING_RULES, the module, its source text).
VIOLATIONS = {
    "imaging, torch (deferred)": (0, "imaging/io.py", "def load():\n    import torch.nn\n"),
    "imaging, streamlit": (0, "imaging/roi.py", "import streamlit as st\n"),
    "imaging, another wing": (0, "imaging/color.py", "from ..models.weights import weights_dir\n"),
    "streamlit outside ui": (1, "comparison/display.py", "from streamlit import cache_data\n"),
    "comparison, train (deferred)": (2, "comparison/evaluate.py", "def run():\n    from ..train import TRAINERS\n"),
    "train, comparison": (3, "train/loop.py", "from ..comparison.compare import BASELINE\n"),
    "models, comparison": (4, "models/imports.py", "from ..comparison.evaluate import measure_bf16\n"),
    "models, jobs": (4, "models/methods/base.py", "from ...jobs import JobStore\n"),
    "scale_out, jobs (deferred)": (5, "scale_out/batch.py", "def run():\n    from ..jobs.datasets import unpack_zip\n"),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_a_rule_fails_on_a_violating_import(tmp_path, case):
    """The rule, applied to what the same walk finds in a package laid out like microsr_core, names
    the one violating module; the imports the rules allow (errors, own wing, streamlit in ui) pass."""
    index, relative, source = VIOLATIONS[case]
    allowed = {"errors.py": "", "imaging/metrics.py": "from ..errors import ParameterError\nfrom .color import rgb_to_y\n",
               "ui/views.py": "import streamlit as st\nfrom ..comparison.compare import BASELINE\n"}
    package = tmp_path / "microsr_core"
    for name, text in {**allowed, relative: source}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    module = "microsr_core." + relative.removesuffix(".py").replace("/", ".")
    breaks = rule_breaks(_imports(package))
    assert any(line.startswith(WING_RULES[index][0] + ": ") for line in breaks), breaks
    assert breaks and all(f": {module} imports " in line for line in breaks), breaks


#: What the process of ``upscale-large``/``upscale-batch`` imports before its workers run anything.
CLIENT_SIDE = """
import sys
from microsr_core.cli import build_parser
for command in ("upscale-large", "upscale-batch"):
    build_parser(command).parse_args([command, "in", "--method" if command == "upscale-large" else "--methods", "vdsr",
                                      "--scale", "2", "--out", "o"])
import microsr_core.scale_out.batch, microsr_core.scale_out.cluster, microsr_core.scale_out.large, microsr_core.scale_out.sources
print(sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "torchvision") or name.startswith("microsr_core.comparison")))
"""


def test_the_scale_out_client_side_imports_neither_torch_nor_comparison():
    """The command's own process is a Dask client: torch (0.3 GiB) is for its workers only (the
    whole command on a real cluster: tests/scale_out/test_large.py)."""
    done = subprocess.run([sys.executable, "-c", CLIENT_SIDE], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
