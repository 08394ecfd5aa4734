"""Start Dagster processes for a test and talk to the webserver over GraphQL.

``DagsterDev`` is one ``dagster dev`` process (webserver + daemon + code
location in one); ``Dagster`` is the general case, a set of processes started
one by one (see test_celery_deployment.py for the production layout).
"""

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


class Service:
    """One long-running process in its own session (so it can be killed with
    its children), its output in ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str]):
        self.name, self.log_path = name, log_dir / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} (pid {self.pid}, exit {self.process.poll()}) ---\n" + "\n".join(text[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group: the process and everything it started."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 60) -> None:
        if self.running():
            self.kill(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.process.wait()
        self.kill(signal.SIGKILL)  # anything the process left behind in its group
        self.log.close()


class Dagster:
    """Dagster processes for a test, driven over the webserver's GraphQL API."""

    def __init__(self, home: Path, port: int | None = None):
        self.home, self.port = home, port or free_port()
        home.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Service:
        service = Service(name, args, self.home, {**os.environ, **env, "DAGSTER_HOME": str(self.home)})
        self.services.append(service)
        return service

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

    def check_alive(self, services: list[Service] | None = None) -> None:
        dead = [s for s in (services or self.services) if not s.running()]
        if dead:
            raise RuntimeError("exited: " + ", ".join(s.name for s in dead) + "\n" + self.log_tail())

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the webserver answers and every code location has loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                data = self.graphql("{ workspaceOrError { __typename ... on Workspace { locationEntries {"
                                    " name loadStatus locationOrLoadError { __typename"
                                    " ... on PythonError { message } } } } } }")
                entries = data["workspaceOrError"].get("locationEntries", [])
            except (urllib.error.URLError, ConnectionError, OSError):
                entries = []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e["locationOrLoadError"] for e in entries
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"code location failed to load: {errors}\n{self.log_tail()}")
                return
            time.sleep(1)
        raise TimeoutError(f"Dagster not ready after {timeout} s:\n{self.log_tail()}")

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 2.0,
                 alive: list[Service] | None = None):
        """Poll ``predicate`` until it returns something true; fail early if a
        process in ``alive`` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if alive:
                self.check_alive(alive)
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{what} not reached in {timeout} s\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(s.log_tail(lines) for s in self.services)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


class DagsterDev(Dagster):
    """A dagster dev process with its own instance directory and data root."""

    def __init__(self, home: Path, env: dict[str, str], instance_yaml: Path = REPO / "dagster.yaml"):
        super().__init__(home)
        shutil.copyfile(instance_yaml, home / "dagster.yaml")
        self.start(
            "dagster-dev",
            [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(self.port)],
            env,
        )
