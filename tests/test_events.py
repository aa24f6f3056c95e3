"""Tests for flowkit.events: attrs-based events with extra keyword fields."""

import keyword
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowkit.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)


class Article(Event):
    title: str
    words: int = 0
    # Mutable defaults on purpose: each instance must get its own copy.
    tags: list[str] = []  # noqa: RUF012
    meta: dict[str, int] = {}  # noqa: RUF012
    seen: set[int] = set()  # noqa: RUF012


class Review(Article):
    score: float


class Answer(StopEvent):
    answer: int


class Question(InputRequiredEvent):
    question: str


class Reply(HumanResponseEvent):
    approved: bool = False


# Names the Event class itself defines (methods, fields): extra fields with these
# names are still stored, but attribute access finds the class's own member first.
_EVENT_MEMBERS = frozenset(dir(StartEvent))

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: name not in _EVENT_MEMBERS and not keyword.iskeyword(name)
)
extra_fields = st.dictionaries(
    identifiers, st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.booleans()))
)


# -- events are attrs classes -------------------------------------------------------


def test_subclass_is_an_attrs_class_without_a_decorator() -> None:
    assert attrs.has(Article)
    fields = attrs.fields_dict(Article)
    assert fields["title"].type is str
    assert fields["words"].type is int
    assert fields["words"].default == 0


def test_grandchild_inherits_the_fields_of_its_parent() -> None:
    review = Review(title="T", score=4.5)
    assert (review.title, review.words, review.score) == ("T", 0, 4.5)
    assert attrs.has(Review)
    assert {"title", "words", "tags", "score"} <= set(attrs.fields_dict(Review))


def test_declared_fields_and_defaults() -> None:
    article = Article(title="Hello")
    assert article.title == "Hello"
    assert article.words == 0
    assert article.tags == []
    assert article.meta == {}
    assert article.seen == set()
    assert len(article) == 0  # declared fields are not extra fields


def test_mutable_defaults_are_not_shared_between_instances() -> None:
    first, second = Article(title="a"), Article(title="b")
    first.tags.append("x")
    first.meta["k"] = 1
    first.seen.add(1)
    assert second.tags == []
    assert second.meta == {}
    assert second.seen == set()
    assert Article(title="c").tags == []


def test_missing_required_field_raises_type_error_naming_the_class() -> None:
    with pytest.raises(TypeError, match=r"^Article\(\) missing 1 required keyword-only argument"):
        Article()
    with pytest.raises(TypeError, match=r"^Review\(\) missing 1 required keyword-only argument"):
        Review(title="T")


def test_missing_required_fields_of_terminal_events_raise_type_error() -> None:
    with pytest.raises(TypeError, match=r"^WorkflowTimedOutEvent\(\) missing 2 required"):
        WorkflowTimedOutEvent()
    with pytest.raises(TypeError, match=r"^WorkflowFailedEvent\(\) missing 2 required"):
        WorkflowFailedEvent()


# -- every way of building an event gives the same event ------------------------------

_NO_DEFAULT = object()

# A field of a generated event class: its name, and its default (a value, a factory, or none).
field_shapes = st.lists(
    st.tuples(
        identifiers,
        st.one_of(st.just(_NO_DEFAULT), st.integers(), st.just(attrs.Factory(list))),
    ),
    max_size=4,
    unique_by=lambda shape: shape[0],
)


def _event_class(shapes: list[tuple[str, Any]]) -> type[Event]:
    namespace: dict[str, Any] = {"__annotations__": {name: "Any" for name, _ in shapes}}
    for name, default in shapes:
        if default is not _NO_DEFAULT:
            namespace[name] = attrs.field(default=default)
    return type("Shaped", (Event,), namespace)


def _built(build: Any) -> tuple[str, Any]:
    try:
        event = build()
    except TypeError as exc:
        return "TypeError", str(exc)
    return "event", dict(vars(event))


@given(shapes=field_shapes, data=st.data())
def test_a_plain_event_class_builds_exactly_what_events_general_init_builds(
    shapes: list[tuple[str, Any]], data: st.DataObject
) -> None:
    """A plain class gets an __init__ of its own, made for speed: it must change nothing."""
    cls = _event_class(shapes)
    given_fields = data.draw(st.sets(st.sampled_from([name for name, _ in shapes] or ["x"])))
    kwargs: dict[str, Any] = {name: data.draw(st.integers()) for name in given_fields}
    kwargs.update(data.draw(extra_fields.filter(lambda extra: not extra.keys() & kwargs.keys())))
    if data.draw(st.booleans()):
        kwargs["_data"] = {"kept": 1}

    def general() -> Event:
        event = cls.__new__(cls)
        Event.__init__(event, **kwargs)
        return event

    assert cls.__init__ is not Event.__init__
    assert _built(lambda: cls(**kwargs)) == _built(general)


def test_an_event_init_that_calls_super_fills_the_subclass_fields() -> None:
    class Base(Event):
        a: int

    class Custom(Base):
        b: int = 2
        tags: list[str] = []  # noqa: RUF012

        def __init__(self, a: int, **kwargs: Any) -> None:
            super().__init__(a=a, **kwargs)

    class Below(Custom):
        c: int = 3

    assert vars(Custom(1)) == {"a": 1, "b": 2, "tags": [], "_data": {}}
    assert vars(Below(1, extra="x")) == {
        "a": 1,
        "b": 2,
        "tags": [],
        "c": 3,
        "_data": {"extra": "x"},
    }
    assert Custom(1).tags is not Custom(1).tags


def test_a_subclass_with_a_validated_field_validates_below_a_plain_parent() -> None:
    class Plain(Event):
        a: int

    class Checked(Plain):
        b: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))

    assert Checked(a=1, b=2).b == 2
    with pytest.raises(TypeError, match="'b' must be <class 'int'>"):
        Checked(a=1, b="two")


def test_an_event_takes_no_positional_arguments() -> None:
    with pytest.raises(TypeError, match=r"^Review.__init__\(\) takes 1 positional argument but 2"):
        Review("T")  # type: ignore[call-arg]


def test_assigning_a_declared_field_does_not_create_an_extra_field() -> None:
    article = Article(title="a")
    article.title = "b"
    assert article.title == "b"
    assert "title" not in article
    assert len(article) == 0


# -- extra keyword fields -----------------------------------------------------------


def test_extra_fields_are_readable_as_attributes_and_by_key() -> None:
    article = Article(title="T", topic="cats", count=3)
    assert article.title == "T"
    assert article.topic == "cats"
    assert article["topic"] == "cats"
    assert article.get("count") == 3
    assert article.get("missing") is None
    assert article.get("missing", 7) == 7
    assert "topic" in article
    assert "title" not in article  # `in` looks at extra fields only, as in the incumbent
    assert list(article.keys()) == ["topic", "count"]
    assert list(article.values()) == ["cats", 3]
    assert list(article.items()) == [("topic", "cats"), ("count", 3)]
    assert list(article) == ["topic", "count"]
    assert len(article) == 2
    assert article.to_dict() == {"topic": "cats", "count": 3}


def test_setitem_adds_or_replaces_an_extra_field() -> None:
    ev = Event(a=1)
    ev["a"] = 2
    ev["b"] = 3
    assert (ev.a, ev["a"], ev.get("a")) == (2, 2, 2)
    assert (ev.b, ev["b"], ev.get("b")) == (3, 3, 3)
    assert dict(ev.items()) == {"a": 2, "b": 3}


def test_setting_an_undeclared_attribute_stores_an_extra_field() -> None:
    """The incumbent routes ``ev.name = value`` for an undeclared name into the extras."""
    ev = Event(a=1)
    for name, value in {"a": 2, "b": 3}.items():
        setattr(ev, name, value)  # as `ev.a = 2`, which mypy rejects without __setattr__
    assert ev["a"] == 2
    assert ev["b"] == 3
    assert dict(ev.items()) == {"a": 2, "b": 3}


def test_missing_extra_field_raises_attribute_error_and_key_error() -> None:
    ev = Article(title="T")
    with pytest.raises(AttributeError, match=r"^'Article' object has no attribute 'nope'$"):
        _ = ev.nope
    with pytest.raises(KeyError, match=r"^'nope'$"):
        _ = ev["nope"]


def test_event_is_truthy_even_without_extra_fields() -> None:
    assert len(Event()) == 0
    assert bool(Event())
    assert bool(StopEvent())
    assert bool(Article(title=""))


@given(extra_fields)
def test_extra_fields_round_trip_through_every_access(extras: dict[str, Any]) -> None:
    ev = StartEvent(**extras)
    assert dict(ev.items()) == extras
    assert len(ev) == len(extras)
    assert set(ev.keys()) == set(extras)
    for name, value in extras.items():
        assert name in ev
        assert getattr(ev, name) == value
        assert ev[name] == value
        assert ev.get(name, object()) == value


@given(extra_fields, identifiers)
def test_get_returns_the_default_for_any_absent_name(extras: dict[str, Any], name: str) -> None:
    ev = Event(**extras)
    default = object()
    if name in extras:
        assert ev.get(name, default) == extras[name]
    else:
        assert ev.get(name, default) is default
        assert name not in ev


@given(extra_fields)
def test_events_with_the_same_extras_are_equal(extras: dict[str, Any]) -> None:
    assert Article(title="t", **extras) == Article(title="t", **extras)
    assert Article(title="t", **extras) != Article(title="u", **extras)


# -- equality and repr --------------------------------------------------------------


def test_equality_compares_class_declared_fields_and_extras() -> None:
    assert Article(title="a", words=2) == Article(title="a", words=2)
    assert Article(title="a", words=2) != Article(title="a", words=3)
    assert Article(title="a", extra=1) == Article(title="a", extra=1)
    assert Article(title="a", extra=1) != Article(title="a", extra=2)
    assert Article(title="a") != Article(title="a", extra=1)
    assert StartEvent() != Event()
    assert StopEvent(result=1) == StopEvent(result=1)


def test_repr_shows_the_class_and_declared_fields() -> None:
    assert repr(Article(title="a")) == "Article(title='a', words=0, tags=[], meta={}, seen=set())"
    assert repr(StopEvent(result=5)) == "StopEvent(result=5)"
    assert repr(Event()) == "Event()"


# -- StartEvent and StopEvent -------------------------------------------------------


def test_start_event_carries_keyword_arguments() -> None:
    ev = StartEvent(topic="cats", limit=3)
    assert (ev.topic, ev["limit"]) == ("cats", 3)
    assert dict(ev.items()) == {"topic": "cats", "limit": 3}


def test_stop_event_result_by_keyword_or_position() -> None:
    assert StopEvent().result is None
    assert StopEvent(result=5).result == 5
    assert StopEvent(5).result == 5
    assert StopEvent(5) == StopEvent(result=5)
    assert str(StopEvent(result="done")) == "done"
    assert len(StopEvent(result=5)) == 0  # result is a declared field, not an extra


def test_stop_event_accepts_extra_fields() -> None:
    ev = StopEvent(result=1, note="n")
    assert (ev.result, ev.note, ev["note"]) == (1, "n", "n")


def test_typed_stop_event_subclass() -> None:
    ev = Answer(answer=42)
    assert isinstance(ev, StopEvent)
    assert attrs.fields_dict(Answer)["answer"].type is int
    assert ev.answer == 42
    assert ev.result is None
    assert Answer(7, answer=1).result == 7
    with pytest.raises(TypeError, match=r"^Answer\(\) missing 1 required keyword-only argument"):
        Answer()


# -- human in the loop --------------------------------------------------------------


def test_input_required_and_human_response_carry_keyword_payloads() -> None:
    ask = InputRequiredEvent(prefix="Name? ")
    answer = HumanResponseEvent(response="Ada")
    assert (ask.prefix, ask["prefix"]) == ("Name? ", "Name? ")
    assert (answer.response, answer.get("response")) == ("Ada", "Ada")


def test_hitl_subclasses_with_payload_fields() -> None:
    ask = Question(question="Proceed?", prefix="> ")
    assert isinstance(ask, InputRequiredEvent)
    assert (ask.question, ask.prefix) == ("Proceed?", "> ")
    assert dict(ask.items()) == {"prefix": "> "}
    reply = Reply(approved=True, response="yes")
    assert isinstance(reply, HumanResponseEvent)
    assert (reply.approved, reply.response) == (True, "yes")
    assert Reply().approved is False


# -- terminal events ----------------------------------------------------------------


def test_workflow_timed_out_event_fields() -> None:
    ev = WorkflowTimedOutEvent(timeout=1.5, active_steps=["slow"])
    assert isinstance(ev, StopEvent)
    assert (ev.timeout, ev.active_steps) == (1.5, ["slow"])
    assert {"timeout", "active_steps"} <= set(attrs.fields_dict(WorkflowTimedOutEvent))


def test_workflow_failed_event_fields() -> None:
    error = ValueError("boom")
    ev = WorkflowFailedEvent(step_name="parse", exception=error, attempts=2)
    assert isinstance(ev, StopEvent)
    assert ev.step_name == "parse"
    assert ev.exception is error
    assert ev.attempts == 2
    assert ev.elapsed_seconds is None
    assert WorkflowFailedEvent(step_name="s", exception=error).attempts is None


def test_workflow_cancelled_event() -> None:
    ev = WorkflowCancelledEvent()
    assert isinstance(ev, StopEvent)
    assert ev.result is None
    assert ev == WorkflowCancelledEvent()
