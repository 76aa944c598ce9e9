"""`campaign-manager bench` at a tiny scale: the report's shape, and that nothing is left behind.

No timing is asserted here: the figures are what the command is for, not what it is tested on.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_manager.bench import environment
from campaign_manager.bench.environment import BENCH_DATABASE_PREFIX, leftover_bench_databases
from campaign_manager.cli import cli
from tests.conftest import PG_URL

TINY = "0.001"
COLUMNS = {"benchmark", "work", "size", "engine", "baseline", "ratio", "goal", "skipped"}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the benchmarks make their temporary files in, empty at the start."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.delenv("CAMPAIGN_MANAGER_BENCH_DATABASE_URL", raising=False)
    return folder


def bench(*args: str):
    result = CliRunner().invoke(cli, ["bench", *args], catch_exceptions=False)
    return result


def test_sqlite_benchmarks_report_every_column_and_clean_up(scratch: Path, tmp_path: Path):
    report = tmp_path / "report.json"
    result = bench("email", "print", "mjml", "scheduler", "--scale", TINY, "--json", str(report))
    assert result.exit_code == 0, result.output

    data = json.loads(report.read_text())
    assert data["scale"] == float(TINY) and data["postgresql"] is False
    rows = {row["benchmark"]: row for row in data["results"]}
    assert set(rows) == {"email", "print", "mjml", "scheduler"}
    for row in data["results"]:
        assert set(row) >= COLUMNS, row
        assert row["failed"] is False and row["skipped"] == "", row
        assert row["size"] > 0, row
        assert row["goal"] is None or row["goal"]["met"] in (True, False, None), row

    # The engine and its baseline did the same work, and both were timed.
    email = rows["email"]
    assert email["size"] == 20 and email["unit"] == "emails"
    assert len(email["baseline"]["samples_s"]) == 3 and email["ratio"] > 0
    assert rows["print"]["engine"]["median_s"] > 0 and rows["print"]["baseline"]["median_s"] > 0
    assert set(rows["scheduler"]["latency"]) == {"p50", "p99"}
    assert rows["scheduler"]["engine"] is None and rows["scheduler"]["baseline"] is None
    mjml = rows["mjml"]
    assert mjml["baseline"] is not None or any("npm install" in n for n in mjml["notes"])

    # The table on stdout has one line per row, with the verdicts.
    lines = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| benchmark | work | time | rate | baseline")
    assert [line.split(" | ")[0].strip("| ") for line in lines[1:]] == [
        "email", "print", "mjml", "scheduler"
    ]  # fmt: skip
    assert "PASS" in result.output or "MISS" in result.output

    # The temporary databases, instance folders and files are gone.
    assert [p.name for p in scratch.iterdir()] == []


def test_postgresql_benchmarks_are_skipped_with_a_message_without_a_server(scratch: Path):
    result = bench("segments", "import", "materialize", "web", "--scale", TINY)
    assert result.exit_code == 0
    assert "the PostgreSQL-only benchmarks will be skipped" in result.output
    for name in ("segments", "import", "materialize", "web"):
        assert f"- {name}: skipped: needs PostgreSQL: pass --database-url" in result.output
    assert [p.name for p in scratch.iterdir()] == []


def test_unknown_benchmark_names_are_refused():
    result = bench("emails")
    assert result.exit_code == 2
    assert "unknown benchmark emails; choose from email, segments" in result.output


@pytest.mark.postgresql_only
def test_postgresql_benchmarks_on_fresh_databases_that_are_dropped(
    db_backend: str, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # This run's databases get a prefix of their own, so a benchmark someone else runs on
    # the same server meanwhile cannot pass for a leftover of this one.
    prefix = f"{BENCH_DATABASE_PREFIX}t{secrets.token_hex(3)}_"
    monkeypatch.setattr(environment, "BENCH_DATABASE_PREFIX", prefix)
    report = tmp_path / "report.json"
    result = bench(
        "segments", "import", "materialize", "web",
        "--scale", TINY, "--database-url", PG_URL, "--json", str(report),
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    rows = json.loads(report.read_text())["results"]
    assert [row["benchmark"] for row in rows] == [
        "segments", "segments", "import", "materialize", "web", "web", "web", "web"
    ]  # fmt: skip
    for row in rows:
        assert row["failed"] is False and row["skipped"] == "", row
    segments = [row for row in rows if row["benchmark"] == "segments"]
    assert all(row["ratio"] > 0 and len(row["engine"]["samples_s"]) == 11 for row in segments)
    import_row = next(row for row in rows if row["benchmark"] == "import")
    assert import_row["size"] == 1000 and import_row["rate_per_s"] > 0
    web = [row for row in rows if row["benchmark"] == "web"]
    assert all(set(row["latency"]) == {"p50", "p95"} and row["size"] > 0 for row in web)

    assert leftover_bench_databases(PG_URL) == [], "left behind"
    assert [p.name for p in scratch.iterdir()] == []
