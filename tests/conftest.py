"""Fixtures for the whole suite: app, db, client, runner, and the backends behind them.

Every test that uses the database runs on SQLite, and on PostgreSQL too when
CAMPAIGN_MANAGER_TEST_DATABASE_URL is set (each test run gets its own fresh database).
The `db` session is for the test's own setup and checks. On SQLite it runs every statement
as its own transaction, so it never holds the write lock the app needs (the app's sessions
take it at BEGIN, see core/db.py) and always reads what the app last committed.

With CAMPAIGN_MANAGER_TEST_STRICT=1 (CI), a missing PostgreSQL or browser fails the run
instead of being skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from campaign_manager.app import create_app
from campaign_manager.cli import cli
from campaign_manager.core.db import Database, make_engine
from campaign_manager.migrations import upgrade_database
from campaign_manager.models import metadata

PG_URL = os.environ.get("CAMPAIGN_MANAGER_TEST_DATABASE_URL", "")
STRICT = os.environ.get("CAMPAIGN_MANAGER_TEST_STRICT", "") == "1"
TEST_SECRET = "test-secret-key-that-is-long-enough"
TEST_PASSWORD = "test-password-123"

QUIET_HOURS_OFF = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on SQLite only, even with PostgreSQL set")
    config.addinivalue_line(
        "markers", "postgresql_only: needs PostgreSQL (several processes share one database)"
    )
    if STRICT and not PG_URL:
        raise pytest.UsageError(
            "CAMPAIGN_MANAGER_TEST_STRICT=1 but CAMPAIGN_MANAGER_TEST_DATABASE_URL is not set"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if PG_URL and not metafunc.definition.get_closest_marker("sqlite_only"):
            backends.append("postgresql")
        if metafunc.definition.get_closest_marker("postgresql_only"):
            # Without PostgreSQL the test is reported as not run ("empty parameter set");
            # CI sets CAMPAIGN_MANAGER_TEST_STRICT, which refuses to start without it.
            backends = ["postgresql"] if PG_URL else []
        metafunc.parametrize("db_backend", backends, scope="session")


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new database on the test server for this run, migrated, dropped at the end."""
    if not PG_URL:
        pytest.fail("PostgreSQL tests need CAMPAIGN_MANAGER_TEST_DATABASE_URL")
    server = make_url(PG_URL)
    name = f"cm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - only when the server is missing
        pytest.fail(
            f"cannot create a test database on {server.render_as_string(hide_password=True)}: {exc}"
        )
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade_database(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # APScheduler's job store is not in our metadata; a test may have created it.
        connection.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
    engine.dispose()


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if db_backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        yield url
        _empty_postgres(url)


# --- app, db, client, runner ------------------------------------------------------------


class Client(FlaskClient):
    """A test client that signs in through the real form and sends CSRF tokens like a browser."""

    csrf_token: str = ""

    def fetch_csrf_token(self, path: str) -> str:
        page = self.get(path, follow_redirects=True).get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, f"no CSRF token on {path}"
        self.csrf_token = match.group(1)
        return self.csrf_token

    def login(self, email: str, password: str = TEST_PASSWORD) -> None:
        token = self.fetch_csrf_token("/login")
        response = self.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, f"login as {email} failed: {response.status_code}"
        # Signing in starts a new session, and with it a new CSRF token.
        self.fetch_csrf_token("/settings/")

    def post_form(self, path: str, data: dict | None = None, **kwargs):
        return self.post(path, data={**(data or {}), "csrf_token": self.csrf_token}, **kwargs)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "app": {
                "instance_path": str(tmp_path / "instance"),
                "secret_key": TEST_SECRET,
                "base_url": "https://cm.example.org",
                "postal_address": "Collision Careers Coalition, 1200 Main St, Columbus, OH 43215",
            },
            "database": {"url": database_url},
            # Tests send at whatever hour they run: quiet hours (21:00-08:00 in the
            # recipient's timezone by default) would hold real-time sends until morning.
            # The tests of quiet hours set them with a fixed clock.
            "delivery": QUIET_HOURS_OFF,
        }
    )
    app.config.update(TESTING=True)
    app.test_client_class = Client
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def db(app: Flask, database_url: str) -> Iterator[Session]:
    """A session on the test database; the test commits what it wants the app to see."""
    database = Database(database_url, sqlite_autocommit=True, storage=app.extensions["storage"])
    session = database.session()
    yield session
    session.rollback()
    session.close()
    database.dispose()


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()


class Runner:
    """Invokes `campaign-manager` commands against the test app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.cli_runner = CliRunner()

    def invoke(self, args: list[str], input: str | None = None) -> Result:
        return self.cli_runner.invoke(cli, args, input=input, obj=self.app, catch_exceptions=False)


@pytest.fixture
def runner(app: Flask) -> Runner:
    return Runner(app)


# --- people -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_password_hash() -> str:
    """TEST_PASSWORD hashed once per run: argon2 is slow on purpose."""
    from campaign_manager.core.security import hash_password

    return hash_password(TEST_PASSWORD)


@pytest.fixture
def users(db: Session, test_password_hash: str):
    """One user per role (vendor users belong to a vendor), all with TEST_PASSWORD.

    Made directly with the shared hash; `create_user` itself is tested in tests/core.
    """
    from campaign_manager.core.accounts import Role, User, create_vendor

    vendor = create_vendor(db, "Test Print Co", "print@example.org")
    people = {}
    for role in Role:
        people[role.value] = User(
            email=f"{role.value}@example.org",
            password_hash=test_password_hash,
            role=role,
            vendor=vendor if role is Role.VENDOR else None,
        )
        db.add(people[role.value])
    db.commit()
    return people


# --- channels ---------------------------------------------------------------------------


@pytest.fixture
def instance_path(app: Flask) -> Path:
    return app.extensions["settings"].instance_dir


@pytest.fixture
def make_account(db: Session):
    """Create and commit a channel account through the real service."""
    from campaign_manager.channels.accounts import create_account

    def make(adapter: str, settings=None, credentials=None, name: str | None = None):
        account = create_account(
            db,
            adapter=adapter,
            display_name=name or f"Test {adapter}",
            settings=settings or {},
            credentials=credentials or {},
        )
        db.commit()
        return account

    return make


# --- browser ----------------------------------------------------------------------------

CHROMIUM = os.environ.get("CAMPAIGN_MANAGER_TEST_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium tries to reach Google's services and this closed network
# refuses them, many at a time.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if STRICT:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app served over real HTTP on a free port, in a thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
