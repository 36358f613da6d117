import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Node  # noqa: E402

_exit_status = 0


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path)
    n.start()
    yield n
    n.close()


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    # libxmtp's background threads can abort the interpreter during shutdown; once pytest has
    # reported everything, leave directly with its verdict.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
