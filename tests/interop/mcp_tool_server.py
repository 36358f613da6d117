"""A small MCP server (the official Python SDK's FastMCP) whose tool backs a CoWorker skill in
tests/interop/test_mcp.py. `shout` upper-cases; `stall` sleeps until killed, to test a server
that dies mid-run. Each start appends a line to $MCP_STARTS, so a test can count restarts."""

import os
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
    server.run()
