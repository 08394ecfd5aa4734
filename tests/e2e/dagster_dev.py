"""Run ``dagster dev`` (webserver + daemon) for a test and talk to it over GraphQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCATION, REPOSITORY = "dsa110", "__repository__"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    """A dagster dev process with its own instance directory and data root."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.port = home, free_port()
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
        self.log = open(home / "dagster-dev.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=REPO, env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited: {self.log_tail()}")
            try:
                data = self.graphql("{ workspaceOrError { __typename ... on Workspace"
                                    " { locationEntries { name loadStatus } } } }")
                entries = data["workspaceOrError"].get("locationEntries", [])
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster dev not ready after {timeout} s: {self.log_tail()}")

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 2.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{what} not reached in {timeout} s\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        self.log.flush()
        text = (self.home / "dagster-dev.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()
