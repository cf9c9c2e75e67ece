"""Workflows, runs and document collections: the client's own logic without a server,
then `Workflows` / `AsyncWorkflows` against the live development server.

The server is shared by the whole session, so each test uses ids and collection names
of its own and filters lists by them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from warden_client import (
    AsyncWorkflows,
    CollectionInfo,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    Run,
    Sandbox,
    SearchHit,
    WorkflowInfo,
    WorkflowInvalidError,
    Workflows,
)
from warden_client._shared import definition_json, documents_body

DOUBLE = {
    "name": "double",
    "inputs": ["x"],
    "nodes": [
        {"id": "start", "type": "start"},
        {
            "id": "twice",
            "type": "code",
            "config": {
                "language": "python",
                "code": "print('doubling', input_data['x'])\nresult = input_data['x'] * 2",
                "input_mapping": {"x": "inputs.x"},
                "output_mapping": {"y": "result"},
            },
        },
        {"id": "end", "type": "end", "config": {"output": {"y": "y"}}},
    ],
    "edges": [{"source": "start", "target": "twice"}, {"source": "twice", "target": "end"}],
}

TRIPLE_YAML = """
name: double
inputs: [x]
nodes:
  - {id: start, type: start}
  - id: twice
    type: code
    config:
      language: python
      code: "result = input_data['x'] * 3"
      input_mapping: {x: inputs.x}
      output_mapping: {y: result}
  - {id: end, type: end, config: {output: {y: y}}}
edges:
  - {source: start, target: twice}
  - {source: twice, target: end}
"""

BROKEN = {
    "name": "broken",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "mystery", "type": "teleport"},
        {"id": "island", "type": "variable", "config": {"set": {"a": "1"}}},
        {"id": "end", "type": "end"},
    ],
    "edges": [
        {"source": "start", "target": "mystery"},
        {"source": "mystery", "target": "end"},
        {"source": "start", "target": "ghost"},
    ],
}

RUN_EVENTS = ["run_started"] + ["node_started", "node_finished"] * 3 + ["run_finished"]


def code_flow(code: str, name: str = "inline") -> dict[str, Any]:
    """start → one Python code node (``input_data`` in, ``result`` out to ``out``) → end."""
    return {
        "name": name,
        "inputs": ["values"],
        "nodes": [
            {"id": "start", "type": "start"},
            {
                "id": "work",
                "type": "code",
                "config": {
                    "language": "python",
                    "code": code,
                    "input_mapping": {"values": "inputs.values"},
                    "output_mapping": {"out": "result"},
                },
            },
            {"id": "end", "type": "end", "config": {"output": {"out": "out"}}},
        ],
        "edges": [{"source": "start", "target": "work"}, {"source": "work", "target": "end"}],
    }


def retrieval_flow(collection: str) -> dict[str, Any]:
    return {
        "name": "ask",
        "inputs": ["question"],
        "nodes": [
            {"id": "start", "type": "start"},
            {
                "id": "search",
                "type": "retrieval",
                "config": {"collection": collection, "query": "inputs.question", "top_k": 2, "output": "hits"},
            },
            {"id": "end", "type": "end", "config": {"output": {"hits": "hits"}}},
        ],
        "edges": [{"source": "start", "target": "search"}, {"source": "search", "target": "end"}],
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


# ---------------------------------------------------------------- without a server


def test_definitions_documents_and_results_are_converted(tmp_path: Path) -> None:
    f = tmp_path / "flow.yaml"
    f.write_text(TRIPLE_YAML)
    assert definition_json(f) == TRIPLE_YAML
    assert definition_json(TRIPLE_YAML) == TRIPLE_YAML
    assert definition_json(DOUBLE) == DOUBLE
    with pytest.raises(TypeError):
        definition_json(5)  # type: ignore[arg-type]
    assert documents_body(["a", {"id": "x", "text": "b", "metadata": {"k": 1}}]) == {
        "documents": [{"text": "a"}, {"id": "x", "text": "b", "metadata": {"k": 1}}]
    }
    with pytest.raises(TypeError):
        documents_body("one document")

    run = Run.from_json({
        "id": "run_1", "workflow_id": None, "workflow_version": None, "workflow_name": "w", "status": "error",
        "thread_id": None, "input": {"x": 1}, "output": None, "state": {"inputs": {"x": 1}},
        "trace": [{"node": "start"}], "error": {"node": "n", "code": "EXECUTION_ERROR", "message": "m",
                                                "traceback": "tb"},
        "steps": 2, "started_at": 1.5, "finished_at": 2.5, "something_new": True,
    })
    assert (run.finished, run.ok, run.steps, run.finished_at) == (True, False, 2, 2.5)
    assert run.error is not None and (run.error.node, run.error.code, run.error.traceback) == ("n", "EXECUTION_ERROR", "tb")
    assert run.trace == [{"node": "start"}] and run.raw["something_new"] is True
    listed = Run.from_json({"id": "run_2", "status": "running", "finished_at": None})
    assert (listed.finished, listed.state, listed.trace, listed.error, listed.finished_at) == (False, None, None, None, None)


def test_workflow_errors_map_to_their_classes() -> None:
    problems = [{"node": "mystery", "edge": None, "code": "unknown_type", "message": "m"},
                {"node": None, "edge": 2, "code": "edge_to_nowhere", "message": "e"}]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/workflows":
            return httpx.Response(400, json={"error": {"code": "WORKFLOW_INVALID", "message": "bad", "problems": problems}})
        code = {"/v1/runs/r": "RUN_NOT_FOUND", "/v1/collections/c": "COLLECTION_NOT_FOUND"}.get(
            request.url.path, "WORKFLOW_NOT_FOUND"
        )
        return httpx.Response(404, json={"error": {"code": code, "message": "no"}})

    with Workflows(api_url="http://warden.test", http_client=httpx.Client(transport=httpx.MockTransport(handler))) as wf:
        with pytest.raises(WorkflowInvalidError) as e:
            wf.save(BROKEN)
        assert isinstance(e.value, InvalidRequestError) and e.value.status == 400
        assert [(p.node, p.edge, p.code) for p in e.value.problems] == [
            ("mystery", None, "unknown_type"), (None, 2, "edge_to_nowhere")
        ]
        calls: list[tuple[Callable[[], object], str]] = [
            (lambda: wf.get("w"), "WORKFLOW_NOT_FOUND"),
            (lambda: wf.get_run("r"), "RUN_NOT_FOUND"),
            (lambda: wf.delete_collection("c"), "COLLECTION_NOT_FOUND"),
        ]
        for call, code in calls:
            with pytest.raises(NotFoundError) as nf:
                call()
            assert (nf.value.code, nf.value.status) == (code, 404)


def test_a_stream_cut_before_run_finished_is_a_network_error() -> None:
    body = 'event: run_started\ndata: {"id": "run_1", "status": "running"}\n\nevent: node_started\ndata: {"node": "start"}\n\n'

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/event-stream"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    seen: list[str] = []
    with Workflows(api_url="http://warden.test", http_client=httpx.Client(transport=httpx.MockTransport(handler))) as wf:
        with pytest.raises(NetworkError):
            wf.run_inline(DOUBLE, {"x": 1}, on_event=lambda name, _: seen.append(name))
        with pytest.raises(ValueError):
            wf.run("double", wait=False, on_event=print)
    assert seen == ["run_started", "node_started"]


# ---------------------------------------------------------------- live


def test_saved_versions_run_and_are_kept(server: str, tmp_path: Path) -> None:
    wid = unique("double")
    with Workflows(api_url=server) as wf:
        v1 = wf.save(DOUBLE, id=wid)
        assert isinstance(v1, WorkflowInfo) and (v1.id, v1.version, v1.name) == (wid, 1, "double")
        v2 = wf.save(TRIPLE_YAML, id=wid)
        assert v2.version == 2 and v2.created_at >= v1.created_at
        listed = {w.id: w for w in wf.list()}
        assert listed[wid].version == 2 and listed[wid].definition is None
        old = wf.get(wid, version=1)
        assert old.definition is not None and "* 2" in old.definition["nodes"][1]["config"]["code"]
        assert wf.get(wid).version == 2

        latest = wf.run(wid, {"x": 7})
        assert (latest.status, latest.output, latest.workflow_id, latest.workflow_version) == ("ok", {"y": 21}, wid, 2)
        first = wf.run(wid, {"x": 7}, version=1, thread_id="t-1")
        assert (first.output, first.workflow_version, first.thread_id, first.steps) == ({"y": 14}, 1, "t-1", 3)
        assert first.trace is not None and [t["node"] for t in first.trace] == ["start", "twice", "end"]
        assert first.trace[1]["stdout"] == "doubling 7\n"
        assert first.state is not None and first.state["inputs"] == {"x": 7}
        stored = wf.get_run(first.id)
        assert (stored.output, stored.trace) == (first.output, first.trace)

        # A pathlib.Path is read as text.
        f = tmp_path / "flow.yaml"
        f.write_text(TRIPLE_YAML.replace("* 3", "* 4"))
        assert wf.save(f, id=wid).version == 3
        assert wf.run(wid, {"x": 7}).output == {"y": 28}

        with pytest.raises(NotFoundError) as e:
            wf.get(wid, version=9)
        assert e.value.code == "WORKFLOW_NOT_FOUND"
        with pytest.raises(NotFoundError) as e:
            wf.run(unique("nope"), {})
        assert (e.value.code, e.value.status) == ("WORKFLOW_NOT_FOUND", 404)
        with pytest.raises(NotFoundError) as e:
            wf.get_run("run_nope")
        assert e.value.code == "RUN_NOT_FOUND"


def test_run_inline_with_a_python_code_node(server: str) -> None:
    with Workflows(api_url=server) as wf:
        run = wf.run_inline(
            code_flow("import statistics\nresult = {'mean': statistics.fmean(input_data['values'])}"),
            {"values": [1, 2, 3, 6]},
        )
        assert (run.status, run.output, run.error) == ("ok", {"out": {"mean": 3.0}}, None)
        assert run.workflow_id is None and run.workflow_name == "inline" and run.finished_at is not None

        # A node's failure is the run's result, not an exception.
        failed = wf.run_inline(code_flow("result = 1 / 0"), {"values": []})
        assert failed.status == "error" and failed.output is None
        assert failed.error is not None and (failed.error.node, failed.error.code) == ("work", "EXECUTION_ERROR")
        assert "ZeroDivisionError" in failed.error.message + (failed.error.traceback or "")


def test_streamed_runs_call_on_event_in_order(server: str) -> None:
    events: list[tuple[str, Any]] = []
    with Workflows(api_url=server) as wf:
        run = wf.run_inline(DOUBLE, {"x": 4}, on_event=lambda name, payload: events.append((name, payload)))
        assert [name for name, _ in events] == RUN_EVENTS
        assert events[0][1]["status"] == "running"
        assert events[3][1]["node"] == "twice" and events[4][1]["entry"]["outputs"] == {"y": 8}
        assert (run.status, run.output, run.id) == ("ok", {"y": 8}, events[-1][1]["id"])
        assert wf.get_run(run.id).status == "ok"

        # A stored workflow streams the same way.
        wid = unique("streamed")
        wf.save(DOUBLE, id=wid)
        names: list[str] = []
        assert wf.run(wid, {"x": 1}, on_event=lambda name, _: names.append(name)).output == {"y": 2}
        assert names == RUN_EVENTS


def test_wait_false_answers_at_once_then_the_run_finishes(server: str) -> None:
    with Workflows(api_url=server) as wf:
        started = wf.run_inline(code_flow("import time\ntime.sleep(1)\nresult = 'late'"), {"values": []}, wait=False)
        assert (started.status, started.finished, started.output) == ("running", False, None)
        deadline = time.monotonic() + 60
        run = wf.get_run(started.id)
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.1)
            run = wf.get_run(started.id)
        assert (run.status, run.output) == ("ok", {"out": "late"}), run


def test_invalid_definitions_list_their_problems(server: str) -> None:
    with Workflows(api_url=server) as wf:
        with pytest.raises(WorkflowInvalidError) as e:
            wf.save(BROKEN)
        assert (e.value.code, e.value.status) == ("WORKFLOW_INVALID", 400)
        problems = e.value.problems
        assert {("mystery", "unknown_type"), ("island", "unreachable")} <= {(p.node, p.code) for p in problems}, problems
        assert any(p.code == "edge_to_nowhere" for p in problems), problems
        assert all(w.name != "broken" for w in wf.list())
        with pytest.raises(WorkflowInvalidError):
            wf.run_inline("name: [unclosed")
        with pytest.raises(WorkflowInvalidError) as e:
            wf.run_inline(BROKEN, on_event=lambda *_: None)  # refused before the stream starts
        assert "mystery" in {p.node for p in e.value.problems}


def test_list_runs_filters_and_pages(server: str) -> None:
    wid = unique("listed")
    with Workflows(api_url=server) as wf:
        wf.save(DOUBLE, id=wid)
        ids = [wf.run(wid, {"x": x}).id for x in (1, 2)]
        failed = wf.run(wid, {"x": None})
        assert failed.status == "error"
        ids.append(failed.id)
        wf.run_inline(DOUBLE, {"x": 3})  # not of this workflow

        page = wf.list_runs(workflow_id=wid)
        assert [r.id for r in page.runs] == ids[::-1] and page.next_cursor is None, "newest first"
        assert all(r.state is None and r.trace is None for r in page.runs), "lists leave out state and trace"
        assert [r.id for r in wf.list_runs(workflow_id=wid, status="error").runs] == [failed.id]
        assert [r.id for r in wf.list_runs(workflow_id=wid, status="ok").runs] == ids[1::-1]
        first = wf.list_runs(workflow_id=wid, limit=2)
        assert len(first.runs) == 2 and first.next_cursor
        rest = wf.list_runs(workflow_id=wid, limit=2, cursor=first.next_cursor)
        assert [r.id for r in first.runs + rest.runs] == ids[::-1]
        assert [r.id for r in wf.iter_runs(workflow_id=wid, page_size=2)] == ids[::-1]


def test_collections_and_a_retrieval_node(server: str) -> None:
    name = unique("handbook")
    docs: list[str | dict[str, Any]] = [
        {"id": "vacation", "text": "Employees get 25 vacation days per year.", "metadata": {"section": "leave"}},
        {"id": "expenses", "text": "Travel expenses are reimbursed within 30 days."},
        "The office opens at nine.",
    ]
    with Workflows(api_url=server) as wf:
        info = wf.add_documents(name, docs)
        assert isinstance(info, CollectionInfo) and (info.name, info.documents) == (name, 3)
        assert any(c.name == name and c.documents == 3 for c in wf.list_collections())

        hits = wf.search(name, "how many vacation days?", top_k=2)
        assert hits and isinstance(hits[0], SearchHit)
        assert (hits[0].id, hits[0].metadata) == ("vacation", {"section": "leave"}) and hits[0].score > 0
        assert len(hits) <= 2
        assert "doc-3" in {h.id for h in wf.search(name, "office nine")}, "default ids count from 1"

        run = wf.run_inline(retrieval_flow(name), {"question": "travel expenses"})
        assert run.status == "ok", run.error
        assert run.output["hits"][0]["id"] == "expenses"

        wf.delete_collection(name)
        assert all(c.name != name for c in wf.list_collections())
        with pytest.raises(NotFoundError) as e:
            wf.search(name, "vacation")
        assert e.value.code == "COLLECTION_NOT_FOUND"
        with pytest.raises(NotFoundError):
            wf.delete_collection(name)
        missing = wf.run_inline(retrieval_flow(name), {"question": "x"})
        assert missing.status == "error" and missing.error is not None
        assert missing.error.code == "COLLECTION_NOT_FOUND"


def test_a_sandbox_reaches_the_workflows_of_its_server(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        assert sb.workflows.api_url == server
        assert sb.workflows.run_inline(DOUBLE, {"x": 5}).output == {"y": 10}
        assert sb.run_code("1 + 1").text == "2"  # the shared connection is still open


# ---------------------------------------------------------------- async


@pytest.mark.asyncio
async def test_async_runs_stream_and_search(server: str) -> None:
    wid = unique("async")
    name = unique("async-docs")
    events: list[str] = []

    async def on_event(event: str, payload: Any) -> None:
        events.append(event)

    async with AsyncWorkflows(api_url=server) as wf:
        assert (await wf.save(json.dumps(DOUBLE), id=wid)).version == 1
        assert (await wf.get(wid)).definition is not None
        assert wid in {w.id for w in await wf.list()}
        run = await wf.run(wid, {"x": 21})
        assert (run.status, run.output) == ("ok", {"y": 42})
        streamed = await wf.run_inline(DOUBLE, {"x": 2}, on_event=on_event)
        assert streamed.output == {"y": 4} and events == RUN_EVENTS
        started = await wf.run(wid, {"x": 1}, wait=False)
        assert started.status == "running"
        assert [r.id async for r in wf.iter_runs(workflow_id=wid, page_size=1)][1] == run.id
        assert (await wf.list_runs(workflow_id=wid, limit=1)).next_cursor

        await wf.add_documents(name, ["apples are red", "bananas are yellow"])
        hits = await wf.search(name, "yellow banana")
        assert hits[0].id == "doc-2"
        assert name in {c.name for c in await wf.list_collections()}
        await wf.delete_collection(name)
        with pytest.raises(NotFoundError):
            await wf.search(name, "apples")
        with pytest.raises(WorkflowInvalidError):
            await wf.save(BROKEN)
        with pytest.raises(NotFoundError):
            await wf.get_run("run_nope")
