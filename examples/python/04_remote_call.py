"""04 - Call a peer's skill, with the failure a caller should expect.

    python 04_remote_call.py INVITE_CODE
"""

import sys

from coworker import Agent, CoworkerError

invite = sys.argv[1]
with Agent("caller") as agent:
    result = agent.call(invite, "summarize", {"text": "XMTP carries it. Nothing else does."})
    print(f"summary: {result['output']['summary']} ({result['elapsed_ms']} ms)")
    receipt = result["receipt"]["receipt"]
    print(f"receipt {receipt['id']}: {receipt['skill']} {receipt['status']}, {receipt['units']} unit")
    try:
        agent.call(invite, "summarize", {"text": 42})
    except CoworkerError as e:
        print(f"refused as expected: {e.peer_code}")
