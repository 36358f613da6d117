"""The official XMTP client (libxmtp 1.10) in d14n mode against our node, which is its own
gateway: registration, lookup, DMs both ways, a group with members added and removed, streams,
a second installation (an identity update), paging past 1,000 envelopes, V3 and d14n clients
in one conversation, the V3 cutover, and two of our agents with a libxmtp client talking on as
the cutover passes."""

import asyncio
import json
import os
import subprocess
import threading
import time
from collections import Counter

import pytest
from harness import (
    COWORKER,
    NO_DM_OPTIONS,
    Node,
    Peer,
    next_streamed,
    stream_all,
    texts,
    UPPER_SKILL,
    wait_for_texts,
    group_options,
)
from xmtp_bindings import xmtpv3 as x


def test_d14n_clients_register_find_each_other_and_dm_both_ways(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice", d14n=True)
        bob = await Peer.create(node, tmp_path, "bob", d14n=True)
        assert await alice.find_inbox(node, bob.address) == bob.inbox_id
        dm = await alice.client.conversations().find_or_create_dm(bob.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("hello bob")
        bobs_dm = await bob.conversation(dm.id())
        await wait_for_texts(bobs_dm, ["hello bob"])
        await bobs_dm.send_text("hello alice")
        assert await wait_for_texts(dm, ["hello bob", "hello alice"]) == ["hello bob", "hello alice"]

    asyncio.run(scenario())


def test_a_v3_client_and_a_d14n_client_share_a_conversation(node, tmp_path):
    async def scenario():
        old = await Peer.create(node, tmp_path, "v3")
        new = await Peer.create(node, tmp_path, "d14n", d14n=True)
        dm = await old.client.conversations().find_or_create_dm(new.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("from V3")
        theirs = await new.conversation(dm.id())
        await wait_for_texts(theirs, ["from V3"])
        await theirs.send_text("from d14n")
        assert await wait_for_texts(dm, ["from V3", "from d14n"]) == ["from V3", "from d14n"]

    asyncio.run(scenario())


def test_d14n_group_with_members_added_and_removed_and_a_stream(node, tmp_path):
    async def scenario():
        alice, bob, carol, dave = [
            await Peer.create(node, tmp_path, name, d14n=True)
            for name in ("alice", "bob", "carol", "dave")
        ]
        inbox, closer = await stream_all(bob)
        group = await alice.client.conversations().create_group(
            [bob.inbox_id, carol.inbox_id], group_options("d14n")
        )
        await group.send_text("hi all")
        assert x.decode_text(next_streamed(inbox).content) == "hi all", "bob's stream"
        carols = await carol.conversation(group.id())
        await wait_for_texts(carols, ["hi all"])
        await carols.send_text("carol here")

        await group.add_members([dave.inbox_id])
        daves = await dave.conversation(group.id())
        await group.send_text("welcome dave")
        await wait_for_texts(daves, ["welcome dave"])

        await group.remove_members([carol.inbox_id])
        await group.send_text("after carol left")
        await daves.send_text("dave here")

        everything = ["hi all", "carol here", "welcome dave", "after carol left", "dave here"]
        bobs = await bob.conversation(group.id())
        for conversation in (group, bobs):
            assert sorted(await wait_for_texts(conversation, everything)) == sorted(everything)
        assert {m.inbox_id for m in await group.list_members()} == {
            alice.inbox_id,
            bob.inbox_id,
            dave.inbox_id,
        }
        for _ in range(50):
            await carols.sync()
            if not carols.is_active():
                break
            await asyncio.sleep(0.2)
        assert not carols.is_active(), "carol applied her removal"
        assert "after carol left" not in await texts(carols)
        closer.end()

    asyncio.run(scenario())


def test_a_second_installation_is_an_identity_update_d14n_peers_follow(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice", d14n=True)
        bob = await Peer.create(node, tmp_path, "bob", d14n=True)
        laptop = await Peer.create(node, tmp_path, "alice-laptop", d14n=True, key=alice.key)
        assert laptop.inbox_id == alice.inbox_id
        state = await bob.client.addresses_from_inbox_id(True, [alice.inbox_id])
        assert len(state[0].installations) == 2, "bob sees both of alice's installations"

        dm = await bob.client.conversations().find_or_create_dm(alice.inbox_id, NO_DM_OPTIONS)
        await dm.send_text("to both")
        for device in (alice, laptop):
            await wait_for_texts(await device.conversation(dm.id()), ["to both"])

    asyncio.run(scenario())


def test_d14n_paging_past_a_thousand_envelopes(node, tmp_path):
    async def scenario():
        alice = await Peer.create(node, tmp_path, "alice", d14n=True)
        bob = await Peer.create(node, tmp_path, "bob", d14n=True)
        group = await alice.client.conversations().create_group([bob.inbox_id], group_options("many"))
        bobs = await bob.conversation(group.id())
        count = 1_050
        for i in range(count):
            await group.send_text(f"m{i}")
        # libxmtp 1.10 reads 100 envelopes per sync in d14n mode: bob pages through them all.
        got = await wait_for_texts(bobs, [f"m{i}" for i in range(count)], timeout=120)
        assert got == [f"m{i}" for i in range(count)], "every message once, in order"

    asyncio.run(scenario())


def test_v3_publishing_stops_at_the_cutover_and_d14n_goes_on(tmp_path):
    cutover_ns = time.time_ns() - 1
    node = Node(tmp_path, "--d14n-cutover-ns", str(cutover_ns))
    node.start()
    try:

        async def scenario():
            with pytest.raises(Exception, match="no longer available"):
                await Peer.create(node, tmp_path, "v3")
            alice = await Peer.create(node, tmp_path, "alice", d14n=True)
            bob = await Peer.create(node, tmp_path, "bob", d14n=True)
            dm = await alice.client.conversations().find_or_create_dm(bob.inbox_id, NO_DM_OPTIONS)
            await dm.send_text("after the cutover")
            await wait_for_texts(await bob.conversation(dm.id()), ["after the cutover"])

        asyncio.run(scenario())
    finally:
        node.close()




class Agent:
    """One of our agents: `coworker serve` of an agent file on the node's URL (V3 until the
    node's cutover, d14n after), its activity collected line by line."""

    def __init__(self, node: Node, workdir, name: str, skills: str = ""):
        self.dir = workdir / name
        agent_file = workdir / f"{name}.toml"
        agent_file.write_text(f'name = "{name}"\n[trust]\nauto_grant = "known"\n{skills}')
        self.env = dict(os.environ, COWORKER_NETWORK=node.url, RUST_LOG="info",
                        COWORKER_KEYSTORE_PASSWORD="interop-test",
                        XDG_DATA_HOME=str(workdir / "data"))
        self.log_path = workdir / f"{name}.log"
        self.process = subprocess.Popen(
            [str(COWORKER), "--json", "--data-dir", str(self.dir), "serve", str(agent_file)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(self.log_path, "ab"), text=True)
        self.ready = json.loads(self.process.stdout.readline())
        assert self.ready["event"] == "ready", self.ready
        self.events: list[dict] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    @property
    def inbox_id(self) -> str:
        return self.ready["inbox_id"]

    def cli(self, *args: str) -> dict:
        """A CLI command, answered by the running agent."""
        done = subprocess.run([str(COWORKER), "--json", "--data-dir", str(self.dir), *args],
                              env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def chats(self, expected: list[str], timeout: float = 30) -> Counter:
        """Waits until every expected chat text arrived; how often each text arrived."""
        deadline = time.monotonic() + timeout
        while True:
            got = Counter(e["text"] for e in list(self.events) if e.get("event") == "chat")
            if all(t in got for t in expected):
                return got
            assert time.monotonic() < deadline, f"{self.dir.name} misses {set(expected) - set(got)}"
            time.sleep(0.1)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def test_two_agents_and_libxmtp_talk_and_call_on_as_the_cutover_passes(tmp_path):
    node = Node(tmp_path)
    node.start()
    agents: list[Agent] = []
    try:
        ada = Agent(node, tmp_path, "ada", UPPER_SKILL)
        agents.append(ada)
        bob = Agent(node, tmp_path, "bob")
        agents.append(bob)

        async def scenario():
            lib = await Peer.create(node, tmp_path, "lib")  # V3 only, as libxmtp 1.10 apps are
            connected = bob.cli("connect", ada.ready["code"])
            assert connected["trust_answer"]["granted"] is True, connected
            group = await lib.client.conversations().create_group(
                [ada.inbox_id, bob.inbox_id], group_options("across the cutover"))
            gid = group.id().hex()
            said: list[str] = []

            async def exchange(group, tag: str) -> None:
                await group.send_text(f"lib {tag}")
                bob.cli("groups", "send", gid, f"bob {tag}")
                ada.cli("groups", "send", gid, f"ada {tag}")
                called = bob.cli("call", ada.inbox_id, "upper", "--input",
                                 json.dumps({"text": tag}))
                assert called["result"] == {"text": tag.upper()}, called
                said.extend(f"{who} {tag}" for who in ("lib", "bob", "ada"))

            await exchange(group, "v3")
            # The node comes back announcing its cutover a few seconds ahead; the conversation
            # goes on while that time passes. From then on the node numbers what it originates
            # as an xmtpd node does (its own id and sequence), so every client needs a cursor
            # per originator.
            cutover_ns = time.time_ns() + 4_000_000_000
            node.args = ["--d14n-cutover-ns", str(cutover_ns), "--d14n-own-sequences"]
            node.restart()
            await exchange(group, "announced")
            while time.time_ns() < cutover_ns:
                await asyncio.sleep(0.1)
            bob.cli("groups", "send", gid, "bob after")
            ada.cli("groups", "send", gid, "ada after")
            called = bob.cli("call", ada.inbox_id, "upper", "--input", '{"text": "after"}')
            assert called["result"] == {"text": "AFTER"}, called
            said.extend(["bob after", "ada after"])
            # A restart after the cutover: every stream must come back over d14n.
            node.restart()
            # libxmtp 1.10 apps do not switch by themselves: the app, updated, reopens its
            # installation against the gateway and finds the conversation where it was.
            await lib.reopen(node, tmp_path, "lib", d14n=True)
            group = await lib.conversation(bytes.fromhex(gid))
            await exchange(group, "d14n")

            everything = Counter(await wait_for_texts(group, said, timeout=60))
            assert all(everything[t] == 1 for t in said), everything
            for me in (ada, bob):
                theirs = [t for t in said if not t.startswith(me.dir.name)]
                got = me.chats(theirs)
                assert all(got[t] == 1 for t in theirs), (me.dir.name, got)
                assert not [t for t in got if t.startswith(me.dir.name)], "own messages echoed"

        asyncio.run(scenario())
        for agent in agents:
            assert "using d14n" in agent.log_path.read_text(), f"{agent.dir.name} never switched"
    finally:
        for agent in agents:
            agent.close()
        node.close()
