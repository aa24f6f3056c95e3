"""The run context (``Context``), its store and its serializers."""

from .context import Context
from .serializers import BaseSerializer, JsonSerializer, PickleSerializer

__all__ = ["BaseSerializer", "Context", "JsonSerializer", "PickleSerializer"]
