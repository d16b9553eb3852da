"""The layout keeps its promises: heavy libraries only in backends/, the UI only under cli/ and bench/,
no import cycle, a short top level, and no development tool imported by anything the product runs.

These read the source, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("appliance", "ingestion", "ui")
HEAVY = (
    "torch",
    "chromadb",
    "presidio_analyzer",
    "spacy",
    "sentence_transformers",
    "llama_cpp",
    "gradio",
    "peft",
    "shap",
    "transformers",
    "sklearn",
    "lightgbm",
    "matplotlib",
)
# Where each may be imported: the backends hold the models; the web UI is Gradio.
HEAVY_ALLOWED = {"gradio": ("ui/",)}
UI_IMPORTERS = ("appliance/cli/", "appliance/bench/")
TOP_LEVEL_LIMIT = 12


def product_files() -> Iterator[Path]:
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            if "demo/corpus" not in path.as_posix():  # the corpus builder is a maintainer's script
                yield path


def imports(path: Path, *, top_level_only: bool = False) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file; top_level_only skips those inside
    functions and under `if TYPE_CHECKING:`, which do not run when the module is imported."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = _module_level(tree.body) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:  # `from appliance.audit import events` imports a module too
                yield f"{node.module}.{alias.name}", node.lineno


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.If | ast.Try):
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)
        else:
            yield node


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_heavy_libraries_are_imported_only_in_the_backends() -> None:
    found = []
    for path in product_files():
        where = relative(path)
        if where.startswith("appliance/backends/"):
            continue
        for name, line in imports(path):
            root = name.split(".")[0]
            if root in HEAVY and not where.startswith(HEAVY_ALLOWED.get(root, ("-",))):
                found.append(f"{where}:{line} imports {name}")
    assert found == []


def test_only_the_command_line_and_the_benchmarks_import_the_web_ui() -> None:
    found = [
        f"{relative(path)}:{line} imports {name}"
        for path in product_files()
        if relative(path).startswith("appliance/") and not relative(path).startswith(UI_IMPORTERS)
        for name, line in imports(path)
        if name.split(".")[0] == "ui"
    ]
    assert found == []


def test_the_module_import_graph_has_no_cycle() -> None:
    modules = {module_name(path): path for path in product_files()}
    graph = {
        name: sorted({m for m, _ in imports(path, top_level_only=True) if m in modules and m != name})
        for name, path in modules.items()
    }
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in graph[node]:
            if state.get(successor) == 1:
                return [*path[path.index(successor) :], successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_check_bites() -> None:
    assert _find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_the_top_level_of_the_core_stays_short() -> None:
    modules = sorted(p.name for p in (REPO / "appliance").glob("*.py"))
    assert len(modules) <= TOP_LEVEL_LIMIT, modules


def test_importing_every_core_module_imports_no_heavy_library() -> None:
    """The static check above, confirmed at run time: import each module and look at what got loaded."""
    names = [
        module_name(p)
        for p in product_files()
        if not relative(p).startswith(("appliance/backends/", "ui/")) and p.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def _locked_names(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line):
            names.add(re.sub(r"[-_.]+", "_", match.group(1)).lower())
    return names


def test_no_product_module_imports_a_development_only_package() -> None:
    """The air-gapped bundle carries only the runtime lock: a product import of pytest would fail there."""
    dev_only = _locked_names(REPO / "requirements" / "dev-lock.txt") - _locked_names(REPO / "requirements" / "lock.txt")
    assert {"pytest", "ruff", "mypy", "playwright"} <= dev_only
    found = [
        f"{relative(path)}:{line} imports {name}"
        for path in product_files()
        for name, line in imports(path)
        if name.split(".")[0].lower() in dev_only
    ]
    assert found == []
