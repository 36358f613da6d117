"""02 - Two agents in one program, each calling the other's skill.

    python 02_two_agents.py

Each agent has its own identity; they meet through an invite, exactly as agents on two
machines would, and every call goes over XMTP with a signed receipt on both sides.
"""

from coworker import Agent

writer = Agent("writer")
critic = Agent("critic")


@writer.skill("draft", description="Draft a sentence about a topic",
              input_schema={"topic": "str"}, output_schema={"text": "str"})
def draft(topic: str) -> dict:
    return {"text": f"{topic.capitalize()} change how software gets built"}


@critic.skill("review", description="Review a sentence",
              input_schema={"text": "str"}, output_schema={"verdict": "str", "score": "int"})
def review(text: str) -> dict:
    return {"verdict": "clear" if len(text) < 80 else "too long", "score": min(10, len(text) // 5)}


with writer, critic:
    # The critic accepts the writer's invite (asking for KNOWN, which the writer grants), and
    # the writer accepts the critic's.
    critic.connect(writer.invite())
    writer.connect(critic.invite())

    text = critic.call(writer.inbox_id, "draft", {"topic": "AI agents"})["output"]["text"]
    print(f"critic asked writer to draft: {text}")
    verdict = writer.call(critic.inbox_id, "review", {"text": text})
    print(f"writer asked critic to review: {verdict['output']} in {verdict['elapsed_ms']} ms")
    print(f"receipts: writer {len(writer.receipts())}, critic {len(critic.receipts())}")
