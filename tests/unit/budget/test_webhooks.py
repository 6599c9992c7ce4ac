"""Signing, event ids, back-off and the settings' checks (budget/webhooks.py), no servers."""

import base64
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from finsync.budget import settings, webhooks

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
KEY = bytes(range(32))


def test_signature_verifies_with_an_independent_implementation():
    body = webhooks.body_of("sync.failed", {"sync_id": 7, "amount": webhooks.Decimal("12.50")})
    headers = webhooks.signed_headers(KEY, "msg_1", body)
    assert Webhook(SECRET).verify(body, headers)["data"] == {"sync_id": 7, "amount": 12.5}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("7", "8"), headers)
    other = "whsec_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body():
    # Standard Webhooks' own example: secret MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, this id,
    # timestamp and body sign to this value (its specification's test vector).
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = '{"test": 2432232314}'
    assert (
        webhooks.sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_event_ids_are_the_same_for_the_same_event_and_endpoint_only():
    a = webhooks.event_id("sync:1", "sync.failed", "https://a.example/h")
    assert a == webhooks.event_id("sync:1", "sync.failed", "https://a.example/h")
    assert a.startswith("msg_")
    assert a != webhooks.event_id("sync:1", "sync.failed", "https://b.example/h")
    assert a != webhooks.event_id("sync:1", "sync.needs_review", "https://a.example/h")
    assert a != webhooks.event_id("sync:2", "sync.failed", "https://a.example/h")


def test_back_off_doubles_from_5_minutes_up_to_4_hours_and_stops_after_a_day():
    delays = [webhooks.next_delay(n) for n in range(1, 12)]
    assert delays[:7] == [timedelta(minutes=m) for m in (5, 10, 20, 40, 80, 160, 240)]
    assert delays[7:] == [timedelta(hours=4)] * 4
    elapsed, tries = timedelta(0), 1
    while elapsed + webhooks.next_delay(tries) <= webhooks.GIVE_UP_AFTER:
        elapsed += webhooks.next_delay(tries)
        tries += 1
    assert tries == 11  # tries within a day, the first one included


def test_the_endpoint_shown_drops_the_query_string():
    url = "https://erp.example.com:8443/hooks/finsync?token=abc"
    assert webhooks.describe_url(url) == "https://erp.example.com:8443/hooks/finsync"


def test_thresholds_are_sorted_percentages():
    assert settings.validate_thresholds([100, 80]) == [80.0, 100.0]
    assert settings.validate_thresholds([]) == []
    assert settings.validate_thresholds([120]) == [120.0]
    for bad in ([0], [-5], [1001], [80, 80], None, ["80"]):
        with pytest.raises(ValueError, match="alert_thresholds_pct"):
            settings.validate_thresholds(bad)
