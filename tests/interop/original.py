"""Runs the unmodified agent-coworker 0.6.1 (PyPI) as a peer, against any XMTP node.

The original talks to XMTP through a Node.js bridge: a small HTTP API on 127.0.0.1 that it
polls every 1.5 s. That bridge needs a newer Node.js and the internet, so this module serves the
same API itself, on the official XMTP client (libxmtp 1.10 through `xmtp-bindings`), and lets
the package find it the way it finds its own (`bridge_port` in its data directory, `/health`
saying "connected"). The agent itself runs untouched: `agent_coworker.Agent.serve()`.

    python original.py serve --name py --data-dir DIR --node URL

prints one JSON line `{"event":"ready","name","inbox_id","address","invite","control"}` and
serves until SIGTERM. `control` is the port of a JSON API (POST, 127.0.0.1) that drives the
agent's own methods, as its users would call them from Python:

    /connect {target}                         Agent.connect (an invite is decoded as its CLI does)
    /call {target, skill, input, timeout?}    Agent.call
    /ask_trust {target, tier, reason?}        a trust_request sent with the agent's client
    /collaborate {target, goal}               Agent.collaborate
    /trust {peer, tier}                       TrustManager.set_trust_override
    /group_create {name, members}             Agent.create_group -> {group_id}
    /group_send {group_id, text}              Group.send
    /group_call {group_id, target, skill, input, timeout?}   Group.call
    /group_messages {}                        the agent's group log
    /info {}                                  name, wallet, inbox id

Skills: `echo {text} -> {echo}` and `reverse {text} -> {reversed}` (KNOWN), `secret {text} ->
{secret}` (INTERNAL) and `notes {text} -> {notes}` (KNOWN, hidden).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import datetime
import http.server
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from xmtp_bindings import xmtpv3 as x

MAX_INBOX = 5000
NO_DM_OPTIONS = x.FfiCreateDmOptions(message_disappearing_settings=None)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def iso_from_ns(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).isoformat()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_address(text: str) -> bool:
    return text.startswith("0x") and len(text) == 42


def ethereum(address: str) -> x.FfiIdentifier:
    return x.FfiIdentifier(identifier=address.lower(), identifier_kind=x.FfiIdentifierKind.ETHEREUM)


class Loop:
    """libxmtp's Python API is async: a private event loop runs it for the threads here."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


class Inbound:
    """The stream callback: hands each message to the bridge."""

    def __init__(self, bridge: "Bridge"):
        self.bridge = bridge

    def on_message(self, message):
        try:
            self.bridge.received(message)
        except Exception as error:  # never let one message end the stream
            print(f"bridge: cannot buffer a message: {error}", file=sys.stderr)

    def on_error(self, error):
        print(f"bridge: stream error: {error}", file=sys.stderr)

    def on_close(self):
        self.bridge.reopen()


class Bridge:
    """agent-coworker's bridge API, on libxmtp."""

    def __init__(self, node: str, data_dir: Path, key: bytes):
        self.node_url = node
        self.loop = Loop()
        self.data_dir = data_dir
        self.key = key
        self.address = x.ethereum_address_from_pubkey(x.ethereum_generate_public_key(key)).lower()
        self.inbox: list[dict] = []
        self.lock = threading.Lock()
        self.kinds: dict[bytes, str] = {}
        self.started = time.time()
        self.stopping = False
        self.client = self.loop.run(self._open(node))
        self.inbox_id = self.client.inbox_id()

    async def _open(self, node: str):
        ident = ethereum(self.address)
        api = await x.connect_to_backend(node, None, False, None, None, None, None)
        sync_api = await x.connect_to_backend(node, None, False, None, None, None, None)
        inbox = await x.get_inbox_id_for_identifier(api, ident) or x.generate_inbox_id(ident, 1)
        db = x.DbOptions(db=str(self.data_dir / "bridge" / "xmtp.db3"), encryption_key=None,
                         max_db_pool_size=None, min_db_pool_size=None)
        (self.data_dir / "bridge").mkdir(parents=True, exist_ok=True)
        client = await x.create_client(api, sync_api, db, inbox, ident, 1, None,
                                       x.FfiDeviceSyncMode.DISABLED, None, None)
        request = client.signature_request()
        if request is not None:
            text = await request.signature_text()
            signature = x.ethereum_sign_recoverable(x.ethereum_hash_personal(text), self.key, False)
            await request.add_ecdsa_signature(signature)
            await client.register_identity(request)
        return client

    def start(self) -> int:
        self.reopen()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        (self.data_dir / "bridge_port").write_text(str(port))
        (self.data_dir / "bridge.pid").write_text(str(os.getpid()))
        return port

    def reopen(self):
        """(Re)opens the message stream (the original's bridge never does; ours must not go
        deaf after a node restart)."""
        if self.stopping:
            return

        async def go():
            await self.client.conversations().sync()
            closer = await self.client.conversations().stream_all_messages(Inbound(self), None)
            await closer.wait_for_ready()
            return closer

        threading.Thread(target=lambda: self.loop.run(go(), 60), daemon=True).start()

    def kind_of(self, conversation_id: bytes) -> str:
        kind = self.kinds.get(conversation_id)
        if kind is None:
            try:
                conversation = self.client.conversation(conversation_id)
            except Exception:
                self.loop.run(self.client.conversations().sync())
                conversation = self.client.conversation(conversation_id)
            kind = {x.FfiConversationType.GROUP: "group", x.FfiConversationType.DM: "dm"}.get(
                conversation.conversation_type(), "other")
            self.kinds[conversation_id] = kind
        return kind

    def received(self, message):
        if message.sender_inbox_id == self.inbox_id:
            return
        if message.kind != x.FfiConversationMessageKind.APPLICATION:
            return
        kind = self.kind_of(message.conversation_id)
        if kind == "other":
            return
        try:
            content = x.decode_text(message.content)
        except Exception:
            return  # the original's bridge hands over text only
        entry = {
            "id": message.id.hex(),
            "senderInboxId": message.sender_inbox_id,
            "conversationId": message.conversation_id.hex(),
            "isGroup": kind == "group",
            "contentType": "text",
            "content": content,
            "attachment": None,
            "sentAt": iso_from_ns(message.sent_at_ns),
            "receivedAt": now_iso(),
        }
        with self.lock:
            self.inbox.append(entry)
            del self.inbox[:-MAX_INBOX]

    # The endpoints the package calls.

    async def _conversation_with(self, target: str):
        if is_address(target):
            return await self.client.conversations().find_or_create_dm_by_identity(ethereum(target), NO_DM_OPTIONS)
        return await self.client.conversations().find_or_create_dm(target.lower(), NO_DM_OPTIONS)

    async def _group(self, group_id: str):
        try:
            return self.client.conversation(bytes.fromhex(group_id))
        except Exception:
            await self.client.conversations().sync()
            return self.client.conversation(bytes.fromhex(group_id))

    def health(self, _query, _body):
        return {"status": "connected", "address": self.address, "inboxId": self.inbox_id,
                "env": "local", "inbox_count": len(self.inbox), "uptime": time.time() - self.started}

    def inbox_id_endpoint(self, _query, _body):
        return {"inboxId": self.inbox_id, "address": self.address}

    def send(self, _query, body):
        async def go():
            conversation = await self._conversation_with(body["to"])
            message_id = await conversation.send_text(body["content"])
            return {"status": "sent", "messageId": message_id.hex(), "to": body["to"],
                    "conversationId": conversation.id().hex()}
        return self.loop.run(go())

    def prewarm(self, _query, body):
        self.loop.run(self._conversation_with(body["to"]))
        return {"status": "ok"}

    def read_inbox(self, query, _body):
        with self.lock:
            messages = list(self.inbox)
            if query.get("clear") == "1":
                self.inbox.clear()
        since = query.get("since")
        if since:
            messages = [m for m in messages if m["sentAt"] > since]
        return {"messages": messages, "count": len(messages)}

    def clear_inbox(self, _query, _body):
        with self.lock:
            self.inbox.clear()
        return {"status": "cleared"}

    def can_message(self, query, _body):
        try:
            self.loop.run(self._member(query["address"]))
            return {"canMessage": True}
        except ValueError:
            return {"canMessage": False}

    def create_group(self, _query, body):
        async def go():
            members = [await self._member(m) for m in body.get("members", [])]
            options = x.FfiCreateGroupOptions(
                permissions=None, group_name=body.get("name") or "CoWorker Group",
                group_image_url_square=None, group_description=body.get("description") or None,
                custom_permission_policy_set=None, message_disappearing_settings=None, app_data=None)
            group = await self.client.conversations().create_group(members, options)
            return {"status": "created", "groupId": group.id().hex(), "name": body.get("name"),
                    "members": body.get("members", []), "memberCount": len(members) + 1}
        return self.loop.run(go())

    async def _member(self, member: str) -> str:
        if not is_address(member):
            return member.lower()
        api = await x.connect_to_backend(self.node_url, None, False, None, None, None, None)
        inbox = await x.get_inbox_id_for_identifier(api, ethereum(member))
        if not inbox:
            raise ValueError(f"no XMTP inbox for {member}")
        return inbox

    def group_send(self, _query, body):
        async def go():
            group = await self._group(body["groupId"])
            message_id = await group.send_text(body["content"])
            return {"status": "sent", "messageId": message_id.hex(), "groupId": body["groupId"]}
        return self.loop.run(go())

    def group_members(self, body, add: bool):
        async def go():
            group = await self._group(body["groupId"])
            member = await self._member(body["member"])
            await (group.add_members if add else group.remove_members)([member])
            return {"status": "added" if add else "removed", "groupId": body["groupId"]}
        return self.loop.run(go())

    def groups(self, _query, _body):
        async def go():
            await self.client.conversations().sync()
            options = x.FfiListConversationsOptions(
                created_after_ns=None, created_before_ns=None, last_activity_before_ns=None,
                last_activity_after_ns=None, order_by=None, limit=None, consent_states=None,
                include_duplicate_dms=False)
            out = []
            for item in self.client.conversations().list_groups(options):
                group = item.conversation()
                out.append({"groupId": group.id().hex(), "name": group.group_name()})
            return {"groups": out}
        return self.loop.run(go())

    def _handler(self):
        routes = {
            ("GET", "/health"): self.health,
            ("GET", "/inbox-id"): self.inbox_id_endpoint,
            ("POST", "/send"): self.send,
            ("POST", "/prewarm"): self.prewarm,
            ("GET", "/inbox"): self.read_inbox,
            ("POST", "/clear-inbox"): self.clear_inbox,
            ("GET", "/can-message"): self.can_message,
            ("POST", "/create-group"): self.create_group,
            ("POST", "/group-send"): self.group_send,
            ("POST", "/group-add-member"): lambda q, b: self.group_members(b, True),
            ("POST", "/group-remove-member"): lambda q, b: self.group_members(b, False),
            ("GET", "/groups"): self.groups,
        }
        return json_handler(routes, name="bridge")


def json_handler(routes: dict, name: str):
    """A request handler answering JSON routes: (method, path) -> fn(query, body)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass

        def _answer(self, method: str):
            path, _, raw_query = self.path.partition("?")
            query = dict(p.split("=", 1) for p in raw_query.split("&") if "=" in p)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            route = routes.get((method, path))
            if route is None:
                status, answer = 404, {"error": f"no {method} {path}"}
            else:
                try:
                    status, answer = 200, route(query, body)
                except Exception as error:
                    status, answer = 500, {"error": f"{type(error).__name__}: {error}"}
                    print(f"{name}: {method} {path} failed: {error}", file=sys.stderr)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer("GET")

        def do_POST(self):
            self._answer("POST")

    return Handler


def control_routes(agent, bridge: Bridge) -> dict:
    """The test's handle on the agent: its own methods, as a Python user calls them."""
    from agent_coworker._internal.security import TrustTier

    def timed(fn):
        started = time.monotonic()
        answer = fn()
        return {"result": answer, "elapsed_ms": (time.monotonic() - started) * 1000}

    def ask_trust(_q, body):
        # What `connect` does for KNOWN, for any tier: a trust_request and its answer.
        correlation = os.urandom(4).hex()
        started = time.monotonic()
        agent.client.send(body["target"], "trust_request",
                          {"requested_tier": body["tier"], "reason": body.get("reason", "")},
                          correlation_id=correlation)
        while time.monotonic() - started < body.get("timeout", 30):
            answer = agent._response_box.pop(correlation, None)
            if answer is not None:
                return {"result": {"type": answer.get("type"), "payload": answer.get("payload", {})},
                        "elapsed_ms": (time.monotonic() - started) * 1000}
            time.sleep(0.1)
        return {"result": {"type": "timeout", "payload": {}}}

    def target(text: str) -> str:
        # An invite code, read as the package's own `coworker connect` reads it.
        if text.startswith("eyJ"):
            from agent_coworker.cli import _decode_invite
            decoded = _decode_invite(text)
            return decoded["inbox_id"] or decoded["wallet"]
        return text

    def group_of(body):
        return agent.get_group(body["group_id"], body.get("name", ""), body.get("members", []))

    return {
        ("POST", "/info"): lambda q, b: {"name": agent.name, "wallet": agent.wallet,
                                          "inbox_id": bridge.inbox_id},
        ("POST", "/connect"): lambda q, b: timed(lambda: agent.connect(target(b["target"]))),
        ("POST", "/call"): lambda q, b: timed(lambda: agent.call(
            b["target"], b["skill"], b.get("input", {}), timeout=b.get("timeout", 30))),
        ("POST", "/ask_trust"): ask_trust,
        ("POST", "/collaborate"): lambda q, b: timed(lambda: agent.collaborate(b["target"], b["goal"])),
        ("POST", "/trust"): lambda q, b: {
            "ok": agent.trust_manager.set_trust_override(b["peer"], TrustTier(b["tier"])) or True},
        ("POST", "/group_create"): lambda q, b: {
            "group_id": agent.create_group(b["name"], b["members"]).group_id},
        ("POST", "/group_send"): lambda q, b: group_of(b).send(b["text"]),
        ("POST", "/group_call"): lambda q, b: timed(lambda: group_of(b).call(
            b["target"], b["skill"], b.get("input", {}), timeout=b.get("timeout", 30))),
        ("POST", "/group_messages"): lambda q, b: {"messages": list(agent._group_messages)},
    }


def invite(name: str, inbox_id: str) -> str:
    """The code `coworker invite` prints when its bridge runs."""
    text = json.dumps({"n": name, "i": inbox_id, "v": "0.6.1"}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def serve(args) -> None:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "wallet.json"
    if key_file.exists():
        key = bytes.fromhex(json.loads(key_file.read_text())["private_key"][2:])
    else:
        key = os.urandom(32)
    bridge = Bridge(args.node, data_dir, key)
    # What `coworker init` writes, with the real address (init writes a placeholder until its
    # bridge reports the real one).
    created = now_iso()
    key_file.write_text(json.dumps({"private_key": "0x" + key.hex(), "address": bridge.address,
                                    "created_at": created}))
    (data_dir / "config.json").write_text(json.dumps({"name": args.name, "wallet": bridge.address,
                                                      "created_at": created}))
    bridge.start()

    import agent_coworker
    import agent_coworker._internal.bridge as package_bridge

    def no_node_bridge(*_args, **_kwargs):
        return {"error": "the Node.js bridge is replaced by tests/interop/original.py"}

    package_bridge.start = no_node_bridge  # never npm-install or spawn node

    agent = agent_coworker.Agent(args.name, data_dir=str(data_dir))

    @agent.skill("echo", description="Echoes text", input_schema={"text": "str"},
                 output_schema={"echo": "str"}, min_trust_tier=1)
    def echo(text: str) -> dict:
        return {"echo": text}

    @agent.skill("reverse", description="Reverses text", input_schema={"text": "str"},
                 output_schema={"reversed": "str"}, min_trust_tier=1)
    def reverse(text: str) -> dict:
        return {"reversed": text[::-1]}

    @agent.skill("secret", description="For insiders", input_schema={"text": "str"},
                 output_schema={"secret": "str"}, min_trust_tier=2)
    def secret(text: str) -> dict:
        return {"secret": text.upper()}

    @agent.skill("notes", description="Not shown", input_schema={"text": "str"},
                 output_schema={"notes": "str"}, min_trust_tier=1)
    def notes(text: str) -> dict:
        return {"notes": text}

    control = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                              json_handler(control_routes(agent, bridge), "control"))
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()
    ready = {"event": "ready", "name": args.name, "inbox_id": bridge.inbox_id,
             "address": bridge.address, "invite": invite(args.name, bridge.inbox_id),
             "control": control.server_address[1]}
    # The package prints its console output on stdout too: the ready line comes first.
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    sys.stdout = sys.stderr
    agent.serve(monitor_port=free_port(), expose_skills=["echo", "reverse", "secret"])
    bridge.stopping = True
    sys.stderr.flush()
    os._exit(0)  # libxmtp's threads may call into a finalising interpreter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run an agent-coworker 0.6.1 agent")
    run.add_argument("--name", required=True)
    run.add_argument("--data-dir", required=True)
    run.add_argument("--node", required=True, help="XMTP node URL, e.g. http://127.0.0.1:5556")
    args = parser.parse_args()
    os.environ.setdefault("RUST_LOG", "warn")
    # libxmtp logs on fd 1: keep stdout for the ready line.
    saved = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(saved, "w", buffering=1)
    serve(args)


if __name__ == "__main__":
    main()
