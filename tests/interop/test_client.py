"""Our native Rust XMTP client against the official client (libxmtp 1.10), through our node:
DMs opened from either side, groups created by either side with membership changes, a restart
in the middle of a conversation, and custom content types."""

import asyncio
import time

import pytest
from harness import (
    NO_DM_OPTIONS,
    Peer,
    stream_all,
    texts,
    wait_for_texts,
    group_options,
)
from rust_peer import RustPeer
from xmtp_bindings import xmtpv3 as x


@pytest.fixture
def rust(node, tmp_path):
    peer = RustPeer(node, tmp_path, "rust")
    yield peer
    peer.close()


def wait_rust_texts(rust, conversation, expected, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = rust.texts(conversation)
        if all(t in got for t in expected):
            return got
        assert time.monotonic() < deadline, f"rust still misses {set(expected) - set(got)}; has {got}"
        time.sleep(0.2)


def wait_rust_conversation(rust, conversation_id: str, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        rust.call("sync")
        for c in rust.call("conversations"):
            if c["id"] == conversation_id:
                return c
        assert time.monotonic() < deadline, "rust never joined"
        time.sleep(0.2)


def test_libxmtp_opens_a_dm_with_rust(node, tmp_path, rust):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        dm = await alice.client.conversations().find_or_create_dm(rust.inbox_id, NO_DM_OPTIONS)
        sent_id = await dm.send_text("hello rust")
        conversation = wait_rust_conversation(rust, dm.id().hex())
        assert conversation["kind"] == "dm" and conversation["peer"] == alice.inbox_id
        assert wait_rust_texts(rust, dm.id().hex(), ["hello rust"]) == ["hello rust"]
        messages = rust.call("messages", conversation=dm.id().hex())
        assert messages[0]["id"] == sent_id.hex(), "message ids agree with libxmtp"
        assert messages[0]["sender_inbox_id"] == alice.inbox_id
        rust.call("send", conversation=dm.id().hex(), text="hello alice")
        got = await wait_for_texts(dm, ["hello rust", "hello alice"])
        assert got == ["hello rust", "hello alice"]

    asyncio.run(scenario())


def test_rust_opens_a_dm_with_libxmtp(node, tmp_path, rust):
    async def scenario():
        bob = await Peer.create(node, tmp_path, "bob")
        inbox, closer = await stream_all(bob)
        dm_id = rust.call("dm", peer=bob.inbox_id)
        rust.call("send", conversation=dm_id, text="from rust")
        dm = await bob.conversation(bytes.fromhex(dm_id))
        assert dm.conversation_type() == x.FfiConversationType.DM
        assert dm.dm_peer_inbox_id() == rust.inbox_id
        await wait_for_texts(dm, ["from rust"])
        streamed = inbox.messages.get(timeout=30)
        while x.decode_text(streamed.content) != "from rust" if streamed.kind == x.FfiConversationMessageKind.APPLICATION else True:
            streamed = inbox.messages.get(timeout=30)
        closer.end()
        await dm.send_text("reply from libxmtp")
        assert wait_rust_texts(rust, dm_id, ["reply from libxmtp"]) == ["from rust", "reply from libxmtp"]
        # libxmtp finds and reuses the same DM.
        again = await bob.client.conversations().find_or_create_dm(rust.inbox_id, NO_DM_OPTIONS)
        assert again.id().hex() == dm_id

    asyncio.run(scenario())


def test_rust_group_with_libxmtp_members_add_and_remove(node, tmp_path, rust):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        carol = await Peer.create(node, tmp_path, "carol")
        group_id = rust.call("create_group", members=[alice.inbox_id, bob.inbox_id], name="rust-made")
        rust.call("send", conversation=group_id, text="welcome all")
        a = await alice.conversation(bytes.fromhex(group_id))
        b = await bob.conversation(bytes.fromhex(group_id))
        assert a.group_name() == "rust-made"
        await wait_for_texts(a, ["welcome all"])
        await a.send_text("alice here")
        await wait_for_texts(b, ["welcome all", "alice here"])
        await b.send_text("bob here")
        await wait_for_texts(a, ["bob here"])
        wait_rust_texts(rust, group_id, ["alice here", "bob here"])

        rust.call("add_members", conversation=group_id, members=[carol.inbox_id])
        rust.call("send", conversation=group_id, text="hi carol")
        c = await carol.conversation(bytes.fromhex(group_id))
        await wait_for_texts(c, ["hi carol"])
        await wait_for_texts(a, ["hi carol"])
        await wait_for_texts(b, ["hi carol"])
        await c.send_text("carol here")
        wait_rust_texts(rust, group_id, ["carol here"])

        rust.call("remove_members", conversation=group_id, members=[bob.inbox_id])
        rust.call("send", conversation=group_id, text="after bob left")
        await wait_for_texts(a, ["after bob left"])
        await wait_for_texts(c, ["after bob left"])
        await b.sync()
        assert "after bob left" not in await texts(b)
        assert not b.is_active()
        members = sorted(m.inbox_id for m in await a.list_members())
        assert members == sorted([rust.inbox_id, alice.inbox_id, carol.inbox_id])

    asyncio.run(scenario())


def test_libxmtp_group_including_rust(node, tmp_path, rust):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        group = await alice.client.conversations().create_group(
            [rust.inbox_id, bob.inbox_id], group_options("libxmtp-made")
        )
        await group.send_text("hello from alice")
        conversation = wait_rust_conversation(rust, group.id().hex())
        assert conversation["kind"] == "group" and conversation["name"] == "libxmtp-made"
        wait_rust_texts(rust, group.id().hex(), ["hello from alice"])
        rust.call("send", conversation=group.id().hex(), text="rust replies")
        await wait_for_texts(group, ["rust replies"])
        b = await bob.conversation(group.id())
        await wait_for_texts(b, ["hello from alice", "rust replies"])

    asyncio.run(scenario())


def test_rust_restart_mid_conversation(node, tmp_path, rust):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        dm = await alice.client.conversations().find_or_create_dm(rust.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("one")
        wait_rust_texts(rust, dm.id().hex(), ["one"])
        installation = rust.info["installation_id"]
        rust.stop()
        await dm.send_text("two")
        await dm.send_text("three")
        rust.start()
        assert rust.info["installation_id"] == installation, "the same installation resumes"
        assert wait_rust_texts(rust, dm.id().hex(), ["three"]) == ["one", "two", "three"]
        rust.call("send", conversation=dm.id().hex(), text="back again")
        await wait_for_texts(dm, ["back again"])
        assert rust.texts(dm.id().hex()) == ["one", "two", "three", "back again"]

    asyncio.run(scenario())


def test_custom_content_type_round_trip(node, tmp_path, rust):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        dm = await alice.client.conversations().find_or_create_dm(rust.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("hi")
        dm_id = dm.id().hex()
        wait_rust_conversation(rust, dm_id)
        rust.call(
            "send",
            conversation=dm_id,
            content_type="coworker.dev/envelope:1.0",
            content='{"kind":"ping"}',
            fallback="[coworker ping]",
        )
        deadline = time.monotonic() + 30
        while True:
            await dm.sync()
            found = [
                m for m in await dm.find_messages(x.FfiListMessagesOptions(**ALL))
                if m.kind == x.FfiConversationMessageKind.APPLICATION and b"coworker.dev" in m.content
            ]
            if found:
                break
            assert time.monotonic() < deadline, "libxmtp never got the custom message"
            await asyncio.sleep(0.2)
        assert b'{"kind":"ping"}' in found[0].content
        assert b"[coworker ping]" in found[0].content

    asyncio.run(scenario())


from harness import ALL_MESSAGES as ALL  # noqa: E402


def test_leave_requests_both_ways(node, tmp_path, rust):
    """Self-removal (XIP-75): a member sends a leave request; a super admin commits the removal."""

    async def members_of(conversation) -> list[str]:
        await conversation.sync()
        return sorted(m.inbox_id for m in await conversation.list_members())

    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        # libxmtp leaves a group the Rust client administers.
        group_id = rust.call("create_group", members=[alice.inbox_id, bob.inbox_id], name="rust-made")
        a = await alice.conversation(bytes.fromhex(group_id))
        b = await bob.conversation(bytes.fromhex(group_id))
        await a.leave_group()
        deadline = time.monotonic() + 30
        while alice.inbox_id in next(c for c in rust.call("conversations") if c["id"] == group_id)["members"]:
            assert time.monotonic() < deadline, "rust never removed alice"
            rust.call("sync")
            time.sleep(0.2)
        rust.call("send", conversation=group_id, text="alice has left")
        await wait_for_texts(b, ["alice has left"])
        assert await members_of(b) == sorted([rust.inbox_id, bob.inbox_id])
        await a.sync()
        assert not a.is_active()

        # The Rust client leaves a group libxmtp administers.
        group = await alice.client.conversations().create_group(
            [rust.inbox_id, bob.inbox_id], group_options("libxmtp-made")
        )
        wait_rust_conversation(rust, group.id().hex())
        rust.call("leave", conversation=group.id().hex())
        mine = next(c for c in rust.call("conversations") if c["id"] == group.id().hex())
        assert mine["leaving"] and mine["active"]
        deadline = time.monotonic() + 30
        while rust.inbox_id in await members_of(group):
            assert time.monotonic() < deadline, "libxmtp never removed the Rust client"
            await asyncio.sleep(0.2)
        rust.call("sync")
        mine = next(c for c in rust.call("conversations") if c["id"] == group.id().hex())
        assert not mine["active"]

    asyncio.run(scenario())
