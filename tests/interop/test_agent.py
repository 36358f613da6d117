"""A CoWorker agent (`coworker serve`) answering the official XMTP client (libxmtp 1.10) that
speaks agent-coworker's v1 envelopes as plain text, the way the Python original does: ping,
discover per tier, calls, schema violations, unknown skills, a forged sender_wallet, and calls
addressed by wallet inside groups that libxmtp created (answered in the group when every member
may use the skill, by DM when a stranger reads it)."""

import asyncio
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
from harness import COWORKER, Peer
from xmtp_bindings import xmtpv3 as x

NO_DM_OPTIONS = x.FfiCreateDmOptions(message_disappearing_settings=None)
UPPER = "import json,sys; d=json.load(sys.stdin); print(json.dumps({'text': d['text'].upper()}))"


class ServedAgent:
    """`coworker serve` with a TOML file; its stdout (ready line, then activity) is drained."""

    def __init__(self, node, workdir, trusted_inbox: str):
        config = workdir / "rusty.toml"
        config.write_text(
            f"""
name = "rusty"

[trust.peers]
"{trusted_inbox}" = "known"

[[skill]]
name = "upper"
description = "Upper-cases text"
input = {{ text = "str" }}
output = {{ text = "str" }}
command = [{json.dumps(sys.executable)}, "-c", {json.dumps(UPPER)}]

[[skill]]
name = "hidden"
description = "Not for peers"
command = ["true"]
exposed = false
"""
        )
        env = dict(os.environ, COWORKER_KEYSTORE_PASSWORD="interop-test", RUST_LOG="info")
        self.log = open(workdir / "rusty.log", "ab")
        self.process = subprocess.Popen(
            [str(COWORKER), "--json", "serve", str(config), "--network", node.url, "--data-dir", str(workdir / "rusty")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        self.ready = json.loads(self.process.stdout.readline())
        assert self.ready["event"] == "ready", self.ready
        self.events: list[dict] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def close(self):
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0
        self.log.close()


def envelope(kind: str, payload: dict, wallet: str, correlation: str | None = None) -> str:
    """An envelope exactly as agent-coworker 0.6.1 builds it."""
    message = {
        "protocol": "coworker",
        "version": "1.0",
        "type": kind,
        "payload": payload,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "ttl": 3600,
        "sender_id": "python-agent",
        "sender_wallet": wallet,
    }
    if correlation is not None:
        message["correlation_id"] = correlation
    return json.dumps(message)


async def answers(conversation, correlation: str, kind: str) -> list[dict]:
    """Envelopes in `conversation` answering `correlation` (not the request itself)."""
    await conversation.sync()
    options = x.FfiListMessagesOptions(
        sent_before_ns=None, sent_after_ns=None, limit=None, delivery_status=None,
        direction=None, content_types=None, exclude_content_types=None,
        exclude_sender_inbox_ids=None, sort_by=None, inserted_after_ns=None,
        inserted_before_ns=None,
    )
    found = []
    for message in await conversation.find_messages(options):
        try:
            answer = json.loads(x.decode_text(message.content))
        except Exception:
            continue
        if isinstance(answer, dict) and answer.get("correlation_id") == correlation and answer.get("type") != kind:
            assert answer["protocol"] == "coworker" and answer["version"] == "1.0"
            found.append(answer)
    return found


async def ask(conversation, kind: str, payload: dict, wallet: str, timeout: float = 30, answer_in=None) -> dict:
    """Sends a request and waits for the envelope answering its correlation id (in
    `answer_in`, the same conversation unless given)."""
    correlation = str(uuid.uuid4())[:8]  # the original's short sync ids
    await conversation.send_text(envelope(kind, payload, wallet, correlation))
    deadline = time.monotonic() + timeout
    while True:
        found = await answers(answer_in or conversation, correlation, kind)
        if found:
            if answer_in is not None:
                assert await answers(conversation, correlation, kind) == [], "answered in public too"
            return found[0]
        assert time.monotonic() < deadline, f"no answer to {kind}"
        await asyncio.sleep(0.1)


def test_python_style_agents_discover_and_call_a_coworker_agent(node, tmp_path):
    async def scenario():
        friend = await Peer.create(node, tmp_path, "friend")
        stranger = await Peer.create(node, tmp_path, "stranger")
        agent = ServedAgent(node, tmp_path, friend.inbox_id)
        try:
            rusty = agent.ready["inbox_id"]
            dm = await friend.client.conversations().find_or_create_dm(rusty, NO_DM_OPTIONS)

            pong = await ask(dm, "ping", {"message": "ping"}, friend.address)
            assert pong["type"] == "pong" and "rusty" in pong["payload"]["message"]

            capabilities = await ask(dm, "discover", {"name": "friend", "wallet": friend.address}, friend.address)
            assert capabilities["type"] == "capabilities"
            skills = capabilities["payload"]["skills"]
            assert [s["name"] for s in skills] == ["upper"], "hidden skills stay hidden"
            # In the shorthand the original's planner fills (one key per input field).
            assert skills[0]["input_schema"] == {"text": "str"}

            done = await ask(dm, "task_request", {"skill": "upper", "input": {"text": "hi"}}, friend.address)
            assert done["type"] == "task_response", done
            assert done["payload"]["success"] is True
            assert done["payload"]["result"] == {"text": "HI"}

            bad = await ask(dm, "task_request", {"skill": "upper", "input": {"text": 7}}, friend.address)
            assert bad["type"] == "task_error" and bad["payload"]["success"] is False
            assert bad["payload"]["error_code"] == "INVALID_INPUT", bad

            for name in ("hidden", "nonexistent"):
                unknown = await ask(dm, "task_request", {"skill": name, "input": {}}, friend.address)
                assert unknown["type"] == "task_error"
                assert unknown["payload"]["error"] == f"Unknown skill: {name}"

            # The stranger claims the friend's wallet: identity is the XMTP sender, so no.
            sdm = await stranger.client.conversations().find_or_create_dm(rusty, NO_DM_OPTIONS)
            nothing = await ask(sdm, "discover", {"name": "friend", "wallet": friend.address}, friend.address)
            assert nothing["type"] == "capabilities" and nothing["payload"]["skills"] == []
            refused = await ask(sdm, "task_request", {"skill": "upper", "input": {"text": "x"}}, friend.address)
            assert refused["type"] == "error"
            assert refused["payload"]["code"] == "TRUST_TIER_TOO_LOW"

            # Groups made by libxmtp: the call names the agent by wallet, as the original does.
            def options(name):
                return x.FfiCreateGroupOptions(
                    permissions=None, group_name=name, group_image_url_square=None,
                    group_description=None, custom_permission_policy_set=None,
                    message_disappearing_settings=None, app_data=None,
                )

            request = {"skill": "upper", "input": {"text": "group"}, "target_wallet": agent.ready["address"],
                       "requester": "friend", "requester_wallet": friend.address}
            # Every member may use the skill: the answer is posted in the group.
            group = await friend.client.conversations().create_group([rusty], options("pair"))
            answer = await ask(group, "group_task_request", request, friend.address)
            assert answer["type"] == "group_task_response", answer
            assert answer["payload"]["result"] == {"text": "GROUP"}
            # A stranger reads this group: the output goes to the caller alone, by DM.
            mixed = await friend.client.conversations().create_group([rusty, stranger.inbox_id], options("mixed"))
            request["input"] = {"text": "private"}
            private = await ask(mixed, "group_task_request", request, friend.address, answer_in=dm)
            assert private["type"] == "group_task_response", private
            assert private["payload"]["result"] == {"text": "PRIVATE"}

            # Ran: the DM call and the two group calls; refused before running: the invalid
            # input. (The event is printed just after the answer is sent: allow it a moment.)
            expected = ["completed", "completed", "completed", "failed:INVALID_INPUT"]
            deadline = time.monotonic() + 10
            while True:
                served = sorted(e["status"] for e in agent.events if e["event"] == "task_served")
                if served == expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert served == expected, agent.events
        finally:
            agent.close()

    asyncio.run(scenario())
