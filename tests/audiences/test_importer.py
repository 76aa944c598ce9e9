"""CSV import: the file shapes people really send, and what happens to every row."""

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from audiences import importer
from audiences.contacts import AudienceError, find_contact_by_email
from audiences.export import export_contacts_csv
from audiences.importer import (
    ImportFileError,
    check_mapping,
    create_import_job,
    is_interrupted,
    prepare_resume,
    queue_import,
    rejects_csv,
    run_import,
)
from audiences.models import (
    Consent,
    ConsentStatus,
    Contact,
    ContactRole,
    ContactTag,
    ImportJob,
    ImportStatus,
)
from campaign_manager.core.db import utcnow
from tests.audiences.conftest import add_contact


def start(db, tmp_path: Path, content, *, mapping=None, update=False, name="contacts.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    job, preview = create_import_job(db, path, name)
    queue_import(db, job, {**preview.mapping, **(mapping or {})}, update_existing=update)
    db.commit()
    return job


def run(app, db, tmp_path, content, *, batch_size=2000, **options) -> ImportJob:
    job = start(db, tmp_path, content, **options)
    return run_import(app.extensions["database"].sessionmaker, job.id, batch_size=batch_size)


def rejects(db, job) -> list[list[str]]:
    job = db.get(ImportJob, job.id)
    return list(csv.reader(io.StringIO("".join(rejects_csv(db, job)))))[1:]


def emails(db) -> list[str]:
    return list(db.scalars(select(Contact.email).order_by(Contact.id)))


@pytest.fixture(params=["in process", "reader process"])
def reading(request, monkeypatch):
    """Run the test with the file read here, then with it read in a second process (for big
    files): both must give the same outcome."""
    if request.param == "reader process":
        monkeypatch.setattr(importer, "READER_PROCESS_FROM_BYTES", 0)
    return request.param


def test_utf8_bom_and_crlf(app, db, tmp_path):
    job = run(app, db, tmp_path, b"\xef\xbb\xbfEmail,First Name\r\nann@example.org,Ann\r\n")
    assert (job.status, job.imported, job.rejected) == (ImportStatus.DONE, 1, 0)
    assert job.header == ["Email", "First Name"]  # the BOM is not part of the first name
    assert db.scalar(select(Contact.first_name)) == "Ann"


def test_excel_semicolons_with_quoted_newlines_keep_line_numbers(app, db, tmp_path):
    content = (
        "E-mail;Given name;Notes\r\n"
        '"ann@example.org";"Ann";"first line\r\nsecond line"\r\n'
        "not-an-email;Bob;plain\r\n"
        '"cy@example.org";"Cy;Jr";\r\n'
    )
    job = run(app, db, tmp_path, content, mapping={"Notes": "attributes.notes"})
    assert (job.imported, job.rejected) == (2, 1)
    assert rejects(db, job) == [
        [
            "4",
            "'not-an-email' is not a valid email address: An email address must have an @-sign.",
            "not-an-email",
            "Bob",
            "plain",
        ]
    ]
    ann = find_contact_by_email(db, "ann@example.org")
    assert ann.attributes == {"notes": "first line\r\nsecond line"}
    assert find_contact_by_email(db, "cy@example.org").first_name == "Cy;Jr"


def test_duplicates_in_the_file_and_in_the_database(app, db, tmp_path, reading):
    add_contact(db, "old@example.org", first_name="Old")
    content = "\n".join(
        [
            "email,first_name",
            "a@example.org,A",  # line 2
            "A@EXAMPLE.org,A again",  # same batch
            "b@example.org,B",
            "a@example.org,A thrice",  # a later batch
            "old@example.org,New",  # already in the database
        ]
    )
    job = run(app, db, tmp_path, content, batch_size=3)
    assert (job.imported, job.updated, job.rejected, job.rows_done) == (2, 0, 3, 5)
    assert [(line, reason) for line, reason, *_ in rejects(db, job)] == [
        ("3", "duplicate: the same email address is on line 2"),
        ("5", "duplicate: the same email address is earlier in this file"),
        ("6", "already in the database; import with 'update existing contacts' to change it"),
    ]
    assert find_contact_by_email(db, "old@example.org").first_name == "Old"
    assert emails(db) == ["old@example.org", "a@example.org", "b@example.org"]


def test_wrong_column_counts_and_bad_values_are_rejected_row_by_row(app, db, tmp_path, reading):
    content = (
        "email,role,graduation_year,birth_date,timezone\n"
        "a@example.org,student,2027,2011-04-05,America/Chicago\n"
        "b@example.org,student\n"
        "c@example.org,student,2027,2011-04-05,America/Chicago,extra\n"
        "d@example.org,astronaut,,,\n"
        "e@example.org,parent,soon,,\n"
        "f@example.org,teacher,,4/5/1980,Mars/Base\n"
        "g@example.org,,,31.12.1999,\n"
        ",student,,,\n"
        '=HYPERLINK("https://evil.example"),student,,,\n'
    )
    job = run(app, db, tmp_path, content)
    assert [(line, reason) for line, reason, *_ in rejects(db, job)] == [
        ("3", "expected 5 columns, found 2"),
        ("4", "expected 5 columns, found 6"),
        ("5", "unknown role 'astronaut'; use one of: student, parent, educator, employer, other"),
        ("6", "'soon' is not a year such as 2027"),
        ("7", "unknown time zone 'Mars/Base'; use a name such as America/Chicago"),
        ("8", "'31.12.1999' is not a date; write YYYY-MM-DD or M/D/YYYY"),
        ("9", "no email address"),
        (
            "10",
            "'=HYPERLINK(\"https://evil.example\")' is not a valid email address: "
            "An email address must have an @-sign.",
        ),
    ]
    # The report is opened in a spreadsheet: the bad cell cannot run as a formula there.
    assert rejects(db, job)[-1][2] == '\'=HYPERLINK("https://evil.example")'
    a = find_contact_by_email(db, "a@example.org")
    assert (a.role, a.graduation_year, a.birth_year, str(a.birth_date_latest)) == (
        ContactRole.STUDENT,
        2027,
        2011,
        "2011-04-05",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "contains a NUL byte: this is a binary file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "This is a spreadsheet workbook, not a CSV file"),
        (
            "email\na@example.org\nJos\xe9@example.org\n".encode("latin-1"),
            "Line 3 is not valid UTF-8",
        ),
        (b"\n\n\r\n", "no header row"),
        (b"email,Email\na@example.org,b@example.org\n", "names the column 'Email' twice"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_whole(db, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        create_import_job(db, path, "bad.csv")
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_header_only_file_imports_nothing(app, db, tmp_path):
    job = run(app, db, tmp_path, "email,first_name\r\n")
    assert (job.status, job.rows_done, job.imported) == (ImportStatus.DONE, 0, 0)


def test_mapping_mistakes_are_explained():
    header = ["Mail", "Name", "Other"]
    with pytest.raises(AudienceError, match="map one column to email"):
        check_mapping(header, {"Name": "first_name"})
    with pytest.raises(AudienceError, match="unknown field 'shoe' for column 'Other'"):
        check_mapping(header, {"Mail": "email", "Other": "shoe"})
    with pytest.raises(AudienceError, match="both mapped to email"):
        check_mapping(header, {"Mail": "email", "Other": "email"})
    with pytest.raises(AudienceError, match="no column named 'Nope'"):
        check_mapping(header, {"Nope": "email"})
    assert check_mapping(header, {"Mail": "email", "Name": "", "Other": "attributes.Other"}) == {
        "Mail": "email",
        "Other": "attributes.other",
    }


def test_update_fills_given_cells_merges_tags_and_records_consent_changes(
    app, db, tmp_path, reading
):
    first = run(
        app,
        db,
        tmp_path,
        "email,first_name,school,tags,consent_email,interest\n"
        "u@example.org,Uma,Lincoln High,career fair,yes,paint\n",
        mapping={"interest": "attributes.interest"},
        name="first.csv",
    )
    assert first.imported == 1
    second = run(
        app,
        db,
        tmp_path,
        "email,first_name,school,tags,consent_email,size\n"
        "U@Example.org,,Riverside,mentor|career fair,yes,large\n",
        mapping={"size": "attributes.size"},
        update=True,
        name="second.csv",
    )
    assert (second.imported, second.updated, second.rejected) == (0, 1, 0)
    contact = find_contact_by_email(db, "u@example.org")
    db.refresh(contact)
    assert (contact.first_name, contact.school) == ("Uma", "Riverside")  # empty cell kept Uma
    assert contact.attributes == {"interest": "paint", "size": "large"}
    assert contact.import_job_id == second.id
    tags = db.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact.id))
    assert sorted(tags) == ["career fair", "mentor"]
    consents = db.scalars(select(Consent).where(Consent.contact_id == contact.id)).all()
    assert [(c.status, c.import_job_id) for c in consents] == [(ConsentStatus.GRANTED, first.id)]
    third = run(
        app, db, tmp_path, "email,consent_email\nu@example.org,no\n", update=True, name="third.csv"
    )
    consents = db.scalars(select(Consent).where(Consent.contact_id == contact.id)).all()
    assert [c.status for c in consents] == [ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN]
    assert consents[1].source == f"import #{third.id}: third.csv"


def test_an_import_stopped_half_way_resumes_after_its_last_batch(app, db, tmp_path, reading):
    content = "email\n" + "".join(f"p{i}@example.org\n" for i in range(7)) + "p1@example.org\n"
    job = start(db, tmp_path, content)
    factory = app.extensions["database"].sessionmaker
    batches_seen = []

    def crash_after_two_batches(progress):
        batches_seen.append(progress.rows_done)
        if len(batches_seen) == 2:
            raise RuntimeError("power cut")

    stopped = run_import(factory, job.id, batch_size=3, progress=crash_after_two_batches)
    assert stopped.status is ImportStatus.FAILED
    assert "The import stopped after line 7: RuntimeError: power cut" in stopped.error
    assert (stopped.rows_done, stopped.imported) == (6, 6)
    with pytest.raises(AudienceError, match="is failed, not queued"):
        run_import(factory, job.id)
    db.expire_all()  # the job changed in the importer's sessions
    prepare_resume(db, db.get(ImportJob, job.id))
    db.commit()
    finished = run_import(factory, job.id, batch_size=3)
    assert (finished.status, finished.rows_done, finished.imported, finished.rejected) == (
        ImportStatus.DONE,
        8,
        7,
        1,
    )
    assert rejects(db, job)[0][:2] == [
        "9",
        "duplicate: the same email address is earlier in this file",
    ]
    assert len(emails(db)) == 7


REFUSE_BOOM = {
    "sqlite": [
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON contacts "
        "WHEN NEW.email = 'boom@example.org' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.email = 'boom@example.org' THEN RAISE EXCEPTION 'disk full'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON contacts "
        "FOR EACH ROW EXECUTE FUNCTION refuse_boom()",
    ],
}
DROP_BOOM = {
    "sqlite": ["DROP TRIGGER refuse_boom"],
    "postgresql": ["DROP TRIGGER refuse_boom ON contacts", "DROP FUNCTION refuse_boom()"],
}


def execute_all(db, statements: list[str]) -> None:
    for statement in statements:
        db.execute(text(statement))
    db.commit()


def test_a_batch_that_fails_in_the_database_leaves_nothing_half_written(app, db, tmp_path, reading):
    dialect = db.get_bind().dialect.name
    execute_all(db, REFUSE_BOOM[dialect])
    content = "email,consent_email\n" + "".join(
        f"{name}@example.org,yes\n" for name in ("a", "b", "c", "d", "boom")
    )
    job = run(app, db, tmp_path, content, batch_size=3)
    assert job.status is ImportStatus.FAILED and "disk full" in job.error
    assert emails(db) == ["a@example.org", "b@example.org", "c@example.org"]  # not d: same batch
    assert job.rows_done == 3
    # d's consent history went with it: the whole batch rolled back.
    assert db.scalar(select(func.count()).select_from(Consent)) == 3
    execute_all(db, DROP_BOOM[dialect])
    db.expire_all()  # the job changed in the importer's sessions
    prepare_resume(db, db.get(ImportJob, job.id))
    db.commit()
    done = run_import(app.extensions["database"].sessionmaker, job.id, batch_size=3)
    assert (done.status, done.imported) == (ImportStatus.DONE, 5)


def test_a_malformed_row_in_a_later_batch_stops_after_the_batches_before_it(
    app, db, tmp_path, reading
):
    # A reading error stops the import after the batches before it, which are kept whole.
    content = (
        "email\n"
        + "".join(f"r{i}@example.org\n" for i in range(7))
        + '"'
        + "x" * (csv.field_size_limit() + 1)
        + '"\n'
        + "late@example.org\n"
    )
    job = run(app, db, tmp_path, content, batch_size=3)
    assert job.status is ImportStatus.FAILED
    assert job.error.startswith("The file is malformed after line 7:")
    assert (job.rows_done, job.imported) == (6, 6)
    assert emails(db) == [f"r{i}@example.org" for i in range(6)]


def test_an_export_imports_again_as_it_was(app, db, tmp_path):
    original = add_contact(
        db,
        "rt@example.org",
        first_name="=HYPERLINK(1)",
        last_name="O'Neil",
        school="Lincoln High",
        graduation_year=2027,
        attributes={"interest": "paint, body"},
        consent_print=ConsentStatus.GRANTED,
    )
    db.add(ContactTag(contact_id=original.id, tag="mentor"))
    db.commit()
    fields = (
        "first_name",
        "last_name",
        "school",
        "graduation_year",
        "attributes",
        "consent_print",
        "consent_email",
    )
    before = [getattr(original, f) for f in fields]
    exported = "".join(export_contacts_csv(db))
    assert "'=HYPERLINK(1)" in exported  # defused for spreadsheets
    db.execute(delete(Contact))
    db.commit()
    job = run(app, db, tmp_path, exported)
    assert (job.imported, job.rejected) == (1, 0), rejects(db, job)
    again = find_contact_by_email(db, "rt@example.org")
    assert [getattr(again, f) for f in fields] == before
    assert list(db.scalars(select(ContactTag.tag).where(ContactTag.contact_id == again.id))) == [
        "mentor"
    ]


def test_cli_import_prints_the_summary(runner, db, tmp_path):
    add_contact(db, "known@example.org", first_name="Known")
    path = tmp_path / "people.csv"
    path.write_text(
        "Mail;Vorname\nnew@example.org;Neu\nknown@example.org;Bekannt\nbad;X\n", "utf-8"
    )
    result = runner.invoke(
        [
            "contacts",
            "import",
            str(path),
            "--mapping",
            "Mail=email",
            "-m",
            "Vorname=first_name",
            "--update",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "imported 1, updated 1, rejected 1" in result.output
    assert "campaign-manager contacts rejects" in result.output
    assert find_contact_by_email(db, "known@example.org").first_name == "Bekannt"
    job_id = db.scalar(select(ImportJob.id))
    report = runner.invoke(["contacts", "rejects", str(job_id)])
    assert report.output.splitlines()[1].startswith("4,'bad' is not a valid email address")


def test_cli_refuses_bad_files_and_resumes_by_number(runner, db, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = runner.invoke(["contacts", "import", str(empty)])
    assert result.exit_code == 1 and "The file is empty" in result.output
    result = runner.invoke(["contacts", "import", "--resume", "42"])
    assert result.exit_code == 1 and "there is no import #42" in result.output
    done = tmp_path / "done.csv"
    done.write_text("email\nz@example.org\n", "utf-8")
    assert runner.invoke(["contacts", "import", str(done)]).exit_code == 0
    result = runner.invoke(["contacts", "import", "--resume", str(db.scalar(select(ImportJob.id)))])
    assert result.exit_code == 1 and "only a failed or interrupted import resumes" in result.output


def test_a_running_import_whose_heartbeat_stopped_counts_as_interrupted(db):
    now = utcnow()
    job = ImportJob(filename="f.csv", path="/x", header=["email"], status=ImportStatus.RUNNING)
    job.started_at = job.heartbeat_at = now - timedelta(seconds=30)
    db.add(job)
    db.commit()
    assert not is_interrupted(job, now)
    with pytest.raises(AudienceError, match="only a failed or interrupted import resumes"):
        prepare_resume(db, job)
    job.heartbeat_at = now - timedelta(minutes=5)
    assert is_interrupted(job)
    assert prepare_resume(db, job).status is ImportStatus.QUEUED


MIXED_ROWS = [
    "email,first_name,role,birth_date,graduation_year,tags,consent_email,consent_print,notes",
    "a@example.org,Ana,student,2008-05-01,2026,open house|mentor,yes,,back\\slash",
    'b@example.org,"Ben\tTab",parent,,,,no,yes,"two\nlines"',
    "A@EXAMPLE.ORG,Again,,,,,,,",
    "not an address,X,,,,,,,",
    "c@example.org,Cy,pilot,,,,,,",
    "d@example.org,Di,educator,1/2/1980,,job fair,yes,no,",
    "old@example.org,Olaf,employer,,,,yes,,changed",
    "b@example.org,Ben later,,,,,,,",
    "e@example.org,Eve,,,,,maybe,,",
    "f@example.org,Fay,other,,,,unknown,,\\N",
    "short@example.org,Short",
]


def stored(db) -> dict[str, list]:
    """Everything an import stores, without ids, times and job numbers."""
    email_of = dict(db.execute(select(Contact.id, Contact.email)).all())
    skip = {"id", "created_at", "updated_at", "import_job_id"}
    contacts = [
        {k: v for k, v in row._mapping.items() if k not in skip}
        for row in db.execute(select(Contact.__table__).order_by(Contact.email))
    ]
    tags = sorted((email_of[c], t) for c, t in db.execute(select(ContactTag.__table__)))
    consents = sorted(
        (email_of[c.contact_id], c.channel.value, c.status.value, c.source.split(": ")[1])
        for c in db.scalars(select(Consent))
    )
    reports = [
        (r.line, r.reason, list(r.values), r.email_hash)
        for r in db.scalars(select(importer.ImportReject).order_by(importer.ImportReject.id))
    ]
    return {"contacts": contacts, "tags": tags, "consents": consents, "rejects": reports}


def test_the_reader_process_stores_exactly_what_reading_here_does(app, db, tmp_path, monkeypatch):
    content = "\n".join(MIXED_ROWS) + "\n"
    mapping = {"notes": "attributes.notes"}
    outcomes, results = [], []
    used = []
    in_reader = importer._checked_in_reader_process

    def counted(part):
        used.append(part.path.name)
        return in_reader(part)

    monkeypatch.setattr(importer, "_checked_in_reader_process", counted)
    for from_bytes in (1 << 40, 0):  # read here, then in the reader process
        monkeypatch.setattr(importer, "READER_PROCESS_FROM_BYTES", from_bytes)
        add_contact(db, "old@example.org", first_name="Old")
        db.commit()
        job = run(app, db, tmp_path, content, batch_size=4, mapping=mapping, update=True)
        outcomes.append((job.status, job.rows_done, job.imported, job.updated, job.rejected))
        results.append(stored(db))
        for model in (importer.ImportReject, Consent, ContactTag, Contact):
            db.execute(delete(model))
        db.commit()
    assert used == ["contacts.csv"]  # only the second run
    assert outcomes[0] == outcomes[1] == (ImportStatus.DONE, 11, 4, 1, 6)
    assert results[0] == results[1]
    contacts = {c["email"]: c for c in results[0]["contacts"]}
    assert contacts["a@example.org"]["attributes"] == {"notes": "back\\slash"}
    assert contacts["b@example.org"]["first_name"] == "Ben\tTab"
    assert contacts["f@example.org"]["attributes"] == {"notes": "\\N"}
