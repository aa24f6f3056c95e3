"""Resources: objects a step receives through ``Annotated[T, Resource(factory)]`` parameters.

A resource is made by a factory (sync or async) the first time a step asks for it and,
unless ``cache=False``, shared by every step of the workflow instance afterwards. A
factory may take resources itself, through ``Annotated`` parameters of its own::

    def get_client() -> Client: ...
    def get_memory(client: Annotated[Client, Resource(get_client)]) -> Memory: ...

    class MyFlow(Workflow):
        @step
        async def chat(self, ev: StartEvent,
                       memory: Annotated[Memory, Resource(get_memory)]) -> StopEvent: ...

``ResourceConfig`` is a resource read from a JSON file into the annotated class (an
attrs class, a dataclass or a pydantic model), checked only when it is used.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Generic, Protocol, TypeVar, get_args, get_origin, overload

import anyio
import attrs

from ._config_file import load_config

__all__ = [
    "Resource",
    "ResourceConfig",
    "ResourceDefinition",
    "ResourceDescriptor",
    "ResourceManager",
]

_T = TypeVar("_T")


class ResourceDescriptor(Protocol):
    """What ``Resource(...)`` and ``ResourceConfig(...)`` return: a recipe for one resource.

    Attributes:
        name: Identifies the resource in the manager's cache (the factory's qualified
            name, or the config file and path selector).
        cache: Whether the resource is made once per manager (True) or per step call.
    """

    name: str
    cache: bool

    async def resolve(self, manager: ResourceManager) -> Any:
        """Make the resource, resolving its own dependencies through ``manager``."""
        ...

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Tell a config resource the class it is annotated with."""
        ...

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, Any]]:
        """The ``(parameter, descriptor, type)`` of each resource the factory takes."""
        ...


def _is_descriptor(value: object) -> bool:
    return isinstance(value, (_Resource, _ResourceConfig))


def _hints(func: Callable[..., Any], localns: Mapping[str, Any] | None) -> dict[str, Any]:
    """The annotations of ``func``'s parameters, evaluated in ``func``'s own module.

    An annotation that cannot be evaluated (a name imported only for type checkers) is
    left out, unless it names a resource: that is an error.
    """
    # A class is called through its __init__; a partial or callable object has no hints.
    target = typing.cast(Any, func).__init__ if isinstance(func, type) else func
    try:
        return typing.get_type_hints(target, localns=dict(localns or {}), include_extras=True)
    except NameError:
        pass
    except TypeError:
        return {}
    found: dict[str, Any] = {}
    globalns = getattr(target, "__globals__", {})
    for param in _parameters(func):
        annotation = param.annotation
        if not isinstance(annotation, str):
            found[param.name] = annotation
            continue
        try:
            found[param.name] = eval(annotation, globalns, dict(localns or {}))
        except NameError as exc:
            if "Resource" in annotation:
                raise ValueError(
                    f"Cannot resolve the annotation of parameter '{param.name}' of "
                    f"{_qualname(func)}: name '{exc.name}' is not defined in its module "
                    f"{getattr(func, '__module__', '?')}. Import it at module level."
                ) from None
    return found


def _parameters(func: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature takes no resources
        return []


def _qualname(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__qualname__", type(func).__name__))


@attrs.frozen
class ResourceDefinition:
    """A parameter that asks for a resource: ``name: Annotated[type_annotation, resource]``.

    Attributes:
        name: The parameter's name.
        resource: The descriptor (``Resource(...)`` or ``ResourceConfig(...)``).
        type_annotation: The ``T`` of ``Annotated[T, ...]``.
    """

    name: str
    resource: ResourceDescriptor
    type_annotation: Any = None

    @classmethod
    def find_in(
        cls, func: Callable[..., Any], localns: Mapping[str, Any] | None = None
    ) -> list[ResourceDefinition]:
        """The parameters of ``func`` annotated ``Annotated[T, Resource(...)]`` (or a config).

        Annotations are evaluated in ``func``'s module, so this works under
        ``from __future__ import annotations``; ``localns`` adds names local to where
        ``func`` was defined.

        Raises:
            ValueError: An annotation that names a resource cannot be evaluated.
        """
        hints = _hints(func, localns)
        found: list[ResourceDefinition] = []
        for param in _parameters(func):
            annotation = hints.get(param.name)
            if get_origin(annotation) is not Annotated:
                continue
            target, *extras = get_args(annotation)
            descriptor = next((e for e in extras if _is_descriptor(e)), None)
            if descriptor is not None:
                if isinstance(descriptor, _Resource) and localns:
                    descriptor.set_localns(localns)
                found.append(cls(param.name, descriptor, target))
        return found


class _Resource(Generic[_T]):
    """A resource made by a factory; see :func:`Resource`."""

    def __init__(self, factory: Callable[..., Any], cache: bool) -> None:
        if not callable(factory):
            raise TypeError(f"Resource() takes a callable factory, got {factory!r}.")
        self._factory = factory
        self.name = _qualname(factory)
        self.cache = cache
        self._dependencies: list[tuple[str, ResourceDescriptor, Any]] | None = None
        self._localns: dict[str, Any] = {}

    @property
    def factory(self) -> Callable[..., Any]:
        """The function that makes the resource."""
        return self._factory

    def __repr__(self) -> str:
        return f"Resource({self.name}, cache={self.cache})"

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Nothing to do: a factory knows what it makes."""

    def set_localns(self, localns: Mapping[str, Any] | None) -> None:
        """Names local to where the factory was used, for the factory's own annotations.

        Names the factory's module defines win: a local variable never shadows them.
        """
        module = getattr(self._factory, "__globals__", {})
        self._localns = {k: v for k, v in (localns or {}).items() if k not in module}
        self._dependencies = None

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, Any]]:
        """The resources the factory takes, from its ``Annotated`` parameters."""
        if self._dependencies is None:
            self._dependencies = [
                (d.name, d.resource, d.type_annotation)
                for d in ResourceDefinition.find_in(self._factory, self._localns)
            ]
        return self._dependencies

    async def resolve(self, manager: ResourceManager) -> _T:
        """Call the factory (awaiting it if async) with its own resources."""
        kwargs = {}
        for param, descriptor, annotation in self.get_dependencies():
            descriptor.set_type_annotation(annotation)
            kwargs[param] = await manager.get(descriptor)
        result = self._factory(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return typing.cast(_T, result)


class _ResourceConfig(Generic[_T]):
    """A resource read from a JSON file; see :func:`ResourceConfig`."""

    def __init__(
        self,
        config_file: str,
        path_selector: str | None = None,
        cls_factory: type[_T] | None = None,
        label: str | None = None,
        description: str | None = None,
    ) -> None:
        if Path(config_file).suffix != ".json":
            raise ValueError(
                "Only JSON files can be used to load Pydantic-based resources. "
                f"ResourceConfig(config_file={config_file!r}): name a .json file."
            )
        self.config_file = config_file
        self.path_selector = path_selector
        self.cls_factory = cls_factory
        self.label = label
        self.description = description
        self.cache = True
        self.name = config_file if path_selector is None else f"{config_file}.{path_selector}"

    def __repr__(self) -> str:
        return f"ResourceConfig({self.name!r})"

    def set_type_annotation(self, type_annotation: Any) -> None:
        """Load into ``type_annotation`` unless a class was given."""
        if self.cls_factory is None:
            self.cls_factory = type_annotation

    def get_dependencies(self) -> list[tuple[str, ResourceDescriptor, Any]]:
        """None: a config is read from its file."""
        return []

    def load(self) -> _T:
        """Read the file and build the annotated class from it.

        Raises:
            FileNotFoundError: The file does not exist.
            ValueError: The file is not JSON, the path selector does not lead to an
                object, or the data does not fit the class (naming the fields).
        """
        if self.cls_factory is None:
            raise ValueError(
                f"ResourceConfig({self.name!r}) has no class to load into: annotate the "
                "parameter as Annotated[MyConfig, ResourceConfig(...)]."
            )
        return load_config(self.config_file, self.path_selector, self.cls_factory)

    async def resolve(self, manager: ResourceManager) -> _T:
        """Read the file and build the annotated class from it (see :meth:`load`)."""
        return self.load()


@overload
def Resource(factory: Callable[..., Awaitable[_T]], cache: bool = True) -> _Resource[_T]: ...


@overload
def Resource(factory: Callable[..., _T], cache: bool = True) -> _Resource[_T]: ...


def Resource(factory: Callable[..., Any], cache: bool = True) -> _Resource[Any]:
    """Declare a resource for ``Annotated[T, Resource(factory)]`` step parameters.

    Args:
        factory: Makes the resource; sync or async; may take resources itself through
            ``Annotated`` parameters.
        cache: Make it once per workflow instance (its ResourceManager) and share it;
            False makes a fresh one for each step call.

    Raises:
        TypeError: ``factory`` is not callable.
    """
    return _Resource(factory, cache)


def ResourceConfig(
    config_file: str,
    path_selector: str | None = None,
    label: str | None = None,
    description: str | None = None,
) -> _ResourceConfig[Any]:
    """Declare a resource read from a JSON file into the parameter's annotated class.

    Args:
        config_file: The JSON file, relative to the working directory when it is read.
        path_selector: Dotted keys to the object to load (``"models.classifier"``).
        label: A short name for display.
        description: What the configuration is for.

    Raises:
        ValueError: ``config_file`` does not end in ``.json``.
    """
    return _ResourceConfig(config_file, path_selector, label=label, description=description)


class ResourceManager:
    """Makes and caches the resources of one workflow instance.

    Cached resources are made once, even when two steps ask for one at the same time;
    a resource that is not cached is made once per :meth:`get` call tree (two
    dependencies of one step call share it). A dependency cycle is a ``ValueError``
    showing the chain, found before any factory runs.
    """

    def __init__(self) -> None:
        self.resources: dict[str, Any] = {}
        self._making: dict[str, anyio.Event] = {}

    async def set(self, name: str, val: Any) -> None:
        """Use ``val`` for the resource ``name`` (a factory's qualified name)."""
        self.resources[name] = val

    def get_all(self) -> dict[str, Any]:
        """The resources made or set so far, by name."""
        return self.resources

    async def get(self, resource: ResourceDescriptor) -> Any:
        """The resource ``resource`` describes: from the cache, or made now.

        Raises:
            ValueError: Its dependencies form a cycle, or a config does not load.
            Exception: What its factory raises.
        """
        _check_cycles(resource)
        return await self._get(resource, {})

    async def resolve_parameters(self, definitions: Iterable[ResourceDefinition]) -> dict[str, Any]:
        """The resources of one step call, by parameter name.

        Resources that are not cached are shared within the call (made once for it).

        Raises:
            ValueError: A dependency cycle, or a config that does not load.
            Exception: What a factory raises.
        """
        definitions = list(definitions)
        for definition in definitions:
            definition.resource.set_type_annotation(definition.type_annotation)
            _check_cycles(definition.resource)
        scope: dict[str, Any] = {}
        return {d.name: await self._get(d.resource, scope) for d in definitions}

    async def _get(self, resource: ResourceDescriptor, scope: dict[str, Any]) -> Any:
        name = resource.name
        if not resource.cache:
            if name not in scope:
                scope[name] = await self._make(resource, scope)
            return scope[name]
        while name not in self.resources:
            making = self._making.get(name)
            if making is not None:
                await making.wait()
                continue
            self._making[name] = done = anyio.Event()
            try:
                self.resources[name] = await self._make(resource, scope)
            finally:
                del self._making[name]
                done.set()
        return self.resources[name]

    async def _make(self, resource: ResourceDescriptor, scope: dict[str, Any]) -> Any:
        if not isinstance(resource, _Resource):
            return await resource.resolve(self)
        kwargs = {}
        for param, descriptor, annotation in resource.get_dependencies():
            descriptor.set_type_annotation(annotation)
            kwargs[param] = await self._get(descriptor, scope)
        result = resource.factory(**kwargs)
        return await result if inspect.isawaitable(result) else result


def _check_cycles(resource: ResourceDescriptor) -> None:
    def walk(node: ResourceDescriptor, chain: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if node.name in chain:
            yield (*chain, node.name)
            return
        for _, dependency, _annotation in node.get_dependencies():
            yield from walk(dependency, (*chain, node.name))

    for cycle in walk(resource, ()):
        raise ValueError(f"Circular resource dependency detected: {' -> '.join(cycle)}")
