"""Python peer for `cargo xtask bench`: the article's research-task server on the official SDK.

Same three tools and semantics as the article "MCP Server Python: Critical 2026 Warning"
(start_research_task / get_task_status / complete_research_task over an in-memory dict keyed by
an explicit handle), served by the official Python SDK (`mcp` 2.3, `MCPServer`) over stateless
Streamable HTTP, so it answers the 2026-07-28 wire (one POST per request,
`MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers, `params._meta`).

Launch modes:
  --mode article     what the article's reader gets: one process, the SDK's defaults (SSE
                     responses), pure-Python asyncio loop + h11 parser, access log on, the
                     article's per-task print lines.
  --mode production  the best single-process production setting: JSON responses, uvicorn with
                     uvloop + httptools, access log off, log level warning, no per-task prints.
Both are one process: the store is an in-process dict, so more workers would split it.

--seed N pre-creates tasks task_seed_0 .. task_seed_{N-1} (for the get_task_status pool).
GET /healthz answers 200 once the server accepts requests (the readiness probe).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import PlainTextResponse

mcp = MCPServer("agentic-protocol-data-server")

# In-memory store, keyed by the explicit handle (as in the article).
TASK_STORE: dict[str, dict[str, Any]] = {}
VERBOSE = True


@mcp.tool()
def start_research_task(topic: str, depth: int = 2) -> dict:
    """Start a research task and return an explicit handle the client passes back."""
    handle = f"task_{os.urandom(4).hex()}"
    TASK_STORE[handle] = {"topic": topic, "depth": depth, "status": "running", "results": []}
    if VERBOSE:
        print(f"[TASK STARTED] {handle} -> topic={topic}, depth={depth}")
    return {"handle": handle, "status": "running"}


@mcp.tool()
def get_task_status(handle: str) -> dict:
    """Retrieve a task's status by its handle."""
    task = TASK_STORE.get(handle)
    if task is None:
        return {"error": f"No task found for handle: {handle}"}
    return {"handle": handle, **task}


@mcp.tool()
def complete_research_task(handle: str, findings: list[str]) -> dict:
    """Mark a task complete and store its findings."""
    task = TASK_STORE.get(handle)
    if task is None:
        return {"error": f"No task found for handle: {handle}"}
    task["status"] = "complete"
    task["results"] = findings
    if VERBOSE:
        print(f"[TASK COMPLETE] {handle} -> {len(findings)} findings stored")
    return {"handle": handle, "status": "complete", "result_count": len(findings)}


@mcp.custom_route("/healthz", methods=["GET"])
async def healthz(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def main() -> None:
    global VERBOSE
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["article", "production"], default="article")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    for i in range(a.seed):
        TASK_STORE[f"task_seed_{i}"] = {
            "topic": f"seeded topic {i}",
            "depth": 2,
            "status": "running",
            "results": [],
        }

    import uvicorn

    # Stateless in both modes (the 2026-07-28 wire has no sessions). The article's reader keeps
    # the SDK's default response format (SSE); the production setting answers plain JSON.
    app = mcp.streamable_http_app(stateless_http=True, json_response=a.mode == "production", host=a.host)
    if a.mode == "article":
        config = uvicorn.Config(app, host=a.host, port=a.port, loop="asyncio", http="h11", log_level="info")
    else:
        VERBOSE = False
        config = uvicorn.Config(
            app,
            host=a.host,
            port=a.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
    print(f"python peer ({a.mode}) starting on http://{a.host}:{a.port}/mcp, seeded {a.seed}", file=sys.stderr, flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
