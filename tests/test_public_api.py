"""Guard test: flowkit exports the incumbent's names from the same modules, and nothing stray.

The lists below are llama-index-workflows 2.x's public names (``workflows.*``) that
flowkit implements, hard-coded so that this test never imports the incumbent.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import flowkit
from flowkit import errors

FLOWKIT_ROOT = Path(flowkit.__file__).parent

# incumbent module (without the "workflows" prefix) -> names flowkit implements there
INCUMBENT_NAMES: dict[str, list[str]] = {
    "": ["Context", "Workflow", "catch_error", "step"],
    "events": [
        "Event",
        "EventType",
        "HumanResponseEvent",
        "InputRequiredEvent",
        "InternalDispatchEvent",
        "StartEvent",
        "StepFailedEvent",
        "StepState",
        "StepStateChanged",
        "StopEvent",
        "UnhandledEvent",
        "UnreconstructedException",
        "WorkflowCancelledEvent",
        "WorkflowFailedEvent",
        "WorkflowIdleEvent",
        "WorkflowTimedOutEvent",
    ],
    "errors": [
        "ContextSerdeError",
        "ContextStateError",
        "WorkflowCancelledByUser",
        "WorkflowConfigurationError",
        "WorkflowRuntimeError",
        "WorkflowStepDoesNotExistError",
        "WorkflowTimeoutError",
        "WorkflowValidationError",
    ],
    "decorators": ["StepConfig", "StepFunction", "catch_error", "step"],
    "workflow": ["Workflow"],
    "handler": ["WorkflowHandler"],
    "context": ["BaseSerializer", "Context", "JsonSerializer", "PickleSerializer"],
    "context.serializers": ["BaseSerializer", "JsonSerializer", "PickleSerializer"],
    "context.state_store": ["DictState", "InMemoryStateStore", "MODEL_T"],
    "testing": ["WorkflowTestRunner"],
    "testing.runner": ["WorkflowTestResult", "WorkflowTestRunner"],
    "resource": [
        "Resource",
        "ResourceConfig",
        "ResourceDefinition",
        "ResourceDescriptor",
        "ResourceManager",
    ],
    "retry_policy": [
        "ConstantDelayRetryPolicy",
        "ExponentialBackoffRetryPolicy",
        "RetryCondition",
        "RetryInfo",
        "RetryPolicy",
        "StopCondition",
        "WaitStrategy",
        "retry_all",
        "retry_always",
        "retry_any",
        "retry_if_exception",
        "retry_if_exception_cause_type",
        "retry_if_exception_message",
        "retry_if_exception_type",
        "retry_if_not_exception_message",
        "retry_if_not_exception_type",
        "retry_never",
        "retry_policy",
        "retry_unless_exception_type",
        "stop_after_attempt",
        "stop_after_delay",
        "stop_all",
        "stop_any",
        "stop_before_delay",
        "stop_never",
        "wait_chain",
        "wait_combine",
        "wait_exponential",
        "wait_exponential_jitter",
        "wait_fixed",
        "wait_full_jitter",
        "wait_incrementing",
        "wait_none",
        "wait_random",
        "wait_random_exponential",
    ],
    "representation": [
        "WorkflowEventNode",
        "WorkflowExternalNode",
        "WorkflowGenericNode",
        "WorkflowGraph",
        "WorkflowGraphEdge",
        "WorkflowGraphNode",
        "WorkflowNodeBase",
        "WorkflowResourceConfigNode",
        "WorkflowResourceNode",
        "WorkflowStepNode",
        "get_workflow_representation",
    ],
    "representation.build": ["get_workflow_representation"],
}

# Where the classes and functions users touch are defined, so that reprs, tracebacks
# and pickles name flowkit's public modules.
DEFINED_IN: dict[str, list[str]] = {
    "flowkit.events": [
        "Event",
        "HumanResponseEvent",
        "InputRequiredEvent",
        "InternalDispatchEvent",
        "StartEvent",
        "StepFailedEvent",
        "StepState",
        "StepStateChanged",
        "StopEvent",
        "UnhandledEvent",
        "UnreconstructedException",
        "WorkflowCancelledEvent",
        "WorkflowFailedEvent",
        "WorkflowIdleEvent",
        "WorkflowTimedOutEvent",
    ],
    "flowkit.errors": INCUMBENT_NAMES["errors"] + ["FlowkitError"],
    "flowkit.decorators": ["catch_error", "step"],
    "flowkit.workflow": ["Workflow"],
    "flowkit.handler": ["WorkflowHandler"],
    "flowkit.context.context": ["Context"],
    "flowkit.context.serializers": ["BaseSerializer", "JsonSerializer", "PickleSerializer"],
    "flowkit.context.state_store": ["DictState", "InMemoryStateStore"],
    "flowkit.resource": ["ResourceDefinition", "ResourceDescriptor", "ResourceManager"],
    "flowkit.testing.runner": ["WorkflowTestRunner", "WorkflowTestResult"],
    "flowkit.retry_policy": INCUMBENT_NAMES["retry_policy"],
    "flowkit.representation.types": [
        n
        for n in INCUMBENT_NAMES["representation"]
        if n.startswith("Workflow") and n != "WorkflowGraphNode"
    ],
    "flowkit.representation.build": ["get_workflow_representation"],
}


def public_modules() -> list[str]:
    """Every module of flowkit outside ``_engine`` whose name has no leading underscore."""
    found = []
    for path in sorted(FLOWKIT_ROOT.rglob("*.py")):
        parts = path.relative_to(FLOWKIT_ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        found.append(".".join(parts))
    return found


def defined_public_names(module: str) -> set[str]:
    """Names a module binds at its top level by class, def or assignment, without underscore."""
    path = Path(inspect.getfile(importlib.import_module(module)))
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def own_submodule_names(package: str) -> set[str]:
    """What a package's submodules of flowkit's own (not the incumbent's) define.

    flowkit's own capabilities (the CLI, drawing, ``flowkit.testing.run_stores``) are modules
    whose package ``__init__`` may gather their public names; names of the incumbent's modules
    are re-exported only where the incumbent does.
    """
    names: set[str] = set()
    for module in public_modules():
        incumbent_module = module.removeprefix("flowkit").lstrip(".")
        if module.startswith(f"{package}.") and incumbent_module not in INCUMBENT_NAMES:
            names |= defined_public_names(module)
    return names


def flowkit_module(incumbent_module: str) -> str:
    return f"flowkit.{incumbent_module}" if incumbent_module else "flowkit"


@pytest.mark.parametrize(
    ("module", "name"),
    [(flowkit_module(m), name) for m, names in INCUMBENT_NAMES.items() for name in names],
)
def test_incumbent_name_imports_from_the_same_module(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"cannot import {name} from {module}"


@pytest.mark.parametrize("incumbent_module", list(INCUMBENT_NAMES))
def test_incumbent_names_are_in_all(incumbent_module: str) -> None:
    module = importlib.import_module(flowkit_module(incumbent_module))
    missing = set(INCUMBENT_NAMES[incumbent_module]) - set(module.__all__)
    assert not missing, f"{module.__name__}.__all__ lacks {sorted(missing)}"


def test_top_level_all_is_exactly_the_incumbents() -> None:
    assert flowkit.__all__ == ["Context", "Workflow", "catch_error", "step"]


def test_public_modules_are_found() -> None:
    assert {flowkit_module(m) for m in INCUMBENT_NAMES} <= set(public_modules())


@pytest.mark.parametrize("module_name", public_modules())
def test_all_matches_what_the_module_defines(module_name: str) -> None:
    """``__all__`` lists every public definition, and re-exports only incumbent names."""
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"duplicates in {module_name}.__all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"
    defined = defined_public_names(module_name)
    incumbent = set(INCUMBENT_NAMES.get(module_name.removeprefix("flowkit").lstrip("."), []))
    unexported = defined - set(exported)
    assert not unexported, (
        f"{module_name} defines {sorted(unexported)} but leaves them out of __all__"
    )
    stray = set(exported) - defined - incumbent - own_submodule_names(module_name)
    assert not stray, f"{module_name}.__all__ re-exports {sorted(stray)}, not incumbent names"


@pytest.mark.parametrize(
    ("module", "name"), [(module, name) for module, names in DEFINED_IN.items() for name in names]
)
def test_public_objects_report_their_public_module(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    assert obj.__module__ == module


def test_every_error_subclasses_flowkit_error() -> None:
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == "flowkit.errors"
    ]
    assert {cls.__name__ for cls in classes} == set(errors.__all__)
    for cls in classes:
        assert issubclass(cls, errors.FlowkitError), cls
        assert issubclass(cls, Exception), cls


def test_error_hierarchy() -> None:
    assert issubclass(errors.WorkflowConfigurationError, errors.WorkflowValidationError)
    assert issubclass(errors.WorkflowStepDoesNotExistError, errors.WorkflowRuntimeError)
    assert errors.FlowkitError.__bases__ == (Exception,)


def test_top_level_names_are_the_public_modules_objects() -> None:
    from flowkit.context import Context
    from flowkit.decorators import catch_error, step
    from flowkit.workflow import Workflow

    assert flowkit.Context is Context
    assert flowkit.Workflow is Workflow
    assert flowkit.step is step
    assert flowkit.catch_error is catch_error
