"""Errors: every failure carries CoWorker's stable error code (``docs/errors.md``)."""

from __future__ import annotations

from typing import Any


class CoworkerError(Exception):
    """A CoWorker operation failed.

    ``code`` is stable (``call.failed``, ``runtime.not_found``, ``host.busy``, ...); ``kind`` is
    what to act on (``invalid_input``, ``not_found``, ``refused``, ``timeout``, ``unreachable``,
    ``busy``, ``protocol``, ``failed``); ``peer_code`` is the peer's reason when a peer refused
    (``UNKNOWN_SKILL``, ``TRUST_TIER_TOO_LOW``, ``INVALID_INPUT``, ``TIMEOUT``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "failed",
        kind: str = "failed",
        peer_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind
        self.peer_code = peer_code
        self.hint = hint

    @classmethod
    def from_wire(cls, error: dict[str, Any]) -> CoworkerError:
        """The error a host or the ``coworker`` binary reported."""
        return cls(
            str(error.get("message", "unknown error")),
            code=str(error.get("code", "failed")),
            kind=str(error.get("kind", "failed")),
            peer_code=error.get("peer_code"),
            hint=error.get("hint"),
        )

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def __repr__(self) -> str:
        return f"CoworkerError(code={self.code!r}, kind={self.kind!r}, message={self.message!r})"


class SkillError(Exception):
    """Raise this in a skill to fail the call with a message the caller may read.

    Any other exception fails the call as ``the skill failed``: its text and traceback are
    logged here (logger ``coworker``) and never sent to the caller.
    """
