"""Read an object from a JSON file into a class: attrs, dataclass or pydantic model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar, cast

import cattrs

from ._pydantic import is_model_class

__all__ = ["load_config"]

_T = TypeVar("_T")
_CONVERTER = cattrs.Converter()


def _select(config_file: str, path_selector: str | None) -> Any:
    path = Path(config_file)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {config_file}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Config file {config_file} is not valid JSON: {exc}") from None
    walked: list[str] = []
    for key in path_selector.split(".") if path_selector else ():
        walked.append(key)
        data = data.get(key) if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise ValueError(
                f"Expected dictionary for configuration from {config_file} at path "
                f"{'.'.join(walked)}, got: {type(data)}"
            )
    return data


def load_config(config_file: str, path_selector: str | None, klass: type[_T]) -> _T:
    """The object at ``path_selector`` (dotted keys) in the JSON file, as a ``klass``.

    The file is read at each call, relative to the working directory.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not JSON, the path selector does not lead to an object,
            or the data does not fit ``klass`` (naming the file and the fields).
    """
    data = _select(config_file, path_selector)
    where = config_file + (f" at {path_selector}" if path_selector else "")
    if is_model_class(klass):
        try:
            return cast(_T, cast(Any, klass).model_validate(data))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"Config {where} does not fit {klass.__name__}: {exc}") from None
    try:
        return _CONVERTER.structure(data, klass)
    except cattrs.BaseValidationError as exc:
        details = "; ".join(cattrs.transform_error(exc))
        raise ValueError(f"Config {where} does not fit {klass.__name__}: {details}") from None
    except cattrs.StructureHandlerNotFoundError:
        raise ValueError(
            f"Config {where} cannot be loaded into {klass!r}: use an attrs class, "
            "a dataclass or a pydantic model."
        ) from None
