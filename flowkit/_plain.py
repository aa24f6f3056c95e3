"""Plain data for ``Event.model_dump``: nested objects as dicts, and JSON types in JSON mode.

The rules follow pydantic's ``model_dump`` for the types events commonly hold:

- events and pydantic models are dumped recursively (an event's extra fields under
  ``"_data"`` when it has any), attrs classes and dataclasses become dicts;
- lists, tuples, sets and dicts are walked; in JSON mode tuples and sets become lists
  and dict keys become strings;
- in JSON mode ``datetime``, ``date`` and ``time`` become ISO 8601 strings,
  ``timedelta`` an ISO 8601 duration (``"PT1.5S"``), ``UUID``, ``Decimal`` and paths
  strings, ``bytes`` UTF-8 text, and an ``Enum`` its value;
- anything else is returned as it is (in JSON mode ``json.dumps`` then refuses it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal

import attrs

from ._pydantic import is_model_instance

__all__ = ["DumpMode", "to_plain"]

DumpMode = Literal["python", "json"]
_NATIVE = (str, int, float, bool, type(None))


def _duration(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    text = f"{seconds:f}".rstrip("0").rstrip(".") or "0"
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}T{text}S"


_JSON_SCALARS: dict[type, Callable[[Any], Any]] = {
    dt.datetime: lambda v: v.isoformat(),
    dt.date: lambda v: v.isoformat(),
    dt.time: lambda v: v.isoformat(),
    dt.timedelta: _duration,
    uuid.UUID: str,
    Decimal: str,
    bytes: lambda v: v.decode("utf-8"),
}


def to_plain(value: Any, mode: DumpMode, dump_object: Callable[[Any, DumpMode], Any]) -> Any:
    """``value`` as plain data; ``dump_object`` dumps the objects this module cannot (events).

    Args:
        value: What to convert.
        mode: ``"python"`` keeps scalars such as datetimes; ``"json"`` makes them JSON types.
        dump_object: Called for an object with a ``model_dump`` of its own (an event).
    """
    if type(value) in _NATIVE:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_plain(item, mode, dump_object) for item in value]
        if mode == "json" or isinstance(value, list):
            return items
        return type(value)(items)
    if isinstance(value, dict):
        return {
            (str(k) if mode == "json" and not isinstance(k, str) else k): to_plain(
                v, mode, dump_object
            )
            for k, v in value.items()
        }
    if is_model_instance(value):
        return value.model_dump(mode=mode)
    if hasattr(type(value), "model_dump") and attrs.has(type(value)):
        return dump_object(value, mode)
    if attrs.has(type(value)):
        return {
            f.name: to_plain(getattr(value, f.name), mode, dump_object)
            for f in attrs.fields(type(value))
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name), mode, dump_object)
            for f in dataclasses.fields(value)
        }
    if mode == "python":
        return value
    if isinstance(value, Enum):
        return to_plain(value.value, mode, dump_object)
    if isinstance(value, PurePath):
        return str(value)
    for kind, encode in _JSON_SCALARS.items():
        if isinstance(value, kind):
            return encode(value)
    return value
