"""01 - A minimal agent: one skill, an invite code for peers, served until Ctrl-C.

    python 01_minimal_agent.py

Give the printed invite to a peer (`coworker connect CODE`, or 03/04/05 here). The network is
$COWORKER_NETWORK (default: the embedded node); keys go to the OS keychain, or to a password
file when $COWORKER_KEYSTORE_PASSWORD is set.
"""

from coworker import Agent

agent = Agent("summarizer")


@agent.skill(
    "summarize",
    description="Summarize text in one sentence",
    input_schema={"text": "str"},
    output_schema={"summary": "str"},
    min_trust_tier=1,
)
def summarize(text: str) -> dict:
    first = text.strip().split(". ")[0].rstrip(".")
    return {"summary": f"{first}."}


print(f"{agent.name} is ready. Invite: {agent.invite()}", flush=True)
agent.serve()  # Ctrl-C stops cleanly: calls in progress finish, receipts are kept
print("stopped", flush=True)
