"""The budget service against its own OpenAPI schema (schemathesis), on a seeded real PostgreSQL.

Every operation gets generated valid and invalid requests plus the schema's examples (which
name the seeded customer `acme`, its budgets and reservations), authenticated with an admin
token, and every default check runs: no 5xx, status codes, content types, headers and bodies
as declared, schema-violating requests refused, schema-valid ones accepted, 405s with a true
Allow header, and the rest.
"""

from __future__ import annotations

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from finsync.api.dependencies import hash_token, new_token
from finsync.api.main import app
from tests.integration.api_helpers import (
    bearer,
    budget_sync_dag,
    scratch_database,
    seed_customer,
)

pytestmark = pytest.mark.integration
__all__ = ["budget_sync_dag"]  # a fixture, used by name

schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# Bounded so the module stays well under a minute; no example database left in the tree.
schema.config.generation.update(max_examples=25, database="none")
# The admin token, known before the cases are generated (the examples are, at collection);
# the fixture stores its hash.
ADMIN_TOKEN = new_token()


@schema.auth()
class AdminToken:
    """The admin token, given through schemathesis' auth so that it knows the request is
    authenticated: a negative case that drops or garbles the Authorization header is then sent
    as generated (and must get a 401), never with the token put back by the caller."""

    def get(self, case, ctx):
        return ADMIN_TOKEN

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), **bearer(data)}


@pytest.fixture(scope="module")
def admin_token(template_db, budget_sync_dag, tmp_path_factory):
    """One seeded database for the module. Schemathesis calls the app on one event loop of its
    own for the whole process, so the app's pool on that loop is opened once, here, and closed
    (by the app's lifespan) before the database is dropped."""
    files = tmp_path_factory.mktemp("files")
    (files / "rejects.csv").write_text("row,column,value,message\n3,Amount,abc,not a number\n")
    with scratch_database(template_db) as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            seed_customer(
                conn,
                "acme",
                budgets=[
                    ("Marketing", None, "FY2025", "12000.00"),
                    ("Marketing", "Events", "FY2025-Q1", "3000.00"),
                    ("Marketing", "Events", "FY2025-M01", "1000.00"),
                    ("IT", "Cloud", "FY2025-M02", "500.00", "EUR"),
                ],
            )
            conn.execute(
                "update sync_history set reject_file = %s where sync_id = 1",
                (str(files / "rejects.csv"),),
            )
            conn.execute(
                "insert into budget_data_source_config (customer_id, source_type, source_config) "
                "values ('acme', 'upload', %s)",
                (f'{{"path": "{files / "drop"}"}}',),
            )
            conn.execute("insert into budget_fx_rate values ('EUR', 'USD', '2024-01-01', 1.1)")
            conn.execute("insert into budget_customer_policy values ('acme', 'tolerance', 5)")
            # reservations 1 and 2 (the schema's commit and release examples)
            budget_id = conn.execute(
                "select budget_id from budget where fiscal_period = 'FY2025-M01'"
            ).fetchone()[0]
            conn.execute(
                "insert into budget_reservation (customer_id, budget_id, status, amount, "
                "request_amount, request_currency, fx_rate, actor) values "
                "('acme', %s, 'reserved', 300, 300, 'USD', 1, 'seed'), "
                "('acme', %s, 'reserved', 100, 100, 'USD', 1, 'seed')",
                (budget_id, budget_id),
            )
            conn.execute(
                "insert into budget_utilization (budget_id, reserved_amount) values (%s, 400)",
                (budget_id,),
            )
            conn.execute(
                "insert into budget_api_token (token_hash, name, scope) values (%s, 'admin', 'admin')",
                (hash_token(ADMIN_TOKEN),),
            )
        yield ADMIN_TOKEN
        schemathesis_asgi.shutdown_lifespans()


def positive_data_acceptance_beyond_business_rules(ctx, response, case):
    """ST202 (schema-valid data must be accepted), except a 422 that carries the service's own
    explanation (a string `detail`) rather than request validation's list of field errors.

    Those 422s enforce rules a JSON schema cannot state: a period label the fiscal calendar
    does not know, an admin token acting without naming a customer, a missing FX rate, a
    source config lacking what its source type needs, an Idempotency-Key reused for another
    request. Request validation itself (the list form) is still held to the schema exactly."""
    if response.status_code == 422:
        detail = response.json().get("detail")
        if isinstance(detail, str):
            return None
    return positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, admin_token):
    case.call_and_validate(
        excluded_checks=[positive_data_acceptance],
        additional_checks=[positive_data_acceptance_beyond_business_rules],
    )


def test_every_operation_refuses_what_its_schema_refuses(admin_token):
    """What the generated cases reach only now and then, for every operation each run: the
    schema declares a bearer token on all of them, so none answers without one or with a
    garbled one (401), and none takes a query parameter it does not declare (422, even with a
    valid token). Called through schemathesis' transport, on the app's one event loop."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:
        where = operation.label
        assert operation.definition.raw.get("security"), where
        path = {p.name: "1" for p in operation.path_parameters}
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic eDp5"}):
            case = operation.Case(path_parameters=path, headers=headers)
            assert case.call().status_code == 401, where
        case = operation.Case(
            path_parameters=path, query={"no_such": "1"}, headers=bearer(admin_token)
        )
        response = case.call()
        assert response.status_code == 422, (where, response.text)
        assert "'no_such'" in response.json()["detail"], where
