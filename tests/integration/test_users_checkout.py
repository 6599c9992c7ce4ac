"""A user's checkout, as the README leaves it after `make demo`: the README's shell lines work on
the demo's embedded default (issue #11 item 3), and a test session started the way `make test`
starts one leaves that user's Airflow metadata exactly as it was (issue #15).

The checkout is a copy of this one's package (src/finsync), DAGs and plugins beside links to
its SQL and samples, with a virtualenv of its own that reuses this one's installed packages:
`finsync` there finds that checkout's `.finsync`, as in a fresh clone, and never this one's.
Commands run with a clean environment (no FINSYNC_* or AIRFLOW_*, HOME in the checkout), as in
a new shell.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

# The README's lines, verbatim (README.md: "Running the syncs" and "Budget sync").
README_LINES = [
    'eval "$(.venv/bin/finsync env)"',
    ".venv/bin/finsync customers add acme --source-type sftp \\\n"
    '        --source-config \'{"conn_id": "acme_sftp", "path": "/exports", "glob": "*.xlsx"}\' \\\n'
    "        --frequency every_4_hours --default-currency AUD",
    ".venv/bin/finsync customers list",
    ".venv/bin/airflow dags test planning_financials_sync -c '{\"fiscal_year\": 2026}'",
]
USERS_REVIEW = """from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session

with create_session() as session:
    ti = session.query(TaskInstance).first()
    session.add(HITLDetail(ti_id=ti.id, options=["Import", "Reject"], subject="the user's"))
"""
# Tables whose rows the question is about (every table is compared, these are named).
NAMED = ("dag_run", "task_instance", "hitl_detail", "connection", "variable")


def _clean_env(root: Path, **extra: str) -> dict[str, str]:
    """A new shell's environment: nothing of finsync's or Airflow's, HOME in the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FINSYNC_", "AIRFLOW_", "GX_", "XDG_RUNTIME_DIR"))
    }
    return {**env, "HOME": str(root / "home"), **extra}


def _sh(root: Path, script: str, env: dict[str, str], timeout: float = 300):
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _make_checkout(root: Path) -> None:
    # Copies (one consistent state of the package and the DAGs that import it); links to data.
    for name in ("src/finsync", "dags", "plugins"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("include", "samples"):  # samples/demo: make demo's exports
        (root / name).symlink_to(ROOT / name)
    for name in ("pyproject.toml", "requirements.txt", "Makefile", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    (root / "home").mkdir()
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # This checkout's package first; then this virtualenv's packages (Airflow and the rest).
    (site / "finsync_checkout.pth").write_text(
        f"{root / 'src'}\nimport site; site.addsitedir({sysconfig.get_path('purelib')!r})\n"
    )
    for script in ("finsync", "airflow"):
        text = (Path(sys.executable).parent / script).read_text().split("\n", 1)[1]
        (venv / "bin" / script).write_text(f"#!{venv / 'bin' / 'python'}\n{text}")
        (venv / "bin" / script).chmod(0o755)
    (venv / ".installed").touch()  # `make setup` has run (the venv is newer than its inputs)


def _airflow_conninfo(root: Path) -> str:
    """The checkout's embedded server (running since the demo): Airflow's metadata database."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(root / ".finsync" / "pgdata")
    assert info is not None and info.is_running(), "the checkout's embedded server is not running"
    return f"host={info.socket_dir} user=postgres dbname=airflow"


def _snapshot(conninfo: str) -> dict[str, list[str]]:
    """Every table of Airflow's metadata database, its rows as text, sorted."""
    with psycopg.connect(conninfo) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' order by 1"
            )
        ]
        return {
            t: [
                r[0]
                for r in conn.execute(
                    sql.SQL("select x::text from {} as x order by 1").format(sql.Identifier(t))
                )
            ]
            for t in tables
        }


# `make demo`'s recipe, run by make (its environment, its FINSYNC_HOME) in the checkout: the
# demo data and one planning DAG run by Airflow (the budget part and the second DAG would only
# cost time here).
DEMO = (
    "make -s --eval 'demo-data: setup ; $(VENV)/bin/finsync demo run --skip-budget "
    "--dags planning_financials_sync' demo-data"
)


@pytest.fixture(scope="module")
def checkout():
    """A user's checkout after `make demo`."""
    # Short path: the embedded server's Unix socket lives under it.
    root = Path(tempfile.mkdtemp(prefix="fs-user-")).resolve()
    try:
        _make_checkout(root)
        assert "\t$(VENV)/bin/finsync demo run\n" in (root / "Makefile").read_text()
        demo = _sh(root, DEMO, _clean_env(root), timeout=600)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert f"embedded PostgreSQL under {root / '.finsync'}" in demo.stdout
        yield root
    finally:
        stop = _sh(root, ".venv/bin/finsync db stop", _clean_env(root), timeout=120)
        shutil.rmtree(root)
        assert stop.returncode == 0, stop.stderr


def test_the_readmes_shell_lines_use_the_demos_embedded_default(checkout):
    readme = (ROOT / "README.md").read_text()
    for line in README_LINES:
        assert line in readme, f"the README no longer says: {line}"
    shell = _sh(checkout, "\n".join(README_LINES), _clean_env(checkout))
    out = shell.stdout + shell.stderr
    assert shell.returncode == 0, out[-4000:]
    assert "Database migration required" not in out

    # The demo's data: its published rows are all there, so this run changes none of them
    # (the run summary, report_summary's return value, as Airflow logs it).
    found = re.findall(r"Returned value was: (\{'sync': .*\}) \[airflow", out)
    assert found, out[-4000:]
    tables = ast.literal_eval(found[-1])["tables"]
    assert tables["account_plan_financials"]["unchanged"] == 150
    assert all(t["inserted"] == t["updated"] == t["deleted"] == 0 for t in tables.values())
    assert "acme" in shell.stdout  # `customers list`

    # The customer landed where `make ui` looks (the Makefile's FINSYNC_HOME), not in ~/.finsync.
    make = _sh(
        checkout,
        "make -s --eval 'print-home: ; @echo $(FINSYNC_HOME)' print-home",
        _clean_env(checkout),
    )
    assert make.stdout.strip() == str(checkout / ".finsync")
    listed = _sh(
        checkout,
        ".venv/bin/finsync customers list",
        _clean_env(checkout, FINSYNC_HOME=make.stdout.strip()),
    )
    assert "acme" in listed.stdout, listed.stdout + listed.stderr
    assert not (checkout / "home" / ".finsync").exists()
    env = _sh(checkout, ".venv/bin/finsync env", _clean_env(checkout)).stdout
    assert f"export FINSYNC_HOME='{checkout / '.finsync'}'" in env.splitlines()


def test_a_test_session_leaves_the_users_airflow_metadata_as_it_was(checkout):
    """`make test` in a shell where the user ran `eval "$(finsync env)"`: FINSYNC_HOME exported
    by the Makefile, AIRFLOW_HOME and the metadata DB pointing at the user's Airflow."""
    user_env = _clean_env(checkout)
    shell = _sh(checkout, ".venv/bin/finsync env", user_env)
    for line in shell.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        user_env[key] = shlex.split(value)[0]
    user_env["FINSYNC_HOME"] = str(checkout / ".finsync")
    # The user's Airflow holds runs (the demo's), a connection and a variable of their own.
    for cmd in (
        ".venv/bin/airflow variables set fiscal_year_start_month 7",
        ".venv/bin/airflow connections add acme_sftp --conn-uri sftp://budgets@sftp.example:22",
    ):
        result = _sh(checkout, cmd, user_env)
        assert result.returncode == 0, result.stderr[-2000:]
    # ... and a review request (as a budget_sync run parked for a person leaves one).
    result = _sh(checkout, f".venv/bin/python - <<'EOF'\n{USERS_REVIEW}EOF", user_env)
    assert result.returncode == 0, result.stderr[-2000:]
    conninfo = _airflow_conninfo(checkout)
    before = _snapshot(conninfo)
    assert all(before[t] for t in ("dag_run", "hitl_detail", "connection", "variable"))

    tmp = Path(tempfile.mkdtemp(prefix="fs-tmp-"))  # the inner session's temporary files
    try:
        inner = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
            + ["tests/integration/harness_probe.py"],
            cwd=ROOT,
            env={**user_env, "TMPDIR": str(tmp)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        out = inner.stdout + inner.stderr
        assert inner.returncode == 0, out[-4000:]
        assert "1 passed" in inner.stdout and "probe wrote probe_" in inner.stdout
        # The inner session's own home (its server, Airflow home and metadata DB) is gone.
        assert [p.name for p in tmp.iterdir() if p.name.startswith("finsync-test-")] == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    after = _snapshot(conninfo)
    for table in NAMED:
        assert after.get(table) == before.get(table), f"{table} changed"
    assert after == before, [t for t in after if after[t] != before.get(t)]
