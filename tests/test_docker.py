"""What CI can check of the image without a Docker engine (issue 6): hadolint on the Dockerfile,
the compose file against the Compose Specification's JSON schema, and the image's own build,
install and entrypoint scripts run in a fresh virtual environment, checked with the image's
HEALTHCHECK command. Commands are read from the Dockerfile and docker-compose.yml themselves,
so the test and the image cannot drift apart."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from mock_op_auth.config.loader import load_fixtures

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
BIN = Path(sys.executable).parent


def instruction(name: str) -> list[str]:
    """The JSON (exec) form of a Dockerfile instruction, e.g. CMD or ENTRYPOINT."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(?:.*?\bCMD\s+)?(\[.*\])\s*$", text, re.MULTILINE)
    assert len(found) == 1, f"one {name} in exec form expected"
    return json.loads(found[0])


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dockerfile_has_no_hadolint_findings() -> None:
    result = subprocess.run([str(BIN / "hadolint"), "--failure-threshold", "style", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_hadolint_would_report_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = subprocess.run([str(BIN / "hadolint"), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


def compose_schema() -> dict[str, Any]:
    # The official compose-spec schema, as vendored (with its licence) by the check-jsonschema package.
    path = resources.files("check_jsonschema.builtin_schemas") / "vendor" / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_compose_file_matches_the_compose_spec_schema() -> None:
    jsonschema.validate(compose(), compose_schema())


def test_compose_schema_refuses_a_misspelt_key() -> None:
    broken = compose()
    broken["services"]["client"]["depends_on"]["op-auth"]["condition"] = "service_happy"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_compose_client_waits_for_a_healthy_mock_by_service_name() -> None:
    services = compose()["services"]
    assert services["client"]["depends_on"] == {"op-auth": {"condition": "service_healthy"}}
    assert services["client"]["environment"]["OP_AUTH_URL"] == "http://op-auth:8080"
    assert "./fixtures:/fixtures:ro" in services["op-auth"]["volumes"]


def test_compose_fixture_loads_with_the_login_page() -> None:
    chosen = compose()["services"]["op-auth"]["environment"]["MOCK_OP_AUTH_FIXTURES"]
    config = load_fixtures(ROOT / "fixtures" / Path(chosen).relative_to("/fixtures"))
    assert config.server.login == "page"
    assert {"sandbox-web", "sandbox-backend"} <= set(config.clients)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the mock installed by the image's own build and install scripts."""
    work = tmp_path_factory.mktemp("image")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                                 "build", "dist", "docs", "tests"))
    # PIP_NO_COMPILE only skips writing .pyc files (the image sets PYTHONDONTWRITEBYTECODE): faster here.
    env = {**os.environ, "PYTHON": sys.executable, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_COMPILE": "1"}
    subprocess.run(["sh", "docker/build.sh", str(work / "dist")], cwd=source, env=env, check=True,
                   capture_output=True, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    wheels = [str(p) for p in (work / "dist").glob("*.whl")]
    assert len(wheels) == 1
    result = subprocess.run(["sh", "docker/install.sh", *wheels], cwd=source, capture_output=True, text=True,
                            env={**env, "PYTHON": str(venv / "bin" / "python")}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "mock-op-auth" in result.stdout
    return venv


def image_env(venv: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_OP_AUTH_")}
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "MOCK_OP_AUTH_PORT": str(port)}


def healthcheck(venv: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(instruction("HEALTHCHECK"), env=image_env(venv, port), capture_output=True, text=True,
                          timeout=30)


@pytest.fixture(scope="module")
def image_server(image_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The entrypoint script started with the image's CMD, bound to loopback, serving the compose fixture."""
    port = free_port()
    assert healthcheck(image_venv, port).returncode == 1  # nothing is listening yet
    entrypoint = ROOT / "docker" / Path(instruction("ENTRYPOINT")[0]).name
    fixtures = compose()["services"]["op-auth"]["environment"]["MOCK_OP_AUTH_FIXTURES"]
    env = {**image_env(image_venv, port),
           "MOCK_OP_AUTH_FIXTURES": fixtures.replace("/fixtures", str(ROOT / "fixtures"), 1)}
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["sh", str(entrypoint), *instruction("CMD"), "--host", "127.0.0.1"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):  # as Docker would: retry the healthcheck until the server is up
            if healthcheck(image_venv, port).returncode == 0 or process.poll() is not None:
                break
            time.sleep(0.1)
        assert process.poll() is None, log.read_text()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_image_healthcheck_passes_against_the_started_server(image_venv: Path, image_server: int) -> None:
    result = healthcheck(image_venv, image_server)
    assert result.returncode == 0 and result.stdout.strip() == "ok"


def test_compose_example_client_gets_a_token_and_calls_the_api(image_server: int) -> None:
    env = {**os.environ, **compose()["services"]["client"]["environment"],
           "OP_AUTH_URL": f"http://127.0.0.1:{image_server}"}
    result = subprocess.run([sys.executable, str(ROOT / "docker" / "example_client.py")], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert f"issuer seen from this container: http://127.0.0.1:{image_server}" in result.stdout
    assert "accounts: FI3359986920068681" in result.stdout


def test_installed_image_serves_the_login_page_from_its_packaged_templates(image_server: int) -> None:
    query = "client_id=sandbox-web&redirect_uri=http://localhost:8000/callback&response_type=code&scope=accounts"
    with urllib.request.urlopen(f"http://127.0.0.1:{image_server}/authorize?{query}", timeout=10) as response:
        assert response.status == 200
        assert "Approve as Alice Example" in response.read().decode()


def test_entrypoint_runs_other_commands_as_given(image_venv: Path) -> None:
    entrypoint = ROOT / "docker" / Path(instruction("ENTRYPOINT")[0]).name
    result = subprocess.run(["sh", str(entrypoint), "check", str(ROOT / "fixtures" / "sandbox.yaml")],
                            env=image_env(image_venv, free_port()), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "sandbox.yaml: ok" in result.stdout


def test_the_image_serves_https_with_its_tls_dir_and_the_healthcheck_follows(image_venv: Path,
                                                                              tmp_path: Path) -> None:
    """MOCK_OP_AUTH_TLS=1 as a compose file sets it: the entrypoint serves HTTPS with a CA made in the
    TLS directory (the image's ENV names /tls), and the image's HEALTHCHECK checks over HTTPS."""
    assert re.search(r"^\s*MOCK_OP_AUTH_TLS_DIR=/tls\b", DOCKERFILE.read_text(), re.M)
    port = free_port()
    env = {**image_env(image_venv, port), "MOCK_OP_AUTH_TLS": "1", "MOCK_OP_AUTH_TLS_DIR": str(tmp_path / "tls"),
           "MOCK_OP_AUTH_TLS_HOSTS": "op-auth"}
    entrypoint = ROOT / "docker" / Path(instruction("ENTRYPOINT")[0]).name
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["sh", str(entrypoint), *instruction("CMD"), "--host", "127.0.0.1"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            result = subprocess.run(instruction("HEALTHCHECK"), env=env, capture_output=True, text=True, timeout=30)
            if result.returncode == 0 or process.poll() is not None:
                break
            time.sleep(0.1)
        assert result.returncode == 0, (result.stderr, log.read_text())
        assert (tmp_path / "tls" / "ca.crt").exists()
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))
        assert httpx.get(f"https://127.0.0.1:{port}/_mock/health", verify=context).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


REPLICAS = ROOT / "docker-compose.replicas.yml"


def test_replicas_compose_file_matches_the_schema_and_shares_one_redis() -> None:
    spec = yaml.safe_load(REPLICAS.read_text())
    jsonschema.validate(spec, compose_schema())
    services = spec["services"]
    replicas = [s for name, s in services.items() if name.startswith("op-auth-")]
    assert len(replicas) == 2
    assert {r["environment"]["MOCK_OP_AUTH_STATE"] for r in replicas} == {"redis://redis:6379/0"}
    assert len({r["environment"]["MOCK_OP_AUTH_ISSUER"] for r in replicas}) == 1  # one issuer behind the balancer
    nginx = (ROOT / "docker" / "nginx-replicas.conf").read_text()
    assert all(f"server {name}:8080;" in nginx for name in services if name.startswith("op-auth-"))
    assert services["op-auth"]["volumes"] == ["./docker/nginx-replicas.conf:/etc/nginx/conf.d/default.conf:ro"]
