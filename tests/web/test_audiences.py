"""The audiences pages: contacts, the import wizard, segments, suppressions."""

import csv
import io
import json
import re
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from audiences.contacts import email_hash, find_contact_by_email
from audiences.models import (
    Consent,
    ConsentStatus,
    Contact,
    ContactRole,
    ImportJob,
    Segment,
    Suppression,
    SuppressionReason,
)
from audiences.segments import ensure_builtin_segments, find_segment
from audiences.suppression import suppress
from tests.audiences.conftest import add_contact


def many_contacts(db, count: int, **fields) -> None:
    rows = [
        {
            "email": f"person{i}@example.org",
            "email_hash": email_hash(f"person{i}@example.org"),
            "last_name": f"Name{i:03}",
            **fields,
        }
        for i in range(count)
    ]
    db.execute(insert(Contact), rows)
    db.commit()


def test_contacts_list_pages_by_keyset_and_filters(client, users, db):
    many_contacts(db, 55, role=ContactRole.STUDENT, school="Lincoln High")
    add_contact(db, "pat@example.org", role=ContactRole.PARENT, last_name="Parker")
    client.login("viewer@example.org")
    first = client.get("/audiences/").get_data(as_text=True)
    assert first.count('href="/audiences/contacts/') == 50
    assert "pat@example.org" in first  # newest first
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)
    assert second.count('href="/audiences/contacts/') == 6
    assert "person0@example.org" in second and 'rel="next"' not in second
    parents = client.get("/audiences/?role=parent").get_data(as_text=True)
    assert parents.count('href="/audiences/contacts/') == 1
    assert (
        client.get("/audiences/?q=PARK").get_data(as_text=True).count("/audiences/contacts/") == 1
    )
    exact = client.get("/audiences/?q=Person7@Example.org").get_data(as_text=True)
    assert exact.count('href="/audiences/contacts/') == 1 and "person7@example.org" in exact
    school = client.get("/audiences/?school=Lincoln+High&role=student").get_data(as_text=True)
    assert school.count('href="/audiences/contacts/') == 50
    assert '<option selected value="Lincoln High">' in school


def test_contact_page_shows_consent_history_and_records_changes(client, users, db):
    contact = add_contact(
        db, "kid@example.org", birth_year=2015, consent_email=ConsentStatus.UNKNOWN
    )
    client.login("marketer@example.org")
    page = client.get(f"/audiences/contacts/{contact.id}").get_data(as_text=True)
    assert "No consent recorded yet." in page
    assert "skipped</strong> (minor without parental consent)" in page
    response = client.post_form(
        f"/audiences/contacts/{contact.id}/consent",
        {"channel": "parental", "status": "granted", "note": "signed form, open house"},
    )
    assert response.status_code == 302
    page = client.get(f"/audiences/contacts/{contact.id}").get_data(as_text=True)
    assert "staff: marketer@example.org (signed form, open house)" in page
    consent = db.scalar(select(Consent).where(Consent.contact_id == contact.id))
    assert (consent.channel.value, consent.status, consent.ip) == (
        "parental",
        ConsentStatus.GRANTED,
        "127.0.0.1",
    )
    bad = client.post_form(
        f"/audiences/contacts/{contact.id}/consent", {"channel": "fax", "status": "granted"}
    )
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)


def test_privacy_export_and_erase(client, users, db):
    contact = add_contact(db, "erase@example.org", first_name="Eve")
    client.login("admin@example.org")
    exported = client.get(f"/audiences/contacts/{contact.id}/privacy-export")
    assert (
        exported.headers["Content-Disposition"]
        == f'attachment; filename="contact-{contact.id}.json"'
    )
    assert json.loads(exported.data)["contact"]["first_name"] == "Eve"
    wrong = client.post_form(
        f"/audiences/contacts/{contact.id}/erase", {"confirm": "someone@else.org"}
    )
    assert wrong.status_code == 302
    assert find_contact_by_email(db, "erase@example.org") is not None
    client.post_form(f"/audiences/contacts/{contact.id}/erase", {"confirm": "ERASE@example.org"})
    db.expire_all()
    assert find_contact_by_email(db, "erase@example.org") is None
    entry = db.scalar(select(Suppression))
    assert (entry.reason, entry.email) == (SuppressionReason.ERASED, None)


def wait_for_import(client, job_id: int) -> dict:
    deadline = time.monotonic() + 30  # generous: the import runs in a background thread
    while time.monotonic() < deadline:
        progress = client.get(f"/audiences/imports/{job_id}/progress.json").get_json()
        if progress["status"] in ("done", "failed"):
            return progress
        time.sleep(0.05)
    raise AssertionError(f"import #{job_id} did not finish: {progress}")


def test_import_wizard_uploads_maps_runs_in_the_background_and_reports(client, users, db, app):
    client.login("marketer@example.org")
    content = "Mail;Vorname;Lieblingsfach\r\nann@example.org;Ann;Lackieren\r\nbad;Bob;x\r\n"
    response = client.post_form(
        "/audiences/imports",
        {"file": (io.BytesIO(content.encode("utf-8-sig")), "schule.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    assert "Lackieren" in page  # the preview shows the first rows
    assert '<option value="email" selected>' in page  # "Mail" recognised
    job = db.scalar(select(ImportJob))
    stored = Path(job.path)
    assert stored.parent == Path(app.instance_path) / "imports" and stored.exists()
    response = client.post_form(
        mapping_url,
        {
            "column-0": "email",
            "column-1": "first_name",
            "column-2": "attributes.subject",
            "update_existing": "no",
        },
    )
    assert (
        response.status_code == 302
        and response.headers["Location"] == f"/audiences/imports/{job.id}"
    )
    progress = wait_for_import(client, job.id)
    assert (
        progress["status"],
        progress["imported"],
        progress["rejected"],
        progress["percent"],
    ) == ("done", 1, 1, 100.0)
    assert find_contact_by_email(db, "ann@example.org").attributes == {"subject": "Lackieren"}
    report = list(
        csv.reader(
            io.StringIO(
                client.get(f"/audiences/imports/{job.id}/rejects.csv").get_data(as_text=True)
            )
        )
    )
    assert report[0] == ["line", "reason", "Mail", "Vorname", "Lieblingsfach"]
    assert report[1][:3] == [
        "3",
        "'bad' is not a valid email address: An email address must have an @-sign.",
        "bad",
    ]
    assert not stored.exists()  # the uploaded copy is deleted once imported
    job_page = client.get(f"/audiences/imports/{job.id}").get_data(as_text=True)
    assert 'data-field="imported">1<' in job_page


def test_import_wizard_refuses_bad_files_and_mappings(client, users, db):
    client.login("marketer@example.org")
    response = client.post_form(
        "/audiences/imports",
        {"file": (io.BytesIO(b"\x00\x01binary"), "photo.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "this is a binary file, not CSV text" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0
    response = client.post_form(
        "/audiences/imports",
        {"file": (io.BytesIO(b"email,name\na@example.org,A\n"), "ok.csv")},
        content_type="multipart/form-data",
    )
    mapping_url = response.headers["Location"]
    response = client.post_form(
        mapping_url, {"column-0": "", "column-1": "first_name", "update_existing": "no"}
    )
    assert response.status_code == 400
    assert "map one column to email" in response.get_data(as_text=True)


def test_segment_form_builds_previews_and_saves(client, users, db):
    ensure_builtin_segments(db)
    db.commit()
    add_contact(db, "a@example.org", region="Ohio")
    add_contact(db, "b@example.org", region="Texas")
    client.login("marketer@example.org")
    rules = {
        "type": "all",
        "rules": [{"type": "field", "field": "region", "op": "equals", "value": "Ohio"}],
    }
    preview = client.post(
        "/audiences/segments/preview",
        json={"rules": rules},
        headers={"X-CSRFToken": client.csrf_token},
    )
    data = preview.get_json()
    assert (preview.status_code, data["count"], [m["email"] for m in data["members"]]) == (
        200,
        1,
        ["a@example.org"],
    )
    broken = client.post(
        "/audiences/segments/preview",
        json={
            "rules": {"type": "all", "rules": [{"type": "field", "field": "region", "op": "like"}]}
        },
        headers={"X-CSRFToken": client.csrf_token},
    )
    assert broken.status_code == 422
    assert broken.get_json()["problems"][0]["path"] == "/rules/0/op"
    no_token = client.post("/audiences/segments/preview", json={"rules": rules})
    assert no_token.status_code == 400  # CSRF protects the JSON endpoint too

    response = client.post_form(
        "/audiences/segments/new", {"name": "Ohio people", "rules": json.dumps(rules)}
    )
    assert response.status_code == 302
    segment = find_segment(db, "ohio-people")
    assert segment.cached_count == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "a@example.org" in page and "b@example.org" not in page
    exported = client.get(f"/audiences/segments/{segment.id}/contacts.csv").get_data(as_text=True)
    assert (
        exported.splitlines()[0].startswith("email,first_name") and len(exported.splitlines()) == 2
    )

    bad = client.post_form("/audiences/segments/new", {"name": "Broken", "rules": "{not json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    bad = client.post_form(
        "/audiences/segments/new",
        {"name": "Loop", "slug": "loop", "rules": json.dumps({"type": "segment", "slug": "loop"})},
    )
    assert bad.status_code == 400 and "in a circle: loop → loop" in bad.get_data(as_text=True)
    assert db.scalar(select(Segment).where(Segment.name == "Loop")) is None

    response = client.post_form(
        f"/audiences/segments/{segment.id}/edit",
        {"name": "Ohio and Texas", "rules": json.dumps({"type": "all", "rules": []})},
    )
    assert response.status_code == 302
    db.expire_all()
    assert (db.get(Segment, segment.id).slug, db.get(Segment, segment.id).cached_count) == (
        "ohio-people",
        2,
    )
    students = find_segment(db, "students")
    assert client.get(f"/audiences/segments/{students.id}/edit").status_code == 302
    segment_id = segment.id
    client.post_form(f"/audiences/segments/{segment_id}/delete")
    db.expire_all()
    assert db.get(Segment, segment_id) is None


def test_segments_list_shows_cached_counts_with_their_time(client, users, db):
    ensure_builtin_segments(db)
    db.commit()
    add_contact(db, "a@example.org")
    client.login("marketer@example.org")
    students = find_segment(db, "students")
    page = client.get("/audiences/segments").get_data(as_text=True)
    assert "never" in page  # not counted yet
    client.post_form(f"/audiences/segments/{students.id}/count")
    page = client.get("/audiences/segments").get_data(as_text=True)
    assert re.search(r"<td>1</td>\s*<td>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>", page)


def test_contacts_export_streams_csv(client, users, db):
    many_contacts(db, 1200)
    client.login("marketer@example.org")
    response = client.get("/audiences/contacts.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1201 and rows[1][0] == "person0@example.org"


def test_suppression_list_adds_and_lifts_manual_entries(client, users, db):
    suppress(db, "gone@example.org", SuppressionReason.UNSUBSCRIBED, "one-click unsubscribe")
    db.commit()
    client.login("marketer@example.org")
    response = client.post_form(
        "/audiences/suppressions", {"email": "Block@Example.org", "note": "asked by phone"}
    )
    assert response.status_code == 302
    entry = db.scalar(
        select(Suppression).where(Suppression.address_hash == email_hash("block@example.org"))
    )
    assert (entry.reason, entry.source) == (
        SuppressionReason.MANUAL,
        "staff: marketer@example.org (asked by phone)",
    )
    page = client.get("/audiences/suppressions?q=BLOCK@example.org").get_data(as_text=True)
    assert "Block@Example.org" in page and "gone@example.org" not in page
    gone = db.scalar(select(Suppression).where(Suppression.email == "gone@example.org"))
    client.post_form(f"/audiences/suppressions/{gone.id}/lift")
    client.post_form(f"/audiences/suppressions/{entry.id}/lift")
    db.expire_all()
    assert [s.email for s in db.scalars(select(Suppression))] == ["gone@example.org"]


def test_cli_counts_a_segment_by_name_or_slug(runner, db):
    ensure_builtin_segments(db)
    db.commit()
    add_contact(db, "a@example.org")
    add_contact(db, "b@example.org", role=ContactRole.PARENT)
    assert runner.invoke(["segments", "count", "students"]).output == "1\n"
    assert runner.invoke(["segments", "count", "Parents"]).output == "1\n"
    result = runner.invoke(["segments", "count", "nobody"])
    assert result.exit_code == 1 and "there is no segment 'nobody'" in result.output
    db.expire_all()
    assert find_segment(db, "students").cached_count == 1


def test_segment_rules_of_json_null_are_refused_with_a_message(client, users, db):
    from sqlalchemy import func, select

    from audiences.models import Segment

    client.login("marketer@example.org")
    before = db.scalar(select(func.count()).select_from(Segment))
    response = client.post_form("/audiences/segments/new", {"name": "Null rules", "rules": "null"})
    assert response.status_code == 400
    assert "expected a rule object" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Segment)) == before
