"""No function of the package is over 80 lines (the team's rule: one screen, one job)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microsr_core"
MAX_LINES = 80


def test_no_package_function_is_over_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_LINES:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []
