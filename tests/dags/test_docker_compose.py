"""docker-compose.yaml: the Airflow 3 deployment of finsync, checked without a Docker engine.

`docker compose config` is not available here (no Compose plugin), so these tests read the
YAML the way Compose does (PyYAML resolves the `<<` merge keys of the `x-airflow-common`
anchor) and check it against finsync's own code: the connection id, the variable name and
where the package looks for its SQL.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

import finsync
from finsync import PROJECT_ROOT, SQL_DIR, fiscal, warehouse

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"

POSTGRES = "postgres"
INIT = "airflow-init"
API_SERVER = "airflow-apiserver"
SCHEDULER = "airflow-scheduler"
DAG_PROCESSOR = "airflow-dag-processor"
TRIGGERER = "airflow-triggerer"
# Long-running Airflow components and the `airflow` subcommand each one runs.
COMPONENTS = {
    API_SERVER: "api-server",
    SCHEDULER: "scheduler",
    DAG_PROCESSOR: "dag-processor",
    TRIGGERER: "triggerer",
}
AIRFLOW_SERVICES = (INIT, *COMPONENTS)
CODE_MOUNTS = ("./dags", "./include", "./plugins")
SECRET_SETTINGS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
WAREHOUSE_CONN_VAR = "AIRFLOW_CONN_FINSYNC_WAREHOUSE"

# `$$`, `${...}`, `$NAME` or a lone `$`: how Compose tokenises interpolation in a string.
_DOLLAR = re.compile(r"\$\$|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$")
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # KEY=VALUE form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else list(command or [])


def _binds(service: dict) -> dict[str, tuple[str, str]]:
    """Host path -> (container path, mode) of the short-syntax bind mounts."""
    binds = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith((".", "/")):
            binds[source.rstrip("/")] = (target.rstrip("/"), mode[0] if mode else "rw")
    return binds


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _pinned(requirement: str) -> str:
    match = re.search(
        rf"^{re.escape(requirement)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE
    )
    assert match, f"{requirement} is not pinned in requirements.txt"
    return match.group(1)


def test_file_parses_with_the_expected_services(compose, services):
    assert isinstance(compose, dict) and isinstance(services, dict)
    missing = {POSTGRES, *AIRFLOW_SERVICES} - set(services)
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_airflow_services_share_the_pinned_image(services):
    python = re.search(
        r">=\s*(\d+\.\d+)",
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"],
    ).group(1)
    expected = f"apache/airflow:{_pinned('apache-airflow')}-python{python}"
    for name in AIRFLOW_SERVICES:
        assert services[name].get("image") == expected, name


def test_postgres_image_is_pinned_with_a_pg_isready_healthcheck(services):
    postgres = services[POSTGRES]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?", postgres["image"])
    assert "pg_isready" in _command({"command": postgres["healthcheck"]["test"]})
    assert any(not v.startswith((".", "/")) for v in postgres.get("volumes", [])), (
        "the database needs a named volume to survive `docker compose down`"
    )


def test_each_component_runs_its_airflow_command(services):
    for name, subcommand in COMPONENTS.items():
        command = _command(services[name])
        assert command in ([subcommand], ["airflow", subcommand]), (name, command)


def test_airflow_services_share_the_common_environment(services):
    envs = {name: _env(services[name]) for name in AIRFLOW_SERVICES}
    first = envs[INIT]
    for name, env in envs.items():
        assert env == first, f"{name} does not use the common environment"
    db = _env(services[POSTGRES])
    assert first["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    sql_alchemy = urlsplit(first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert sql_alchemy.scheme == "postgresql+psycopg2"
    assert (sql_alchemy.hostname, sql_alchemy.username, sql_alchemy.password) == (
        POSTGRES,
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert sql_alchemy.path == f"/{db['POSTGRES_DB']}" == "/airflow"
    assert first["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert first["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "true"
    # Task processes reach the execution API on the API server's service name and port.
    execution_api = urlsplit(first["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution_api.hostname, execution_api.port, execution_api.path) == (
        API_SERVER,
        8080,
        "/execution/",
    )


def test_warehouse_connection_is_the_one_finsync_looks_up(services):
    assert WAREHOUSE_CONN_VAR == f"AIRFLOW_CONN_{warehouse.CONN_ID.upper()}"
    db = _env(services[POSTGRES])
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert WAREHOUSE_CONN_VAR in env, name
        # No differently spelled twin, and no DSN override that would bypass the connection.
        assert [k for k in env if k.upper() == WAREHOUSE_CONN_VAR] == [WAREHOUSE_CONN_VAR]
        assert "FINSYNC_WAREHOUSE_DSN" not in env
        uri = urlsplit(env[WAREHOUSE_CONN_VAR])
        assert uri.scheme in ("postgresql", "postgres")
        assert (uri.hostname, uri.port, uri.path) == (POSTGRES, 5432, "/finsync")
        assert (uri.username, uri.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])


def test_fiscal_year_variable_defaults_to_a_valid_month(services):
    value = _env(services[SCHEDULER])["AIRFLOW_VAR_" + fiscal.VARIABLE.upper()]
    match = re.fullmatch(r"\$\{FISCAL_YEAR_START_MONTH:-(\d+)\}", value)
    assert match and 1 <= int(match.group(1)) <= 12, value


def test_code_is_mounted_into_every_airflow_service(services):
    for name in AIRFLOW_SERVICES:
        binds = _binds(services[name])
        for source in CODE_MOUNTS:
            assert source in binds, f"{name} does not mount {source}"
        for source, (target, mode) in binds.items():
            assert (ROOT / source).is_dir(), f"{name} mounts {source}, which is not in the repo"
            assert target.startswith("/") and mode == "ro", (name, source, target, mode)


def test_mounts_match_where_airflow_and_finsync_look(services):
    # finsync finds its SQL two levels above the package: <root>/src/finsync -> <root>/include.
    assert Path(finsync.__file__).resolve().parents[1] == PROJECT_ROOT / "src"
    assert SQL_DIR == PROJECT_ROOT / "include" / "sql"
    for name in AIRFLOW_SERVICES:
        env, binds = _env(services[name]), _binds(services[name])
        src = PurePosixPath(binds["./src"][0])
        assert str(src) in env["PYTHONPATH"].split(":"), name
        container_root = src.parent
        assert binds["./include"][0] == str(container_root / "include"), name
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == binds["./dags"][0], name
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == binds["./plugins"][0], name


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_api_server_publishes_8080_with_a_health_check(services):
    api = services[API_SERVER]
    assert "8080:8080" in [str(port) for port in api.get("ports", [])]
    assert "http://localhost:8080/api/v2/monitor/health" in _command(
        {"command": api["healthcheck"]["test"]}
    )


def test_startup_order_is_enforced_with_conditions(services):
    for name in COMPONENTS:
        depends_on = services[name].get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        assert depends_on.get(POSTGRES, {}).get("condition") == "service_healthy", name
        assert depends_on.get(INIT, {}).get("condition") == "service_completed_successfully", name
    init = services[INIT]
    assert init["depends_on"] == {POSTGRES: {"condition": "service_healthy"}}
    # A one-shot service: `restart: no` unquoted would be the YAML boolean false.
    assert init.get("restart", "no") == "no"
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services and target != name, (name, target)
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_no_literal_secrets(services):
    secret_name = re.compile(r"SECRET|FERNET|TOKEN|_KEY$")
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        for setting in SECRET_SETTINGS:
            assert setting in env, f"{name} lacks {setting}"
        for key, value in env.items():
            if secret_name.search(key):
                ref = _REFERENCE.fullmatch(value)
                assert ref and ref["op"] == ":?", (
                    f"{name}: {key} must be a required ${{VAR:?message}} reference, not a value"
                )


def test_interpolation_is_well_formed(compose):
    for text in _strings(compose):
        for token in _DOLLAR.findall(text):
            if token == "$$":
                continue
            ref = _REFERENCE.fullmatch(token)
            assert ref, f"bad interpolation {token!r} in {text[:60]!r} (use $$ for a literal $)"
            assert ref["op"], f"{token}: give a default (:-) or make it required (:?)"


def test_init_migrates_both_databases_then_creates_the_pool(services):
    command = _command(services[INIT])
    assert command[:2] == ["bash", "-c"], command
    script = command[2]
    assert re.search(r"^set -[a-z]*e", script, re.MULTILINE), "a failing step must fail init"
    steps = [
        r"^airflow db migrate$",
        r"CREATE DATABASE",
        r"^(python -m finsync\.cli|finsync) db migrate$",
        r'^airflow pools set budget_sync 5 "[^"]+"$',
    ]
    positions = []
    for step in steps:
        match = re.search(step, script, re.MULTILINE)
        assert match, f"airflow-init does not run {step}"
        positions.append(match.start())
    assert positions == sorted(positions), "steps out of order"
    # The inline Python that creates the warehouse database must at least compile.
    block = re.search(r"<<'PY'\n(.*?)\nPY$", script, re.DOTALL | re.MULTILINE)
    assert block, "no python heredoc creating the database"
    compile(block.group(1), "airflow-init", "exec")
