"""03 - Discover a peer's skills: what it shows us at the tier it holds us at.

    python 03_discover_skills.py INVITE_CODE
"""

import sys

from coworker import Agent

with Agent("explorer") as agent:
    peer = agent.connect(sys.argv[1])  # asks for KNOWN; the peer's owner or policy decides
    print(f"connected to {peer['name']} (answer: {peer['answer']['status']})")
    for card in agent.discover(peer["inbox_id"]):
        print(f"- {card['name']}: {card['description']} (tier {card['min_trust_tier']}+)")
        print(f"    input {card['input_schema']} -> output {card['output_schema']}")
