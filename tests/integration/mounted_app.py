"""The budget service mounted at /finsync, as Airflow's API server mounts it, without Airflow:
for serving the Budget sync page by uvicorn in tests (`uvicorn tests.integration.mounted_app:app`)."""

from starlette.applications import Starlette
from starlette.routing import Mount

from finsync.api.main import app as finsync_app

app = Starlette(routes=[Mount("/finsync", finsync_app)])
