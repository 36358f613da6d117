"""The official XMTP client (libxmtp 1.10) against our node: registration, lookup, DMs, groups
with membership changes, streams, and a node restart in the middle of a conversation."""

import asyncio

from harness import (
    NO_DM_OPTIONS,
    Peer,
    next_streamed,
    stream_all,
    texts,
    wait_for_texts,
    group_options,
)
from xmtp_bindings import xmtpv3 as x


def test_clients_register_and_find_each_other(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        assert await alice.find_inbox(node, bob.address) == bob.inbox_id
        assert await bob.find_inbox(node, alice.address) == alice.inbox_id
        assert await bob.find_inbox(node, "0x" + "00" * 20) is None

    asyncio.run(scenario())


def test_dm_both_ways(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        dm = await alice.client.conversations().find_or_create_dm(bob.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("hello bob")

        bobs_dm = await bob.conversation(dm.id())
        assert bobs_dm.conversation_type() == x.FfiConversationType.DM
        assert bobs_dm.dm_peer_inbox_id() == alice.inbox_id
        await wait_for_texts(bobs_dm, ["hello bob"])
        await bobs_dm.send_text("hello alice")

        got = await wait_for_texts(dm, ["hello bob", "hello alice"])
        assert got == ["hello bob", "hello alice"]

    asyncio.run(scenario())


def test_group_with_members_added_and_removed(node, tmp_path):
    async def scenario():
        alice, bob, carol, dave = [
            await Peer.create(node, tmp_path, name) for name in ("alice", "bob", "carol", "dave")
        ]
        group = await alice.client.conversations().create_group(
            [bob.inbox_id, carol.inbox_id], group_options("interop")
        )
        await group.send_text("hi all")
        bobs = await bob.conversation(group.id())
        carols = await carol.conversation(group.id())
        assert bobs.group_name() == "interop"
        await wait_for_texts(bobs, ["hi all"])
        await wait_for_texts(carols, ["hi all"])
        await bobs.send_text("bob here")
        await carols.send_text("carol here")

        await group.add_members([dave.inbox_id])
        daves = await dave.conversation(group.id())
        await group.send_text("welcome dave")
        await wait_for_texts(daves, ["welcome dave"])

        await group.remove_members([carol.inbox_id])
        await group.send_text("after carol left")
        await daves.send_text("dave here")

        everything = ["hi all", "bob here", "carol here", "welcome dave", "after carol left", "dave here"]
        for conversation in (group, bobs):
            assert sorted(await wait_for_texts(conversation, everything)) == sorted(everything)
        assert len(await group.list_members()) == 3

        # Carol applied her removal: she is out and sees nothing after it.
        for _ in range(50):
            await carols.sync()
            if not carols.is_active():
                break
            await asyncio.sleep(0.2)
        assert not carols.is_active()
        assert "after carol left" not in await texts(carols)

    asyncio.run(scenario())


def test_streams_deliver_live_messages(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        inbox, closer = await stream_all(bob)
        dm = await alice.client.conversations().find_or_create_dm(bob.inbox_id, NO_DM_OPTIONS)
        for n in range(3):
            await dm.send_text(f"live {n}")
        seen = []
        while len(seen) < 3:
            message = await asyncio.to_thread(next_streamed, inbox)
            if message.kind == x.FfiConversationMessageKind.APPLICATION:
                seen.append(x.decode_text(message.content))
        assert seen == ["live 0", "live 1", "live 2"]
        assert not inbox.errors
        await closer.end_and_wait()

    asyncio.run(scenario())


def test_node_restart_loses_nothing(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice")
        bob = await Peer.create(node, tmp_path, "bob")
        dm = await alice.client.conversations().find_or_create_dm(bob.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("before restart")
        bobs = await bob.conversation(dm.id())
        await wait_for_texts(bobs, ["before restart"])
        group = await alice.client.conversations().create_group([bob.inbox_id], group_options("restart"))
        await group.send_text("group before")

        node.restart()

        # Both clients reconnect, sync and carry on in both conversations.
        await dm.send_text("after restart")
        await bobs.send_text("bob after restart")
        assert await wait_for_texts(dm, ["before restart", "after restart", "bob after restart"]) == [
            "before restart",
            "after restart",
            "bob after restart",
        ]
        bobs_group = await bob.conversation(group.id())
        await group.send_text("group after")
        assert await wait_for_texts(bobs_group, ["group before", "group after"]) == [
            "group before",
            "group after",
        ]
        # Registration survived: a lookup after the restart still finds both inboxes.
        assert await alice.find_inbox(node, bob.address) == bob.inbox_id

    asyncio.run(scenario())
