"""A standalone HTML page of a workflow: its own SVG, styles and script; nothing is fetched.

A Content-Security-Policy forbids every fetch (``default-src 'none'``), so the page stays
offline even if a label held a URL. Hovering a node shows its details; clicking pins them.
"""

from __future__ import annotations

import json
from html import escape

from ..representation import WorkflowGraph
from .details import node_details
from .layout import layout_graph
from .path import RunPath
from .style import FONT_FAMILY, Kind, node_style
from .svg import render_svg

__all__ = ["to_html"]

_PAGE_STYLE = f"""
* {{ box-sizing: border-box; }}
body {{ margin: 0; font-family: {FONT_FAMILY}; color: #1f2430; background: #fafbfc; }}
header {{ padding: 14px 20px 10px; border-bottom: 1px solid #e3e6eb; background: #ffffff; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
header p {{ margin: 0; color: #5b6475; font-size: 13px; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 14px; margin-top: 8px; font-size: 12px; }}
.legend span {{ display: inline-flex; align-items: center; gap: 6px; }}
.legend i {{ display: inline-block; width: 22px; height: 12px; border: 2px solid; }}
.l-step {{ background: #e8f0fe; border-color: #3b6fd8 !important; border-radius: 3px; }}
.l-catch {{ background: #fdecea; border-color: #c0392b !important; border-style: dashed !important;
  border-radius: 3px; }}
.l-event {{ background: #f6f7f9; border-color: #8a94a6 !important; border-radius: 7px; }}
.l-start {{ background: #e3f6e8; border-color: #2f9e55 !important; border-radius: 7px; }}
.l-stop {{ background: #3a4250; border-color: #1f242c !important; border-radius: 7px; }}
.l-external {{ background: #fff4d6; border-color: #d99a00 !important;
  clip-path: polygon(20% 0, 80% 0, 100% 50%, 80% 100%, 20% 100%, 0 50%); }}
.l-resource {{ background: #f1e8fd; border-color: #7b3fd8 !important; border-radius: 40%/30%; }}
.l-config {{ background: #e4f5f4; border-color: #1f8f88 !important; }}
.l-taken {{ border: 0 !important; height: 3px !important; background: #2563eb; }}
.l-failed {{ background: #fbd5d0; border-color: #c0392b !important; }}
.l-waiting {{ background: #ffe8a3; border-color: #d99a00 !important; }}
main {{ display: flex; align-items: flex-start; }}
#canvas {{ flex: 1; overflow: auto; padding: 8px; min-height: 60vh; }}
#canvas svg {{ display: block; margin: 0 auto; }}
aside {{ width: 320px; flex: none; position: sticky; top: 0; max-height: 100vh; overflow: auto;
  border-left: 1px solid #e3e6eb; background: #ffffff; padding: 14px 16px; font-size: 13px; }}
aside h2 {{ font-size: 15px; margin: 0 0 2px; word-break: break-all; }}
aside .kind {{ color: #5b6475; margin-bottom: 10px; }}
aside dl {{ margin: 0; }}
aside dt {{ font-weight: 600; color: #3b4352; margin-top: 8px; }}
aside dd {{ margin: 2px 0 0; white-space: pre-wrap; word-break: break-word; }}
aside .hint {{ color: #7a8294; }}
"""

_SCRIPT = """
(function () {
  var details = JSON.parse(document.getElementById('flowkit-details').textContent);
  var panel = document.getElementById('details');
  var empty = panel.innerHTML;
  var pinned = null;
  function show(id) {
    var d = details[id];
    if (!d) { panel.innerHTML = empty; return; }
    panel.textContent = '';
    var h = document.createElement('h2'); h.textContent = d.label; panel.appendChild(h);
    var k = document.createElement('div'); k.className = 'kind'; k.textContent = d.kind;
    panel.appendChild(k);
    var dl = document.createElement('dl');
    d.rows.forEach(function (row) {
      var dt = document.createElement('dt'); dt.textContent = row[0]; dl.appendChild(dt);
      var dd = document.createElement('dd'); dd.textContent = row[1]; dl.appendChild(dd);
    });
    panel.appendChild(dl);
  }
  function select(node) {
    document.querySelectorAll('.node.selected').forEach(function (n) {
      n.classList.remove('selected');
    });
    if (node) { node.classList.add('selected'); }
  }
  document.querySelectorAll('.node').forEach(function (node) {
    var id = node.getAttribute('data-id');
    node.addEventListener('mouseenter', function () { if (!pinned) { show(id); } });
    node.addEventListener('mouseleave', function () { if (!pinned) { panel.innerHTML = empty; } });
    node.addEventListener('focus', function () { pinned = id; select(node); show(id); });
    node.addEventListener('click', function (event) {
      event.stopPropagation();
      pinned = id; select(node); show(id);
    });
  });
  document.getElementById('canvas').addEventListener('click', function () {
    pinned = null; select(null); panel.innerHTML = empty;
  });
})();
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _legend(kinds: set[Kind], run: bool) -> str:
    items = [
        (css, text)
        for css, text, kind in (
            ("l-start", "start", Kind.START),
            ("l-step", "step", Kind.STEP),
            ("l-catch", "error handler", Kind.CATCH_ERROR),
            ("l-event", "event", Kind.EVENT),
            ("l-external", "human in the loop", Kind.EXTERNAL),
            ("l-resource", "resource", Kind.RESOURCE),
            ("l-config", "resource config", Kind.RESOURCE_CONFIG),
            ("l-stop", "stop", Kind.STOP),
        )
        if kind in kinds
    ]
    if run:
        items += [("l-taken", "path taken"), ("l-failed", "failed"), ("l-waiting", "waiting")]
    return "".join(f'<span><i class="{c}"></i>{escape(t)}</span>' for c, t in items)


def to_html(graph: WorkflowGraph, path: RunPath | None = None) -> str:
    """The graph (and a run's path) as one standalone, offline HTML page.

    Raises:
        MissingExtraError: The ``draw`` extra (grandalf) is not installed.
    """
    styles = {node.id: node_style(node) for node in graph.nodes}
    layout = layout_graph(graph, styles, "an HTML page")
    svg = render_svg(graph, layout, styles, path)
    data = json.dumps(node_details(graph, path), ensure_ascii=False).replace("</", "<\\/")
    title = graph.name if path is None else f"{graph.name}: a run ({path.summary()})"
    about = f"<p>{escape(graph.description)}</p>" if graph.description else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_PAGE_STYLE}</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
{about}
<div class="legend">{_legend({s.kind for s in styles.values()}, path is not None)}</div>
</header>
<main>
<div id="canvas">
{svg}</div>
<aside id="details"><p class="hint">Hover over a node to see its details: the fields of an
event, a step's workers, retry policy and timeout. Click a node to pin them.</p></aside>
</main>
<script type="application/json" id="flowkit-details">{data}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""
