"""The Python SDK (`python/`), as its users get it: the wheel built by maturin, installed into a
fresh virtualenv, its `coworker` package driving the `coworker` binary the wheel carries.

Every program here runs in that virtualenv (not this one, which holds the Python original);
the examples in examples/python run unchanged against our node.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from harness import ROOT, TARGET, UPPER_SKILL

EXAMPLES = ROOT / "examples" / "python"
PYTHON = Path(sys.executable)


@pytest.fixture(scope="session")
def sdk(tmp_path_factory) -> Path:
    """The fresh virtualenv's python, with the wheel installed in it and nothing else."""
    work = tmp_path_factory.mktemp("sdk")
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET), SQLX_OFFLINE="true")
    build = subprocess.run(
        [str(PYTHON.parent / "maturin"), "build", "--out", str(work / "wheels")],
        cwd=ROOT / "python", env=env, capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-4000:]
    (wheel,) = (work / "wheels").glob("coworker-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True)
    # The package and the binary both come from the wheel.
    where = subprocess.run([str(python), "-c", "import coworker, sys; print(coworker.__file__)"],
                           capture_output=True, text=True, check=True, cwd=work).stdout
    assert str(venv) in where, where
    assert (venv / "bin" / "coworker").is_file()
    return python


@pytest.fixture
def env(node, tmp_path) -> dict[str, str]:
    """Environment of a program using the SDK: our node, a private data home, key files."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COWORKER_")}
    environment.update(XDG_DATA_HOME=str(tmp_path / "data"), COWORKER_NETWORK=node.url,
                       COWORKER_KEYSTORE_PASSWORD="correct horse", PYTHONUNBUFFERED="1",
                       RUST_LOG="warn")
    return environment


def run(sdk: Path, env: dict, script: str | Path, *args: str, timeout: float = 120) -> str:
    path = Path(script) if isinstance(script, Path) else None
    argv = [str(sdk), str(path)] if path else [str(sdk), "-c", textwrap.dedent(script)]
    done = subprocess.run(argv + list(args), env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Program:
    """A long-running program of the SDK, read line by line."""

    def __init__(self, sdk: Path, env: dict, script: str | Path, *args: str):
        argv = [str(sdk), str(script)] if isinstance(script, Path) else [
            str(sdk), "-c", textwrap.dedent(script)]
        self.process = subprocess.Popen(argv + list(args), env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[str] = []
        # Lines are read on a thread so that `expect` keeps its deadline when none comes.
        self._incoming: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr = threading.Thread(target=self._errors.extend, args=(self.process.stderr,),
                                        daemon=True)
        self._stderr.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._incoming.put(line)
        self._incoming.put(None)

    def stderr(self) -> str:
        self._stderr.join(timeout=5)
        return "".join(self._errors)

    def expect(self, prefix: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._incoming.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._incoming.put(None)
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        self.kill()
        raise AssertionError(f"no {prefix!r} in {self.lines} / {self.stderr()}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        rest = []
        while (line := self._incoming.get(timeout=timeout)) is not None:
            rest.append(line)
        self._incoming.put(None)
        return code, "".join(self.lines + rest), self.stderr()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def cli(sdk: Path, env: dict, data_dir: Path, *args: str) -> dict:
    """The wheel's own `coworker` binary, as a user would run it beside the program."""
    done = subprocess.run([str(sdk.parent / "coworker"), "--json", "--data-dir", str(data_dir),
                           *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_examples_run_and_ctrl_c_stops_serving_cleanly(sdk, env, tmp_path):
    server = Program(sdk, env, EXAMPLES / "01_minimal_agent.py")
    try:
        invite = server.expect("summarizer is ready. Invite: ")

        two = run(sdk, env, EXAMPLES / "02_two_agents.py")
        assert "critic asked writer to draft: Ai agents change how software gets built" in two
        assert "writer asked critic to review: {'score': 8, 'verdict': 'clear'}" in two
        assert "receipts: writer 2, critic 2" in two

        three = run(sdk, env, EXAMPLES / "03_discover_skills.py", invite)
        assert "connected to summarizer (answer: granted)" in three
        assert "- summarize: Summarize text in one sentence (tier 1+)" in three

        four = run(sdk, env, EXAMPLES / "04_remote_call.py", invite)
        assert "summary: XMTP carries it." in four
        assert "summarize completed, 1 unit" in four
        assert "refused as expected: INVALID_INPUT" in four

        five = run(sdk, env, EXAMPLES / "05_collaborate.py", invite)
        assert "-> completed" in five
        assert "- summarize by" in five and "- write_report by" in five
        assert "REPORT: Summarize text about AI agents and write a report." in five

        server.process.send_signal(signal.SIGINT)
        code, out, err = server.finish()
        assert code == 0, err
        assert out.rstrip().endswith("stopped")
        assert "Traceback" not in err
    finally:
        server.kill()
    # Its identity survives: the summarizer's receipts are on disk, one per call it answered
    # (04: a call and a refused one; 05: one step).
    agents = Path(env["XDG_DATA_HOME"]) / "coworker" / "agents"
    receipts = cli(sdk, env, agents / "summarizer", "receipts", "list")["receipts"]
    statuses = sorted(r["receipt"]["status"] for r in receipts)
    assert statuses == ["completed", "completed", "failed:INVALID_INPUT"], receipts


PROVIDER = """
    import sys, threading, time
    from coworker import Agent, Context, SkillError
    agent = Agent("provider")
    ran = []

    @agent.skill("count", input_schema={"text": "str"}, output_schema={"n": "int"})
    def count(text: str) -> dict:
        ran.append(text)
        print("ran", text, flush=True)
        return {"n": len(ran)}

    @agent.skill("boom")
    def boom(text: str) -> dict:
        raise ValueError("secret-token in /home/owner/.ssh")

    @agent.skill("refuse")
    def refuse(text: str) -> dict:
        raise SkillError("no pictures of cats")

    printing = threading.Lock()  # skills run on threads: one line at a time

    @agent.skill("slow")
    def slow(ctx: Context, seconds: float) -> dict:
        with printing:
            print("slow started", ctx.task_id, flush=True)
        ctx.progress(10, "started")
        time.sleep(seconds)
        return {"slept": seconds}

    @agent.skill("fast")
    async def fast(text: str) -> dict:
        return {"text": text}

    @agent.skill("bad_output", output_schema={"n": "int"})
    def bad_output() -> dict:
        return {"n": "not a number"}

    print("invite", agent.invite(), flush=True)
    agent.serve()
    print("stopped", flush=True)
"""


def test_skills_are_checked_isolated_and_concurrent(sdk, env, tmp_path):
    provider = Program(sdk, env, PROVIDER)
    try:
        invite = provider.expect("invite ")
        answer = run(sdk, env, """
            import json, sys, threading, time
            from coworker import Agent, CoworkerError
            def failure(fn):
                try:
                    fn()
                except CoworkerError as e:
                    return {"code": e.code, "peer_code": e.peer_code, "message": e.message}
            with Agent("caller") as agent:
                invite = sys.argv[1]
                out = {}
                out["invalid"] = failure(lambda: agent.call(invite, "count", {"text": 7}))
                out["missing"] = failure(lambda: agent.call(invite, "count", {}))
                out["count"] = agent.call(invite, "count", {"text": "a"})["output"]
                task = agent.request(invite, "count", {"text": "b"})
                out["later"] = agent.result(task, wait=20)
                out["tiers"] = [p["tier"] for p in agent.trust.list()]
                out["boom"] = failure(lambda: agent.call(invite, "boom", {"text": "x"}))
                out["refuse"] = failure(lambda: agent.call(invite, "refuse", {"text": "x"}))
                out["bad_output"] = failure(lambda: agent.call(invite, "bad_output", {}))
                out["unknown"] = failure(lambda: agent.call(invite, "nope", {}))
                # A slow skill holds up nothing: fast calls finish while it runs.
                progress = []
                slow = threading.Thread(target=lambda: out.update(slow=agent.call(
                    invite, "slow", {"seconds": 3}, on_progress=lambda p, t: progress.append(p))))
                started = time.monotonic()
                slow.start()
                time.sleep(0.5)
                fast = [agent.call(invite, "fast", {"text": str(i)})["output"] for i in range(5)]
                out["fast_seconds"] = time.monotonic() - started
                out["fast"] = fast
                slow.join()
                out["slow_seconds"] = time.monotonic() - started
                out["progress"] = progress
            print(json.dumps(out))
        """, invite)
        out = json.loads(answer.strip().splitlines()[-1])
        # Schema violations are refused by the host: the function never ran for them.
        assert out["invalid"]["peer_code"] == "INVALID_INPUT", out
        assert out["missing"]["peer_code"] == "INVALID_INPUT", out
        assert out["count"] == {"n": 1}
        assert out["later"]["status"] == "completed" and out["later"]["output"] == {"n": 2}, out
        assert out["tiers"] == [0], out  # the caller holds the provider at UNTRUSTED
        # An exception is a clean failure: nothing of it reaches the caller.
        assert out["boom"]["peer_code"] == "SKILL_FAILED", out
        assert "secret-token" not in json.dumps(out["boom"]) and "Traceback" not in json.dumps(out)
        # SkillError is the way to say why.
        assert out["refuse"]["peer_code"] == "SKILL_FAILED"
        assert "no pictures of cats" in out["refuse"]["message"]
        assert out["bad_output"]["peer_code"] == "INVALID_OUTPUT", out
        assert out["unknown"]["peer_code"] == "UNKNOWN_SKILL", out
        assert out["fast"] == [{"text": str(i)} for i in range(5)]
        assert out["fast_seconds"] < 2.5, out
        assert out["slow"]["output"] == {"slept": 3} and out["slow_seconds"] >= 3
        assert out["progress"] == [10], out
        provider.process.send_signal(signal.SIGINT)
        code, stdout, stderr = provider.finish()
        assert code == 0, stderr
        assert stdout.count("ran ") == 2, stdout  # only the valid calls ran
        # The exception was logged where its owner can read it.
        assert "secret-token" in stderr and "ValueError" in stderr
    finally:
        provider.kill()


def test_ctrl_c_while_calls_run_loses_no_receipt(sdk, env, tmp_path):
    provider = Program(sdk, env, PROVIDER)
    caller = None
    try:
        invite = provider.expect("invite ")
        caller = Program(sdk, env, """
            import json, sys, threading
            from coworker import Agent
            with Agent("caller") as agent:
                agent.connect(sys.argv[1])
                results = []
                def one():
                    results.append(agent.call(sys.argv[1], "slow", {"seconds": 2})["task_id"])
                threads = [threading.Thread(target=one) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print("done", json.dumps({"tasks": sorted(results),
                      "receipts": sorted(r["receipt"]["task_id"] for r in agent.receipts())}))
        """, invite)
        try:
            for _ in range(4):
                provider.expect("slow started")
        except AssertionError as missing:
            raise AssertionError(f"{missing}\ncaller: {caller.finish()}") from None
        provider.process.send_signal(signal.SIGINT)  # four calls in flight
        done = json.loads(caller.expect("done ", timeout=90))
        code, stdout, stderr = provider.finish()
        assert code == 0, stderr
        assert stdout.rstrip().endswith("stopped")
        assert len(done["tasks"]) == 4 and done["receipts"] == done["tasks"], caller.finish()
        data = Path(env["XDG_DATA_HOME"]) / "coworker" / "agents"
        served = cli(sdk, env, data / "provider", "receipts", "list")["receipts"]
        assert sorted(r["receipt"]["task_id"] for r in served) == done["tasks"]
        assert all(r["receipt"]["status"] == "completed" for r in served)
    finally:
        provider.kill()
        if caller is not None:
            caller.kill()


def test_two_python_agents_and_a_rust_agent_call_each_other(sdk, env, tmp_path):
    rust_dir = tmp_path / "rusty"
    agent_file = tmp_path / "rusty.toml"
    agent_file.write_text('name = "rusty"\n[trust]\nauto_grant = "known"\n' + UPPER_SKILL)
    rust = subprocess.Popen(
        [str(sdk.parent / "coworker"), "--json", "--data-dir", str(rust_dir), "serve",
         str(agent_file)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pythons = None
    try:
        ready = json.loads(rust.stdout.readline())
        assert ready["event"] == "ready", ready
        pythons = Program(sdk, env, """
            import sys
            from coworker import Agent
            ada, bob = Agent("ada"), Agent("bob")

            @ada.skill("greet", input_schema={"name": "str"}, output_schema={"greeting": "str"})
            def greet(name: str) -> dict:
                return {"greeting": f"hello {name}"}

            @bob.skill("double", input_schema={"n": "int"}, output_schema={"n": "int"})
            async def double(n: int) -> dict:
                return {"n": 2 * n}

            with ada, bob:
                rusty = sys.argv[1]
                print("ada->rusty", ada.call(rusty, "upper", {"text": "from ada"})["output"])
                print("bob->rusty", bob.call(rusty, "upper", {"text": "from bob"})["output"])
                bob.connect(ada.invite())
                ada.connect(bob.invite())
                print("bob->ada", bob.call(ada.inbox_id, "greet", {"name": "bob"})["output"])
                print("ada->bob", ada.call(bob.inbox_id, "double", {"n": 21})["output"])
                print("invite", ada.invite(), flush=True)
                sys.stdin.readline()  # serves until the test is done
        """, ready["code"])
        assert pythons.expect("ada->rusty ") == "{'text': 'FROM ADA'}"
        assert pythons.expect("bob->rusty ") == "{'text': 'FROM BOB'}"
        assert pythons.expect("bob->ada ") == "{'greeting': 'hello bob'}"
        assert pythons.expect("ada->bob ") == "{'n': 42}"
        ada_invite = pythons.expect("invite ")
        # The Rust agent calls a Python skill (its CLI works through the running `serve`).
        connected = cli(sdk, env, rust_dir, "connect", ada_invite)
        assert connected["trust_answer"]["granted"] is True, connected
        called = cli(sdk, env, rust_dir, "call", connected["peer"]["inbox_id"], "greet",
                     "--input", '{"name": "rusty"}')
        assert called["result"] == {"greeting": "hello rusty"}, called
        code, _, stderr = pythons.finish()  # closes its stdin
        assert code == 0, stderr
    finally:
        rust.terminate()
        rust.wait(timeout=30)
        if pythons is not None:
            pythons.kill()


def test_an_agent_of_the_original_calls_a_python_skill(sdk, env, tmp_path, node):
    ours = Program(sdk, env, """
        from coworker import Agent
        agent = Agent("ours")

        @agent.skill("summarize", description="Summarize text",
                     input_schema={"text": "str"}, output_schema={"summary": "str"})
        def summarize(text: str) -> dict:
            return {"summary": text.split(".")[0]}

        @agent.skill("private", input_schema={"text": "str"}, min_trust_tier=2)
        def private(text: str) -> dict:
            return {"text": text}

        print("invite", agent.invite(), flush=True)
        agent.serve()
    """)
    original = subprocess.Popen(
        [str(PYTHON), str(Path(__file__).parent / "original.py"), "serve", "--name", "py",
         "--data-dir", str(tmp_path / "py"), "--node", node.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        invite = ours.expect("invite ")
        ready = json.loads(original.stdout.readline())
        assert ready["event"] == "ready", ready

        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(
                f"http://127.0.0.1:{ready['control']}{path}", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read())

        connected = post("/connect", {"target": invite})["result"]
        # Its connect asks for KNOWN; our policy grants it, and it sees the KNOWN skill only.
        assert [s["name"] for s in connected["skills"]] == ["summarize"], connected
        target = connected.get("inbox_id") or connected["wallet"]
        answer = post("/call", {"target": target, "skill": "summarize",
                                "input": {"text": "Python skills. On our runtime."}})["result"]
        assert answer.get("success") is True, answer
        assert answer["result"] == {"summary": "Python skills"}, answer
        refused = post("/call", {"target": target, "skill": "private",
                                 "input": {"text": "x"}})["result"]
        assert refused["error"] == "Unknown skill: private", refused
    finally:
        original.terminate()
        original.wait(timeout=30)
        ours.process.send_signal(signal.SIGINT)
        ours.finish()
        ours.kill()


def test_the_app_hosts_the_python_agents_skills(sdk, env, tmp_path):
    # The desktop app holds its identity in $XDG_DATA_HOME/dev.coworker.app and serves the
    # control API there; `coworker host` on that directory stands in for the app here (the
    # app's own socket is tested with the app, in src-tauri).
    app_dir = Path(env["XDG_DATA_HOME"]) / "dev.coworker.app"
    cli(sdk, env, app_dir, "init", "--name", "owner")
    host = subprocess.Popen([str(sdk.parent / "coworker"), "--json", "--data-dir", str(app_dir),
                             "host"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    dashboard = None
    try:
        assert json.loads(host.stdout.readline())["event"] == "ready"
        dashboard = Program(sdk, env, EXAMPLES / "06_app_dashboard.py")
        inbox = dashboard.expect("serving 2 skills through the app as ")
        owner_inbox = cli(sdk, env, app_dir, "status")["inbox_id"]
        assert inbox == owner_inbox  # the app's identity, not a new one
        skills = cli(sdk, env, app_dir, "skills", "list")
        names = sorted(s["name"] for s in skills["skills"])
        assert names == ["shout", "word_count"], skills
        # A peer asks for KNOWN, the app's owner approves, the peer calls: the request, the
        # call and its receipt are the app's.
        visitor = Program(sdk, env, """
            import sys
            from coworker import Agent
            with Agent("visitor") as agent:
                print("answer", agent.connect(sys.argv[1])["answer"]["status"], flush=True)
                sys.stdin.readline()
                print("called", agent.call(sys.argv[1], "word_count", {"text": "a b c"})["output"])
        """, cli(sdk, env, app_dir, "invite")["code"])
        try:
            assert visitor.expect("answer ") == "pending"
            (request,) = cli(sdk, env, app_dir, "trust", "requests")["requests"]
            cli(sdk, env, app_dir, "trust", "approve", str(request["id"]))
            visitor.process.stdin.write("go\n")
            visitor.process.stdin.flush()
            assert visitor.expect("called ") == "{'words': 3}"
        finally:
            visitor.kill()
        receipts = cli(sdk, env, app_dir, "receipts", "list")["receipts"]
        assert [r["receipt"]["skill"] for r in receipts] == ["word_count"]
        dashboard.process.send_signal(signal.SIGINT)
        code, stdout, stderr = dashboard.finish()
        assert code == 0, stderr
        # Its skills left with it; the app's identity goes on.
        assert cli(sdk, env, app_dir, "skills", "list")["skills"] == []
    finally:
        if dashboard is not None:
            dashboard.kill()
        host.terminate()
        host.wait(timeout=30)


def test_async_agents_chat_and_call_in_a_group_and_see_events(sdk, env):
    out = run(sdk, env, """
        import asyncio
        from coworker import AsyncAgent

        async def main():
            ada, bob = AsyncAgent("ada"), AsyncAgent("bob")

            @bob.skill("double", input_schema={"n": "int"}, output_schema={"n": "int"})
            async def double(n: int) -> dict:
                return {"n": 2 * n}

            async with ada, bob:
                await ada.connect(await bob.invite())
                await bob.connect(await ada.invite())
                seen = {"chat": [], "task_served": []}

                async def watch():
                    async for event in bob.events():
                        if event["type"] in seen:
                            seen[event["type"]].append(event)
                        if seen["chat"] and seen["task_served"]:
                            return

                watcher = asyncio.create_task(watch())
                await asyncio.sleep(0.2)  # subscribed
                group = await ada.create_group("Research Sprint", [await bob.invite()])
                print("group", group.name, sorted(str(m.get("tier")) for m in group.members))
                await group.send("hello group")
                answer = await group.call(bob.inbox_id, "double", {"n": 4})
                print("group call", answer["output"])
                await asyncio.wait_for(watcher, 30)
                print("bob saw", seen["chat"][0]["text"], seen["task_served"][0]["skill"])
                print("bob's groups", [g.name for g in await bob.groups()])

        asyncio.run(main())
    """)
    assert "group Research Sprint ['1', 'None']" in out, out  # bob at KNOWN, ada herself
    assert "group call {'n': 8}" in out
    assert "bob saw hello group double" in out
    assert "bob's groups ['Research Sprint']" in out
