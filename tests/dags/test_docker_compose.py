"""The deployment files (Dockerfile, docker-compose.yaml, .dockerignore), checked without a
container engine.

No Docker or Compose runs on the test machine, so nothing here builds the image or starts a
container. Instead: the compose file is validated against the Compose Specification's JSON
schema (as vendored by check-jsonschema) after YAML resolves the `<<` merge keys, then each
service's command and environment is checked against finsync's own code and the other files
(the executor, broker, result backend and connections; secrets only as required `${VAR:?}`
references); the Dockerfile is parsed with BuildKit's own parser (the `dockerfile` package),
its build steps are checked against requirements.txt and pyproject.toml, and hadolint lints it.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.resources
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import dockerfile
import jsonschema
import pytest
import yaml

import finsync
from finsync import PROJECT_ROOT, SQL_DIR, fiscal, warehouse

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

POSTGRES = "postgres"
REDIS = "redis"
INIT = "airflow-init"
API_SERVER = "airflow-apiserver"
SCHEDULER = "airflow-scheduler"
DAG_PROCESSOR = "airflow-dag-processor"
TRIGGERER = "airflow-triggerer"
WORKER = "airflow-worker"
# Long-running Airflow components and the `airflow` subcommand each one runs.
COMPONENTS = {
    API_SERVER: ["api-server"],
    SCHEDULER: ["scheduler"],
    DAG_PROCESSOR: ["dag-processor"],
    TRIGGERER: ["triggerer"],
    WORKER: ["celery", "worker"],
}
AIRFLOW_SERVICES = (INIT, *COMPONENTS)
SECRET_SETTINGS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
WAREHOUSE_CONN_VAR = f"AIRFLOW_CONN_{warehouse.CONN_ID.upper()}"
STORAGE_URL = "FINSYNC_STORAGE_URL"
STORAGE_CONN_ID = "FINSYNC_STORAGE_CONN_ID"
# The only variable a service may add to the common Airflow environment: the workers' warm
# shutdown (the image's entrypoint passes SIGTERM to the worker itself).
WORKER_ONLY_ENV = {"DUMB_INIT_SETSID": "0"}
AIRFLOW_UID = "50000"  # the official image's `airflow` user

# `$$`, `${...}`, `$NAME` or a lone `$`: how Compose tokenises interpolation in a string.
_DOLLAR = re.compile(r"\$\$|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$")
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|FERNET|TOKEN|_KEY$")


# ---- reading the files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def _env(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # KEY=VALUE form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else list(command or [])


def _volumes(service: dict) -> dict[str, str]:
    """Container path -> source (a named volume, or a host path) of the short-syntax mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        found[target.rstrip("/")] = source
    return found


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _pins() -> dict[str, str]:
    """requirements.txt as {normalised name: version} (every line is `name==version`)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: {line!r} is not pinned with =="
            pins[_normalise(name.split("[", 1)[0])] = version.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _python_version() -> str:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    return re.search(r">=\s*(\d+\.\d+)", spec).group(1)


def _required_ref(value: str) -> re.Match | None:
    """`value` is exactly one required reference `${VAR:?message}`."""
    ref = _REFERENCE.fullmatch(value)
    return ref if ref and ref["op"] == ":?" else None


def _resolve(value: str) -> str:
    """`value` as Compose interpolates it, with each required `${VAR:?message}` standing for
    the placeholder `REF-VAR` (what .env would hold) and defaults applied: a URL then parses
    as it will in the container."""

    def one(ref: re.Match) -> str:
        if ref["op"] == ":?":
            return f"REF-{ref['name']}"
        return ref["arg"] if ref["op"] else ""

    return _REFERENCE.sub(one, value.replace("$$", "$"))


def _url(value: str):
    return urlsplit(_resolve(value))


def _from_env(part: str | None) -> bool:
    """A URL part that came from a required reference (see _resolve)."""
    return bool(part) and re.fullmatch(r"REF-[A-Za-z_][A-Za-z0-9_]*", part) is not None


# ---- the Dockerfile, parsed by BuildKit's parser ------------------------------------------


@pytest.fixture(scope="module")
def instructions() -> tuple:
    return dockerfile.parse_file(str(DOCKERFILE))


def _stages(instructions) -> dict[str, list]:
    """Stage name -> its instructions (FROM excluded); ARGs before the first FROM under ''."""
    stages: dict[str, list] = {"": []}
    current = ""
    for ins in instructions:
        if ins.cmd.upper() == "FROM":
            value = list(ins.value)
            assert len(value) == 3 and value[1].upper() == "AS", f"unnamed stage: {ins.original}"
            current = value[2]
            stages[current] = [ins]
        else:
            stages[current].append(ins)
    return stages


def _global_args(instructions) -> dict[str, str]:
    args = {}
    for ins in _stages(instructions)[""]:
        assert ins.cmd.upper() == "ARG", ins.original
        name, _, default = ins.value[0].partition("=")
        args[name] = default
    return args


def _base_image(instructions, stage: str) -> str:
    (from_,) = [i for i in _stages(instructions)[stage] if i.cmd.upper() == "FROM"]
    image = from_.value[0]
    ref = re.fullmatch(r"\$\{(\w+)\}", image)
    return _global_args(instructions)[ref.group(1)] if ref else image


def _env_of(stage: list) -> dict[str, str]:
    env = {}
    for ins in stage:
        if ins.cmd.upper() == "ENV":
            values = list(ins.value)
            env.update(zip(values[::2], values[1::2], strict=True))
    return env


def _copies(stage: list) -> list[tuple[dict[str, str], list[str], str]]:
    """(flags, sources, destination) of each COPY."""
    found = []
    for ins in stage:
        if ins.cmd.upper() == "COPY":
            flags = dict(f.lstrip("-").split("=", 1) for f in ins.flags)
            *sources, destination = ins.value
            found.append((flags, sources, destination))
    return found


# ---- compose: schema and shape ----------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec_schema(compose, compose_schema):
    validator = jsonschema.Draft202012Validator(compose_schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c["services"][WORKER].update(dependson={}),  # a misspelt key
        lambda c: c["services"][WORKER].update(depends_on="postgres"),
        lambda c: c["services"][POSTGRES]["healthcheck"].update(interval=10),  # not a duration
    ],
    ids=["unknown-key", "depends-on-not-a-list", "interval-not-a-duration"],
)
def test_the_schema_check_catches_a_broken_file(compose, compose_schema, break_it):
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert list(jsonschema.Draft202012Validator(compose_schema).iter_errors(broken))


def test_file_has_every_service_of_a_celery_deployment(services):
    missing = {POSTGRES, REDIS, *AIRFLOW_SERVICES} - set(services)
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_airflow_services_run_the_image_built_from_the_dockerfile(services):
    images = {services[name].get("image") for name in AIRFLOW_SERVICES}
    assert len(images) == 1 and None not in images, f"one image for all: {images}"
    for name in AIRFLOW_SERVICES:
        build = services[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", f"{name} is not built from ./Dockerfile"
        if isinstance(build, dict):
            assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
    assert not any(str(i).startswith("apache/airflow") for i in images), (
        "the stock image lacks finsync and requirements.txt"
    )


def test_each_component_runs_its_airflow_command(services):
    for name, subcommand in COMPONENTS.items():
        command = _command(services[name])
        assert command in (subcommand, ["airflow", *subcommand]), (name, command)


def test_workers_scale(services):
    worker = services[WORKER]
    assert "container_name" not in worker, "a fixed container name allows one worker only"
    assert not worker.get("ports"), "a published host port allows one worker per host"
    assert "hostname" not in worker, "workers need distinct host names (the container ids)"
    assert worker.get("deploy", {}).get("replicas", 1) >= 2
    assert _volumes(worker).get("/opt/airflow/finsync-work") is None, (
        "each worker's FINSYNC_WORK_DIR is its own, not a shared volume"
    )
    # A worker stopping finishes its tasks first: SIGTERM reaches celery itself.
    assert _env(worker)["DUMB_INIT_SETSID"] == "0"
    assert "celery@$${HOSTNAME}" in " ".join(_command({"command": worker["healthcheck"]["test"]}))


# ---- compose: environment --------------------------------------------------------------------


def test_airflow_services_share_the_common_environment(services):
    first = _env(services[INIT])
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        extra = {k: v for k, v in env.items() if k not in first}
        if name == WORKER:
            assert extra == WORKER_ONLY_ENV, extra
        else:
            assert not extra, f"{name} adds {sorted(extra)}"
        assert {k: env[k] for k in first} == first, f"{name} does not use the common environment"


def test_celery_executor_broker_and_result_backend(services):
    env = _env(services[SCHEDULER])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = _url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port, broker.path) == (
        "redis",
        REDIS,
        6379,
        "/0",
    )
    # The broker's password is the one the Redis service requires.
    redis_password = _env(services[REDIS])["REDIS_PASSWORD"]
    assert broker.password == _resolve(redis_password) and _required_ref(redis_password)
    assert '--requirepass "$${REDIS_PASSWORD}"' in " ".join(_command(services[REDIS]))
    # Results in the metadata database, with the same server, user and password.
    metadata = _url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    results = _url(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert metadata.scheme == "postgresql+psycopg2"
    assert results.scheme.startswith("db+postgresql")
    db = _env(services[POSTGRES])
    for url in (metadata, results):
        assert (url.hostname, url.port, url.path) == (POSTGRES, 5432, f"/{db['POSTGRES_DB']}")
        assert (url.username, url.password) == (
            db["POSTGRES_USER"],
            _resolve(db["POSTGRES_PASSWORD"]),
        )
    assert _required_ref(db["POSTGRES_PASSWORD"])
    # The workers' Celery settings: Airflow's own, plus finsync's preload before the pool forks.
    module, _, attribute = env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"].rpartition(".")
    options = getattr(importlib.import_module(module), attribute)
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert {k: options[k] for k in DEFAULT_CELERY_CONFIG} == DEFAULT_CELERY_CONFIG


def test_execution_api_is_the_api_servers(services):
    env = _env(services[WORKER])
    execution_api = _url(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution_api.hostname, execution_api.port, execution_api.path) == (
        API_SERVER,
        8080,
        "/execution/",
    )
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "true"


def test_warehouse_connection_is_the_one_finsync_looks_up(services):
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        # No differently spelled twin, and no DSN override that would bypass the connection.
        assert [k for k in env if k.upper() == WAREHOUSE_CONN_VAR] == [WAREHOUSE_CONN_VAR], name
        assert "FINSYNC_WAREHOUSE_DSN" not in env
        uri = _url(env[WAREHOUSE_CONN_VAR])
        assert uri.scheme in ("postgresql", "postgres")
        assert (uri.hostname, uri.port, uri.path) == (POSTGRES, 5432, "/finsync")
        # Its own role, not the metadata database's superuser; its password from .env.
        assert uri.username and uri.username != _env(services[POSTGRES])["POSTGRES_USER"]
        assert _from_env(uri.password), "the warehouse password must come from .env"


def _literal_secrets(services: dict) -> list[str]:
    """Where a password, key or secret is not a required ${VAR:?message} reference: a setting
    named like a secret, or the password part of any URL (broker, databases, connections)."""
    found = []
    for name, service in services.items():
        for key, value in _env(service).items():
            if _SECRET_NAME.search(key) and not _required_ref(value):
                found.append(f"{name}: {key}")
            if "://" in value and (password := _url(value).password) is not None:
                if not _from_env(password):
                    found.append(f"{name}: the password in {key}")
    return found


def test_no_literal_secrets(services):
    for name in AIRFLOW_SERVICES:
        for setting in (*SECRET_SETTINGS, "AIRFLOW__CORE__FERNET_KEY"):
            assert setting in _env(services[name]), f"{name} lacks {setting}"
    assert not _literal_secrets(services), "write ${VAR:?message} references, not values"


def test_the_secret_check_catches_literals(services):
    broken = copy.deepcopy(services)
    broken[WORKER]["environment"]["AIRFLOW__CELERY__BROKER_URL"] = "redis://:hunter2@redis:6379/0"
    broken[POSTGRES]["environment"]["POSTGRES_PASSWORD"] = "airflow"
    broken[WORKER]["environment"]["AIRFLOW__API__SECRET_KEY"] = "${API_KEY:-changeme}"
    assert _literal_secrets(broken) == [
        "postgres: POSTGRES_PASSWORD",
        "airflow-worker: the password in AIRFLOW__CELERY__BROKER_URL",
        "airflow-worker: AIRFLOW__API__SECRET_KEY",
    ]


def test_fiscal_year_variable_defaults_to_a_valid_month(services):
    value = _env(services[SCHEDULER])["AIRFLOW_VAR_" + fiscal.VARIABLE.upper()]
    match = re.fullmatch(r"\$\{FISCAL_YEAR_START_MONTH:-(\d+)\}", value)
    assert match and 1 <= int(match.group(1)) <= 12, value


def test_shared_storage_is_one_volume_in_every_airflow_service(compose, services, instructions):
    runtime = _env_of(_stages(instructions)["runtime"])
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert STORAGE_CONN_ID in env, name
        ref = _REFERENCE.fullmatch(env[STORAGE_URL])
        assert ref and ref["name"] == STORAGE_URL and ref["op"] == ":-", env[STORAGE_URL]
        default = urlsplit(ref["arg"])
        assert default.scheme == "file" and ref["arg"] == runtime[STORAGE_URL]
        volume = _volumes(services[name]).get(default.path)
        assert volume and volume in (compose.get("volumes") or {}), (
            f"{name}: {default.path} must be a named volume shared by every service"
        )
    # Each container's scratch directory is its own.
    assert runtime["FINSYNC_WORK_DIR"] != urlsplit(runtime[STORAGE_URL]).path


def test_no_source_tree_mounted_over_the_image(services):
    """The image carries finsync; a bind mount of ./src etc. would run other code than the
    image was built and checked with."""
    for name in AIRFLOW_SERVICES:
        binds = [s for s in _volumes(services[name]).values() if s.startswith((".", "/"))]
        assert not binds, f"{name} bind-mounts {binds}"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source in _volumes(service).values():
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_healthchecks_and_the_api_servers_port(services):
    api = services[API_SERVER]
    assert "8080:8080" in [str(port) for port in api.get("ports", [])]
    assert "http://localhost:8080/api/v2/monitor/health" in _command(
        {"command": api["healthcheck"]["test"]}
    )
    assert "pg_isready" in _command({"command": services[POSTGRES]["healthcheck"]["test"]})
    assert "redis-cli ping" in " ".join(
        _command({"command": services[REDIS]["healthcheck"]["test"]})
    )
    for name in COMPONENTS:
        assert "healthcheck" in services[name], name


def test_startup_order_is_enforced_with_conditions(services):
    for name in COMPONENTS:
        depends_on = services[name].get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        assert depends_on.get(POSTGRES, {}).get("condition") == "service_healthy", name
        assert depends_on.get(REDIS, {}).get("condition") == "service_healthy", name
        assert depends_on.get(INIT, {}).get("condition") == "service_completed_successfully", name
    # Task processes call the execution API as soon as they start.
    for name in (SCHEDULER, WORKER):
        assert services[name]["depends_on"][API_SERVER]["condition"] == "service_healthy"
    init = services[INIT]
    assert init["depends_on"] == {POSTGRES: {"condition": "service_healthy"}}
    # A one-shot service: `restart: no` unquoted would be the YAML boolean false.
    assert init.get("restart", "no") == "no"
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services and target != name, (name, target)
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


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
    # The inline Python that creates the warehouse role and database must at least compile,
    # and use finsync's own lookup of the warehouse connection.
    block = re.search(r"<<'PY'\n(.*?)\nPY$", script, re.DOTALL | re.MULTILINE)
    assert block, "no python heredoc creating the database"
    compile(block.group(1), "airflow-init", "exec")
    assert "warehouse.resolve_conninfo()" in block.group(1)
    assert callable(warehouse.resolve_conninfo)


# ---- the Dockerfile -----------------------------------------------------------------------------


def test_base_image_is_the_official_image_of_the_pinned_airflow(instructions):
    expected = f"apache/airflow:{_pins()['apache-airflow']}-python{_python_version()}"
    stages = _stages(instructions)
    assert set(stages) == {"", "build", "runtime"}, list(stages)
    for stage in ("build", "runtime"):
        assert _base_image(instructions, stage) == expected, stage
    # The final stage is the last one: what `docker build` produces without --target.
    assert instructions[-1] in stages["runtime"]


def test_image_installs_requirements_txt_and_finsync(instructions):
    build = _stages(instructions)["build"]
    copied = {
        src: dest
        for flags, sources, dest in _copies(build)
        if "from" not in flags
        for src in sources
    }
    requirements_in_image = copied["requirements.txt"]
    runs = [" ".join(i.value) for i in build if i.cmd.upper() == "RUN"]
    installs = [r for r in runs if re.search(r"\bpip install\b", r)]
    assert any(f"-r {requirements_in_image}" in r for r in installs), installs
    # Airflow itself is held at the image's version, which must be the pinned one.
    assert any('"apache-airflow==${AIRFLOW_VERSION}"' in r for r in installs), installs
    # Any package the Dockerfile names with a version has requirements.txt's version.
    pins = _pins()
    for run in installs:
        for name, version in re.findall(
            r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\"']+)", run
        ):
            if version != "${AIRFLOW_VERSION}":
                assert pins.get(_normalise(name)) == version, (
                    f"{name}=={version} vs requirements.txt"
                )
    # finsync from its source tree: editable, so PROJECT_ROOT is that tree and SQL_DIR is in it.
    finsync_install = [r for r in installs if "-e /opt/finsync" in r]
    assert finsync_install and "--no-deps" in finsync_install[0], installs
    root = PurePosixPath(copied["src"]).parent
    assert Path(finsync.__file__).resolve().parents[1] == PROJECT_ROOT / "src"
    assert SQL_DIR == PROJECT_ROOT / "include" / "sql"
    assert PurePosixPath(copied["include"]) == root / "include"
    assert str(root) == "/opt/finsync" and copied["pyproject.toml"].rstrip("/") == str(root)
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in copied, "pip install needs the readme pyproject.toml names"


def test_image_sets_airflows_folders_to_finsyncs(instructions):
    stages = _stages(instructions)
    copied = {src: dest for _, sources, dest in _copies(stages["build"]) for src in sources}
    env = _env_of(stages["runtime"])
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == copied["dags"]
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == copied["plugins"]
    # The runtime stage copies what the build stage installed: the venv and finsync's tree.
    from_build = {sources[0]: dest for flags, sources, dest in _copies(stages["runtime"])}
    assert from_build == {
        "/home/airflow/.local": "/home/airflow/.local",
        "/opt/finsync": "/opt/finsync",
    }
    assert all(flags.get("from") == "build" for flags, _, _ in _copies(stages["runtime"]))


def test_image_runs_as_the_non_root_airflow_user_without_build_tools(instructions):
    stages = _stages(instructions)
    runtime = stages["runtime"]
    users = [i.value[0] for i in runtime if i.cmd.upper() == "USER"]
    assert users and all(u in (AIRFLOW_UID, "airflow") for u in users), users
    for flags, _, _ in _copies(runtime):
        assert flags.get("chown", "").split(":")[0] in ("airflow", AIRFLOW_UID), flags
    runtime_runs = " ".join(" ".join(i.value) for i in runtime if i.cmd.upper() == "RUN")
    for tool in ("apt-get", "apt ", "build-essential", "gcc", "-dev", "pip install"):
        assert tool not in runtime_runs, f"the runtime stage installs with {tool!r}"
    # The build stage returns to the airflow user before pip runs (pip as root is refused).
    build = stages["build"]
    last_user = None
    for ins in build:
        if ins.cmd.upper() == "USER":
            last_user = ins.value[0]
        if ins.cmd.upper() == "RUN" and "pip install" in " ".join(ins.value):
            assert last_user in (AIRFLOW_UID, "airflow"), ins.original


def test_every_copied_path_exists_and_passes_dockerignore(instructions):
    """Every file git has under a COPY source reaches the build context."""
    included = _build_context()
    tracked = _git_files("--cached")
    for flags, sources, _ in (
        c for stage in _stages(instructions).values() for c in _copies(stage)
    ):
        if "from" in flags:
            continue
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            wanted = [f for f in tracked if f == source or f.startswith(source.rstrip("/") + "/")]
            assert wanted, f"COPY {source}: git has no file there"
            left_out = [f for f in wanted if f not in included]
            assert not left_out, f"COPY {source}: .dockerignore leaves out {left_out[:5]}"


def test_dockerignore_keeps_local_state_and_secrets_out():
    included = _build_context()
    for path in included:
        top = path.split("/", 1)[0]
        assert top not in (".venv", ".finsync", ".git", "bench", "tests", ".env"), path
        assert "__pycache__" not in path, path
    # and the matcher itself: a file it must exclude, and one it must keep
    assert not _ignored("src/finsync/__init__.py") and _ignored(".env")


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- .dockerignore, read as BuildKit reads it -------------------------------------------------


@functools.cache
def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(is an exception `!`, regex) per line; `**` any number of directories, `*` and `?`
    within one path element; a pattern matching a directory matches everything below it."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negate, re.compile(f"{regex}(?:/.*)?")))
    return patterns


def _ignored(path: str) -> bool:
    """BuildKit's rule: the last pattern that matches the path decides."""
    ignored = False
    for negate, pattern in _dockerignore_patterns():
        if pattern.fullmatch(path):
            ignored = not negate
    return ignored


@functools.cache
def _git_files(*which: str) -> tuple[str, ...]:
    return tuple(
        subprocess.run(
            ["git", "ls-files", *which], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )


@functools.cache
def _build_context() -> frozenset[str]:
    """The repository's files (tracked or new), and local state .gitignore keeps out of git,
    that reach the build."""
    files = _git_files("--cached", "--others", "--exclude-standard")
    local = [".env", ".venv/bin/python", ".finsync/pgdata/PG_VERSION", "bench/out/x.csv"]
    local += ["src/finsync/__pycache__/sync.cpython-311.pyc", "src/finsync.egg-info/PKG-INFO"]
    return frozenset(f for f in (*files, *local) if not _ignored(f))
