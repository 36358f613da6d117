"""The control API client: JSON lines over the running agent's Unix socket.

The protocol is ``docs/control-api.md``: a hello, then requests answered by id (``progress``
lines before the ``result``), events after ``subscribe``, and invocations of the skills this
client registered, which it answers by invocation number.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import CoworkerError

log = logging.getLogger("coworker")

VERSION = 1
# The host closes a connection on a line over 4 MiB; answers may be that large too.
LINE_LIMIT = 8 * 1024 * 1024


def closed_error() -> CoworkerError:
    return CoworkerError(
        "the agent's host went away", code="control.closed", kind="unreachable"
    )


class Connection:
    """One connection to a host. Every method runs on the loop that opened it."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        welcome: dict[str, Any],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.welcome = welcome
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Any], Callable[[Any], None] | None]] = {}
        self._events: list[asyncio.Queue[dict[str, Any] | None]] = []
        self.on_invoke: Callable[[dict[str, Any]], None] = lambda _: None
        self.on_cancel: Callable[[int], None] = lambda _: None
        self.closed = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, socket: Path) -> Connection | None:
        """Connects and says hello; ``None`` when no host listens there."""
        if not hasattr(asyncio, "open_unix_connection"):
            raise CoworkerError(
                "the control socket is a Unix socket; this platform has none yet",
                code="sdk.unsupported_platform",
                kind="failed",
            )
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket), limit=LINE_LIMIT)
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        writer.write(_line({"coworker_control": VERSION, "client": "python"}))
        await writer.drain()
        first = await reader.readline()
        if not first:
            writer.close()
            raise closed_error()
        answer = json.loads(first)
        if "error" in answer:
            writer.close()
            raise CoworkerError.from_wire(answer["error"])
        return cls(reader, writer, answer.get("result", {}))

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        progress: Callable[[Any], None] | None = None,
    ) -> Any:
        """Sends a request and waits for its result (``progress`` gets each progress line)."""
        if self.closed.done():
            raise closed_error()
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, progress)
        message: dict[str, Any] = {"id": rid, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self.send(message)
            return await future
        finally:
            self._pending.pop(rid, None)

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed.done():
            raise closed_error()
        self._writer.write(_line(message))
        await self._writer.drain()

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue of the agent's events (``None`` when the connection ends)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._events.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        if queue in self._events:
            self._events.remove(queue)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        await asyncio.wait([self._task], timeout=5)

    async def _read(self) -> None:
        try:
            while line := await self._reader.readline():
                try:
                    self._dispatch(json.loads(line))
                except (ValueError, KeyError, TypeError) as e:
                    log.warning("unreadable line from the host: %s", e)
        except (OSError, ValueError) as e:  # ValueError: a line over the limit
            log.warning("the connection to the host failed: %s", e)
        finally:
            error = closed_error()
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            for queue in self._events:
                queue.put_nowait(None)
            if not self.closed.done():
                self.closed.set_result(None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "invoke" in message:
            self.on_invoke(message["invoke"])
        elif "cancel" in message:
            self.on_cancel(int(message["cancel"]))
        elif "event" in message:
            for queue in self._events:
                queue.put_nowait(message["event"])
        else:
            rid = int(message["id"])
            entry = self._pending.get(rid)
            if entry is None:
                if "error" in message:
                    log.warning("the host reports: %s", CoworkerError.from_wire(message["error"]))
                return
            future, progress = entry
            if "progress" in message:
                if progress is not None:
                    progress(message["progress"])
            elif future.done():
                return
            elif "error" in message:
                future.set_exception(CoworkerError.from_wire(message["error"]))
            else:
                future.set_result(message.get("result"))


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"
