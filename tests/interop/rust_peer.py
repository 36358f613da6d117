"""Drives our native Rust XMTP client through `coworker xmtp` (JSON lines on stdin/stdout)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from harness import COWORKER


class RustError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class RustPeer:
    """One installation of the Rust client; `restart()` reopens it on the same data."""

    def __init__(self, node, workdir: Path, name: str):
        self.node = node
        self.dir = workdir / name
        self.log = open(workdir / f"{name}.log", "ab")
        self.process: subprocess.Popen | None = None
        self.info: dict = {}
        self.start()

    def start(self) -> None:
        env = dict(os.environ, COWORKER_KEYSTORE_PASSWORD="interop-test", RUST_LOG="info")
        self.process = subprocess.Popen(
            [str(COWORKER), "xmtp", "--network", self.node.url, "--data-dir", str(self.dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        line = json.loads(self.process.stdout.readline())
        assert "ready" in line, line
        self.info = line["ready"]

    def stop(self) -> None:
        assert self.process is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.log.close()

    @property
    def inbox_id(self) -> str:
        return self.info["inbox_id"]

    def call(self, op: str, **args):
        request = dict(args, op=op)
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            assert line, f"coworker xmtp exited while answering {request}"
            answer = json.loads(line)
            if "event" in answer:
                continue
            if "error" in answer:
                raise RustError(answer["error"]["code"], answer["error"]["message"])
            return answer["ok"]

    def texts(self, conversation: str) -> list[str]:
        self.call("sync")
        return [m["text"] for m in self.call("messages", conversation=conversation) if m["text"] is not None]
