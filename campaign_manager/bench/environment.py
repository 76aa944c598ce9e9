"""Fresh databases and apps for one benchmark, created on entry and removed on exit.

SQLite benchmarks get a temporary file; PostgreSQL ones get a new database
(`cm_bench_<random>`) on the server of --database-url, dropped afterwards even when the
benchmark fails. Nothing is left behind: the test in tests/test_bench.py checks that.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from campaign_manager.core.db import Database, make_engine
from campaign_manager.migrations import upgrade_database

BENCH_DATABASE_PREFIX = "cm_bench_"
# The benchmark data is made up; the key only has to be long enough for the app to start.
BENCH_SECRET = "campaign-manager-benchmark-secret-" + "x" * 16


@dataclass
class BenchContext:
    """What every benchmark gets: the scale, the PostgreSQL server if any, a scratch folder."""

    scale: float
    postgres_server: str | None
    workdir: Path
    seed: int = 8
    # Database names created in this run (removed again at the end): for the tests.
    databases_created: list[str] = field(default_factory=list)

    def size(self, full: int, *, minimum: int = 1) -> int:
        """`full` (the issue's real size) times the scale, at least `minimum`."""
        return max(minimum, round(full * self.scale))

    def scratch(self, name: str) -> Path:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @contextmanager
    def database(self, backend: str) -> Iterator[str]:
        """A fresh, migrated database ("sqlite" or "postgresql"); yields its URL."""
        if backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="cm-bench-sqlite-", dir=self.workdir))
            try:
                url = f"sqlite:///{folder / 'bench.sqlite3'}"
                _migrate(url)
                yield url
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        if self.postgres_server is None:
            raise RuntimeError("no PostgreSQL server: pass --database-url")
        with fresh_postgres_database(self.postgres_server) as url:
            self.databases_created.append(make_url(url).database or "")
            _migrate(url)
            yield url

    @contextmanager
    def app(self, backend: str, **overrides: dict) -> Iterator[Flask]:
        """The real app on a fresh database, with settings fit for measuring.

        Quiet hours and the frequency cap are off, so every eligible email is due at once
        whatever the time of day the benchmark runs.
        """
        from campaign_manager.app import create_app

        with self.database(backend) as url:
            instance = Path(tempfile.mkdtemp(prefix="cm-bench-instance-", dir=self.workdir))
            config = {
                "app": {
                    "instance_path": str(instance),
                    "secret_key": BENCH_SECRET,
                    "base_url": "https://cm.example.org",
                    "postal_address": "Collision Careers Coalition, 1200 Main St, Columbus, OH",
                    "log_level": "WARNING",
                },
                "database": {"url": url, "pool_size": 10},
                "delivery": {
                    "quiet_hours_start": "00:00",
                    "quiet_hours_end": "00:00",
                    "frequency_cap_per_7_days": 0,
                    "batch_size": 200,
                },
            }
            for section, values in overrides.items():
                config.setdefault(section, {}).update(values)
            app = create_app(config)
            try:
                yield app
            finally:
                app.extensions["database"].dispose()
                shutil.rmtree(instance, ignore_errors=True)


def database_of(app: Flask) -> Database:
    return app.extensions["database"]


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new empty database on `server_url`'s server; dropped (WITH FORCE) on exit."""
    server = make_url(server_url)
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    name = BENCH_DATABASE_PREFIX + secrets.token_hex(6)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def leftover_bench_databases(server_url: str) -> list[str]:
    """Benchmark databases still on the server (there should be none after a run)."""
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return list(
                connection.scalars(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"),
                    {"prefix": BENCH_DATABASE_PREFIX + "%"},
                )
            )
    finally:
        admin.dispose()
