"""Drives the official XMTP client (libxmtp 1.10 via the xmtp-bindings wheel) and our node.

`Node` runs `coworker node` as a separate process so tests can stop and restart it; `Peer` is
one registered libxmtp client with its own wallet and database.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from xmtp_bindings import xmtpv3 as x

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
COWORKER = Path(os.environ.get("COWORKER_BIN", TARGET / "debug" / "coworker"))

LIST_ALL = dict(
    created_after_ns=None,
    created_before_ns=None,
    last_activity_before_ns=None,
    last_activity_after_ns=None,
    order_by=None,
    limit=None,
    consent_states=None,
    include_duplicate_dms=False,
)
ALL_MESSAGES = dict(
    sent_before_ns=None,
    sent_after_ns=None,
    limit=None,
    delivery_status=None,
    direction=None,
    content_types=None,
    exclude_content_types=None,
    exclude_sender_inbox_ids=None,
    sort_by=None,
    inserted_after_ns=None,
    inserted_before_ns=None,
)

NO_DM_OPTIONS = x.FfiCreateDmOptions(message_disappearing_settings=None)


# An agent file's skill that upper-cases `text`, run as a Python command (for `coworker serve`).
UPPER_SKILL = f"""
[[skill]]
name = "upper"
description = "Upper-cases text"
input = {{ text = "str" }}
output = {{ text = "str" }}
command = ["{sys.executable}", "-c", "import json,sys; t=json.load(sys.stdin)['text']; print(json.dumps({{'text': t.upper()}}))"]
"""


def group_options(name):
    """Options for a group with this name and the default policies."""
    return x.FfiCreateGroupOptions(
        permissions=None,
        group_name=name,
        group_image_url_square=None,
        group_description=None,
        custom_permission_policy_set=None,
        message_disappearing_settings=None,
        app_data=None,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """`coworker node` on a fixed port and database, stoppable and restartable."""

    def __init__(self, workdir: Path, *args: str):
        assert COWORKER.exists(), f"{COWORKER} is missing: build it with `cargo build -p coworker-cli`"
        self.port = free_port()
        self.db = workdir / "node.db"
        self.log = open(workdir / "node.log", "ab")
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(COWORKER), "node", "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db)]
            + self.args,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        line = self.process.stdout.readline().decode()
        assert "listening on" in line, f"node did not start: {line!r}"

    def stop(self) -> None:
        """SIGTERM, like a service manager: the node must flush and exit 0."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        assert code == 0, f"node exited with {code}"
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Inbox:
    """Collects messages delivered by a libxmtp stream callback."""

    def __init__(self):
        self.messages: "queue.Queue[x.FfiMessage]" = queue.Queue()
        self.errors: list = []

    def on_message(self, message):
        self.messages.put(message)

    def on_error(self, error):
        self.errors.append(error)

    def on_close(self):
        pass


class Peer:
    """A registered libxmtp client."""

    def __init__(self, client, address: str):
        self.client = client
        self.address = address
        self.key: bytes | None = None

    @property
    def inbox_id(self) -> str:
        return self.client.inbox_id()

    @classmethod
    async def create(
        cls, node: Node, workdir: Path, name: str, d14n: bool = False, key: bytes | None = None
    ) -> "Peer":
        """A new client; `d14n` speaks the decentralized network's API (the node is its own
        gateway); `key` reuses a wallet (a second installation of its inbox)."""
        key = key or os.urandom(32)
        client, address = await cls._client(node, workdir, name, d14n, key)
        request = client.signature_request()
        assert request is not None, "a new installation must need registration"
        text = await request.signature_text()
        signature = x.ethereum_sign_recoverable(x.ethereum_hash_personal(text), key, False)
        await request.add_ecdsa_signature(signature)
        await client.register_identity(request)
        peer = cls(client, address)
        peer.key = key
        return peer

    async def reopen(self, node: Node, workdir: Path, name: str, d14n: bool) -> None:
        """The same installation (its database) over another API, as an app updated to
        speak d14n resumes."""
        assert self.key is not None
        self.client, _ = await self._client(node, workdir, name, d14n, self.key)
        assert self.client.signature_request() is None, "an installation already registered"

    @staticmethod
    async def _client(node: Node, workdir: Path, name: str, d14n: bool, key: bytes):
        address = x.ethereum_address_from_pubkey(x.ethereum_generate_public_key(key)).lower()
        ident = x.FfiIdentifier(identifier=address, identifier_kind=x.FfiIdentifierKind.ETHEREUM)
        gateway = node.url if d14n else None
        api = await x.connect_to_backend(node.url, gateway, False, None, None, None, None)
        sync_api = await x.connect_to_backend(node.url, gateway, False, None, None, None, None)
        inbox = await x.get_inbox_id_for_identifier(api, ident) or x.generate_inbox_id(ident, 1)
        db = x.DbOptions(
            db=str(workdir / f"{name}.db3"),
            encryption_key=None,
            max_db_pool_size=None,
            min_db_pool_size=None,
        )
        client = await x.create_client(
            api, sync_api, db, inbox, ident, 1, None, x.FfiDeviceSyncMode.DISABLED, None, None
        )
        return client, address

    async def find_inbox(self, node: Node, address: str) -> str | None:
        api = await x.connect_to_backend(node.url, None, False, None, None, None, None)
        ident = x.FfiIdentifier(identifier=address, identifier_kind=x.FfiIdentifierKind.ETHEREUM)
        return await x.get_inbox_id_for_identifier(api, ident)

    async def conversations(self) -> list:
        await self.client.conversations().sync_all_conversations(None)
        items = self.client.conversations().list(x.FfiListConversationsOptions(**LIST_ALL))
        return [item.conversation() for item in items]

    async def conversation(self, conversation_id: bytes, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            for conversation in await self.conversations():
                if conversation.id() == conversation_id:
                    return conversation
            assert time.monotonic() < deadline, "the conversation never arrived"
            await asyncio.sleep(0.2)


async def texts(conversation) -> list[str]:
    """The text messages of a conversation, oldest first."""
    out = []
    for message in await conversation.find_messages(x.FfiListMessagesOptions(**ALL_MESSAGES)):
        if message.kind != x.FfiConversationMessageKind.APPLICATION:
            continue
        try:
            out.append(x.decode_text(message.content))
        except Exception:  # other content types
            pass
    return out


async def wait_for_texts(conversation, expected: list[str], timeout: float = 30) -> list[str]:
    """Syncs until every expected text is there; returns all texts."""
    deadline = time.monotonic() + timeout
    while True:
        await conversation.sync()
        got = await texts(conversation)
        if all(t in got for t in expected):
            return got
        assert time.monotonic() < deadline, f"still missing {set(expected) - set(got)}; have {got}"
        await asyncio.sleep(0.2)


def next_streamed(inbox: Inbox, timeout: float = 30) -> x.FfiMessage:
    return inbox.messages.get(timeout=timeout)


async def stream_all(peer: Peer) -> tuple[Inbox, object]:
    inbox = Inbox()
    closer = await peer.client.conversations().stream_all_messages(inbox, None)
    await closer.wait_for_ready()
    return inbox, closer


