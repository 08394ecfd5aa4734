"""deploy/ checked offline, where no test here can start the real thing
(no container engine, no Kubernetes), and the executor choice.

The instance YAML, the workspace file and the Celery executor run for real in
tests/e2e/test_celery_deployment.py; deploy/README.md lists each file with the
test that exercises or validates it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
README = (DEPLOY / "README.md").read_text()
COMPOSE = yaml.safe_load((DEPLOY / "docker" / "docker-compose.yml").read_text())
DOCKERFILE = (DEPLOY / "docker" / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"deploy/README.md has no '## {title}' section"
    return match.group(1)


def test_compose_file_runs_the_services_the_docs_name():
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", readme_section("Docker Compose"), re.M))
    assert documented == set(COMPOSE["services"])
    assert {"postgres", "rabbitmq", "code-server", "webserver", "daemon", "worker"} <= documented


def test_compose_secrets_come_from_the_environment():
    for name, service in COMPOSE["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASS" in key or "@" in str(value):  # a password or a URL with credentials
                assert "${" in str(value), f"{name}: {key} holds a literal secret"


def test_compose_workers_stage_on_their_own_tmpfs_and_share_the_tiers():
    worker = COMPOSE["services"]["worker"]
    tmpfs = [v for v in worker["volumes"] if isinstance(v, dict) and v.get("type") == "tmpfs"]
    assert [v["target"] for v in tmpfs] == [worker["environment"]["DSA110_FAST_ROOT"]]
    shared = set(COMPOSE["services"]["code-server"]["volumes"])
    assert shared <= {v for v in worker["volumes"] if isinstance(v, str)}
    command = " ".join(worker["command"])
    assert "-A dsa110_assets.celery_worker worker --pool threads --concurrency 1" in command
    for name in ("code-server", "webserver", "daemon", "worker"):
        assert COMPOSE["services"][name]["environment"]["DSA110_EXECUTOR"] == "celery"


def test_image_installs_with_the_script_the_tests_use():
    assert re.search(r"^FROM python:3\.11[-.\w]*$", DOCKERFILE, re.M)
    run_lines = " ".join(re.findall(r"^RUN (.*(?:\n\s+.*)*)", DOCKERFILE, re.M))
    assert "./scripts/bootstrap.sh" in run_lines
    assert "import dsa110_resources" in run_lines  # bakes the offline CASA config
    # The default command serves the code location pyproject.toml names.
    command = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    tool = PYPROJECT["tool"]["dagster"]
    assert f'"{tool["module_name"]}"' in command and f'"{tool["code_location_name"]}"' in command
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert "wsclean" in bootstrap and "aoflagger" in bootstrap


def test_workspace_points_at_the_code_server():
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry["grpc_server"]["location_name"] == PYPROJECT["tool"]["dagster"]["code_location_name"]


def test_every_deploy_file_is_exercised_or_validated():
    files = [p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()]
    listed = readme_section("What is tested, and how")
    missing = [f for f in files if f != "README.md" and f"`{f}`" not in listed]
    assert not missing, f"deploy/README.md does not say how these are tested: {missing}"


def test_executor_choice(monkeypatch):
    from dsa110_assets.execution import executor_for

    assert executor_for("multiprocess") is None
    with pytest.raises(ValueError, match="DSA110_EXECUTOR"):
        executor_for("threads")
    monkeypatch.delenv("DSA110_CELERY_BROKER", raising=False)
    with pytest.raises(RuntimeError, match="DSA110_CELERY_BROKER"):
        executor_for("celery")
    monkeypatch.setenv("DSA110_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
    assert executor_for("celery").name == "celery"


def test_helm_values_match_the_instance_and_stage_on_memory():
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    instance = yaml.safe_load((DEPLOY / "dagster.postgres.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == PYPROJECT["tool"]["dagster"]["module_name"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["DSA110_ENV"] == "production" and deployment["includeConfigInLaunchedRuns"]["enabled"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    run = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    (fast,) = run["podSpecConfig"]["volumes"]
    assert fast["emptyDir"]["medium"] == "Memory"
    assert {"name": fast["name"], "mountPath": env["DSA110_FAST_ROOT"]} in run["containerConfig"]["volumeMounts"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in deployment["volumes"]}
    storage = yaml.safe_load((DEPLOY / "k8s" / "storage.yaml").read_text())
    assert storage["kind"] == "PersistentVolumeClaim" and claims == {storage["metadata"]["name"]}
    assert "ReadWriteMany" in storage["spec"]["accessModes"]
    # The same run queue as the instance YAML the e2e test runs.
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert queued["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]


def test_systemd_units_verify(tmp_path):
    """``systemd-analyze verify`` on the units, installed under a stand-in
    prefix with stub executables (it checks that ExecStart exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    prefix = tmp_path / "opt-dsa110"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    units = tmp_path / "units"
    units.mkdir()
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = unit.read_text()
        for command in re.findall(r"^ExecStart=/opt/dsa110/(\S+)", text, re.M):
            stub = prefix / command
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
        (units / unit.name.replace("@.", "@1.")).write_text(text.replace("/opt/dsa110", str(prefix)))
    done = subprocess.run([analyze, "verify", *sorted(map(str, units.iterdir()))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    names = {p.name for p in (DEPLOY / "systemd").glob("*.service")}
    assert names == {"dsa110-code-server.service", "dsa110-webserver.service", "dsa110-daemon.service",
                     "dsa110-worker@.service"}


def test_systemd_environment_example_names_every_variable_the_units_need():
    example = (DEPLOY / "systemd" / "dsa110.env.example").read_text()
    names = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert {"DAGSTER_HOME", "DAGSTER_PG_URL", "DSA110_DB_URL", "DSA110_CELERY_BROKER", "DSA110_EXECUTOR",
            "DSA110_DATA_ROOT", "DSA110_CODE_SERVER_HOST", "DSA110_CODE_SERVER_PORT"} <= names
    for unit in (DEPLOY / "systemd").glob("*.service"):
        assert "EnvironmentFile=/etc/dsa110/dsa110.env" in unit.read_text(), unit.name
    # The alert settings it shows (commented or not) are ones the code reads: no typo goes unnoticed.
    alert_names = set(re.findall(r"^#?(DSA110_ALERT_[A-Z_]+)=", example, re.M))
    code = "".join(p.read_text() for p in (DEPLOY.parent / "dsa110_resources" / "ops").glob("*.py"))
    assert alert_names and {n for n in alert_names if n not in code} == set()


def test_compose_side_files_agree_with_the_compose_file():
    # The products database the init script creates is the one the pipeline uses.
    init = (DEPLOY / "docker" / "postgres-init.sql").read_text()
    products_db = COMPOSE["services"]["code-server"]["environment"]["DSA110_DB_URL"].rsplit("/", 1)[1]
    assert re.search(rf"^CREATE DATABASE {products_db} OWNER dagster;$", init, re.M)
    assert "./postgres-init.sql:/docker-entrypoint-initdb.d/" in " ".join(COMPOSE["services"]["postgres"]["volumes"])
    # A developer's .venv or data never enters the image: bootstrap.sh builds its own.
    ignored = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", "data", ".git"} <= set(ignored)
