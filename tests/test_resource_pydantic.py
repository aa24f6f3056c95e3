"""ResourceConfig loading into a pydantic model, the way llama-index-workflows documents it.

Needs pydantic: tests/conftest.py skips ``*_pydantic.py`` files when it is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from flowkit.resource import ResourceConfig, ResourceManager


class ClassifierConfig(pydantic.BaseModel):
    categories: list[str]
    threshold: float = pydantic.Field(ge=0, le=1)


async def test_config_loads_into_a_pydantic_model(tmp_path: Path) -> None:
    path = tmp_path / "classifier.json"
    path.write_text(json.dumps({"clf": {"categories": ["a"], "threshold": 0.3}}))
    descriptor = ResourceConfig(config_file=str(path), path_selector="clf")
    descriptor.set_type_annotation(ClassifierConfig)
    assert await ResourceManager().get(descriptor) == ClassifierConfig(
        categories=["a"], threshold=0.3
    )


async def test_a_pydantic_validation_error_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "classifier.json"
    path.write_text(json.dumps({"categories": ["a"], "threshold": 3}))
    descriptor = ResourceConfig(config_file=str(path))
    descriptor.set_type_annotation(ClassifierConfig)
    with pytest.raises(ValueError, match=r"(?s)does not fit ClassifierConfig: .*threshold") as info:
        await ResourceManager().get(descriptor)
    assert str(path) in str(info.value)
