"""Step resources for the engine: find them in a signature, make them for a call, check them.

Resources are never part of a snapshot: a restored run gets them again from its
workflow's ResourceManager.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import attrs

from ..errors import WorkflowValidationError
from ..resource import ResourceDefinition, ResourceDescriptor, ResourceManager, _ResourceConfig

__all__ = [
    "ResourceProblem",
    "check_resource_configs",
    "check_resources",
    "check_steps",
    "find_resources",
    "resolve",
    "validation_error",
]


def find_resources(
    func: Callable[..., Any], localns: Mapping[str, Any] | None = None
) -> tuple[ResourceDefinition, ...]:
    """The ``Annotated[T, Resource(...)]`` / ``ResourceConfig`` parameters of a step.

    Raises:
        ValueError: An annotation that names a resource cannot be evaluated.
    """
    return tuple(ResourceDefinition.find_in(func, localns))


async def resolve(
    manager: ResourceManager, params: Sequence[ResourceDefinition]
) -> dict[str, object]:
    """The keyword arguments that inject ``params`` into one step call.

    Raises:
        ValueError: A dependency cycle (showing the chain), or a config that does not load.
        Exception: What a factory raises.
    """
    if not params:
        return {}
    return await manager.resolve_parameters(params)


@attrs.frozen
class ResourceProblem:
    """One resource that ``Workflow.validate()`` found wrong.

    Attributes:
        step: The step whose parameter asks for it.
        parameter: That parameter.
        chain: The resource names from the parameter's resource to the wrong one.
        message: What is wrong (a config's errors name its file, and the field for a
            config that does not fit its class).
    """

    step: str
    parameter: str
    chain: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        where = f"step '{self.step}', parameter '{self.parameter}'"
        if len(self.chain) > 1:
            where += f" ({' -> '.join(self.chain)})"
        return f"In {where}: {self.message}"


def _walk(
    steps: Mapping[str, Sequence[ResourceDefinition]],
) -> list[tuple[str, str, tuple[str, ...], ResourceDescriptor]]:
    """Every (step, parameter, chain, descriptor), dependencies included, each name once."""
    found: list[tuple[str, str, tuple[str, ...], ResourceDescriptor]] = []
    seen: set[str] = set()
    for step, definitions in steps.items():
        stack: list[tuple[str, tuple[str, ...], ResourceDescriptor]] = []
        for definition in definitions:
            definition.resource.set_type_annotation(definition.type_annotation)
            stack.append((definition.name, (definition.resource.name,), definition.resource))
        while stack:
            parameter, chain, descriptor = stack.pop()
            if descriptor.name in seen:
                continue
            seen.add(descriptor.name)
            found.append((step, parameter, chain, descriptor))
            for _, dependency, annotation in descriptor.get_dependencies():
                dependency.set_type_annotation(annotation)
                if dependency.name not in chain:
                    stack.append((parameter, (*chain, dependency.name), dependency))
    return found


def check_resource_configs(
    steps: Mapping[str, Sequence[ResourceDefinition]],
) -> list[ResourceProblem]:
    """Load every ResourceConfig the steps use (their factories' ones too), without factories.

    Args:
        steps: Each step's resource parameters, by step name.
    """
    problems = []
    for step, parameter, chain, descriptor in _walk(steps):
        if isinstance(descriptor, _ResourceConfig):
            try:
                descriptor.load()
            except (OSError, ValueError) as exc:
                problems.append(ResourceProblem(step, parameter, chain, str(exc)))
    return problems


async def check_resources(
    steps: Mapping[str, Sequence[ResourceDefinition]], manager: ResourceManager
) -> list[ResourceProblem]:
    """Make every resource the steps use, through ``manager`` (so they are then cached).

    Finds dependency cycles and failing factories.

    Args:
        steps: Each step's resource parameters, by step name.
        manager: The workflow's ResourceManager.
    """
    problems = []
    for step, definitions in steps.items():
        for definition in definitions:
            try:
                await manager.resolve_parameters([definition])
            except Exception as exc:
                chain = (definition.resource.name,)
                message = f"{type(exc).__name__}: {exc}"
                problems.append(ResourceProblem(step, definition.name, chain, message))
    return problems


def validation_error(kind: str, problems: Sequence[ResourceProblem]) -> WorkflowValidationError:
    """The error ``Workflow.validate()`` raises for ``problems``, one line each.

    Args:
        kind: ``"Resource config"`` or ``"Resource"``, as in the incumbent's message.
    """
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return WorkflowValidationError(f"{kind} validation failed:\n{lines}")


def check_steps(
    steps: Mapping[str, Sequence[ResourceDefinition]],
    manager: ResourceManager,
    *,
    configs: bool,
    factories: bool,
) -> None:
    """``Workflow.validate()``'s resource checks: load the configs, then make the resources.

    Making them runs the factories in an event loop of its own (``anyio.run``), as the
    incumbent does, so it cannot be called from async code; what they make stays
    cached in ``manager``.

    Raises:
        WorkflowValidationError: A config or a resource is wrong (one line each).
        RuntimeError: ``factories`` is True and an event loop runs in this thread.
    """
    if configs:
        problems = check_resource_configs(steps)
        if problems:
            raise validation_error("Resource config", problems)
    if factories and steps:
        try:
            problems = anyio.run(check_resources, steps, manager)
        except RuntimeError as exc:  # factories' errors are problems: this is anyio.run's
            raise RuntimeError(
                f"validate(validate_resources=True) cannot be called from async code ({exc}): "
                "it runs the resource factories in an event loop of its own. Call it before "
                "starting the event loop, or make them with 'await manager.get(Resource(...))'."
            ) from None
        if problems:
            raise validation_error("Resource", problems)
