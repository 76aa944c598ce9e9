"""CSV imports through the API: upload, progress until done, rejected rows."""

from __future__ import annotations

import io
import json
import time

from audiences.contacts import find_contact_by_email

CSV = (
    "E-mail;First Name;Role;Club\r\n"
    "ana@example.org;Ana;student;paint\r\n"
    "not-an-address;Bo;student;body\r\n"
    "cy@example.org;Cy;parent;\r\n"
)


def wait_for(api_client, url: str) -> dict:
    deadline = time.monotonic() + 30  # generous: the import runs in a background thread
    while time.monotonic() < deadline:
        job = api_client.get(url).get_json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"import at {url} did not finish")


def upload(api_client, text: str = CSV, **form):
    data = {"file": (io.BytesIO(text.encode()), "people.csv"), **form}
    return api_client.post("/api/v1/contact-imports", data=data, content_type="multipart/form-data")


def test_import_runs_in_the_background_with_progress(api, db):
    response = upload(api.marketer, mapping=json.dumps({"Club": "attributes.club"}))
    assert response.status_code == 202, response.get_data(as_text=True)
    job = response.get_json()
    assert job["mapping"]["E-mail"] == "email"
    assert job["mapping"]["Club"] == "attributes.club"
    url = response.headers["Location"]
    done = wait_for(api.viewer, url)
    assert done["status"] == "done"
    assert (done["progress"]["imported"], done["progress"]["rejected"]) == (2, 1)
    assert done["progress"]["percent"] == 100.0
    ana = find_contact_by_email(db, "ana@example.org")
    assert ana.first_name == "Ana" and ana.attributes == {"club": "paint"}

    rejects = api.marketer.get(f"{url}/rejects").get_json()["data"]
    assert [(r["line"], r["values"][0]) for r in rejects] == [(3, "not-an-address")]
    assert api.viewer.get(f"{url}/rejects").status_code == 403

    listed = api.viewer.get("/api/v1/contact-imports").get_json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_a_bad_mapping_or_file_is_a_field_error(api):
    bad_mapping = upload(api.marketer, mapping=json.dumps({"Nope": "email"}))
    assert bad_mapping.status_code == 422
    assert bad_mapping.get_json()["errors"][0]["field"] == "mapping"
    not_json = upload(api.marketer, mapping="{email")
    assert not_json.status_code == 422
    assert not_json.get_json()["errors"][0]["field"] == "mapping"
    empty = upload(api.marketer, text="")
    assert empty.status_code == 422
    assert empty.get_json()["errors"][0]["field"] == "file"
    no_file = api.marketer.post(
        "/api/v1/contact-imports",
        data={"update_existing": "true"},
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 422
    assert no_file.get_json()["errors"][0]["field"] == "file"
    as_json = api.marketer.post("/api/v1/contact-imports", json={"file": "x"})
    assert as_json.status_code == 415


def test_unknown_import_is_404(api):
    assert api.viewer.get("/api/v1/contact-imports/424242").status_code == 404


def test_an_upload_with_the_same_key_runs_once(api, db):
    from sqlalchemy import func, select

    from audiences.models import ImportJob

    headers = {"Idempotency-Key": "upload-1"}

    def send(text: str):
        data = {"file": (io.BytesIO(text.encode()), "people.csv")}
        return api.marketer.post(
            "/api/v1/contact-imports",
            data=data,
            content_type="multipart/form-data",
            headers=headers,
        )

    first = send(CSV)
    assert first.status_code == 202
    again = send(CSV)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    other_file = send(CSV.replace("ana@", "anna@"))
    assert other_file.status_code == 422
    wait_for(api.viewer, first.headers["Location"])
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 1
