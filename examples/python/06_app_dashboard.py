"""06 - Serve skills through the desktop app: the app's identity, its Peers, Skills and
Receipts pages as the dashboard, this program's functions as the skills.

    python 06_app_dashboard.py          # with the CoWorker app running

The skills appear on the app's Skills page while this program runs (and disappear when it
stops); calls to them, their receipts and trust requests show in the app as for any skill.
"""

from coworker import Agent

agent = Agent("dashboard-demo", app=True)


@agent.skill("word_count", description="Count the words of a text",
             input_schema={"text": "str"}, output_schema={"words": "int"})
def word_count(text: str) -> dict:
    return {"words": len(text.split())}


@agent.skill("shout", description="Upper-case a text",
             input_schema={"text": "str"}, output_schema={"text": "str"}, min_trust_tier=2)
def shout(text: str) -> dict:
    return {"text": text.upper()}


print(f"serving {len(agent.start().skills())} skills through the app as {agent.inbox_id}",
      flush=True)
agent.serve()
print("stopped", flush=True)
