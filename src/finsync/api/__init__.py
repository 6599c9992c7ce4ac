"""finsync's budget service (FastAPI), mounted by Airflow's API server through the plugin."""
