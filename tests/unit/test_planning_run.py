import json
from datetime import date

from finsync.planning.common import PlanningRun, resolve_run


def test_the_run_period_is_resolved_once_and_travels_whole_through_xcom():
    run = resolve_run("r1", {"fiscal_year": 2026, "dry_run": True}, date(2025, 9, 15), 7)
    assert (run.fiscal_year, run.as_of_date, run.start_month) == (2026, date(2025, 9, 15), 7)
    assert (run.period.year_start, run.period.year_end) == (date(2025, 7, 1), date(2026, 6, 30))
    again = PlanningRun.from_xcom(json.loads(json.dumps(run.to_xcom())))
    assert again == run and again.period is not run.period
    assert again.sql_params() == {
        "run_id": "r1",
        "fiscal_year": 2026,
        "as_of_date": date(2025, 9, 15),
        "year_start": date(2025, 7, 1),
        "year_end": date(2026, 6, 30),
        "as_of_fiscal_month": 3,
        "days_elapsed": 77,
    }
