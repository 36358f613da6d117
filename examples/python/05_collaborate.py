"""05 - Goal-based collaboration: plan a goal over both agents' skills, run it, read the OKR.

    python 05_collaborate.py INVITE_CODE

The peer (01) summarizes; this agent writes the report. The plan uses only skills each side
may use (ours only if we trust the peer to see them), puts the peer's step first and feeds its
summary into ours. When the goal is done, the tiers granted for it step down by themselves.
"""

import sys

from coworker import Agent

agent = Agent("reporter")


@agent.skill("write_report", description="Write a report from a summary",
             input_schema={"summary": "str"}, output_schema={"report": "str"})
def write_report(summary: str) -> dict:
    return {"report": f"REPORT: {summary}"}


with agent:
    peer = agent.connect(sys.argv[1])  # it grants us KNOWN...
    agent.trust.set(peer["inbox_id"], "known")  # ...and we let it see write_report
    okr = agent.collaborate(
        peer["inbox_id"],
        "Summarize text about AI agents and write a report",
        on_progress=lambda okr: print(f"  ... {okr['status']}", flush=True),
    )
    print(f"objective: {okr['objective']} -> {okr['status']}")
    for step in okr["steps"]:
        print(f"- {step['skill']} by {step['agent'][:12]}: {step['status']} {step.get('output')}")
