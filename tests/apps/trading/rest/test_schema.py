"""Schemathesis against /api/schema/: every REST v1 operation, fuzzed through the WSGI app
with a logged-in session (CSRF token included, so writes get past CSRF) and the matcher
core in process. No 5xx, responses conform to the schema.

Deterministic: Hypothesis runs derandomized (a fixed seed derived from the test function, no
example database; schemathesis then applies no random seed of its own), so every run sends
the same requests to every operation (one subtest per operation) and a failure reproduces.
To explore new inputs locally, drop `derandomize` (`--hypothesis-seed` does not override it)."""
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, settings as hyp_settings

from .conftest import fund

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def wsgi_app():
    """Django's WSGI app, minus the per-request close_old_connections (as Django's test
    client does), which would close the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(engine, settings, wsgi_app):
    rf = dict(settings.REST_FRAMEWORK)
    rf["DEFAULT_THROTTLE_RATES"] = {"anon": "100000/min", "user": "100000/min"}
    settings.REST_FRAMEWORK = rf
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)


@pytest.fixture
def session(engine, django_user_model):
    user = django_user_model.objects.create_user(username="fuzzer", is_staff=True)
    fund(engine, user, "USDT", "1000000")
    fund(engine, user, "BTC", "100")
    c = Client()
    c.force_login(user)
    cookies = {k: v.value for k, v in c.cookies.items()}
    cookies["csrftoken"] = get_random_string(32)  # the CSRF secret; sent back as X-CSRFToken
    return cookies


@schema.parametrize()
@hyp_settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_rest_v1_schema(case, session):
    response = case.call(cookies=session, headers={"X-CSRFToken": session["csrftoken"]})
    # Schema-valid is not always acceptable: market and asset names are runtime
    # configuration (a 400 naming the field), so positive_data_acceptance does not apply.
    # The session cookie is sent outside the schema's security schemes, so requests
    # stripped of the API-key headers still authenticate: ignored_auth does not apply
    # either (test_auth.py covers authentication).
    case.validate_response(response, excluded_checks=[positive_data_acceptance, ignored_auth])
