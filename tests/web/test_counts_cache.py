"""The dashboard's figures and the segment builder's live count are counted at most every
`[server] counts_max_age_seconds` and shown with the time they were counted."""

import re

from audiences.segments import ensure_builtin_segments
from campaign_manager.web.counts import CountsCache, counts_cache
from tests.audiences.conftest import add_contact

AS_OF = re.compile(r"as of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)")


class Clock:
    """Stands in for the cache's monotonic clock, so a test moves time on without sleeping."""

    def __init__(self, app) -> None:
        self.now = 1000.0
        with app.app_context():
            counts_cache().clock = lambda: self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def contacts_on_dashboard(client) -> tuple[str, str]:
    page = client.get("/").get_data(as_text=True)
    count = re.search(r"<dt>Contacts</dt><dd>(\d+)</dd>", page).group(1)
    return count, AS_OF.search(page).group(1)


def test_dashboard_figures_are_reused_for_a_few_seconds_then_counted_again(app, client, db, users):
    assert app.extensions["settings"].server.counts_max_age_seconds == 5.0
    clock = Clock(app)
    add_contact(db, "first@example.org")
    db.commit()
    client.login("viewer@example.org")
    count, taken = contacts_on_dashboard(client)
    assert count == "1"

    add_contact(db, "second@example.org")
    db.commit()
    clock.advance(4)
    assert contacts_on_dashboard(client) == ("1", taken)  # the figures of 4 s ago, said so

    # Past its age, the count is still answered at once while a new one is taken in the
    # background; the next request gets the new one, with its own time.
    clock.advance(2)
    assert contacts_on_dashboard(client) == ("1", taken)
    with app.app_context():
        counts_cache().join_refreshes(timeout=30)
    count, taken_again = contacts_on_dashboard(client)
    assert count == "2" and taken_again >= taken

    # Nobody asked for twice the age: counted while the page waits.
    add_contact(db, "third@example.org")
    db.commit()
    clock.advance(10)
    assert contacts_on_dashboard(client)[0] == "3"


def preview(client, rules):
    response = client.post(
        "/audiences/segments/preview",
        json={"rules": rules},
        headers={"X-CSRFToken": client.csrf_token},
    )
    assert response.status_code == 200
    data = response.get_json()
    return data["count"], [m["email"] for m in data["members"]], data["counted_at"]


def test_segment_builder_count_is_cached_per_rules_with_its_time(app, client, db, users):
    clock = Clock(app)
    ensure_builtin_segments(db)
    add_contact(db, "a@example.org", region="Ohio")
    db.commit()
    client.login("marketer@example.org")
    ohio = {"type": "field", "field": "region", "op": "equals", "value": "Ohio"}
    count, members, taken = preview(client, ohio)
    assert (count, members) == (1, ["a@example.org"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", taken)

    add_contact(db, "b@example.org", region="Ohio")
    db.commit()
    clock.advance(1)
    assert preview(client, ohio) == (1, ["a@example.org"], taken)  # asked again: as counted
    # Other rules are counted now, not taken from another segment's count.
    either = {"type": "any", "rules": [ohio]}
    assert preview(client, either)[0] == 2

    clock.advance(5)
    assert preview(client, ohio) == (1, ["a@example.org"], taken)  # refreshing meanwhile
    with app.app_context():
        counts_cache().join_refreshes(timeout=30)
    count, members, taken_again = preview(client, ohio)
    assert (count, sorted(members)) == (2, ["a@example.org", "b@example.org"])
    assert taken_again >= taken


def test_a_failed_background_count_keeps_the_old_value_and_counts_again_later(app):
    cache = CountsCache(5)
    now = [0.0]
    cache.clock = lambda: now[0]

    def broken():
        raise RuntimeError("the database went away")

    with app.app_context():
        assert cache.get("key", lambda: 1, refresh_in_background=True).value == 1
        now[0] = 6
        assert cache.get("key", broken, refresh_in_background=True).value == 1
        cache.join_refreshes(timeout=30)
        assert cache.get("key", lambda: 2, refresh_in_background=True).value == 1
        cache.join_refreshes(timeout=30)
        assert cache.get("key", lambda: 3, refresh_in_background=True).value == 2
        now[0] = 20  # far past its age: counted in the open
        assert cache.get("key", lambda: 4, refresh_in_background=True).value == 4


def test_zero_max_age_counts_on_every_request():
    cache = CountsCache(0)
    counted = iter(range(3))
    first = cache.get("key", lambda: next(counted))
    second = cache.get("key", lambda: next(counted))
    assert (first.value, second.value) == (0, 1)
