"""baton through the official MCP Python SDK client (`mcp` 2.3, PyPI).

Run by tests/tests/python_client.rs in a venv it creates in the cache folder:

    python baton_client.py http URL
    python baton_client.py stdio BATON_BIN DATABASE_URL

Over HTTP, a token in the environment variable BATON_TOKEN (an API key or an OAuth access
token) is sent as `Authorization: Bearer <token>` on every request; the variable, not an
argument, so that it never shows in a process listing. A handle in BATON_FOREIGN_HANDLE
(one that another principal started) must get the same error as an unknown handle.

Connects with `mcp.Client` in its default `auto` mode (probes `server/discover`, so a
2026-07-28 server is used statelessly), then: discovery, tools/list, the whole
research-task lifecycle, and the error cases (a bad argument names its field; an unknown,
forged or foreign handle gives the one identical error). Prints one line per step and
exits non-zero on the first failed expectation.
"""

from __future__ import annotations

import os
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {
    "start_research_task",
    "get_task_status",
    "add_findings",
    "complete_research_task",
    "get_task_results",
    "cancel_research_task",
    "list_research_tasks",
    "share_research_task",
    "list_research_task_shares",
    "revoke_research_task_share",
    "compile_research_report",
}
UNKNOWN_HANDLE = (
    "unknown or expired handle: no research task with this handle is available; "
    "start a new one with start_research_task"
)


def step(message: str) -> None:
    print(f"ok   {message}", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def ok(client: Client, tool: str, args: dict) -> dict:
    result = await client.call_tool(tool, args)
    expect(not result.is_error, f"{tool} {args} failed: {text_of(result)}")
    expect(isinstance(result.structured_content, dict), f"{tool}: no structuredContent")
    return result.structured_content


async def tool_error(client: Client, tool: str, args: dict) -> str:
    result = await client.call_tool(tool, args)
    expect(result.is_error is True, f"{tool} {args} should fail, got {result.structured_content}")
    return text_of(result)


async def exercise(client: Client, transport: str) -> None:
    version = client.protocol_version
    expect(version == "2026-07-28", f"negotiated {version!r}, expected 2026-07-28")
    info = client.server_info
    expect(info is not None and info.name == "baton", f"server info {info!r}")
    expect(client.server_capabilities.tools is not None, "no tools capability")
    expect(bool(client.instructions) and "handle" in client.instructions, "instructions")
    step(f"{transport}: discover -> {version}, server {info.name} {info.version}")

    listed = await client.list_tools()
    names = {t.name for t in listed.tools}
    missing = EXPECTED_TOOLS - names
    expect(not missing, f"tools/list lacks {sorted(missing)}")
    start = next(t for t in listed.tools if t.name == "start_research_task")
    expect("topic" in start.input_schema.get("properties", {}), "start_research_task schema")
    step(f"{transport}: tools/list -> {len(listed.tools)} tools")

    # The lifecycle.
    started = await ok(client, "start_research_task", {"topic": " python sdk ", "depth": 2})
    handle = started["handle"]
    expect(handle.startswith("task_") and started["status"] == "running", f"{started}")
    status = await ok(client, "get_task_status", {"handle": handle})
    expect(status["topic"] == "python sdk" and status["depth"] == 2, f"{status}")
    expect(status["status"] == "running" and status["findings_count"] == 0, f"{status}")
    added = await ok(client, "add_findings", {"handle": handle, "findings": ["one", "two"]})
    expect(added["added"] == 2 and added["findings_count"] == 2, f"{added}")
    done = await ok(client, "complete_research_task", {"handle": handle, "findings": ["three"]})
    expect(done["status"] == "complete" and done["result_count"] == 3, f"{done}")
    again = await tool_error(client, "complete_research_task", {"handle": handle, "findings": []})
    expect(again == "cannot complete the task: the task is already complete", again)
    page = await ok(client, "get_task_results", {"handle": handle, "limit": 2})
    expect([f["text"] for f in page["findings"]] == ["one", "two"], f"{page}")
    rest = await ok(client, "get_task_results", {"handle": handle, "cursor": page["next_cursor"]})
    expect([f["text"] for f in rest["findings"]] == ["three"], f"{rest}")
    expect("next_cursor" not in rest, f"{rest}")
    tasks = await ok(client, "list_research_tasks", {"status": "complete"})
    expect(any(t["handle"] == handle for t in tasks["tasks"]), f"{tasks}")
    other = await ok(client, "start_research_task", {"topic": "to cancel"})
    cancelled = await ok(client, "cancel_research_task", {"handle": other["handle"]})
    expect(cancelled["status"] == "cancelled", f"{cancelled}")
    step(f"{transport}: lifecycle start -> status -> add -> complete -> results -> list -> cancel")

    # A bad argument names its field.
    cases = [
        ("start_research_task", {"topic": "  "}, "invalid argument `topic`"),
        ("start_research_task", {"topic": "t", "depth": 9}, "invalid argument `depth`"),
        ("start_research_task", {}, "`topic`"),
        ("start_research_task", {"topic": "t", "colour": 1}, "`colour`"),
        ("add_findings", {"handle": handle, "findings": ["ok", 7]}, "`findings[1]`"),
        ("get_task_results", {"handle": handle, "limit": 0}, "invalid argument `limit`"),
    ]
    for tool, args, field in cases:
        message = await tool_error(client, tool, args)
        expect(field in message, f"{tool} {args}: {message!r} does not name {field}")
    step(f"{transport}: {len(cases)} bad arguments each name their field")

    # Unknown, forged and mangled handles all give the identical error.
    forged = handle[:-1] + ("A" if handle[-1] != "A" else "B")
    foreign = os.environ.get("BATON_FOREIGN_HANDLE")
    bad_handles = ["task_doesnotexist", forged, handle + "x", "", "not-a-handle"]
    if foreign:
        bad_handles.append(foreign)
    messages = set()
    for bad in bad_handles:
        for tool in ["get_task_status", "cancel_research_task"]:
            messages.add(await tool_error(client, tool, {"handle": bad}))
        messages.add(await tool_error(client, "add_findings", {"handle": bad, "findings": ["f"]}))
    expect(messages == {UNKNOWN_HANDLE}, f"handle errors differ: {messages}")
    status = await ok(client, "get_task_status", {"handle": handle})
    expect(status["status"] == "complete", f"{status}")
    step(f"{transport}: unknown/forged{'/foreign' if foreign else ''} handles -> one identical error")


async def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "http":
        token = os.environ.get("BATON_TOKEN")
        if token:
            # The SDK's own timeouts: 30 s, and 300 s to read a stream.
            timeout = httpx2.Timeout(30.0, read=300.0)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
                async with Client(streamable_http_client(argv[2], http_client=http)) as client:
                    await exercise(client, "http with a bearer token")
        else:
            async with Client(argv[2]) as client:
                await exercise(client, "http")
    elif len(argv) == 4 and argv[1] == "stdio":
        params = StdioServerParameters(
            command=argv[2],
            args=["serve", "--stdio", "--database-url", argv[3]],
            env={"RUST_LOG": "warn"},
        )
        async with Client(params) as client:
            await exercise(client, "stdio")
    else:
        raise SystemExit(__doc__)
    print("PASS", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv)
