"""A small MCP server (the official Python SDK's FastMCP) whose tool backs a CoWorker skill in
tests/interop/test_mcp.py. `shout` upper-cases; `stall` sleeps until killed, to test a server
that dies mid-run. Each start appends a line to $MCP_STARTS, so a test can count restarts.
On stdio, or with `--http PORT` on streamable HTTP at http://127.0.0.1:PORT/mcp."""

import os
import sys
import time

from mcp.server.fastmcp import FastMCP
from pydantic import BaseModel

server = FastMCP("tools")

starts = os.environ.get("MCP_STARTS")
if starts:
    with open(starts, "a") as f:
        f.write(f"{os.getpid()}\n")


class Shouted(BaseModel):
    text: str
    length: int


@server.tool(description="Upper-cases a text.")
def shout(text: str) -> Shouted:
    return Shouted(text=text.upper(), length=len(text))


@server.tool(description="Never answers: reports its pid, then sleeps.")
def stall(seconds: float) -> Shouted:
    with open(os.environ["MCP_STALLING"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return Shouted(text="woke", length=0)


if __name__ == "__main__":
    if "--http" in sys.argv:
        server.settings.host = "127.0.0.1"
        server.settings.port = int(sys.argv[sys.argv.index("--http") + 1])
        server.run(transport="streamable-http")
    else:
        server.run()
