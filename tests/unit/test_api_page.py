"""The Budget sync page lists the frequencies budget/config.py defines, not a copy of its own."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from fastapi.testclient import TestClient

from finsync.api.main import app
from finsync.budget.settings import FREQUENCIES


def test_the_page_offers_and_labels_every_configured_frequency():
    response = TestClient(app).get("/ui/")
    assert response.status_code == 200
    page = response.text

    select = re.search(r'<select id="ob-frequency">(.*?)</select>', page, re.S).group(1)
    options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]*)</option>', select)
    assert [value for value, _, _ in options] == list(FREQUENCIES)
    assert [value for value, selected, _ in options if selected] == ["daily"]
    labels = {value: label for value, _, label in options}
    assert labels["every_4_hours"] == "every 4 hours"
    assert labels["manual"] == "manual (Refresh now only)"  # the one without a schedule

    shown = json.loads(re.search(r"const FREQUENCY = (\{.*?\});", page).group(1))
    assert shown == {name: name.replace("_", " ") for name in FREQUENCIES}
    assert "frequency-options" not in page and "frequency-labels" not in page

    # The filled-in script is the one the Content-Security-Policy lets run.
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]
