"""finsync: finance planning data kept in sync by Airflow 3 and set-based SQL."""

from pathlib import Path

__version__ = "0.1.0"

# The repository root holds include/sql; the package is installed editable from it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "include" / "sql"
