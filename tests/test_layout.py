"""The package's layout: every module imports alone, internal imports form no cycle, heavy
libraries load only when used, and every public error is importable from the top level."""

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import synframe as sf

SRC = Path(sf.__file__).parent
MODULES = sorted(
    ".".join(("synframe", *p.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
    for p in SRC.rglob("*.py")
)


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """The synframe modules an import statement names (absolute)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("synframe")]
    if node.level == 0:
        if not (node.module or "").startswith("synframe"):
            return []
        base = node.module
    else:
        parts = module.split(".")
        parts = parts if is_package else parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    out = [base]
    for alias in node.names:  # "from . import x" names submodules
        if f"{base}.{alias.name}" in MODULES:
            out.append(f"{base}.{alias.name}")
    return out


def _graph() -> dict[str, set[str]]:
    """module -> modules it imports (at any level, TYPE_CHECKING blocks excluded), plus the
    packages whose ``__init__`` those imports run (other than the root and the module's own)."""
    graph = {}
    for p in SRC.rglob("*.py"):
        name = ".".join(("synframe", *p.relative_to(SRC).with_suffix("").parts))
        is_package = name.endswith(".__init__")
        name = name.removesuffix(".__init__")
        tree = ast.parse(p.read_text())
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                for target in _resolve(name, node, is_package):
                    parts = target.split(".")
                    for k in range(2, len(parts) + 1):  # the parent packages run first
                        parent = ".".join(parts[:k])
                        if parent in MODULES and not name.startswith(parent + "."):
                            deps.add(parent)
        deps.discard(name)
        graph[name] = deps
    return graph


def test_internal_imports_form_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = [*path[path.index(d) :], d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_low_modules_import_no_verb():
    """Dependencies point down: the engine, schemas and sources never import a stage verb."""
    verbs = {
        f"synframe.{v}"
        for v in ("fetch", "clean", "attach", "annotate", "connectivity", "parameterize", "fit")
    }
    low_roots = {"_draw", "_ids", "_io", "_neurons", "_spatial", "_validation", "distributions",
                 "errors", "pathways", "schemas", "units", "sources"}  # fmt: skip
    low = [m for m in MODULES if m.count(".") and m.split(".")[1] in low_roots]
    graph = _graph()
    for m in low:
        assert not graph[m] & verbs, f"{m} imports a verb: {graph[m] & verbs}"


def _import_alone(module: str) -> tuple[str, int, str]:
    res = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return module, res.returncode, res.stderr[-2000:]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    with ThreadPoolExecutor(max_workers=2) as pool:
        # __main__ runs the command line when imported
        results = list(pool.map(_import_alone, [m for m in MODULES if m != "synframe.__main__"]))
    failed = [(m, err) for m, code, err in results if code != 0]
    assert not failed, failed


def test_import_loads_no_heavy_library():
    code = (
        "import sys, synframe; "
        "heavy = [m for m in ('navis', 'dask', 'caveclient', 'libsonata', 'duckdb', 'h5py', "
        "'scipy', 'pandera', 'matplotlib', 'pandas', 'xarray') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_error_is_importable_from_the_top_level():
    import synframe.errors as errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    for cls in classes:
        assert getattr(sf, cls.__name__) is cls
        assert cls.__name__ in sf.__all__
        assert cls.__doc__
    for name in dir(errors):  # nothing raised on purpose lives outside errors.py
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.SynframeError):
            assert name in errors.__all__
    for m in MODULES:
        tree = ast.parse((SRC / Path(*m.split(".")[1:])).with_suffix(".py").read_text()
                         if (SRC / Path(*m.split(".")[1:])).with_suffix(".py").exists()
                         else (SRC / Path(*m.split(".")[1:]) / "__init__.py").read_text())  # fmt: skip
        for node in ast.walk(tree):
            # private control-flow exceptions (never seen by a user) may live where they are used
            if isinstance(node, ast.ClassDef) and m != "synframe.errors" and node.name[0] != "_":
                bases = {ast.unparse(b) for b in node.bases}
                assert not any("Error" in b or "Exception" in b for b in bases), (
                    f"{m} defines exception {node.name}; move it to errors.py"
                )


def test_top_level_names_resolve():
    for name in sf.__all__:
        assert getattr(sf, name) is not None
    assert callable(sf.fetch) and callable(sf.clean)  # not the submodules of the same name
    import synframe.clean  # noqa: F401  (importing the submodule keeps sf.clean the function)

    assert callable(sf.clean)
