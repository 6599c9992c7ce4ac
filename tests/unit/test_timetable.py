from datetime import date, timedelta

import pendulum
import pytest
from airflow.timetables.base import TimeRestriction

from finsync.timetables import FiscalYearTimetable


def _utc(y, m, d):
    return pendulum.datetime(y, m, d, tz="UTC")


def _all(timetable, earliest, latest):
    infos, last = [], None
    while (
        info := timetable.next_dagrun_info(
            last_automated_data_interval=last,
            restriction=TimeRestriction(earliest, latest, catchup=True),
        )
    ) is not None:
        infos.append(info)
        last = info.data_interval
    return infos


def test_backfill_makes_one_run_per_fiscal_year_calendar(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "1")
    infos = _all(FiscalYearTimetable(), _utc(2023, 1, 1), _utc(2025, 12, 31))
    assert [i.logical_date.date() for i in infos] == [
        date(2023, 12, 31),
        date(2024, 12, 31),
        date(2025, 12, 31),
    ]


def test_backfill_makes_one_run_per_fiscal_year_july(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", "7")
    infos = _all(FiscalYearTimetable(), _utc(2022, 7, 1), _utc(2025, 6, 30))
    assert [i.logical_date.date() for i in infos] == [
        date(2023, 6, 30),
        date(2024, 6, 30),
        date(2025, 6, 30),
    ]


def test_schedule_without_catchup_is_daily():
    timetable = FiscalYearTimetable()
    restriction = TimeRestriction(_utc(2020, 1, 1), None, catchup=False)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    yesterday = pendulum.now("UTC").date() - timedelta(days=1)
    assert first.logical_date.date() == yesterday
    assert first.data_interval.end - first.data_interval.start == timedelta(days=1)
    second = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=restriction
    )
    assert second.logical_date.date() == yesterday + timedelta(days=1)


def test_serialization_round_trip():
    timetable = FiscalYearTimetable()
    assert isinstance(FiscalYearTimetable.deserialize(timetable.serialize()), FiscalYearTimetable)


@pytest.mark.parametrize("value", ["0", "x"])
def test_bad_start_month_fails_planning(monkeypatch, value):
    monkeypatch.setenv("AIRFLOW_VAR_FISCAL_YEAR_START_MONTH", value)
    with pytest.raises(ValueError):
        _all(FiscalYearTimetable(), _utc(2023, 1, 1), _utc(2024, 1, 1))
