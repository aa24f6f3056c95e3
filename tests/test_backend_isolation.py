"""Guard test: which flowkit modules may import what, checked on the source with ``ast``.

- Only ``flowkit/_engine/backend.py`` imports asyncio or trio; everything else uses anyio.
- The leaf modules (errors, events, retry_policy and its private _retry package) import no
  other part of flowkit, and the package's ``__init__`` and ``testing`` reach the engine
  only through the public modules.
- ``_engine`` never imports the face modules (workflow, handler, decorators, context) at
  runtime; imports under ``if TYPE_CHECKING:`` are allowed.
- ``_engine`` imports nothing inside a function, but in ``backend.py``: it imports the
  event loop a call runs on (trio is optional).
- The module map in ``flowkit/_engine/__init__.py`` names every engine module.

Imports by string (``importlib.import_module("trio")``) are out of scope.
"""

import ast
from pathlib import Path

import attrs
import pytest

import flowkit
import flowkit._engine

FLOWKIT_ROOT = Path(flowkit.__file__).parent
BACKENDS = frozenset({"asyncio", "trio"})
BACKEND_MODULE = "flowkit._engine.backend"
LEAVES = frozenset(
    {
        "flowkit.errors",
        "flowkit.events",
        "flowkit.retry_policy",
        "flowkit._retry",
        "flowkit._pydantic",
        "flowkit._plain",
        "flowkit._model_methods",
        "flowkit._declarations",
        "flowkit._event_init",
        "flowkit._config_file",
        "flowkit.resource",
    }
)
FACES = ("flowkit.workflow", "flowkit.handler", "flowkit.decorators", "flowkit.context")


@attrs.frozen
class ImportedModule:
    """One module an import statement binds, and whether it is only for type checkers."""

    target: str
    line: int
    type_checking_only: bool
    in_function: bool = False


def module_name(path: Path) -> str:
    parts = path.relative_to(FLOWKIT_ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(FLOWKIT_ROOT.rglob("*.py"))}


def is_type_checking_test(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute modules a ``from ... import ...`` statement may bind."""
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # `from pkg import name` binds pkg.name when name is a submodule.
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def imports_in(module: str, source: str, is_package: bool = False) -> list[ImportedModule]:
    """Every import anywhere in the module's source, function-local ones included."""
    found: list[ImportedModule] = []

    def visit(node: ast.AST, type_checking: bool, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(
                ImportedModule(a.name, node.lineno, type_checking, in_function) for a in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            found.extend(
                ImportedModule(target, node.lineno, type_checking, in_function)
                for target in resolve_from(module, is_package, node)
            )
        elif isinstance(node, ast.If) and is_type_checking_test(node.test):
            for guarded in node.body:
                visit(guarded, True, in_function)
            for unguarded in node.orelse:
                visit(unguarded, type_checking, in_function)
            return
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking, inside)

    visit(ast.parse(source), False, False)
    return found


def imports_of(module: str) -> list[ImportedModule]:
    path = MODULES[module]
    return imports_in(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")


def is_within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def test_the_walk_finds_the_engine_and_the_public_modules() -> None:
    assert {BACKEND_MODULE, "flowkit._engine.run", "flowkit.workflow", "flowkit"} <= set(MODULES)


def test_backend_module_is_the_one_that_imports_the_event_loops() -> None:
    """A sanity check of the walk itself: backend.py's imports are seen."""
    targets = {i.target.split(".")[0] for i in imports_of(BACKEND_MODULE)}
    assert targets >= BACKENDS


@pytest.mark.parametrize("module", sorted(set(MODULES) - {BACKEND_MODULE}))
def test_only_backend_module_imports_asyncio_or_trio(module: str) -> None:
    offending = [
        f"line {i.line}: {i.target}"
        for i in imports_of(module)
        if i.target.split(".")[0] in BACKENDS
    ]
    assert not offending, f"{module} imports an event loop directly: {offending}"


@pytest.mark.parametrize("module", sorted(LEAVES))
def test_leaf_modules_import_only_other_leaves(module: str) -> None:
    offending = [
        f"line {i.line}: {i.target}"
        for i in imports_of(module)
        if not i.type_checking_only
        and is_within(i.target, "flowkit")
        and not any(is_within(i.target, leaf) for leaf in LEAVES)
    ]
    assert not offending, f"{module} is a leaf but imports {offending}"


@pytest.mark.parametrize("module", ["flowkit", "flowkit.testing", "flowkit.testing.runner"])
def test_outermost_modules_do_not_reach_into_the_engine(module: str) -> None:
    offending = [
        f"line {i.line}: {i.target}"
        for i in imports_of(module)
        if is_within(i.target, "flowkit._engine")
    ]
    assert not offending, f"{module} imports the engine directly: {offending}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if is_within(m, "flowkit._engine")))
def test_engine_never_imports_face_modules_at_runtime(module: str) -> None:
    offending = [
        f"line {i.line}: {i.target}"
        for i in imports_of(module)
        if not i.type_checking_only and any(is_within(i.target, face) for face in FACES)
    ]
    assert not offending, f"{module} imports face modules at runtime: {offending}"


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if is_within(m, "flowkit._engine") and m != BACKEND_MODULE)
)
def test_the_engine_imports_nothing_inside_a_function(module: str) -> None:
    offending = [f"line {i.line}: {i.target}" for i in imports_of(module) if i.in_function]
    assert not offending, f"{module} imports inside a function: {offending}"


def test_backend_module_imports_the_event_loops_inside_its_functions() -> None:
    """A sanity check of the walk itself: backend.py's local imports are seen as local."""
    local = {i.target for i in imports_of(BACKEND_MODULE) if i.in_function}
    assert local >= BACKENDS


def test_type_checking_imports_are_recognised() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "if TYPE_CHECKING:\n"
        "    from ..workflow import Workflow\n"
        "if typing.TYPE_CHECKING:\n"
        "    import trio\n"
        "else:\n"
        "    import asyncio\n"
        "def f() -> None:\n"
        "    from ..handler import WorkflowHandler\n"
    )
    found = imports_in("flowkit._engine.example", source)
    assert {(i.target, i.type_checking_only, i.in_function) for i in found} >= {
        ("flowkit.workflow", True, False),
        ("trio", True, False),
        ("asyncio", False, False),
        ("flowkit.handler", False, True),
    }


def test_relative_imports_resolve_from_packages_and_modules() -> None:
    in_module = imports_in("flowkit.context.context", "from ..events import Event\n")
    in_package = imports_in("flowkit.context", "from .context import Context\n", is_package=True)
    assert in_module[0].target == "flowkit.events"
    assert in_package[0].target == "flowkit.context.context"


def import_graph() -> dict[str, set[str]]:
    """Which flowkit modules each flowkit module imports, ``TYPE_CHECKING`` and local imports too.

    ``from .. import errors`` names the parent package as well as ``errors``; a module's
    own ancestor packages are left out, since importing a module always imports them.
    """
    return {
        module: {
            i.target
            for i in imports_of(module)
            if i.target in MODULES and i.target != module and not is_within(module, i.target)
        }
        for module in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            found = visit(module)
            if found is not None:
                return found
    return None


def test_no_import_cycle_among_flowkit_modules_not_even_under_type_checking() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_check_sees_cycles_through_type_checking_imports() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
    edges = {i.target for i in imports_in("flowkit._engine.a", source)}
    assert "flowkit._engine.b" in edges
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_engine_module_map_names_every_engine_module() -> None:
    """``flowkit/_engine/__init__.py`` says what each engine module holds: none is left out."""
    doc = flowkit._engine.__doc__ or ""
    engine = sorted(m for m in MODULES if m.startswith("flowkit._engine."))
    missing = [m for m in engine if f"``{m.rsplit('.', 1)[1]}.py``" not in doc]
    assert engine, "the walk found no engine module"
    assert not missing, f"the module map in flowkit/_engine/__init__.py leaves out {missing}"
