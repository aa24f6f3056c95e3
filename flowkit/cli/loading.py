"""Load the object a ``MODULE:NAME`` argument names, with a one-line error when it cannot be."""

from __future__ import annotations

import importlib
import os
import sys

from .errors import CommandError

__all__ = ["load_object"]


def load_object(spec: str) -> object:
    """Import ``MODULE`` and return its attribute ``NAME`` (dots walk nested attributes).

    The current directory is searched first, as ``python -m`` does, so ``flowkit draw app:Flow``
    finds ``./app.py``.

    Raises:
        CommandError: ``spec`` is not ``MODULE:NAME``, the module cannot be imported, or it has
            no attribute ``NAME``.
    """
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise CommandError(
            f"expected MODULE:NAME, got {spec!r} (for example myapp.flows:MyWorkflow)"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CommandError(f"cannot find module {module_name!r}") from None
        raise CommandError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:
        raise CommandError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CommandError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    return obj
