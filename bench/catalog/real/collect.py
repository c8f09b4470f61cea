"""Collect the real-catalog evaluation set: ask each published MCP server for its tools.

Install the packages named in sources.json (npm into $NODE_DIR, PyPI into the venv $PY_DIR),
then run `python3 collect.py` from this folder. Each server is started over stdio with dummy
credentials (no network is needed to list tools), initialized, and paged through tools/list;
the tools are written to tools.json verbatim, names prefixed `server__`, with the server as the
baton group (`_meta["dev.baton/group"]`). Start Postgres and Redis on 127.0.0.1 first: those two
servers connect on start.
"""
import json, os, subprocess, sys, threading, time

NODE = os.environ.get("NODE_DIR", "/tmp/mcpc") + "/node_modules/"
PY = os.environ.get("PY_DIR", "/tmp/mcpc/py") + "/bin/"
WORK = os.environ.get("WORK_DIR", "/tmp/mcpc/work")


def node(path, *args):
    return ["node", NODE + path, *args]


SERVERS = {
    "atlassian": ([PY + "mcp-atlassian"], {"TOOLSETS": "default", "JIRA_URL": "https://example.atlassian.net", "JIRA_USERNAME": "a@example.com", "JIRA_API_TOKEN": "x", "CONFLUENCE_URL": "https://example.atlassian.net/wiki", "CONFLUENCE_USERNAME": "a@example.com", "CONFLUENCE_API_TOKEN": "x"}),
    "brave_search": (node("@modelcontextprotocol/server-brave-search/dist/index.js"), {"BRAVE_API_KEY": "x"}),
    "circleci": (node("@circleci/mcp-server-circleci/dist/index.js"), {"CIRCLECI_TOKEN": "x"}),
    "context7": (node("@upstash/context7-mcp/dist/index.js"), {}),
    "fetch": ([PY + "mcp-server-fetch"], {}),
    "filesystem": (node("@modelcontextprotocol/server-filesystem/dist/index.js", WORK), {}),
    "firecrawl": (node("firecrawl-mcp/dist/index.js"), {"FIRECRAWL_API_KEY": "fc-x"}),
    "git": ([PY + "mcp-server-git", "--repository", WORK], {}),
    "github": (node("@modelcontextprotocol/server-github/dist/index.js"), {"GITHUB_PERSONAL_ACCESS_TOKEN": "x"}),
    "gitlab": (node("@modelcontextprotocol/server-gitlab/dist/index.js"), {"GITLAB_PERSONAL_ACCESS_TOKEN": "x"}),
    "google_maps": (node("@modelcontextprotocol/server-google-maps/dist/index.js"), {"GOOGLE_MAPS_API_KEY": "x"}),
    "hubspot": (node("@hubspot/mcp-server/dist/index.js"), {"PRIVATE_APP_ACCESS_TOKEN": "x"}),
    "kubernetes": (node("mcp-server-kubernetes/dist/index.js"), {}),
    "linear": (node("linear-mcp-server/build/index.js"), {"LINEAR_API_KEY": "x"}),
    "memory": (node("@modelcontextprotocol/server-memory/dist/index.js"), {"MEMORY_FILE_PATH": WORK + "/memory.json"}),
    "mongodb": (node("mongodb-mcp-server/dist/esm/index.js"), {"MDB_MCP_TELEMETRY": "disabled"}),
    "notion": (node("@notionhq/notion-mcp-server/bin/cli.mjs"), {"NOTION_TOKEN": "ntn_x"}),
    "playwright": (node("@playwright/mcp/cli.js"), {}),
    "postgres": (node("@modelcontextprotocol/server-postgres/dist/index.js", "postgresql://postgres@127.0.0.1:5432/test"), {}),
    "puppeteer": (node("@modelcontextprotocol/server-puppeteer/dist/index.js"), {}),
    "redis": (node("@modelcontextprotocol/server-redis/dist/index.js", "redis://127.0.0.1:6379"), {}),
    "sentry": (node("@sentry/mcp-server/dist/index.js", "--access-token=x"), {}),
    "sequential_thinking": (node("@modelcontextprotocol/server-sequential-thinking/dist/index.js"), {}),
    "slack": (node("@modelcontextprotocol/server-slack/dist/index.js"), {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_TEAM_ID": "T0"}),
    "stripe": (node("@stripe/mcp/dist/index.js", "--tools=all", "--api-key=sk_test_x"), {}),
    "time": ([PY + "mcp-server-time", "--local-timezone", "UTC"], {}),
}


def list_tools(cmd, env_extra, timeout=60):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, **env_extra), cwd=WORK)
    threading.Timer(timeout, p.kill).start()

    def send(o):
        p.stdin.write((json.dumps(o) + "\n").encode())
        p.stdin.flush()

    def recv(want_id):
        for line in p.stdout:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("id") == want_id:
                if "error" in m:
                    raise RuntimeError(m["error"])
                return m["result"]
        raise RuntimeError("server closed stdout")

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "collect", "version": "0"}}})
        recv(1)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools, cursor, i = [], None, 2
        while True:
            send({"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {"cursor": cursor} if cursor else {}})
            r = recv(i)
            i += 1
            tools += r["tools"]
            cursor = r.get("nextCursor")
            if not cursor:
                return tools
    finally:
        p.kill()


def main():
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["git", "init", "-q", WORK], check=True)
    out = []
    for server, (cmd, env) in sorted(SERVERS.items()):
        tools = list_tools(cmd, env)
        print(server, len(tools), file=sys.stderr)
        for t in tools:
            t = dict(t, name=f"{server}__{t['name']}")
            t["_meta"] = dict(t.get("_meta") or {}, **{"dev.baton/group": server})
            out.append(t)
    with open("tools.json", "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
