"""The drawings in a real headless chromium: the HTML page offline, and Mermaid text in mermaid.

Driven over the DevTools protocol (tests/fixtures/browser.py). Skipped, with the reason,
where chromium or the mermaid package is missing; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.browser import Browser, chromium_path, mermaid_js, open_browser, png_pixels, require
from fixtures.drawing_workflows import (
    FailingWorkflow,
    FanOutFanIn,
    HumanInTheLoopWorkflow,
    ThirtySteps,
    WithResources,
)

from flowkit.drawing import render
from flowkit.drawing.mermaid import to_mermaid
from flowkit.drawing.path import run_path
from flowkit.representation import WorkflowGraph, get_workflow_representation
from flowkit.statistics import RunStatistics

FAILED = RunStatistics(
    step_runs={"check": 1, "explode": 3},
    events={"StartEvent": 1, "Checked": 1},
    failed_step="explode",
    finished=True,
)
PAUSED = RunStatistics(step_runs={"step1": 1}, events={"StartEvent": 1, "InputRequiredEvent": 1})

CASES: dict[str, tuple[Any, RunStatistics | None]] = {
    "seed": (HumanInTheLoopWorkflow, None),
    "fan-out-fan-in": (FanOutFanIn, None),
    "resources": (WithResources, None),
    "thirty-steps": (ThirtySteps, None),
    "failed-run": (FailingWorkflow, FAILED),
    "paused-run": (HumanInTheLoopWorkflow, PAUSED),
}


@pytest.fixture
def browser() -> Iterator[Browser]:
    require("chromium", chromium_path())
    with open_browser() as opened:
        yield opened


def assert_not_blank(png: bytes) -> None:
    """Many pixels differ from the background, in several colours: something was drawn."""
    width, height, rows = png_pixels(png)
    background = rows[-1][-3:]
    pixels = [row[i : i + 3] for row in rows[::4] for i in range(0, width * 3, 12)]
    drawn = [p for p in pixels if p != background]
    assert width >= 400
    assert height >= 300
    assert len(drawn) > len(pixels) // 100, "the screenshot is (nearly) blank"
    assert len(set(drawn)) > 20, "the screenshot has too few colours to be a drawing"


@pytest.mark.parametrize("case", list(CASES))
def test_html_page_renders_offline(case: str, browser: Browser, tmp_path: Path) -> None:
    workflow, stats = CASES[case]
    graph = get_workflow_representation(workflow)
    page = tmp_path / f"{case}.html"
    page.write_text(render(graph, "html", stats), encoding="utf-8")

    browser.open(page.as_uri())
    assert browser.requested_urls() == [page.as_uri()], "no request may leave the page"
    assert browser.errors() == []
    drawn_ids = browser.evaluate(
        "Array.from(document.querySelectorAll('svg .node')).map(g => g.dataset.id)"
    )
    assert drawn_ids == [n.id for n in graph.nodes]
    text = browser.evaluate("document.querySelector('svg').textContent")
    steps = [n.id for n in graph.nodes if n.node_type == "step"]
    assert steps
    for name in steps:
        assert name in text, f"step {name} is not in the rendered page"
    sizes = browser.evaluate(
        "Array.from(document.querySelectorAll('svg .node')).map(g => {"
        "const b = g.getBBox(); return [b.width, b.height]; })"
    )
    assert all(w > 40 and h > 20 for w, h in sizes)
    assert_not_blank(browser.screenshot())
    assert browser.requested_urls() == [page.as_uri()]


def test_hover_and_click_show_details(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "fan.html"
    page.write_text(render(get_workflow_representation(FanOutFanIn), "html"), encoding="utf-8")
    browser.open(page.as_uri())
    x, y = browser.evaluate(
        "(() => { const r = document.querySelector('[data-id=summarize]')"
        ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x, y=y)
    panel = browser.evaluate("document.getElementById('details').innerText")
    assert "summarize" in panel
    assert "workers\n8" in panel
    assert (
        "retry_policy(wait=wait_fixed(wait=0.0), stop=stop_after_attempt(max_attempt_number=3))"
        in panel
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser.call(
            "Input.dispatchMouseEvent",
            session=True,
            type=kind,
            x=x,
            y=y,
            button="left",
            clickCount=1,
        )
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=5, y=5)
    assert "summarize" in browser.evaluate("document.getElementById('details').innerText")
    assert browser.evaluate("document.querySelectorAll('.node.selected').length") == 1
    assert browser.errors() == []


@pytest.mark.parametrize("case", list(CASES))
def test_mermaid_accepts_and_renders_the_text(case: str, browser: Browser, tmp_path: Path) -> None:
    bundle = mermaid_js()
    require("the mermaid npm package", bundle)
    assert bundle is not None
    workflow, stats = CASES[case]
    graph: WorkflowGraph = get_workflow_representation(workflow)
    text = to_mermaid(graph, None if stats is None else run_path(graph, stats))
    page = tmp_path / "mermaid.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><script src="{bundle.as_uri()}">'
        '</script></head><body><div id="out"></div></body></html>',
        encoding="utf-8",
    )
    browser.open(page.as_uri())
    svg = browser.evaluate(
        "(async () => {"
        " mermaid.initialize({startOnLoad: false, securityLevel: 'strict'});"
        f" const text = {json.dumps(text)};"
        " await mermaid.parse(text);"
        " const result = await mermaid.render('drawing', text);"
        " document.getElementById('out').innerHTML = result.svg;"
        " return result.svg; })()",
        timeout=60,
    )
    assert isinstance(svg, str)
    assert "Syntax error" not in svg
    rendered = browser.evaluate("document.getElementById('out').textContent")
    for node in graph.nodes:
        assert node.label in rendered, f"{node.label} is not in mermaid's drawing"
    node_ids = browser.evaluate(
        "Array.from(document.querySelectorAll('#out g.node')).map(g => g.id)"
    )
    assert len(node_ids) == len(graph.nodes)
    assert_not_blank(browser.screenshot())
    assert browser.errors() == []
