"""The `finsync` command: migrations, demo data, planning runs, Airflow on the embedded default."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from typing import cast

log = logging.getLogger("finsync")


def _years(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YEAR or FIRST-LAST, got {text!r}") from None
    if a > b:
        raise argparse.ArgumentTypeError(f"{text!r}: the first year is after the last")
    return a, b


def cmd_db_migrate(args) -> int:
    from finsync import migrate, warehouse

    conninfo = warehouse.resolve_conninfo()
    with warehouse.connect(conninfo) as conn:
        result = migrate.migrate(conn)
    print(
        f"warehouse {warehouse.describe(conninfo)}: applied {len(result.applied)} migration(s)"
        f"{' ' + ', '.join(result.applied) if result.applied else ''}; "
        f"{len(result.already_applied)} already applied"
    )
    return 0


def cmd_db_stop(args) -> int:
    from finsync import embedded

    print(
        "embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running"
    )
    return 0


def cmd_db_url(args) -> int:
    from finsync import embedded

    print(embedded.uri(args.database))
    return 0


def cmd_demo_seed(args) -> int:
    from finsync import demo, fiscal, migrate, warehouse

    first, last = args.fiscal_years
    with warehouse.connect() as conn:
        migrate.migrate(conn)
        conn.autocommit = False
        started = time.perf_counter()
        counts = demo.seed(
            conn,
            clients=args.clients,
            first_year=first,
            last_year=last,
            seed=args.seed,
            start_month=args.start_month or fiscal.start_month(),
        )
    print(
        f"seeded {args.clients} clients, fiscal years {first}-{last}, seed {args.seed} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    for table, rows in counts.items():
        print(f"  {table:<32}{rows:>12,}")
    return 0


def cmd_planning_run(args) -> int:
    from finsync import warehouse
    from finsync.planning import sync as steps
    from finsync.planning.common import resolve_run

    sync = steps.financials() if args.sync == "financials" else steps.compliance()
    params = {
        "fiscal_year": args.fiscal_year,
        "as_of_date": args.as_of_date,
        "dry_run": args.dry_run,
    }
    run = resolve_run(f"cli__{time.strftime('%Y%m%dT%H%M%S')}", params, date.today())
    with warehouse.connect() as conn:
        summary = steps.run_all(sync, conn, run)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    return 0


def _airflow(*argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    from finsync.airflow_env import airflow_env

    exe = shutil.which("airflow", path=os.path.dirname(sys.executable)) or "airflow"
    return subprocess.run([exe, *argv], env=airflow_env(), check=check, **kwargs)


def airflow_db_ready() -> None:
    """Create or upgrade Airflow's metadata database on the embedded server (idempotent), with
    the pool that caps concurrent customer budget syncs."""
    _airflow("db", "migrate", stdout=subprocess.DEVNULL)
    _airflow(
        "pools",
        "set",
        "budget_sync",
        "5",
        "at most 5 customer budget syncs at once",
        stdout=subprocess.DEVNULL,
    )


def cmd_demo_run(args) -> int:
    """The README's first command: embedded warehouse, demo data, both planning DAGs and the
    budget sync run by Airflow, then the budget service beside Airflow answering curl."""
    from finsync import demo, embedded

    started = time.perf_counter()
    print(f"embedded PostgreSQL under {embedded.home()} (socket {embedded.socket_dir()})")
    cmd_db_migrate(args)
    cmd_demo_seed(args)
    print("preparing Airflow's metadata database ...")
    airflow_db_ready()
    for dag_id in args.dags:
        conf = json.dumps({"fiscal_year": args.fiscal_year or args.fiscal_years[1]})
        print(f"\n$ airflow dags test {dag_id} -c '{conf}'")
        result = _airflow(
            "dags", "test", dag_id, "-c", conf, check=False, capture_output=True, text=True
        )
        _print_summary(result.stdout + result.stderr)
        if result.returncode != 0:
            print(result.stdout[-4000:] + result.stderr[-4000:], file=sys.stderr)
            print(f"{dag_id} failed (exit {result.returncode})", file=sys.stderr)
            return result.returncode
    if args.skip_budget:
        print("\nDone. Start the Airflow UI with `make ui` to trigger runs with the params form.")
        return 0
    if demo.run_budget_sync() != 0:
        return 1
    demo.run_budget_service(port=args.api_port)
    print(
        f"\nDemo done in {time.perf_counter() - started:.0f} s (run it again: same outcomes)."
        "\nNext:\n"
        "  make ui     Airflow at http://localhost:8080: trigger the DAGs with the params form;\n"
        "              its Budget sync page shows each customer's status, history, rejected\n"
        "              rows and Refresh Now\n"
        "  docs/       data_contract.md (tables, figures, fiscal periods), budget_sync.md (files,\n"
        "              sources, statuses, `finsync analyze`), budget_service.md (the API)"
    )
    return 0


def _print_summary(log_text: str) -> None:
    """Print the run summary that the report_summary task returned (as logged by Airflow)."""
    import ast
    import re

    from finsync.planning.common import format_summary

    found = re.findall(r"Returned value was: (\{'sync': .*\}) \[airflow", log_text)
    if not found:
        print("(no run summary found in the task log)")
        return
    summary = ast.literal_eval(found[-1])
    title = f"{summary['sync']} summary" + (
        " (dry run: nothing written)" if summary["dry_run"] else ""
    )
    print(format_summary(title, summary))


def cmd_customers_add(args) -> int:
    from finsync import migrate, warehouse
    from finsync.budget import config as configs

    try:
        source_config = json.loads(args.source_config)
        notify = json.loads(args.notify) if args.notify else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"--source-config and --notify take JSON objects: {exc}") from None
    extra = _alert_settings(args)  # checked before anything is saved
    writeback = _writeback_setting(args)
    if writeback is not _UNCHANGED:
        extra["writeback"] = writeback
    with warehouse.connect() as conn:
        migrate.migrate(conn)
        with conn.transaction():  # a refused setting saves nothing
            config_id = _add_config(conn, configs, args, source_config, notify, extra)
    print(f"customer {args.customer_id}: {args.source_type} source saved as config {config_id}")
    return 0


def _add_config(conn, configs, args, source_config: dict, notify: dict, extra: dict) -> int:
    config_id = configs.add(
        conn,
        customer_id=args.customer_id,
        source_type=args.source_type,
        source_config=source_config,
        frequency=args.frequency,
        default_currency=args.default_currency,
        fiscal_year_start_month=args.fiscal_year_start_month,
        error_tolerance_pct=args.error_tolerance_pct,
        max_soft_delete_pct=args.max_soft_delete_pct,
        notify=notify,
    )
    if extra:
        configs.update(conn, config_id, extra, changed_by="cli")
    return config_id


_UNCHANGED = object()  # no write-back option given: the config's setting stays as it is


def _writeback_setting(args) -> object:
    """--writeback-folder / --writeback-format / --writeback-frequency as the config's
    `writeback` setting (keys left out take their defaults), None for --no-writeback, or
    _UNCHANGED when none is given. budget/config.py checks it when it is saved."""
    if args.no_writeback:
        return None
    value: dict = {}
    if args.writeback_folder is not None:
        value["folder"] = args.writeback_folder
    if args.writeback_format is not None:
        value["formats"] = (
            ["csv", "xlsx"] if args.writeback_format == "both" else [args.writeback_format]
        )
    if args.writeback_frequency is not None:
        value["frequency"] = args.writeback_frequency
    return value or _UNCHANGED


def cmd_customers_writeback(args) -> int:
    """Turn a customer's utilisation write-back on (or change it) or off."""
    from finsync import warehouse
    from finsync.budget import config as configs

    given = _writeback_setting(args)
    with warehouse.connect() as conn:
        found = configs.load(conn, customer_id=args.customer_id)
        if args.source_type:
            found = [c for c in found if c.source_type == args.source_type]
        if not found:
            raise ValueError(f"customer {args.customer_id!r} has no such source config")
        if len(found) > 1:
            raise ValueError(
                f"customer {args.customer_id!r} has {len(found)} source configs: name one with "
                "--source-type"
            )
        setting = None
        if given is not None:  # on: the keys given over the current ones (the rest default)
            current = {k: v for k, v in (found[0].writeback or {}).items() if k != "enabled"}
            setting = {**current, **({} if given is _UNCHANGED else cast(dict, given))}
        row = configs.update(conn, found[0].config_id, {"writeback": setting}, changed_by="cli")
    assert row is not None  # loaded just above
    shown = "off" if row["writeback"] is None else json.dumps(row["writeback"])
    print(f"customer {args.customer_id}: write-back of config {row['config_id']}: {shown}")
    return 0


def _alert_settings(args) -> dict:
    """--webhook URL CONN_ID (repeatable) and --alert-thresholds 80,100 as config settings."""
    extra: dict = {}
    if args.webhook:
        extra["webhooks"] = [{"url": url, "conn_id": conn_id} for url, conn_id in args.webhook]
    if args.alert_thresholds is not None:
        try:
            extra["alert_thresholds_pct"] = [
                float(v) for v in args.alert_thresholds.split(",") if v.strip()
            ]
        except ValueError:
            raise ValueError(
                f"--alert-thresholds takes percentages separated by commas, e.g. 80,100; got "
                f"{args.alert_thresholds!r}"
            ) from None
    if extra:
        from finsync.budget import settings

        settings.validate_endpoints(extra.get("webhooks"))
        if "alert_thresholds_pct" in extra:
            settings.validate_thresholds(extra["alert_thresholds_pct"])
    return extra


def cmd_webhooks_list(args) -> int:
    """Each customer's webhook endpoints with their last delivery try."""
    from finsync import warehouse
    from finsync.budget import webhooks

    with warehouse.connect() as conn:
        rows = webhooks.endpoint_status(conn, args.customer)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("no webhook endpoints configured (finsync customers add ... --webhook URL CONN_ID)")
        return 0
    print(f"{'customer':<14}{'endpoint':<44}{'conn_id':<18}{'pending':>8}{'gave up':>8}  last try")
    for r in rows:
        if r["last_attempt_at"] is None:
            last = "never"
        else:
            outcome = "delivered" if r["last_success"] else (r["last_error"] or "failed")
            when = f"{r['last_attempt_at']:%Y-%m-%d %H:%M:%S} UTC"
            last = f"{when} {r['last_event_type']}: {outcome}"
        print(
            f"{r['customer_id']:<14}{r['endpoint'][:43]:<44}{r['conn_id']:<18}"
            f"{r['pending']:>8}{r['given_up']:>8}  {last}"
        )
    return 0


def cmd_webhooks_deliver(args) -> int:
    """What DAG budget_webhooks does, now: announce new threshold crossings, send what is due."""
    from finsync.budget import webhooks

    found = webhooks.announce_crossings_task({})
    sent = webhooks.deliver_due_task({})
    print(
        f"{found['crossings']} new threshold crossing(s) announced; {sent['tried']} event(s) "
        f"tried, {sent['delivered']} delivered, {sent['pending']} pending"
    )
    return 0


def cmd_customers_list(args) -> int:
    from finsync import warehouse
    from finsync.budget import config as configs
    from finsync.budget.writeback import last_writebacks

    with warehouse.connect() as conn:
        rows = configs.load(conn)
        writebacks = last_writebacks(conn)
    print(
        f"{'config':>6}  {'customer':<20}{'source':<15}{'enabled':<9}{'frequency':<16}"
        f"{'last sync':<22}{'status':<14}{'last write-back':<30}where"
    )
    for c in rows:
        last = c.last_sync_at.strftime("%Y-%m-%d %H:%M UTC") if c.last_sync_at else "never"
        print(
            f"{c.config_id:>6}  {c.customer_id:<20}{c.source_type:<15}{str(c.enabled):<9}"
            f"{c.frequency:<16}{last:<22}{c.last_sync_status or '-':<14}"
            f"{_writeback_cell(c.writeback, writebacks.get(c.config_id)):<30}"
            f"{_where(c.source_config)}"
        )
    return 0


def _writeback_cell(setting: dict | None, last: dict | None) -> str:
    """`customers list`'s write-back: the last attempt's status and time (UTC), `never` when
    it is on and never ran, `-` when off."""
    if last is not None:
        from datetime import UTC, datetime

        when = datetime.fromisoformat(last["end_time"] or last["start_time"]).astimezone(UTC)
        return f"{last['status']} {when:%Y-%m-%d %H:%M} UTC"
    return "-" if setting is None else "never"


def _where(source_config: dict) -> str:
    """Where a config reads from, for `customers list`: a folder or bucket, a spreadsheet and
    range, an Anaplan workspace/model/export, an address without its query."""
    if source_config.get("spreadsheet_id"):
        return f"{source_config['spreadsheet_id']} {source_config.get('range', '')}"
    if source_config.get("export_id"):
        keys = ("workspace_id", "model_id", "export_id")
        return "/".join(str(source_config.get(k, "?")) for k in keys)
    if source_config.get("url"):
        return str(source_config["url"]).split("?", 1)[0]
    return source_config.get("path") or source_config.get("bucket", "")


def cmd_mappings_learned(args) -> int:
    """List the header -> field pairs people taught the mapper, or forget one header's."""
    from finsync import warehouse
    from finsync.budget import config as configs

    with warehouse.connect() as conn:
        if args.forget:
            n = configs.forget_learned(conn, args.forget, args.field)
            what = f" for {args.field}" if args.field else ""
            print(f"forgot {n} learned pair(s) for header {args.forget!r}{what}")
            return 0
        rows = configs.learned_rows(conn)
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print("nothing learned yet: pairs appear when a person confirms or corrects a mapping")
        return 0
    print(f"{'header':<32}{'field':<17}{'times':>6}{'customers':>10}  last confirmed")
    for r in rows:
        when = r["last_confirmed_at"].strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"{r['header_example'][:31]:<32}{r['field']:<17}{r['confirmations']:>6}"
            f"{len(r['customer_ids']):>10}  {when} by {r['last_confirmed_by']}"
        )
    return 0


def cmd_customers_disable(args) -> int:
    from finsync import warehouse
    from finsync.budget import config as configs

    with warehouse.connect() as conn:
        n = configs.disable(conn, args.customer_id)
    if not n:
        raise ValueError(f"no enabled source config for customer {args.customer_id!r}")
    print(f"customer {args.customer_id}: {n} source config(s) disabled (budgets kept)")
    return 0


def cmd_tokens_create(args) -> int:
    from finsync import migrate, warehouse
    from finsync.api.dependencies import create_token

    scope = "admin" if args.admin else "customer"
    with warehouse.connect() as conn:
        migrate.migrate(conn)
        token = create_token(conn, name=args.name, scope=scope, customer_id=args.customer)
    print(f"{scope} token {args.name!r} created; it is shown only now, keep it secret:")
    print(token)
    return 0


def cmd_tokens_revoke(args) -> int:
    from finsync import warehouse

    with warehouse.connect() as conn:
        n = conn.execute(
            "update budget_api_token set revoked_at = now() where name = %s and revoked_at is null",
            (args.name,),
        ).rowcount
    if not n:
        raise ValueError(f"no active token named {args.name!r}")
    print(f"token {args.name!r} revoked ({n})")
    return 0


def cmd_api_serve(args) -> int:
    """The budget service on its own (uvicorn), beside Airflow: procurement's hot path.

    Airflow's API server also mounts it (/finsync, with the UI page), but its root middlewares
    cost ~1.4 ms of CPU per request (bench/budget_api), too much for 500 checks/s on 2 cores.
    """
    import uvicorn

    from finsync import migrate, warehouse

    with warehouse.connect() as conn:
        migrate.migrate(conn)
    from finsync.api.metrics import prepare_workers

    prepare_workers(args.workers)  # one directory for all workers' counters: /metrics counts all
    print(
        f"budget service on http://{args.host}:{args.port} (docs: /docs), {args.workers} worker(s)"
    )
    uvicorn.run(
        "finsync.api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        timeout_keep_alive=120,
    )
    return 0


def cmd_analyze(args) -> int:
    from finsync.budget.analyze import run_cli

    return run_cli(args)


def cmd_env(args) -> int:
    from finsync.airflow_env import airflow_env

    for key, value in sorted(airflow_env({}).items()):
        print(f"export {key}='{value}'")
    return 0


def cmd_ui(args) -> int:
    """Airflow's UI and scheduler on the embedded default (Ctrl-C stops them)."""
    airflow_db_ready()
    print(f"Airflow UI on http://localhost:{args.port} (all users are admins on this local setup)")
    # Task processes reach the API server's execution API: tell them where it listens.
    env = {
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{args.port}/execution/",
    }
    procs = [
        _popen(env, "api-server", "--port", str(args.port)),
        _popen(env, "scheduler"),
        _popen(env, "dag-processor"),
        _popen(env, "triggerer"),
    ]
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        for p in procs:
            if p.poll() is not None:
                print(
                    f"`{' '.join(cast(list[str], p.args)[1:])}` exited with code {p.returncode}; "
                    "stopping the others",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        pass
    finally:
        _stop(procs)
    return 0


def _popen(extra_env: dict[str, str], *argv: str) -> subprocess.Popen:
    """An Airflow command in a process group of its own (its workers and task processes
    included), so `_stop` ends all of them."""
    from finsync.airflow_env import airflow_env

    exe = shutil.which("airflow", path=os.path.dirname(sys.executable)) or "airflow"
    return subprocess.Popen(
        [exe, *argv], env={**airflow_env(), **extra_env}, start_new_session=True
    )


def _stop(procs: list[subprocess.Popen], grace: float = 30) -> None:
    """Each command's process group and descendants: SIGTERM (Airflow shuts down cleanly on
    it), SIGKILL to what still runs after `grace` seconds; all commands at once."""
    from concurrent.futures import ThreadPoolExecutor

    from finsync.processes import stop

    with ThreadPoolExecutor(len(procs)) as pool:
        list(pool.map(lambda p: stop(p, grace), procs))


def build_parser() -> argparse.ArgumentParser:
    from finsync.budget.settings import FREQUENCIES
    from finsync.budget.sources.registry import SOURCE_TYPES

    parser = argparse.ArgumentParser(prog="finsync", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the warehouse schema and the embedded PostgreSQL")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser(
        "migrate", help="create or upgrade every finsync table (idempotent)"
    ).set_defaults(func=cmd_db_migrate)
    db_sub.add_parser("stop", help="stop the embedded PostgreSQL").set_defaults(func=cmd_db_stop)
    url = db_sub.add_parser("url", help="print the embedded server's URL for a database")
    url.add_argument("database", nargs="?", default="finsync")
    url.set_defaults(func=cmd_db_url)

    def seed_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--clients", type=int, default=150, help="number of clients (150-100,000)")
        p.add_argument(
            "--fiscal-years",
            type=_years,
            default=(2024, 2026),
            metavar="FIRST-LAST",
            help="fiscal years to generate (default 2024-2026)",
        )
        p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
        p.add_argument(
            "--start-month",
            type=int,
            default=None,
            help="fiscal year start month (default: the Airflow Variable, else 1)",
        )

    demo = sub.add_parser("demo", help="demo data and the end-to-end demo")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    seed = demo_sub.add_parser("seed", help="load deterministic demo data into the source tables")
    seed_options(seed)
    seed.set_defaults(func=cmd_demo_seed)
    run = demo_sub.add_parser("run", help="migrate, seed, and run the DAGs with stock Airflow")
    seed_options(run)
    run.add_argument(
        "--fiscal-year", type=int, default=None, help="year to sync (default: last seeded)"
    )
    run.add_argument(
        "--dags", nargs="+", default=["planning_financials_sync", "planning_compliance_sync"]
    )
    run.add_argument(
        "--skip-budget", action="store_true", help="only the planning DAGs (no budget sync/API)"
    )
    run.add_argument("--api-port", type=int, default=8090, help="the budget service's port")
    run.set_defaults(func=cmd_demo_run)

    planning = sub.add_parser("planning", help="run a planning sync in this process (no Airflow)")
    planning_sub = planning.add_subparsers(dest="planning_command", required=True)
    prun = planning_sub.add_parser("run", help="check, stage, gate and publish one fiscal year")
    prun.add_argument("sync", choices=["financials", "compliance"])
    prun.add_argument("--fiscal-year", type=int, default=None)
    prun.add_argument("--as-of-date", default=None, help="YYYY-MM-DD")
    prun.add_argument("--dry-run", action="store_true")
    prun.add_argument("--json", action="store_true", help="also print the summary as JSON")
    prun.set_defaults(func=cmd_planning_run)

    def writeback_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--writeback-folder",
            metavar="FOLDER",
            help="write utilisation back to this sub-folder of the source location "
            "(default finsync)",
        )
        p.add_argument("--writeback-format", choices=["csv", "xlsx", "both"], help="default csv")
        p.add_argument(
            "--writeback-frequency",
            choices=list(FREQUENCIES),
            help="how often write-back runs (its own; default daily)",
        )
        p.add_argument("--no-writeback", action="store_true", help="turn write-back off")

    customers = sub.add_parser("customers", help="customers' budget source configs")
    customers_sub = customers.add_subparsers(dest="customers_command", required=True)
    add = customers_sub.add_parser("add", help="add (or update) a customer's source config")
    add.add_argument("customer_id")
    add.add_argument("--source-type", required=True, choices=list(SOURCE_TYPES))
    add.add_argument(
        "--source-config",
        required=True,
        help='JSON, e.g. \'{"conn_id": "acme_sftp", "path": "/exports", "glob": "*.xlsx"}\' or '
        '\'{"conn_id": "acme_google", "spreadsheet_id": "1AbC...", "range": "Budget"}\'; the '
        "keys of each type: docs/budget_sync.md, docs/budget_sources.md (credentials belong "
        "in the Airflow connection, never here)",
    )
    add.add_argument(
        "--frequency",
        default="daily",
        choices=list(FREQUENCIES),
    )
    add.add_argument("--default-currency", default="USD")
    add.add_argument("--fiscal-year-start-month", type=int, default=1)
    add.add_argument("--error-tolerance-pct", type=float, default=0.0)
    add.add_argument("--max-soft-delete-pct", type=float, default=20.0)
    add.add_argument(
        "--notify",
        default=None,
        help='JSON, e.g. \'{"smtp": {"conn_id": "smtp_fpa", "to": ["fpa@x.example"]}}\'',
    )
    add.add_argument(
        "--webhook",
        nargs=2,
        action="append",
        metavar=("URL", "CONN_ID"),
        help="an https:// endpoint for signed events and the Airflow connection whose password "
        "is its signing secret (whsec_...); repeatable (docs/webhooks.md)",
    )
    add.add_argument(
        "--alert-thresholds",
        default=None,
        metavar="PCTS",
        help="utilisation thresholds for alerts, e.g. 80,100 (the default); empty: none",
    )
    writeback_options(add)
    add.set_defaults(func=cmd_customers_add)
    writeback = customers_sub.add_parser(
        "writeback",
        help="turn a customer's utilisation write-back on, change it, or off "
        "(docs/budget_writeback.md)",
    )
    writeback.add_argument("customer_id")
    writeback.add_argument(
        "--source-type", choices=list(SOURCE_TYPES), help="which config, if it has several"
    )
    writeback_options(writeback)
    writeback.set_defaults(func=cmd_customers_writeback)
    customers_sub.add_parser("list", help="every config with its last sync").set_defaults(
        func=cmd_customers_list
    )
    disable = customers_sub.add_parser("disable", help="stop syncing a customer (budgets kept)")
    disable.add_argument("customer_id")
    disable.set_defaults(func=cmd_customers_disable)

    hooks = sub.add_parser("webhooks", help="customers' webhook endpoints and deliveries")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    hooks_list = hooks_sub.add_parser("list", help="endpoints with their last delivery try")
    hooks_list.add_argument("--customer", default=None)
    hooks_list.add_argument("--json", action="store_true")
    hooks_list.set_defaults(func=cmd_webhooks_list)
    hooks_sub.add_parser(
        "deliver", help="announce new threshold crossings and send due events now (as the DAG)"
    ).set_defaults(func=cmd_webhooks_deliver)

    mappings = sub.add_parser("mappings", help="column mappings people taught the mapper")
    mappings_sub = mappings.add_subparsers(dest="mappings_command", required=True)
    learned = mappings_sub.add_parser(
        "learned", help="list the header -> field pairs people confirmed (or forget one)"
    )
    learned.add_argument("--forget", metavar="HEADER", help="forget what was learned of HEADER")
    learned.add_argument("--field", default=None, help="with --forget: only this field")
    learned.add_argument("--json", action="store_true")
    learned.set_defaults(func=cmd_mappings_learned)

    tokens = sub.add_parser("tokens", help="the budget service's API tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    create = tokens_sub.add_parser("create", help="create a token (printed once, stored hashed)")
    create.add_argument("name", help="who uses it, e.g. acme-procurement")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a customer token: sees and moves this customer's budgets")
    who.add_argument("--admin", action="store_true", help="an admin token: every customer, configs")
    create.set_defaults(func=cmd_tokens_create)
    revoke = tokens_sub.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_tokens_revoke)

    api = sub.add_parser("api", help="the budget service")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    serve = api_sub.add_parser("serve", help="serve it on its own, beside Airflow (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--workers", type=int, default=2, help="processes (about one per core)")
    serve.set_defaults(func=cmd_api_serve)

    analyze = sub.add_parser(
        "analyze", help="what a budget file looks like and how its columns map (no database)"
    )
    analyze.add_argument("path")
    analyze.add_argument("--json", action="store_true", help="print the contract's JSON")
    analyze.add_argument("--sheet", default=None, help="the sheet to read (default: detected)")
    analyze.add_argument("--header-row", type=int, default=None, help="1-based header row")
    analyze.add_argument("--fiscal-year-start-month", type=int, default=1)
    analyze.add_argument("--currency", default="USD", help="the config's default currency")
    analyze.add_argument("--scenario", default=None, help="the scenario value to keep")
    analyze.add_argument(
        "--duplicates",
        choices=("reject", "sum"),
        default="reject",
        help="rows that differ only in the amount: rejected (default) or summed",
    )
    analyze.set_defaults(func=cmd_analyze)

    sub.add_parser(
        "env", help="print the Airflow environment for the embedded default"
    ).set_defaults(func=cmd_env)
    ui = sub.add_parser("ui", help="start Airflow's UI, scheduler, DAG processor and triggerer")
    ui.add_argument("--port", type=int, default=8080)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from finsync import embedded

    # Airflow's own files (config, logs) live beside the embedded server, not in ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", str(embedded.home() / "airflow"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - a CLI answers with the message, not a traceback
        if args.verbose:
            raise
        print(f"finsync: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
