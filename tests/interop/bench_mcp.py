"""Benchmark: what `coworker mcp` adds to a CoWorker call. An MCP host (the official Python SDK)
calls a peer's echo skill through `coworker_call` N times; each answer carries the CoWorker
call's own round trip (`elapsed_ms`, measured inside `coworker mcp`), so the difference to the
host's round trip is the MCP layer: JSON-RPC over stdio, tool dispatch, the host SDK.

    .venv/bin/python tests/interop/bench_mcp.py [N]   (after `cargo build --release -p coworker-cli`)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("COWORKER_BIN", str(Path(__file__).resolve().parents[2] / "target/release/coworker"))

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from harness import COWORKER, Node  # noqa: E402
from test_mcp import ENV, Served, agent_file, cli  # noqa: E402


async def measure(node, alice: Path, n: int) -> tuple[list[float], list[float]]:
    server = StdioServerParameters(
        command=str(COWORKER), args=["--network", node.url, "--data-dir", str(alice), "mcp"], env=ENV
    )
    host, inner = [], []
    with open(os.devnull, "w") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                args = {"peer": "bob", "skill": "echo", "input": {"text": "x"}}
                for i in range(n + 10):
                    started = time.perf_counter()
                    result = await session.call_tool("coworker_call", args)
                    took = (time.perf_counter() - started) * 1000
                    assert not result.isError, result
                    if i >= 10:  # warm-up
                        host.append(took)
                        inner.append(float(result.structuredContent["elapsed_ms"]))
    return host, inner


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        node = Node(tmp)
        node.start()
        bob = Served(node, tmp / "bob", agent_file(tmp / "bob.toml"), tmp / "bob.log")
        try:
            cli(node, tmp / "alice", "init", "--name", "alice")
            cli(node, tmp / "alice", "connect", bob.ready["code"])
            host, inner = anyio.run(measure, node, tmp / "alice", n)
        finally:
            bob.close()
            node.close()
    added = sorted(h - i for h, i in zip(host, inner))
    p50 = statistics.median
    print(f"coworker_call of a peer's echo skill through MCP ({n} calls, {COWORKER}):")
    print(f"  host round trip p50 {p50(host):.2f} ms; the CoWorker call inside p50 {p50(inner):.2f} ms")
    print(f"  added by MCP: p50 {p50(added):.2f} ms, p90 {added[int(len(added) * 0.9)]:.2f} ms")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
