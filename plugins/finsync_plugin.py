"""Registers finsync's timetable with Airflow (needed to (de)serialize the DAGs)."""

from airflow.plugins_manager import AirflowPlugin

from finsync.timetables import FiscalYearTimetable


class FinsyncPlugin(AirflowPlugin):
    name = "finsync"
    timetables = [FiscalYearTimetable]
