"""CoWorker for Python: any Python agent becomes a CoWorker node.

    from coworker import Agent

    agent = Agent("my-bot")

    @agent.skill("summarize", description="Summarize text",
                 input_schema={"text": "str"}, output_schema={"summary": "str"})
    def summarize(text: str) -> dict:
        return {"summary": text[:100]}

    agent.serve()                                   # Ctrl-C stops cleanly

Peers reach the skills over XMTP (end-to-end encrypted), at the trust tier their owner gave
them; calls, trust and receipts are handled by the ``coworker`` binary this package ships,
which holds the identity (or by the desktop app, with ``Agent(name, app=True)``). Skills run
in this process, keeping its state, imports and models.

- :class:`Agent` blocks; :class:`AsyncAgent` is the same for asyncio programs.
- :class:`CoworkerError` carries CoWorker's stable error ``code``; raise :class:`SkillError`
  in a skill to fail a call with a message for the caller.
- :class:`Context`: declare a parameter of this type to report progress or see the caller.
"""

from importlib.metadata import PackageNotFoundError, version

from ._agent import AsyncAgent, Context, Group, Trust
from ._sync import Agent
from .errors import CoworkerError, SkillError

try:
    __version__ = version("coworker")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["Agent", "AsyncAgent", "Context", "CoworkerError", "Group", "SkillError", "Trust"]
