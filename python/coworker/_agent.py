"""``AsyncAgent``: an identity's agent for asyncio programs, and the skills this process runs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._control import Connection, closed_error
from ._host import HostProcess, agent_data_dir, app_data_dir, tier_value
from .errors import CoworkerError, SkillError

log = logging.getLogger("coworker")

# Python types a skill's parameters may be annotated with -> the original's shorthand types.
_SHORTHAND = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}


class Context:
    """What a skill may ask for: declare a parameter annotated ``Context`` (or named ``ctx``)."""

    def __init__(
        self, skill: str, caller: str, task_id: str, report: Callable[[int, str], None]
    ) -> None:
        #: The skill called.
        self.skill = skill
        #: The caller's inbox id, authenticated by XMTP (never taken from the message).
        self.caller = caller
        #: The call's task id (the same on both sides and in the receipt).
        self.task_id = task_id
        self._report = report
        self._cancelled = threading.Event()

    def progress(self, percent: int, text: str = "") -> None:
        """Tells the caller how far the call is (0-100). Safe from any thread."""
        self._report(max(0, min(100, int(percent))), str(text))

    @property
    def cancelled(self) -> bool:
        """The caller cancelled or the deadline passed: a long skill may stop early."""
        return self._cancelled.is_set()


@dataclass
class Skill:
    """A skill this process provides."""

    func: Callable[..., Any]
    spec: dict[str, Any]
    exposed: bool = True
    _signature: inspect.Signature = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._signature = inspect.signature(self.func)

    def arguments(self, data: Any, ctx: Context) -> inspect.BoundArguments:
        """The call's arguments: the input's fields by name (as the original spreads them), a
        non-object input as the one argument, and the context where the skill asks for it."""
        params = self._signature.parameters
        kwargs: dict[str, Any] = {}
        positional: list[Any] = []
        context = [name for name, p in params.items() if _wants_context(p)]
        for name in context:
            kwargs[name] = ctx
        if isinstance(data, dict):
            takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
            for key, value in data.items():
                if key not in context and (takes_all or _named(params, key)):
                    kwargs[key] = value
        elif data is not None:
            positional.append(data)
        try:
            return self._signature.bind(*positional, **kwargs)
        except TypeError as e:
            raise SkillError(f"the input does not fit the skill: {e}") from None


def _named(params: Any, key: str) -> bool:
    p = params.get(key)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _wants_context(p: inspect.Parameter) -> bool:
    return p.annotation in (Context, "Context", "coworker.Context") or p.name in ("ctx", "context")


def _derived_schema(func: Callable[..., Any]) -> dict[str, str]:
    """``def f(text: str, n: int)`` -> ``{"text": "str", "n": "int"}``; ``{}`` (anything)
    unless every parameter has one of the simple types."""
    shorthand: dict[str, str] = {}
    try:
        hints = inspect.get_annotations(func, eval_str=True)
    except Exception:  # an annotation that does not evaluate: no schema derived
        return {}
    for name, p in inspect.signature(func).parameters.items():
        if _wants_context(p):
            continue
        kind = _SHORTHAND.get(hints.get(name))  # type: ignore[arg-type]
        if kind is None or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return {}
        shorthand[name] = kind
    return shorthand


class AsyncAgent:
    """An identity's agent, for asyncio programs (``Agent`` is the same, blocking).

    The identity is created on first use in ``data_dir`` (default
    ``$XDG_DATA_HOME/coworker/agents/<name>``), its keys in the OS keychain or, with a
    ``password`` (or ``$COWORKER_KEYSTORE_PASSWORD``), in a password-encrypted file there. If a
    host already runs the identity (``coworker serve``/``host``, the desktop app with
    ``app=True``) this agent works through it; otherwise it starts one that lives as long as
    this program. Skills decorated with :meth:`skill` run in this process.
    """

    def __init__(
        self,
        name: str,
        *,
        data_dir: str | Path | None = None,
        network: str | None = None,
        password: str | None = None,
        app: bool = False,
        auto_accept_trust: bool = True,
        max_auto_accept_tier: int | str = 1,
        max_workers: int = 32,
    ) -> None:
        """``network``: ``embedded`` (default), ``local``, ``dev``, ``production`` or a node
        URL. ``app=True``: the desktop app's identity, through the running app. Trust requests
        up to ``max_auto_accept_tier`` are granted without asking (PRIVILEGED never is; a
        tier the owner took away or denied is never granted back automatically)."""
        self.name = name
        if app and data_dir is not None:
            raise CoworkerError("app=True uses the app's identity; drop data_dir",
                                code="sdk.options", kind="invalid_input")
        self.data_dir = Path(data_dir).expanduser() if data_dir else (
            app_data_dir() if app else agent_data_dir(name))
        self.network = network
        self._password = password
        self._app = app
        self._auto_grant = tier_value(max_auto_accept_tier) if auto_accept_trust else None
        self._skills: dict[str, Skill] = {}
        self._conn: Connection | None = None
        self._host: HostProcess | None = None
        self._starting: asyncio.Lock | None = None
        self._running: dict[int, tuple[asyncio.Task[None], Context]] = {}
        self._closing = False
        self._stopped: asyncio.Event | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, "coworker-skill")
        self._peer_cache: dict[str, str] = {}

    # ── identity ───────────────────────────────────────────────

    @property
    def inbox_id(self) -> str:
        """This agent's XMTP inbox id (after :meth:`start`)."""
        return str(self._welcome().get("inbox_id", ""))

    @property
    def address(self) -> str:
        """This agent's wallet address (after :meth:`start`)."""
        return str(self._welcome().get("address", ""))

    @property
    def wallet(self) -> str:
        """The original's name for :attr:`address`."""
        return self.address

    def _welcome(self) -> dict[str, Any]:
        if self._conn is None:
            raise CoworkerError("the agent has not started", code="sdk.not_started",
                                kind="invalid_input", hint="call start() (or any method) first")
        return self._conn.welcome

    async def start(self) -> AsyncAgent:
        """Opens the identity (creating it the first time) and offers this process's skills.
        Every other method starts the agent when needed."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._conn is not None and not self._conn.closed.done():
                return self
            if self._closing:
                raise CoworkerError("the agent was closed", code="sdk.closed", kind="invalid_input")
            socket = self.data_dir / "control.sock"
            conn = await Connection.open(socket)
            if conn is None and self._app:
                raise CoworkerError("the CoWorker app is not running", code="sdk.no_app",
                                    kind="unreachable", hint="start the app, then try again")
            if conn is None:
                self._host = await HostProcess.start(
                    self.data_dir, self.name, self.network, self._password, self._auto_grant)
                conn = await Connection.open(Path(self._host.ready.get("control") or socket))
                if conn is None:
                    raise closed_error()
            conn.on_invoke = self._invoked
            conn.on_cancel = self._cancelled
            self._conn = conn
            self._stopped = asyncio.Event()
            for skill in self._skills.values():
                await self._register(skill)
        return self

    async def _call(self, method: str, params: dict[str, Any] | None = None,
                    progress: Callable[[Any], None] | None = None) -> Any:
        await self.start()
        assert self._conn is not None
        return await self._conn.request(method, params, progress)

    async def status(self) -> dict[str, Any]:
        """Name, inbox, network reachability, skill and peer counts, pending trust requests."""
        return await self._call("status")

    async def invite(self, expires_in: float | None = None) -> str:
        """An invite code for this agent (its name and routing id, nothing else), optionally
        expiring in ``expires_in`` seconds."""
        import time

        params = {"expires_at": int(time.time() + expires_in)} if expires_in else {}
        return str(await self._call("invite", params))

    # ── skills ─────────────────────────────────────────────────

    def skill(
        self,
        name: str,
        description: str = "",
        *,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        min_trust_tier: int | str = 1,
        version: str | None = None,
        when_to_use: str = "",
        category: str = "query",
        exposed: bool = True,
        **_ignored: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declares a skill (sync or ``async def``) that peers at ``min_trust_tier`` or above
        may see and call. Schemas are JSON Schema or the original's shorthand
        (``{"text": "str"}``); without ``input_schema`` it is derived from the parameters'
        type hints. Inputs are checked against the schema before the function runs; the
        input's fields arrive as keyword arguments. Hidden skills (``exposed=False``) look to
        peers exactly like skills that do not exist."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            spec = {
                "name": name,
                "description": description or (inspect.getdoc(func) or f"Skill: {name}"),
                "when_to_use": when_to_use,
                "input_schema": input_schema if input_schema is not None else _derived_schema(func),
                "output_schema": output_schema if output_schema is not None else {},
                "min_tier": tier_value(min_trust_tier),
                "version": version,
                "category": category,
            }
            skill = Skill(func, spec, exposed)
            self._skills[name] = skill
            self._register_later(skill)
            return func

        return register

    def _register_later(self, skill: Skill) -> None:
        """A skill declared after start is offered at once (errors are logged)."""
        if self._conn is None:
            return
        task = asyncio.ensure_future(self._register(skill))
        task.add_done_callback(
            lambda t: t.cancelled() or t.exception() is None
            or log.error("skill %s was not offered: %s", skill.spec["name"], t.exception()))

    async def _register(self, skill: Skill) -> None:
        assert self._conn is not None
        await self._conn.request("register_skill", {"spec": skill.spec, "exposed": skill.exposed})

    async def skills(self) -> list[dict[str, Any]]:
        """Every skill of this agent: ``[{"card": …, "exposed": bool}]``."""
        return await self._call("skills")

    async def expose(self, skill: str) -> None:
        """Shows a skill to peers at its tier."""
        await self._call("set_exposed", {"skill": skill, "exposed": True})

    async def hide(self, skill: str) -> None:
        """Hides a skill: to peers it is indistinguishable from one that does not exist."""
        await self._call("set_exposed", {"skill": skill, "exposed": False})

    async def preview(self, tier: int | str) -> list[dict[str, Any]]:
        """The skill cards a peer at ``tier`` sees."""
        return await self._call("preview", {"tier": tier_value(tier)})

    def _invoked(self, invoke: dict[str, Any]) -> None:
        number = int(invoke["invocation"])
        skill = self._skills.get(str(invoke.get("skill")))
        ctx = Context(str(invoke.get("skill")), str(invoke.get("caller", "")),
                      str(invoke.get("task_id", "")), self._reporter(number))
        task = asyncio.ensure_future(self._run(number, skill, invoke.get("input"), ctx))
        self._running[number] = (task, ctx)
        task.add_done_callback(lambda _: self._running.pop(number, None))

    def _cancelled(self, number: int) -> None:
        entry = self._running.get(number)
        if entry is not None:
            task, ctx = entry
            ctx._cancelled.set()
            task.cancel()

    def _reporter(self, number: int) -> Callable[[int, str], None]:
        loop = asyncio.get_running_loop()

        def report(percent: int, text: str) -> None:
            message = {"invocation": number, "progress": [percent, text]}
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._reply(message)))

        return report

    async def _reply(self, message: dict[str, Any]) -> None:
        if self._conn is not None:
            with contextlib.suppress(CoworkerError, OSError):
                await self._conn.send(message)

    async def _run(self, number: int, skill: Skill | None, data: Any, ctx: Context) -> None:
        try:
            if skill is None:
                raise SkillError("this skill is no longer offered")
            if self._closing:
                raise SkillError("the agent is stopping")
            bound = skill.arguments(data, ctx)
            if inspect.iscoroutinefunction(skill.func):
                result = await skill.func(*bound.args, **bound.kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._pool, lambda: skill.func(*bound.args, **bound.kwargs))
            if inspect.isawaitable(result):
                result = await result
            try:
                json.dumps(result)
            except (TypeError, ValueError):
                log.error("skill %s returned something that is not JSON: %r", ctx.skill, result)
                raise SkillError("the skill's answer is not JSON") from None
            await self._reply({"invocation": number, "output": result})
        except asyncio.CancelledError:
            return  # the host stopped waiting for it
        except SkillError as e:
            await self._reply({"invocation": number, "error": str(e) or "the skill failed"})
        except Exception:
            log.exception("skill %s failed (task %s)", ctx.skill, ctx.task_id)
            await self._reply({"invocation": number, "error": "the skill failed"})

    # ── peers and calls ────────────────────────────────────────

    async def peers(self) -> list[dict[str, Any]]:
        """Every peer we know, with the tier we hold it at and the skills it last showed us."""
        return await self._call("peers")

    async def peer(self, peer: str) -> dict[str, Any]:
        """A peer by inbox id, verified name, or an invite code already accepted."""
        return await self._call("find_peer", {"text": self._peer_cache.get(peer, peer)})

    async def _inbox(self, peer: str) -> str:
        """A peer named by inbox id, name or invite code (accepted, asking KNOWN, if new)."""
        if peer in self._peer_cache:
            return self._peer_cache[peer]
        try:
            found = await self._call("find_peer", {"text": peer})
            return str(found["inbox_id"])
        except CoworkerError as not_found:
            if not_found.kind != "not_found":
                raise
            try:
                connected = await self.connect(peer)
            except CoworkerError as e:
                if e.kind == "invalid_input":  # not an invite either
                    raise not_found from None
                raise
            return str(connected["inbox_id"])

    async def connect(self, invite: str, *, ask: int | str | None = "known", reason: str = "",
                      timeout: float = 30.0) -> dict[str, Any]:
        """Accepts an invite code (or ``coworker://`` link), asks the peer for ``ask`` (KNOWN
        by default; ``None`` asks nothing) and returns the peer with the skills it now shows
        us, plus ``online``, ``asked`` and ``answer`` (``{"status": "granted" | "denied" |
        "pending", …}``)."""
        params: dict[str, Any] = {"code": invite, "reason": reason, "wait_ms": int(timeout * 1000)}
        if ask is not None:
            params["ask"] = tier_value(ask)
        answer = await self._call("connect", params)
        peer = dict(answer["peer"])
        peer.update(online=answer.get("online"), asked=answer.get("asked"),
                    answer=answer.get("answer"))
        self._peer_cache[invite] = str(peer["inbox_id"])
        return peer

    async def discover(self, peer: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Asks a peer which skills it shows us now."""
        inbox = await self._inbox(peer)
        return await self._call("discover", {"peer": inbox, "wait_ms": int(timeout * 1000)})

    async def call(self, peer: str, skill: str, input: Any = None, *, timeout: float = 30.0,
                   task_id: str | None = None,
                   on_progress: Callable[[int, str], None] | None = None) -> dict[str, Any]:
        """Calls a peer's skill and waits: ``{"task_id", "output", "receipt", "elapsed_ms"}``.
        ``peer`` is an inbox id, a name, or an invite code. Failures raise
        :class:`CoworkerError` (``peer_code`` says why the peer refused)."""
        inbox = await self._inbox(peer)
        params: dict[str, Any] = {"peer": inbox, "skill": skill,
                                  "input": {} if input is None else input,
                                  "timeout_ms": int(timeout * 1000)}
        if task_id:
            params["task_id"] = task_id

        def progress(message: Any) -> None:
            if on_progress is not None and message.get("kind") == "call":
                on_progress(int(message.get("percent", 0)), str(message.get("text", "")))

        return await self._call("call", params, progress)

    async def request(self, peer: str, skill: str, input: Any = None) -> str:
        """Sends a call without waiting (the peer may be offline); returns its task id."""
        inbox = await self._inbox(peer)
        return str(await self._call("request", {"peer": inbox, "skill": skill,
                                                "input": {} if input is None else input}))

    async def result(self, task_id: str, wait: float = 0.0) -> dict[str, Any] | None:
        """An asynchronous call's outcome (``{"status": "completed" | "failed", …}``), waiting
        up to ``wait`` seconds; ``None`` while it is pending."""
        return await self._call("call_result", {"task_id": task_id, "wait_ms": int(wait * 1000)})

    get_result = result

    async def calls(self) -> list[dict[str, Any]]:
        """Calls this agent made, newest first."""
        return await self._call("calls")

    async def cancel(self, peer: str, task_id: str) -> None:
        """Asks the provider to stop a task."""
        await self._call("cancel", {"peer": await self._inbox(peer), "task_id": task_id})

    async def collaborate(self, peer: str, goal: str, *,
                          on_progress: Callable[[dict[str, Any]], None] | None = None
                          ) -> dict[str, Any]:
        """Plans ``goal`` over both agents' skills, has the peer accept the plan, runs it and
        returns the finished OKR (``on_progress`` gets the OKR each time it changes)."""
        inbox = await self._inbox(peer)

        def progress(message: Any) -> None:
            if on_progress is not None and message.get("kind") == "okr":
                on_progress(message["okr"])

        return await self._call("collaborate", {"peer": inbox, "goal": goal}, progress)

    async def okrs(self) -> list[dict[str, Any]]:
        """Every collaboration (OKR) with its steps."""
        return await self._call("okrs")

    # ── trust ──────────────────────────────────────────────────

    @property
    def trust(self) -> Trust:
        """Tiers, requests, decisions and the audit log."""
        return Trust(self)

    async def tier(self, peer: str) -> int:
        return int(await self._call("tier", {"peer": await self._inbox(peer)}))

    async def set_tier(self, peer: str, tier: int | str) -> None:
        await self._call("set_tier", {"peer": await self._inbox(peer), "tier": tier_value(tier)})

    async def trust_requests(self, pending_only: bool = True) -> list[dict[str, Any]]:
        return await self._call("trust_requests", {"pending_only": pending_only})

    async def decide_trust_request(self, request_id: int, approve: bool) -> None:
        await self._call("decide_trust_request", {"id": int(request_id), "approve": approve})

    async def audit_log(self, peer: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if peer is not None:
            params["peer"] = await self._inbox(peer)
        return await self._call("audit_log", params)

    async def block(self, peer: str) -> None:
        await self._call("block", {"peer": await self._inbox(peer)})

    async def unblock(self, peer: str) -> None:
        await self._call("unblock", {"peer": await self._inbox(peer)})

    # ── groups ─────────────────────────────────────────────────

    async def create_group(self, name: str, members: list[str]) -> Group:
        """A group of humans and agents (invite codes, inbox ids or wallet addresses)."""
        return Group(self, await self._call("create_group", {"name": name, "members": members}))

    async def groups(self) -> list[Group]:
        """Groups this agent is in, with every member's tier."""
        return [Group(self, g) for g in await self._call("groups")]

    async def send_chat(self, conversation: str, text: str) -> None:
        """Chat to a group (by id) or a DM."""
        await self._call("send_chat", {"conversation": conversation, "text": text})

    async def group_call(self, group: str, member: str, skill: str, input: Any = None
                         ) -> dict[str, Any]:
        """Calls a member's skill in the group; answered as :meth:`call` is."""
        return await self._call("group_call", {"group": group, "member": member, "skill": skill,
                                               "input": {} if input is None else input})

    # ── receipts and events ────────────────────────────────────

    async def receipts(self) -> list[dict[str, Any]]:
        """Signed receipts of every call, made and served."""
        return await self._call("receipts")

    async def verify_receipts(self) -> dict[str, Any]:
        """Checks every receipt's signature and signer: ``{"checked", "failed"}``."""
        return await self._call("verify_receipts")

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The agent's events as they happen (calls served, trust requests, OKR changes…)."""
        await self.start()
        assert self._conn is not None
        conn = self._conn
        queue = conn.subscribe()
        try:
            await conn.request("subscribe")
            while (event := await queue.get()) is not None:
                yield event
        finally:
            conn.unsubscribe(queue)

    # ── running ────────────────────────────────────────────────

    async def serve(self) -> None:
        """Serves this process's skills until :meth:`stop`, cancellation or the host ends."""
        await self.start()
        assert self._conn is not None and self._stopped is not None
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait([stopped, self._conn.closed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            await self.close()

    def stop(self) -> None:
        """Makes :meth:`serve` return (after the calls in progress end)."""
        if self._stopped is not None:
            self._stopped.set()

    async def close(self, grace: float = 10.0) -> None:
        """Stops: calls in progress get up to ``grace`` seconds to finish (new ones are
        refused), then this process's skills disappear and the agent it started stops."""
        if self._closing and self._conn is None:
            return
        self._closing = True
        running = [task for task, _ in self._running.values()]
        if running:
            await asyncio.wait(running, timeout=grace)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._host is not None:
            await self._host.stop()
            self._host = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> AsyncAgent:
        return await self.start()

    async def __aexit__(self, *_: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} in {self.data_dir}>"


class Trust:
    """``agent.trust``: tiers (0 UNTRUSTED … 3 PRIVILEGED), requests, decisions, audit log.
    Its methods block on ``Agent`` and are awaitable on ``AsyncAgent``."""

    def __init__(self, agent: Any) -> None:
        self._agent = agent

    def list(self) -> Any:
        """Peers with their tiers."""
        return self._agent.peers()

    def get(self, peer: str) -> Any:
        """The tier we hold a peer at."""
        return self._agent.tier(peer)

    def set(self, peer: str, tier: int | str) -> Any:
        """Sets a peer's tier (the owner's decision: automatic grants never exceed it)."""
        return self._agent.set_tier(peer, tier)

    def requests(self, pending_only: bool = True) -> Any:
        """Trust requests peers sent us."""
        return self._agent.trust_requests(pending_only)

    def approve(self, request_id: int) -> Any:
        return self._agent.decide_trust_request(request_id, True)

    def deny(self, request_id: int) -> Any:
        return self._agent.decide_trust_request(request_id, False)

    def log(self, peer: str | None = None, limit: int = 50) -> Any:
        """Every trust decision with the rule that made it, newest first."""
        return self._agent.audit_log(peer, limit)

    def block(self, peer: str) -> Any:
        """Refuses everything the peer sends, without an answer."""
        return self._agent.block(peer)

    def unblock(self, peer: str) -> Any:
        return self._agent.unblock(peer)


class Group:
    """A group: ``id``, ``name``, ``members`` (each with the tier we hold it at). ``send`` and
    ``call`` block on ``Agent`` and are awaitable on ``AsyncAgent``."""

    def __init__(self, agent: Any, data: dict[str, Any]) -> None:
        self._agent = agent
        self.data = data
        self.id: str = data["id"]
        self.name: str = data.get("name", "")
        self.members: list[dict[str, Any]] = data.get("members", [])

    def send(self, text: str) -> Any:
        """Chat to the group: people see text, agents of the original its envelope."""
        return self._agent.send_chat(self.id, text)

    def call(self, member: str, skill: str, input: Any = None) -> Any:
        """Calls a member's skill (by inbox id or unique name) in the group."""
        return self._agent.group_call(self.id, member, skill, input)

    def __repr__(self) -> str:
        return f"Group(id={self.id[:12]}…, name={self.name!r}, members={len(self.members)})"
