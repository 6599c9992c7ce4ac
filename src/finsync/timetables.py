"""FiscalYearTimetable: daily runs for the current fiscal year; backfills by fiscal year.

The scheduler (DAG `catchup=False`) asks for the next run with `restriction.catchup` False
and gets one run a day: the run for day d computes the fiscal year holding d, as of d.
`airflow backfill create` asks with `restriction.catchup` True; then the timetable yields
only the year-end day of each fiscal year in the range (logical date = the fiscal year's last
day), so a backfill over FY2023..FY2025 makes exactly one run per fiscal year, each
computing that year as of its last day, just as the daily run of that day did.

The fiscal calendar (`fiscal_year_start_month`) is read when runs are planned, in the
scheduler or the API server, never when the DAG file is parsed. Registered by
plugins/finsync_plugin.py so that Airflow can deserialize it.
"""

from __future__ import annotations

from datetime import date, timedelta

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import UTC, DateTime, Time

from finsync import fiscal


def _midnight(day: date) -> DateTime:
    return DateTime.combine(day, Time.min).replace(tzinfo=UTC)


class FiscalYearTimetable(Timetable):
    description = "Daily at 00:00 UTC; backfills make one run per fiscal year (its last day)"

    @property
    def summary(self) -> str:
        return "daily (backfill: per fiscal year)"

    def serialize(self) -> dict:
        return {}

    @classmethod
    def deserialize(cls, data: dict) -> FiscalYearTimetable:
        return cls()

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = _midnight(run_after.date())
        return DataInterval(start=start, end=start + timedelta(days=1))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if restriction.catchup:
            return self._next_year_end(last_automated_data_interval, restriction)
        return self._next_day(last_automated_data_interval, restriction)

    @staticmethod
    def _next_day(last: DataInterval | None, restriction: TimeRestriction) -> DagRunInfo | None:
        # Without catch-up the next run is the latest complete day, never older ones.
        yesterday = _midnight(DateTime.now(UTC).date() - timedelta(days=1))
        start = yesterday if last is None else max(last.start + timedelta(days=1), yesterday)
        if restriction.earliest is not None:
            start = max(start, _midnight(restriction.earliest.date()))
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start=start, end=start + timedelta(days=1))

    @staticmethod
    def _next_year_end(
        last: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if restriction.earliest is None:
            return None
        month = fiscal.start_month(fiscal.metastore_variable)
        after = (
            restriction.earliest.date() if last is None else last.start.date() + timedelta(days=1)
        )
        year = fiscal.fiscal_year_of(after, month)
        end = fiscal.year_bounds(year, month)[1]
        if end < after:  # pragma: no cover - year_bounds always contains `after`
            end = fiscal.year_bounds(year + 1, month)[1]
        start = _midnight(end)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start=start, end=start + timedelta(days=1))
