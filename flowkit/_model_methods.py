"""The pydantic-style methods of events (``model_dump``, ``model_copy``, ...), without pydantic.

Code written for llama-index-workflows calls these on events; ``Event`` inherits them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import attrs
from typing_extensions import Self

from ._plain import DumpMode, to_plain

__all__ = ["ModelMethods"]


class ModelMethods:
    """``model_dump``, ``model_dump_json``, ``model_copy``, ``model_validate(_json)`` for events.

    Works on an attrs class whose extra fields are in ``_data`` (an ``Event``).
    """

    __slots__ = ()

    if TYPE_CHECKING:
        _data: dict[str, Any]

        def __init__(self, **params: Any) -> None: ...

    def model_dump(
        self, *, mode: DumpMode = "python", exclude_none: bool = False
    ) -> dict[str, Any]:
        """The event as a dict: declared fields, then the extra fields under ``"_data"``.

        Nested events, attrs classes, dataclasses and pydantic models become dicts. Private
        attributes are not included.

        Args:
            mode: ``"json"`` also turns datetimes, UUIDs, enums and the like into JSON types.
            exclude_none: Leave out declared fields whose value is None.
        """
        dumped = {
            field.name: to_plain(getattr(self, field.name), mode, _dump)
            for field in attrs.fields(cast(Any, type(self)))  # an Event subclass: attrs
            if field.name != "_data"
        }
        if exclude_none:
            dumped = {k: v for k, v in dumped.items() if v is not None}
        if self._data:
            dumped["_data"] = to_plain(self._data, mode, _dump)
        return dumped

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        """``model_dump(mode="json")`` as a JSON string (compact unless ``indent`` is given).

        Raises:
            TypeError: A value has no JSON form.
        """
        dumped = self.model_dump(mode="json", exclude_none=exclude_none)
        if indent is None:
            return json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)
        return json.dumps(dumped, indent=indent, ensure_ascii=False)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy of the event, with the fields in ``update`` replaced (extra fields too)."""
        copied = copy.deepcopy(self) if deep else copy.copy(self)
        if not deep:
            copied.__dict__["_data"] = dict(self._data)
        for name, value in (update or {}).items():
            setattr(copied, name, value)
        return copied

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """Build the event from a dict such as ``model_dump()`` returns (or return it as is).

        Values are not converted: a datetime dumped in JSON mode comes back as a string.

        Raises:
            TypeError: ``obj`` is neither an instance of the class nor a dict, or a
                required field is missing.
        """
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, Mapping):
            raise TypeError(
                f"{cls.__name__}.model_validate() takes a dict or a {cls.__name__}, "
                f"got {type(obj).__name__}."
            )
        params = dict(obj)
        extras = params.pop("_data", None) or {}
        return cls(**params, **extras)

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        """``model_validate`` of a JSON document.

        Raises:
            TypeError: The document is not an object, or a required field is missing.
            ValueError: The text is not JSON.
        """
        return cls.model_validate(json.loads(data))


def _dump(value: Any, mode: DumpMode) -> Any:
    return value.model_dump(mode=mode)
