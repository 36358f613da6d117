"""``Agent``: the blocking face of :class:`AsyncAgent`, for ordinary Python programs.

Every agent of the process runs on one private asyncio loop in a daemon thread; each blocking
method waits for its coroutine there. Skills still run concurrently (sync ones in a thread
pool), so a slow skill never holds up the others.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._agent import AsyncAgent, Group, Trust

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_open: weakref.WeakSet[Agent] = weakref.WeakSet()


def _shared_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="coworker", daemon=True).start()
        return _loop


@atexit.register
def _close_all() -> None:
    for agent in list(_open):
        agent.close()


def _blocking(name: str) -> Callable[..., Any]:
    method = getattr(AsyncAgent, name)

    @functools.wraps(method)
    def run(self: Agent, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self._agent, name)(*args, **kwargs))

    return run


class Agent:
    """An identity's agent: serve skills to peers, connect, call, collaborate, chat in groups.

    ``Agent("my-bot")`` creates the identity on first use. See :class:`AsyncAgent` for the
    options; every method here blocks until done and raises :class:`CoworkerError` on failure.
    """

    def __init__(self, name: str, **options: Any) -> None:
        self._loop = _shared_loop()
        self._agent = AsyncAgent(name, **options)
        self._stop = threading.Event()
        _open.add(self)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    name = property(lambda self: self._agent.name)
    data_dir = property(lambda self: self._agent.data_dir)
    inbox_id = property(lambda self: self._agent.inbox_id, doc=AsyncAgent.inbox_id.__doc__)
    address = property(lambda self: self._agent.address, doc=AsyncAgent.address.__doc__)
    wallet = property(lambda self: self._agent.address, doc=AsyncAgent.wallet.__doc__)

    def start(self) -> Agent:
        """Opens the identity and offers this process's skills (other methods do it when
        needed)."""
        self._run(self._agent.start())
        return self

    @functools.wraps(AsyncAgent.skill)
    def skill(self, name: str, description: str = "", **options: Any
              ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        declare = self._agent.skill(name, description, **options)

        def register(func: Callable[..., T]) -> Callable[..., T]:
            # Declared on the loop's thread, so one declared after start is offered at once.
            self._loop.call_soon_threadsafe(declare, func)
            return func

        return register

    @property
    def trust(self) -> Trust:
        """Tiers, requests, decisions and the audit log."""
        return Trust(self)

    @functools.wraps(AsyncAgent.create_group)
    def create_group(self, name: str, members: list[str]) -> Group:
        group = self._run(self._agent.create_group(name, members))
        group._agent = self
        return group

    @functools.wraps(AsyncAgent.groups)
    def groups(self) -> list[Group]:
        groups = self._run(self._agent.groups())
        for group in groups:
            group._agent = self
        return groups

    def events(self) -> Iterator[dict[str, Any]]:
        """The agent's events as they happen (calls served, trust requests, OKR changes…);
        stop by breaking out of the loop."""
        import queue

        items: queue.Queue[Any] = queue.Queue()
        done = object()

        async def pump() -> None:
            try:
                async for event in self._agent.events():
                    items.put(event)
            except BaseException as e:  # noqa: BLE001 - handed to the reading thread
                items.put(e)
            finally:
                items.put(done)

        future = asyncio.run_coroutine_threadsafe(pump(), self._loop)
        try:
            while (item := items.get()) is not done:
                if isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        return
                    raise item
                yield item
        finally:
            future.cancel()

    def serve(self) -> None:
        """Serves this process's skills until Ctrl-C, :meth:`stop` or the host ends. Ctrl-C
        stops cleanly: calls in progress finish and their receipts are kept."""
        self.start()
        closed = self._agent._conn.closed if self._agent._conn else None
        try:
            while not self._stop.wait(0.2):
                if closed is not None and closed.done():
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def stop(self) -> None:
        """Makes :meth:`serve` return (safe from any thread, e.g. a signal handler)."""
        self._stop.set()

    def close(self, grace: float = 10.0) -> None:
        """Stops this agent (see :meth:`AsyncAgent.close`)."""
        if not self._loop.is_closed():
            self._run(self._agent.close(grace))
        _open.discard(self)

    def __enter__(self) -> Agent:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Agent {self.name!r} in {self.data_dir}>"


for _name in (
    "status", "invite", "skills", "expose", "hide", "preview", "peers", "peer", "connect",
    "discover", "call", "request", "result", "get_result", "calls", "cancel", "collaborate",
    "okrs", "tier", "set_tier", "trust_requests", "decide_trust_request", "audit_log", "block",
    "unblock", "send_chat", "group_call", "receipts", "verify_receipts",
):
    setattr(Agent, _name, _blocking(_name))
