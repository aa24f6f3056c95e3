"""The pydantic-style methods of every event (no pydantic needed): dump, copy, validate, repr."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from enum import Enum

import attrs
from hypothesis import given
from hypothesis import strategies as st

from flowkit.events import Event


class Plain(Event):
    sku: str
    tags: list[str] = []  # noqa: RUF012  # events copy mutable defaults per instance


def test_underscore_annotations_without_private_attr_are_private_too() -> None:
    class Tracked(Event):
        name: str
        _hits: int = 0

    tracked = Tracked(name="a")
    assert tracked._hits == 0
    tracked._hits += 1
    assert tracked._hits == 1
    assert tracked.model_dump() == {"name": "a"}


class Color(Enum):
    RED = "red"


@attrs.define
class Point:
    x: int
    y: int


class Rich(Event):
    when: dt.datetime
    ident: uuid.UUID
    color: Color
    inner: Event | None = None
    point: Point | None = None
    pair: tuple[int, int] = (1, 2)
    gap: dt.timedelta = dt.timedelta(seconds=90, microseconds=500_000)


def _rich() -> Rich:
    return Rich(
        when=dt.datetime(2024, 5, 1, 12, 30),
        ident=uuid.UUID(int=1),
        color=Color.RED,
        inner=Plain(sku="A"),
        point=Point(1, 2),
        extra={"k": dt.date(2024, 1, 1)},
    )


def test_model_dump_python_mode_keeps_python_values() -> None:
    dumped = _rich().model_dump()
    assert dumped["when"] == dt.datetime(2024, 5, 1, 12, 30)
    assert dumped["color"] is Color.RED
    assert dumped["inner"]["sku"] == "A"
    assert dumped["point"] == {"x": 1, "y": 2}
    assert dumped["pair"] == (1, 2)
    assert dumped["_data"] == {"extra": {"k": dt.date(2024, 1, 1)}}


def test_model_dump_json_mode_gives_json_types() -> None:
    dumped = _rich().model_dump(mode="json")
    assert dumped == {
        "when": "2024-05-01T12:30:00",
        "ident": "00000000-0000-0000-0000-000000000001",
        "color": "red",
        "inner": {"sku": "A", "tags": []},
        "point": {"x": 1, "y": 2},
        "pair": [1, 2],
        "gap": "PT90.5S",
        "_data": {"extra": {"k": "2024-01-01"}},
    }
    assert json.loads(_rich().model_dump_json()) == dumped


def test_model_dump_exclude_none() -> None:
    assert "inner" not in Rich(
        when=dt.datetime(2024, 1, 1), ident=uuid.UUID(int=0), color=Color.RED
    ).model_dump(exclude_none=True)


def test_plain_events_repr_like_the_incumbent_and_hide_extra_fields() -> None:
    assert repr(Plain(sku="A", extra=1)) == "Plain(sku='A', tags=[])"
    assert str(Plain(sku="A")) == "sku='A' tags=[]"


def test_a_model_config_class_attribute_is_ignored() -> None:
    class Configured(Event):
        model_config = {"arbitrary_types_allowed": True}  # noqa: RUF012  # as pydantic code has
        x: int = 1

    assert Configured().model_dump() == {"x": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    sku=st.text(),
    tags=st.lists(st.text(), max_size=3),
    extras=st.dictionaries(
        st.text().filter(lambda k: k not in {"sku", "tags", "_data"}), json_values, max_size=3
    ),
)
def test_model_validate_of_model_dump_json_gives_the_event_back(
    sku: str, tags: list[str], extras: dict[str, object]
) -> None:
    event = Plain(sku=sku, tags=tags, **extras)
    assert Plain.model_validate_json(event.model_dump_json()) == event
    assert Plain.model_validate(event.model_dump()) == event
