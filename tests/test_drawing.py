"""flowkit.drawing: Mermaid, SVG, HTML and JSON of workflows and of runs' paths."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import pytest
from fixtures.drawing_workflows import (
    FailingWorkflow,
    FanOutFanIn,
    HumanInTheLoopWorkflow,
    ThirtySteps,
    WithResources,
)

from flowkit import Context
from flowkit.drawing import (
    MissingExtraError,
    NodeState,
    draw,
    draw_run,
    render,
    run_path,
    run_statistics,
    to_mermaid,
)
from flowkit.events import HumanResponseEvent, InputRequiredEvent
from flowkit.representation import WorkflowGraph, get_workflow_representation
from flowkit.statistics import RunStatistics, WaitingStep

SVG = "{http://www.w3.org/2000/svg}"

FINISHED = RunStatistics(
    step_runs={"split": 1, "summarize": 4, "join": 3},
    events={"StartEvent": 1, "Chunk": 3, "Summary": 3, "StopEvent": 1},
    finished=True,
)
FAILED = RunStatistics(
    step_runs={"check": 1, "explode": 3},
    events={"StartEvent": 1, "Checked": 1},
    failed_step="explode",
    finished=True,
)
PAUSED = RunStatistics(step_runs={"step1": 1}, events={"StartEvent": 1, "InputRequiredEvent": 1})


def graph_of(workflow: Any) -> WorkflowGraph:
    return get_workflow_representation(workflow)


# -- the run's path ----------------------------------------------------------------


def test_path_of_a_finished_run() -> None:
    path = run_path(graph_of(FanOutFanIn), FINISHED)
    assert path.counts["summarize"] == 4
    assert path.counts["Chunk"] == 3
    assert set(path.states.values()) == {NodeState.REACHED}
    assert ("join", "StopEvent") in path.taken
    assert path.summary() == "finished"


def test_path_of_a_failed_run() -> None:
    path = run_path(graph_of(FailingWorkflow), FAILED)
    assert path.states["explode"] is NodeState.FAILED
    assert path.states["check"] is NodeState.REACHED
    assert path.states["StopEvent"] is NodeState.NOT_REACHED
    assert ("explode", "StopEvent") not in path.taken
    assert ("Checked", "explode") in path.taken
    assert path.summary() == "failed"


def test_path_of_a_run_waiting_for_a_human() -> None:
    path = run_path(graph_of(HumanInTheLoopWorkflow), PAUSED)
    assert path.states["external_step"] is NodeState.WAITING
    assert path.notes["external_step"] == "waiting for a human"
    assert path.states["step2"] is NodeState.NOT_REACHED
    assert ("InputRequiredEvent", "external_step") in path.taken
    assert ("external_step", "HumanResponseEvent") not in path.taken
    assert path.summary() == "waiting for input"


def test_path_after_the_human_answered() -> None:
    answered = RunStatistics(
        step_runs={"step1": 1, "step2": 1},
        events={"StartEvent": 1, "InputRequiredEvent": 1, "HumanResponseEvent": 1, "StopEvent": 1},
        finished=True,
    )
    path = run_path(graph_of(HumanInTheLoopWorkflow), answered)
    assert path.states["external_step"] is NodeState.REACHED
    assert ("external_step", "HumanResponseEvent") in path.taken
    assert path.summary() == "finished"


def test_path_of_a_step_waiting_in_wait_for_event() -> None:
    stats = RunStatistics(
        step_runs={"step1": 1},
        events={"StartEvent": 1},
        waiting=(WaitingStep("step1", "HumanResponseEvent", "InputRequiredEvent"),),
    )
    path = run_path(graph_of(HumanInTheLoopWorkflow), stats)
    assert path.states["step1"] is NodeState.WAITING
    assert path.notes["step1"] == "waiting for HumanResponseEvent"
    assert path.states["HumanResponseEvent"] is NodeState.WAITING
    assert path.states["external_step"] is NodeState.WAITING


# -- Mermaid -----------------------------------------------------------------------


def test_mermaid_of_the_seed_workflow() -> None:
    text = draw(HumanInTheLoopWorkflow, "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    n_step1["step1"]' in lines
    assert '    n_StartEvent(["StartEvent"])' in lines
    assert '    n_external_step{{"external_step (human)"}}' in lines
    assert "    n_InputRequiredEvent --> n_external_step" in lines
    assert "    n_step2 --> n_StopEvent" in lines
    assert "    class n_StartEvent start" in lines
    assert "    class n_StopEvent stop" in lines


def test_mermaid_of_a_run_shows_counts_states_and_thick_edges() -> None:
    text = render(graph_of(FailingWorkflow), "mermaid", FAILED)
    assert '    n_explode["explode \u00d73 · failed"]' in text
    assert "    n_StartEvent ==> n_check" in text
    assert "    n_explode --> n_StopEvent" in text
    assert re.search(r"^    class n_explode failed$", text, re.M)
    assert re.search(r"^    class n_StopEvent notreached$", text, re.M)


def test_mermaid_resources_are_cylinders_with_labelled_edges() -> None:
    text = draw(WithResources, "mermaid")
    assert re.search(r'n_resource_\w+\[\("Database"\)\]', text)
    assert re.search(r'n_load -->\|"db"\| n_resource_\w+', text)
    assert re.search(r'n_resource_config_\w+>"Settings"\]', text)


def test_mermaid_escapes_labels_and_makes_ids_safe() -> None:
    graph = WorkflowGraph.model_validate(
        {
            "name": "g",
            "nodes": [
                {"id": "a b", "label": 'say "hi" <b>', "node_type": "step"},
                {"id": "a-b", "label": "end", "node_type": "step"},
            ],
            "edges": [{"source": "a b", "target": "a-b", "label": "x|y"}],
        }
    )
    text = to_mermaid(graph)
    assert 'n_a_b["say #quot;hi#quot; #lt;b#gt;"]' in text
    assert 'n_a_b_2["end"]' in text
    assert 'n_a_b -->|"x|y"| n_a_b_2' in text


# -- SVG and HTML --------------------------------------------------------------------


@pytest.mark.parametrize(
    "workflow", [HumanInTheLoopWorkflow, FanOutFanIn, WithResources, ThirtySteps]
)
def test_svg_is_well_formed_with_one_group_per_node(workflow: Any) -> None:
    graph = graph_of(workflow)
    root = ET.fromstring(draw(workflow, "svg"))
    assert root.tag == f"{SVG}svg"
    groups = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    assert [g.get("data-id") for g in groups] == [n.id for n in graph.nodes]
    edges = [p for p in root.iter(f"{SVG}path") if "edge" in p.get("class", "").split()]
    assert len(edges) == len(graph.edges)
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {n.id for n in graph.nodes if n.node_type == "step"} <= texts


def test_svg_shapes_differ_by_kind() -> None:
    root = ET.fromstring(draw(HumanInTheLoopWorkflow, "svg"))
    kinds = {
        g.get("data-id"): g.get("class", "").split()[1]
        for g in root.iter(f"{SVG}g")
        if g.get("data-id")
    }
    assert kinds == {
        "step1": "kind-step",
        "step2": "kind-step",
        "StartEvent": "kind-start",
        "StopEvent": "kind-stop",
        "InputRequiredEvent": "kind-event",
        "HumanResponseEvent": "kind-event",
        "external_step": "kind-external",
    }


def test_svg_boxes_do_not_overlap_at_thirty_steps() -> None:
    root = ET.fromstring(draw(ThirtySteps, "svg"))
    boxes = []
    for group in root.iter(f"{SVG}g"):
        if group.get("data-id"):
            shape = group.find(f"{SVG}rect[@class='shape']")
            if shape is not None:
                x, y = float(shape.get("x", 0)), float(shape.get("y", 0))
                boxes.append(
                    (x, y, x + float(shape.get("width", 0)), y + float(shape.get("height", 0)))
                )
    assert len(boxes) > 60
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_svg_of_a_run_marks_states_and_badges() -> None:
    root = ET.fromstring(render(graph_of(FailingWorkflow), "svg", FAILED))
    classes = {
        g.get("data-id"): g.get("class", "") for g in root.iter(f"{SVG}g") if g.get("data-id")
    }
    assert "state-failed" in classes["explode"]
    assert "state-not_reached" in classes["StopEvent"]
    badges = ["".join(t.itertext()) for t in root.iter(f"{SVG}g") if t.get("class") == "badge"]
    assert "\u00d73 failed" in badges
    taken = [p for p in root.iter(f"{SVG}path") if "taken" in p.get("class", "")]
    assert {(p.get("data-source"), p.get("data-target")) for p in taken} == {
        ("StartEvent", "check"),
        ("check", "Checked"),
        ("Checked", "explode"),
    }


def test_html_is_standalone_and_offline() -> None:
    page = draw(ThirtySteps, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+", page))
    assert urls == {"http://www.w3.org"}, "only the SVG namespace, which is never fetched"
    assert "<link" not in page
    assert re.search(r"<script[^>]*\ssrc=", page) is None
    assert "@import" not in page
    assert "url(" not in page.replace("url(#fk-arrow", "")


def test_html_details_carry_step_config_and_event_fields() -> None:
    page = draw(FanOutFanIn, "html")
    blob = re.search(
        r'<script type="application/json" id="flowkit-details">(.*?)</script>', page, re.S
    )
    assert blob is not None
    details = json.loads(blob.group(1))
    rows = dict(map(tuple, details["summarize"]["rows"]))
    assert rows["workers"] == "8"
    assert (
        rows["retry policy"]
        == "retry_policy(wait=wait_fixed(wait=0.0), stop=stop_after_attempt(max_attempt_number=3))"
    )
    assert rows["timeout"] == "none"
    assert dict(map(tuple, details["Chunk"]["rows"]))["fields"] == "index: int, text: str"


def test_html_escapes_text_from_the_workflow() -> None:
    graph = WorkflowGraph.model_validate(
        {
            "name": "<script>alert(1)</script>",
            "nodes": [{"id": "a", "label": "</script><b>", "node_type": "step"}],
            "edges": [],
        }
    )
    page = render(graph, "html")
    assert "<script>alert(1)" not in page
    assert "</script><b>" not in page


def test_json_of_a_run_is_still_a_graph() -> None:
    data = json.loads(render(graph_of(FailingWorkflow), "json", FAILED))
    assert data["run"]["statistics"]["failed_step"] == "explode"
    assert data["run"]["states"]["explode"] == "failed"
    assert ["check", "Checked"] in data["run"]["taken"]
    assert WorkflowGraph.model_validate(data) == graph_of(FailingWorkflow)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="Unknown drawing format 'png'; choose one of mermaid"):
        render(graph_of(FanOutFanIn), "png")  # type: ignore[arg-type]  # the wrong value on purpose


def test_svg_and_html_without_the_extra_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grandalf.layouts", None)  # makes the import fail
    for format in ("svg", "html"):
        with pytest.raises(MissingExtraError, match=r"pip install 'flowkit\[draw\]'"):
            draw(FanOutFanIn, format)
    assert draw(FanOutFanIn, "mermaid").startswith("flowchart")
    assert json.loads(draw(FanOutFanIn, "json"))["name"] == "FanOutFanIn"


def test_core_imports_without_the_extra() -> None:
    code = (
        "import sys; sys.modules['grandalf'] = None\n"
        "import flowkit, flowkit.representation, flowkit.drawing, flowkit.cli\n"
        "assert 'grandalf.layouts' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


# -- drawing real runs -----------------------------------------------------------------


def test_run_statistics_passes_statistics_through_and_rejects_other_things() -> None:
    assert run_statistics(FanOutFanIn, FINISHED) is FINISHED
    with pytest.raises(TypeError, match="Cannot draw a run from a int"):
        run_statistics(FanOutFanIn, 3)  # type: ignore[arg-type]  # the wrong value on purpose


async def test_draw_a_finished_run() -> None:
    workflow = FanOutFanIn()
    with anyio.fail_after(10):
        handler = workflow.run()
        await handler
    stats = run_statistics(workflow, handler)
    assert stats.finished
    assert stats.step_runs == {"split": 1, "summarize": 3, "join": 3}
    text = draw_run(workflow, handler, "mermaid")
    assert '"summarize \u00d73"' in text
    page = draw_run(workflow, handler.ctx, "html")
    assert "a run (finished)" in page


async def test_draw_a_failed_run() -> None:
    workflow = FailingWorkflow()
    with anyio.fail_after(10):
        handler = workflow.run()
        with pytest.raises(RuntimeError, match="boom"):
            await handler
    path = run_path(graph_of(workflow), run_statistics(workflow, handler))
    assert path.states["explode"] is NodeState.FAILED
    assert path.states["StopEvent"] is NodeState.NOT_REACHED
    assert "failed" in draw_run(workflow, handler, "svg")


async def test_draw_a_paused_run_from_its_snapshot() -> None:
    workflow = HumanInTheLoopWorkflow()
    with anyio.fail_after(10):
        handler = workflow.run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                snapshot = json.loads(json.dumps(handler.ctx.to_dict()))
                await handler.cancel_run()
                break
    path = run_path(graph_of(workflow), run_statistics(HumanInTheLoopWorkflow, snapshot))
    assert path.states["external_step"] is NodeState.WAITING
    assert path.counts["step1"] == 1
    assert path.states["step2"] is NodeState.NOT_REACHED
    assert "waiting for a human" in draw_run(workflow, snapshot, "mermaid")
    # Resumed and answered, the same snapshot's run goes on to the end.
    with anyio.fail_after(10):
        resumed = workflow.run(ctx=Context.from_dict(workflow, snapshot))
        resumed.ctx.send_event(HumanResponseEvent(response="42"))
        assert await resumed == "42"
    assert run_path(graph_of(workflow), run_statistics(workflow, resumed)).summary() == "finished"


async def test_draw_run_asks_the_context_for_its_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plumbing from handler, context and snapshot to ``Context.statistics()``."""
    asked: list[Context[Any]] = []

    def statistics(self: Context[Any]) -> RunStatistics:
        asked.append(self)
        return PAUSED

    monkeypatch.setattr(Context, "statistics", statistics, raising=False)
    workflow = HumanInTheLoopWorkflow()
    with anyio.fail_after(10):
        handler = workflow.run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                snapshot = handler.ctx.to_dict()
                await handler.cancel_run()
                break
    for source in (handler, handler.ctx, snapshot):
        assert "waiting for a human" in draw_run(workflow, source, "mermaid")
    assert asked[:2] == [handler.ctx, handler.ctx]
    assert isinstance(asked[2], Context)
    assert asked[2] is not handler.ctx, "a snapshot is restored into a new context"


def test_the_readme_picture_is_the_seed_workflow_drawn_now() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert found is not None
    assert found.group(1) == draw(HumanInTheLoopWorkflow, "mermaid")


def test_a_paused_run_waits_for_a_human_even_if_unconsumed_events_are_not_counted() -> None:
    stats = RunStatistics(step_runs={"step1": 1}, events={"StartEvent": 1})
    path = run_path(graph_of(HumanInTheLoopWorkflow), stats)
    assert path.states["external_step"] is NodeState.WAITING
    assert ("step1", "InputRequiredEvent") in path.taken
    assert ("InputRequiredEvent", "external_step") in path.taken
    finished = RunStatistics(step_runs={"step1": 1}, events={"StartEvent": 1}, finished=True)
    assert run_path(graph_of(HumanInTheLoopWorkflow), finished).summary() == "finished"
