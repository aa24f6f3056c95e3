"""Events: the typed messages that steps receive and return.

Every event is an attrs class. Subclasses declare their fields as plain annotations
and become attrs classes on their own, without a decorator::

    class Progress(Event):
        pct: float
        note: str = ""

Besides declared fields, an event accepts extra keyword arguments and keeps them in a
dict, readable as attributes and with mapping access (``ev.topic``, ``ev["topic"]``,
``ev.get("topic", default)``), as llama-index-workflows' events do. ``StartEvent``
carries the keyword arguments of ``workflow.run(**kwargs)`` that way.
"""

from __future__ import annotations

import inspect
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import attrs

from ._declarations import declare_field, take_private_attributes
from ._event_init import GENERATED, generate_init
from ._model_methods import ModelMethods

__all__ = [
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
]


def _make_attrs_class(cls: type[Event]) -> None:
    """Turn ``cls`` into an attrs class in place, with Event's ``__init__`` or one made for it.

    A plain class (see ``_event_init``) that inherits Event's ``__init__`` gets one
    generated for its fields; a class that writes its own keeps it.
    """
    own_annotations = inspect.get_annotations(cls)
    private = take_private_attributes(cls, own_annotations)
    if private:
        # Private attributes are not data: attrs must not see them as fields.
        cls.__annotations__ = {k: v for k, v in own_annotations.items() if k not in private}
    for name in own_annotations:
        if name not in private:
            declare_field(cls, name)
    attrs.define(cls, slots=False, kw_only=True, init=False, repr=False, eq=True, hash=False)
    fields = attrs.fields(cls)
    # "_data" is accepted too, so that a converter can rebuild the extra fields.
    cls._field_names = frozenset(field.alias for field in fields)
    inherited = {
        k: v
        for base in reversed(cls.__mro__[1:])
        for k, v in vars(base).get("_private_defaults", ())
    }
    cls._private_defaults = tuple({**inherited, **private}.items())
    cls._private_names = frozenset(name for name, _ in cls._private_defaults)
    # The fast path fills declared fields only; classes with private attributes skip it.
    cls._init_plan = None if cls._private_defaults else _InitPlan.build(fields)
    if "__init__" not in vars(cls) and _inherits_event_init(cls):
        # Event's __init__, or one generated for a plain class like this one.
        init = None if cls._init_plan is None else generate_init(cls, fields, Event.__init__)
        cls.__init__ = init if init is not None else Event.__init__  # type: ignore[method-assign]


def _inherits_event_init(cls: type[Event]) -> bool:
    """Whether ``cls``'s __init__ is Event's or a generated one (no class above wrote its own)."""
    init = cls.__init__
    return init is Event.__init__ or getattr(init, GENERATED, False) is True


@attrs.frozen
class _InitPlan:
    """How Event's own ``__init__`` fills a plain event's ``__dict__``, skipping attrs' __init__.

    It serves classes whose own ``__init__`` calls ``super().__init__`` (StopEvent's
    does); a plain class that writes none gets a faster one (``_event_init``). It applies
    only to fields with no validator, converter or alias; other classes use attrs'.
    """

    static: dict[str, Any]
    factories: tuple[tuple[str, Any], ...]
    required: frozenset[str]
    # Nothing to fill but an empty ``_data`` (most events): no loop over factories.
    data_only: bool = False

    @classmethod
    def build(cls, fields: Any) -> _InitPlan | None:
        static: dict[str, Any] = {}
        factories: list[tuple[str, Any]] = []
        required: set[str] = set()
        for field in fields:
            if field.validator or field.converter or field.alias != field.name:
                return None
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                if field.default.takes_self:
                    return None
                factories.append((field.name, field.default.factory))
            elif field.default is attrs.NOTHING:
                required.add(field.name)
            else:
                static[field.name] = field.default
        data_only = not static and factories == [("_data", dict)]
        return cls(static, tuple(factories), frozenset(required), data_only)


class Event(ModelMethods):
    """Base class of every workflow event.

    Declared fields are attrs fields; extra keyword arguments are kept in a dict and
    readable as attributes or by key.

    Examples:
        >>> class Greeting(Event):
        ...     name: str
        >>> ev = Greeting(name="Ada", mood="cheerful")
        >>> ev.name, ev.mood, ev["mood"], ev.get("missing", 0)
        ('Ada', 'cheerful', 'cheerful', 0)
    """

    if TYPE_CHECKING:  # set by attrs; declared so that type checkers see an attrs class
        __attrs_attrs__: ClassVar[tuple[attrs.Attribute[Any], ...]]
    _field_names: ClassVar[frozenset[str]]
    _init_plan: ClassVar[_InitPlan | None]
    _private_defaults: ClassVar[tuple[tuple[str, Any], ...]]
    _private_names: ClassVar[frozenset[str]]
    _data: dict[str, Any] = attrs.field(factory=dict, alias="_data")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _make_attrs_class(cls)

    def __init__(self, **params: Any) -> None:
        """Create the event from declared fields and extra keyword fields.

        Raises:
            TypeError: A declared field without a default is missing.
        """
        names = self._field_names
        plan = self._init_plan
        keys = params.keys()
        # keys >= required, not required <= keys: the view's own comparison, no reflection.
        if plan is not None and keys >= plan.required and keys <= names:
            fill = self.__dict__
            if plan.data_only:
                if "_data" not in params:
                    fill["_data"] = {}
            else:
                fill.update(plan.static)
                for name, factory in plan.factories:
                    if name not in params:
                        fill[name] = factory()
            fill.update(params)
            return
        try:
            if params.keys() <= names:
                self.__attrs_init__(**params)
            else:
                private = self._private_names
                fields = {k: v for k, v in params.items() if k in names}
                extras = {k: v for k, v in params.items() if k not in names and k not in private}
                self.__attrs_init__(_data=extras, **fields)
        except TypeError as exc:
            # attrs names its generated method; users called the class.
            raise TypeError(str(exc).replace(".__attrs_init__()", "()")) from None
        if self._private_defaults:
            self._init_private(params)

    def _init_private(self, params: dict[str, Any]) -> None:
        fill = self.__dict__
        for name, default in self._private_defaults:
            if name in params:
                fill[name] = params[name]
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                fill[name] = default.factory()
            elif default is not attrs.NOTHING:
                fill[name] = default

    def __attrs_init__(self, **params: Any) -> None:  # replaced by attrs on every subclass
        self._data = params.get("_data", {})

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: fall back to the extra fields.
        data = self.__dict__.get("_data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        # Declared fields are attributes; any other name is an extra field, as in the
        # incumbent, so that ``ev.x = 1`` and ``ev["x"]`` agree.
        if name in self._field_names or name in self._private_names or name.startswith("__"):
            object.__setattr__(self, name, value)
        else:
            self._data[name] = value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """Return the extra field ``key`` (or a declared field of that name), else ``default``."""
        if key in self._data:
            return self._data[key]
        if key in self._field_names and key != "_data":
            return getattr(self, key)
        return default

    def keys(self) -> KeysView[str]:
        """The names of the extra fields."""
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        """The values of the extra fields."""
        return self._data.values()

    def items(self) -> ItemsView[str, Any]:
        """The extra fields as (name, value) pairs."""
        return self._data.items()

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __bool__(self) -> bool:
        return True

    def to_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The extra fields as a dict (llama-index-workflows' ``DictLikeModel.to_dict``)."""
        return self._data

    def __repr__(self) -> str:
        # As llama-index-workflows prints events: declared fields only, no extra fields.
        return f"{type(self).__name__}({', '.join(self._field_reprs())})"

    def __str__(self) -> str:
        return " ".join(self._field_reprs())

    def _field_reprs(self) -> list[str]:
        return [
            f"{field.name}={getattr(self, field.name)!r}"
            for field in attrs.fields(type(self))
            if field.name != "_data" and field.repr
        ]


_make_attrs_class(Event)

EventType: TypeAlias = type[Event]


class StartEvent(Event):
    """The event a run starts with; ``workflow.run(**kwargs)`` passes ``kwargs`` as its fields.

    Subclass it with typed fields to give a workflow a typed entry point.
    """


class StopEvent(Event):
    """The event that ends a run; ``result`` is what ``await handler`` returns.

    A workflow that returns a subclass of StopEvent gets the event itself from
    ``await handler`` instead of its ``result``.
    """

    result: Any = None

    def __init__(self, result: Any = None, **kwargs: Any) -> None:
        super().__init__(result=result, **kwargs)

    def _get_result(self) -> Any:
        """The run's result; a subclass may override it."""
        return self.result

    def __str__(self) -> str:
        return str(self.result)


class UnreconstructedException(Exception):
    """Stands in for an exception restored from a snapshot whose type flowkit would not import.

    Attributes:
        original_type: The qualified name of the exception's original type.
    """

    def __init__(self, message: str, *, original_type: str | None = None) -> None:
        super().__init__(message)
        self.original_type = original_type

    def __repr__(self) -> str:
        return f"UnreconstructedException(original_type={self.original_type!r}, {self.args[0]!r})"


class WorkflowTimedOutEvent(StopEvent):
    """The last event of a run that exceeded its timeout.

    Attributes:
        timeout: The timeout in seconds.
        active_steps: The steps still running when the timeout fired.
    """

    timeout: float
    active_steps: list[str]


class WorkflowCancelledEvent(StopEvent):
    """The last event of a run cancelled with ``handler.cancel_run()``."""


class WorkflowFailedEvent(StopEvent):
    """The last event of a run whose step failed for good (after its retries).

    Attributes:
        step_name: The step that failed.
        exception: The exception it raised.
        attempts: How many times the step ran, or None if flowkit itself ended the run.
        elapsed_seconds: Seconds from the first attempt to the last failure, or None.
    """

    step_name: str
    exception: Exception
    attempts: int | None = None
    elapsed_seconds: float | None = None


class StepFailedEvent(Event):
    """Delivered to a ``@catch_error`` handler when a step has failed for good.

    Attributes:
        step_name: The step that failed.
        input_event: The event the step was running on.
        exception: The exception it raised.
        attempts: How many times the step ran.
        elapsed_seconds: Seconds from the first attempt to the last failure.
        failed_at: When the last attempt failed (UTC).
    """

    step_name: str
    input_event: Event
    exception: Exception
    attempts: int
    elapsed_seconds: float
    failed_at: datetime


class InputRequiredEvent(Event):
    """A step needs input from a human; returned by a step, it is written to the stream.

    It needs no consumer step to pass validation. Answer it with a
    :class:`HumanResponseEvent`. Subclass it to add a payload.
    """


class HumanResponseEvent(Event):
    """A human's answer to an :class:`InputRequiredEvent`, sent with ``ctx.send_event``.

    A step may accept it without any step producing it. Subclass it to add a payload.
    """


class InternalDispatchEvent(Event):
    """Base of the events flowkit streams only with ``stream_events(expose_internal=True)``."""


class WorkflowIdleEvent(InternalDispatchEvent):
    """The run has nothing to do until an event arrives from outside."""


class UnhandledEvent(InternalDispatchEvent):
    """An event sent into the run was accepted by no step and no waiter, and was dropped.

    Attributes:
        event_type: The class name of the dropped event.
        qualified_name: Its module-qualified class name.
        step_name: The step it was addressed to, if any.
        idle: Whether the run was idle after dropping it.
    """

    event_type: str
    qualified_name: str
    step_name: str | None = None
    idle: bool = False


class StepState(Enum):
    """What a step is doing, as reported by :class:`StepStateChanged`."""

    PREPARING = "preparing"
    RUNNING = "running"
    NOT_RUNNING = "not_running"


class StepStateChanged(InternalDispatchEvent):
    """A step started or finished running an event.

    Attributes:
        name: The step's name.
        step_state: RUNNING when it starts, NOT_RUNNING when it ends.
        worker_id: The worker running it.
        input_event_name: The class name of the event it runs on.
        output_event_name: The class name of the event it returned, if any.
    """

    name: str
    step_state: StepState
    worker_id: str
    input_event_name: str
    output_event_name: str | None = None
