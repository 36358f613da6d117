"""Where an identity lives and the ``coworker`` process that holds it.

One running agent per identity: when a host already holds the identity (``coworker serve``,
``coworker host`` or the desktop app), the SDK uses it through its control socket; otherwise
it starts ``coworker serve --attached`` for the identity, which stops when this process goes
away (its standard input closes).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sysconfig
from pathlib import Path
from typing import Any

from .errors import CoworkerError

PASSWORD_VAR = "COWORKER_KEYSTORE_PASSWORD"
BINARY_VAR = "COWORKER_BINARY"
# The desktop app's identifier (tauri.conf.json); its data directory holds its control socket.
APP_IDENTIFIER = "dev.coworker.app"
TIERS = ("untrusted", "known", "internal", "privileged")


def binary() -> str:
    """The ``coworker`` binary: ``$COWORKER_BINARY``, the one installed with this package,
    else the first on ``PATH``."""
    if explicit := os.environ.get(BINARY_VAR):
        return explicit
    name = "coworker.exe" if os.name == "nt" else "coworker"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file():
        return str(beside)
    found = shutil.which("coworker")
    if found:
        return found
    raise CoworkerError(
        "the coworker binary was not found",
        code="sdk.no_binary",
        kind="not_found",
        hint="install the coworker wheel, or set COWORKER_BINARY to the binary's path",
    )


def data_home() -> Path:
    if xdg := os.environ.get("XDG_DATA_HOME"):
        return Path(xdg)
    return Path.home() / ".local" / "share"


def agent_data_dir(name: str) -> Path:
    """A Python agent's own identity: ``$XDG_DATA_HOME/coworker/agents/<name>``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip(".-") or "agent"
    return data_home() / "coworker" / "agents" / slug


def app_data_dir() -> Path:
    """The desktop app's identity (its running agent serves the control socket there)."""
    return data_home() / APP_IDENTIFIER


def tier_value(tier: int | str) -> int:
    """``1`` / ``"KNOWN"`` / ``"known"`` -> ``1`` (tiers are numbers on the wire)."""
    if isinstance(tier, int) and not isinstance(tier, bool) and 0 <= tier < len(TIERS):
        return tier
    if isinstance(tier, str) and tier.lower() in TIERS:
        return TIERS.index(tier.lower())
    raise CoworkerError(
        f"not a trust tier: {tier!r} (0-3 or {', '.join(TIERS)})",
        code="sdk.tier",
        kind="invalid_input",
    )


class HostProcess:
    """A ``coworker serve --attached`` this program started."""

    def __init__(self, process: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.process = process
        self.ready = ready
        self._drain = asyncio.ensure_future(self._discard_output())

    @classmethod
    async def start(
        cls,
        data_dir: Path,
        name: str,
        network: str | None,
        password: str | None,
        auto_grant: int | None,
    ) -> HostProcess:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        agent_file = data_dir / "python-agent.toml"
        policy = TIERS[auto_grant] if auto_grant is not None else "none"
        text = f"# Written by the coworker Python SDK.\nname = {json.dumps(name)}\n\n"
        text += f"[trust]\nauto_grant = {json.dumps(policy)}\n"
        if not agent_file.exists() or agent_file.read_text() != text:
            agent_file.write_text(text)
        args = [binary(), "--json", "--data-dir", str(data_dir)]
        if network:
            args += ["--network", network]
        args += ["serve", str(agent_file), "--attached"]
        env = dict(os.environ)
        if password is not None:
            env[PASSWORD_VAR] = password
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            # Ctrl-C reaches this program, which stops its agent cleanly; not the agent first.
            start_new_session=True,
            limit=1024 * 1024,
        )
        assert process.stdout is not None and process.stderr is not None
        while line := await process.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("event") == "ready":
                return cls(process, message)
        # It ended before it was ready: its error is the last JSON line on stderr.
        stderr = (await process.stderr.read()).decode(errors="replace")
        await process.wait()
        for text_line in reversed(stderr.splitlines()):
            try:
                error = json.loads(text_line).get("error")
            except (ValueError, AttributeError):
                continue
            if isinstance(error, dict):
                raise CoworkerError.from_wire(error)
        raise CoworkerError(
            f"the agent did not start (exit {process.returncode}): {stderr.strip()[-2000:]}",
            code="sdk.host_failed",
        )

    async def _discard_output(self) -> None:
        async def discard(stream: asyncio.StreamReader | None) -> None:
            while stream is not None and await stream.read(65536):
                pass

        await asyncio.gather(discard(self.process.stdout), discard(self.process.stderr))

    async def stop(self, timeout: float = 10.0) -> None:
        """Closes its standard input (it stops cleanly), then waits; kills it if it hangs."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except asyncio.TimeoutError:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._drain.cancel()
