"""Generated posts to every form of the app (found by walking its pages, see forms.py).

Whatever is typed, missing or chosen, a form answers without a server error; a refusal
says what was wrong and leaves every table as it was.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.forms import app_forms, has_message, row_counts

pytestmark = pytest.mark.reliability

# Values that have broken web forms before: markup, SQL, template syntax, control and
# direction characters, numbers out of range, impossible dates, paths, very long text.
TRICKY = [
    "",
    " ",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{ 7*7 }}{% raw %}",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "🚗🔧",
    "-1",
    "0",
    "1e309",
    "NaN",
    "99999999999999999999999999",
    "2026-02-30",
    "0000-00-00T25:61",
    "24:00",
    "../../etc/passwd",
    "x" * 5000,
    "https://evil.example/",
    "javascript:alert(1)",
    "a@b",
    "[]",
    '{"type": "all"}',
]
VALUES = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40))


def value_for(draw, form_field):
    if form_field.options and draw(st.booleans()):
        return draw(st.sampled_from(form_field.options))
    return draw(VALUES)


@given(data=st.data())
@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_form_survives_generated_posts(app, db, samples, data):
    client = app.test_client()
    client.login(samples.users["admin"].email)
    forms = app_forms(app, client, samples)
    assert len(forms) >= 30, f"only {len(forms)} forms found"
    for form in forms:
        values = dict(form.hidden)
        for form_field in form.typed_fields:
            if data.draw(st.integers(0, 9), label="omit?") == 0:
                continue  # a field left out of the post entirely
            values[form_field.name] = value_for(data.draw, form_field)
        values["csrf_token"] = client.csrf_token
        before = row_counts(db)
        response = client.post(form.action, data=values)
        body = response.get_data(as_text=True)
        where = f"POST {form.action} (form on {form.page}) with {values!r:.300}"
        assert response.status_code < 500, f"{where}: {response.status_code}"
        shows_field_errors = 'class="errors"' in body or 'class="form-errors"' in body
        if response.status_code >= 400 and response.status_code != 404:
            assert has_message(body), f"{where} refused without a message"
        if (response.status_code >= 400 and response.status_code != 404) or shows_field_errors:
            assert row_counts(db) == before, f"{where} refused but changed rows"
