"""The ``__init__`` of a plain event class, generated for that class as attrs generates its own.

Events are built on every step, so their ``__init__`` is on the hot path. Event's own
``__init__`` takes ``**params`` and works out what each is; for a class whose fields
have no validator, converter or alias, this module writes a function that takes each
field as a keyword parameter and fills the instance's ``__dict__`` directly, the extra
keyword arguments becoming its ``_data`` dict as they are. It costs about half as much.
Whatever it does not handle itself (a required field missing, ``_data=`` given beside
extra keyword arguments, an instance of a subclass that reached it through
``super().__init__``) it hands to the general ``__init__``, so both always agree.
"""

from __future__ import annotations

import keyword
import linecache
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["GENERATED", "generate_init"]

GENERATED = "__flowkit_generated_init__"
"""The attribute that marks a generated ``__init__`` (set to True on the function)."""

_MISSING: Any = object()
"""Stands for a keyword argument not given, where None may be a value."""


def generate_init(
    cls: type, fields: Sequence[attrs.Attribute[Any]], general: Callable[..., None]
) -> Callable[..., None] | None:
    """An ``__init__`` for ``cls`` that fills its fields directly, or None if it cannot.

    ``fields`` are the class's attrs fields; ``general`` is the ``__init__`` it falls
    back on, called as ``general(self, **params)``.
    """
    params: list[str] = []  # the keyword-only parameters, after "*"
    required: list[str] = []
    factories: list[str] = []
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_general": general,
        "_given": _given,
        "_MISSING": _MISSING,
    }
    names: list[str] = []
    for field in fields:
        if field.name == "_data":
            continue
        name = field.name
        if (
            field.validator is not None
            or field.converter is not None
            or field.alias != name
            # The generated function's own names are "self" and names with a leading "_"
            # (which declare private attributes, not fields).
            or name == "self"
            or name.startswith("_")
            or not name.isidentifier()
            or keyword.iskeyword(name)
        ):
            return None
        names.append(name)
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self:
                return None
            namespace[f"_factory_{name}"] = default.factory
            factories.append(name)
            params.append(f"{name}=_MISSING")
        elif default is attrs.NOTHING:
            required.append(name)
            params.append(f"{name}=_MISSING")
        else:
            namespace[f"_default_{name}"] = default
            params.append(f"{name}=_default_{name}")
    # _data= given alone (as a snapshot's restore gives it) is the extra fields' dict itself.
    fallback = ["_data is not _MISSING and _extra", *(f"{name} is _MISSING" for name in required)]
    fallback.append("self.__class__ is not _cls")
    given = ", ".join(f"{name}={name}" for name in names)
    lines = [
        f"def __init__(self, *, {''.join(p + ', ' for p in params)}_data=_MISSING, **_extra):",
        f"    if {' or '.join(fallback)}:",
        f"        _general(self, **_given(_extra, _data=_data, {given}))",
        "        return",
        *(f"    if {name} is _MISSING:\n        {name} = _factory_{name}()" for name in factories),
        "    _fill = self.__dict__",
        *(f"    _fill[{name!r}] = {name}" for name in names),
        "    _fill['_data'] = _extra if _data is _MISSING else _data",
    ]
    source = "\n".join(lines) + "\n"
    # A file name of its own, as attrs does, so that tracebacks can show the source.
    filename = f"<flowkit generated __init__ {cls.__module__}.{cls.__qualname__}>"
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = general.__doc__
    setattr(init, GENERATED, True)
    return init


def _given(extra: dict[str, Any], **named: Any) -> dict[str, Any]:
    """The keyword arguments the caller gave: ``named`` without those left out, and ``extra``."""
    params = {name: value for name, value in named.items() if value is not _MISSING}
    params.update(extra)
    return params
