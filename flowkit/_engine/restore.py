"""Read a snapshot dict into a ``Snapshot``: its header, its version, strict structuring.

Every failure is a ContextSerdeError carrying ``path``. The path of an error inside
the data is built from the notes cattrs attaches to its validation errors (as
``cattrs.transform_error`` does), never parsed out of a message, so no text in the
data can garble it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs
import cattrs
from cattrs.v import format_exception

from ..errors import ContextSerdeError
from .snapshot import FORMAT, MAX_EVENTS, READABLE_VERSIONS, Snapshot, reading_version

DAMAGED = "The snapshot was changed after ctx.to_dict() wrote it; restore an unchanged copy."
TOO_DEEP = "The snapshot is nested too deeply to restore"
DEEPEST_SHOWN = 200
"""Paths deeper than this many steps are cut short in messages."""


def read_snapshot(data: Any, workflow: str, converter: cattrs.Converter) -> Snapshot:
    """The ``Snapshot`` in ``data``, a dict from ``ctx.to_dict()`` of ``workflow``.

    A snapshot of an older readable version is read in its own form (see
    ``snapshot.EVENT_TAGS``); the result is the same ``Snapshot``.

    Raises:
        ContextSerdeError: ``data`` is not a snapshot of ``workflow`` this flowkit
            reads; ``path`` says where.
    """
    version = check_header(data, workflow)
    try:
        with reading_version(version):
            snapshot: Snapshot = converter.structure(data, Snapshot)
    except RecursionError:
        raise ContextSerdeError(TOO_DEEP, path="$") from None
    except cattrs.StructureHandlerNotFoundError as exc:
        raise ContextSerdeError(
            f"Cannot restore a value of type {exc.type_!r}: it has no structure hook",
            path="$",
            advice="Register one on serializer.converter.",
        ) from None
    except (cattrs.BaseValidationError, ContextSerdeError) as exc:
        raise located(exc) from None
    return snapshot


def located(exc: BaseException, root: str = "$") -> ContextSerdeError:
    """The first error inside ``exc`` (a cattrs validation error tree) with its path.

    A ContextSerdeError raised by a hook is returned itself, its ``path`` set; a
    RecursionError (data nested deeper than Python's recursion limit allows) becomes
    TOO_DEEP; a class read from something other than an object is refused in the words
    cattrs uses for a number or null there; any other error becomes a ContextSerdeError
    with cattrs' description of it.
    """
    leaf, path, type_ = _first_leaf(exc, root)
    if isinstance(leaf, RecursionError):
        return ContextSerdeError(TOO_DEEP, path=shortened(path))
    if isinstance(leaf, AttributeError) and _read_from_object(type_):
        # cattrs' code for an attrs class or dataclass (forbidding extra keys) calls
        # ``o.keys()`` outside its per-field checks: a list or string there fails with an
        # AttributeError, which cattrs calls an "unknown error"; a number or null fails
        # earlier, with a TypeError, which it describes as below.
        return ContextSerdeError(
            f"Invalid value for type, expected {type_.__name__}", path=path, advice=DAMAGED
        )
    if isinstance(leaf, ContextSerdeError):
        # cattrs' notes ("Structuring class X @ attribute y") only repeat the path.
        vars(leaf).pop("__notes__", None)
        if leaf.path is None:
            leaf.path = path
        if leaf.advice is None:
            leaf.advice = DAMAGED
        return leaf
    reason = format_exception(leaf, type_)
    return ContextSerdeError(reason[:1].upper() + reason[1:], path=path, advice=DAMAGED)


def _read_from_object(kind: Any) -> bool:
    """Whether cattrs reads ``kind`` from a JSON object, field by field."""
    return isinstance(kind, type) and (attrs.has(kind) or dataclasses.is_dataclass(kind))


def shortened(path: str) -> str:
    """``path``, or when it is too deep to show, its start: 30 characters after its first
    index (or after its 8th character), then "..."."""
    if path.count("[") + path.count(".") <= DEEPEST_SHOWN:
        return path
    cut = max(path.find("[", 8), 8)
    return path[: cut + 30] + "..."


def _first_leaf(exc: BaseException, path: str) -> tuple[BaseException, str, Any]:
    """Walk down the first branch of a cattrs error tree: the leaf error, its path and type."""
    type_: Any = None
    while isinstance(exc, (cattrs.IterableValidationError, cattrs.ClassValidationError)):
        with_notes, without = exc.group_exceptions()
        if with_notes:
            inner, note = with_notes[0]
            if isinstance(note, cattrs.AttributeValidationNote):
                path = f"{path}.{note.name}"
            else:
                path = f"{path}[{note.index!r}]"
            exc, type_ = inner, note.type
        elif without:
            exc, type_ = without[0], None
        else:  # an empty group: nothing more specific to say
            break
    return exc, path, type_


def check_header(data: Any, workflow: str) -> int:
    """Check what every snapshot starts with; its version.

    Raises:
        ContextSerdeError: Not a dict, not a flowkit snapshot, a version this flowkit
            does not read, another workflow's snapshot, or too many events.
    """
    if not isinstance(data, dict):
        raise ContextSerdeError(
            f"A snapshot is a dict from ctx.to_dict(), got {type(data).__name__}.", path="$"
        )
    if data.get("format") != FORMAT:
        raise ContextSerdeError(
            f"Not a flowkit snapshot: its format is {_shown(data.get('format'), '$.format')}, "
            f"not {FORMAT!r}",
            path="$.format",
            advice="Pass the dict returned by ctx.to_dict().",
        )
    version = data.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise ContextSerdeError(
            f"Unsupported snapshot version {_shown(version, '$.version')}: this flowkit reads "
            f"versions {readable}",
            path="$.version",
            advice="Restore it with the flowkit release that wrote it, or a later one.",
        )
    if data.get("workflow") != workflow:
        raise ContextSerdeError(
            f"This snapshot is of workflow {_shown(data.get('workflow'), '$.workflow')}, not "
            f"{workflow!r}",
            path="$.workflow",
            advice="Restore it with Context.from_dict() on an instance of the workflow that "
            "made it.",
        )
    total = 0
    for key in ("queued", "in_progress", "stream", "waiters"):
        section = data.get(key)
        total += len(section) if isinstance(section, list) else 0
    collected = data.get("collected")
    if isinstance(collected, dict):
        total += sum(len(v) for v in collected.values() if isinstance(v, list))
    if total > MAX_EVENTS:
        raise ContextSerdeError(
            f"The snapshot holds {total} events, more than the limit of {MAX_EVENTS}.", path="$"
        )
    return version


def _shown(value: Any, path: str) -> str:
    """``repr(value)`` of the header field at ``path``, for a message.

    Raises:
        ContextSerdeError: The value is nested too deeply to show.
    """
    try:
        return repr(value)
    except RecursionError:
        raise ContextSerdeError(TOO_DEEP, path=path) from None
