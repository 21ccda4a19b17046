"""The import graph: stages use library modules (and stages.common), never another stage; the
library never imports a stage."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _stage_imports(path: Path) -> set[str]:
    """Dotted names under worldmodels.stages that `path` imports ("from A import b" gives A.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "worldmodels.stages" or n.startswith("worldmodels.stages.")}


def test_stages_import_only_the_library_and_common():
    for path in sorted((ROOT / "worldmodels" / "stages").glob("*.py")):
        others = {n for n in _stage_imports(path) if not n.startswith("worldmodels.stages.common")}
        assert not others, f"{path.name} imports {sorted(others)}"


def test_the_library_imports_no_stage():
    for path in sorted((ROOT / "worldmodels").rglob("*.py")):
        if "stages" not in path.relative_to(ROOT / "worldmodels").parts:
            assert not _stage_imports(path), f"{path.relative_to(ROOT)} imports a stage"
