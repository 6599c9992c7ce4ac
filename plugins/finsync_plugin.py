"""finsync's Airflow plugin: the fiscal-year timetable (needed to (de)serialize the DAGs), the
budget service mounted in Airflow's API server at /finsync, and its "Budget sync" page in the
Airflow UI's navigation."""

from airflow.plugins_manager import AirflowPlugin

from finsync.api.main import URL_PREFIX, app
from finsync.timetables import FiscalYearTimetable


class FinsyncPlugin(AirflowPlugin):
    name = "finsync"
    timetables = [FiscalYearTimetable]
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "finsync budget service"}]
    external_views = [
        {
            "name": "Budget sync",
            "href": f"{URL_PREFIX}/ui/",
            "destination": "nav",
            "url_route": "budget-sync",
            "nav_top_level": True,
        }
    ]
