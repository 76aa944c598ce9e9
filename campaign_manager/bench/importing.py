"""`import`: a contacts CSV through the importer, on PostgreSQL.

Engine: the importer as `campaign-manager contacts import` runs it (check the file, map the
columns, then batches that validate every row, deduplicate, write contacts and their
consent history in one transaction each). Baseline: PostgreSQL `COPY` of the same file
into an unindexed table of text columns. Goal: at least 20,000 rows per second.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from audiences.importer import create_import_job, queue_import, run_import
from audiences.models import ImportStatus
from campaign_manager.bench.data import CSV_HEADER, write_contacts_csv
from campaign_manager.bench.environment import BenchContext, database_of
from campaign_manager.bench.harness import Goal, Row, Timing, progress, repeat, timed

NAME = "import"
FULL_SIZE = 1_000_000
BASELINE_REPEATS = 3
GOAL_ROWS_PER_SECOND = 20_000


def run(ctx: BenchContext) -> list[Row]:
    count = ctx.size(FULL_SIZE, minimum=100)
    path = ctx.scratch("import") / "contacts.csv"
    write_contacts_csv(path, count, ctx.seed)
    with ctx.app("postgresql") as app:
        database = database_of(app)
        progress(f"import: {count:,} rows through the importer")
        with database.transaction() as session:
            job, preview = create_import_job(session, path, path.name)
            queue_import(session, job, preview.mapping, update_existing=False)
            job_id = job.id
        seconds, finished = timed(lambda: run_import(database.sessionmaker, job_id))
        if finished.status is not ImportStatus.DONE or finished.imported != count:
            raise RuntimeError(
                f"the import ended {finished.status.value}: imported {finished.imported} of "
                f"{count}, rejected {finished.rejected} {finished.error}"
            )

        progress("import: COPY of the same file")
        columns = ", ".join(f"{name} text" for name in CSV_HEADER)
        with database.engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE bench_copy ({columns})"))
        baseline = repeat(
            lambda: _copy(database, path),
            BASELINE_REPEATS,
            before_each=lambda: _truncate(database),
        )
    path.unlink()
    row = Row(
        benchmark=NAME,
        work=f"{count:,} CSV rows",
        size=count,
        unit="rows",
        engine=Timing((seconds,)),
        baseline_name="COPY into an unindexed table",
        baseline=baseline,
    )
    rate = row.rate or 0
    row.goal = Goal(f"≥ {GOAL_ROWS_PER_SECOND:,} rows/s", rate >= GOAL_ROWS_PER_SECOND)
    return [row]


def _copy(database, path: Path) -> None:
    with database.engine.begin() as connection:
        driver = connection.connection.driver_connection
        with (
            driver.cursor() as cursor,
            cursor.copy("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as file,
        ):
            while block := file.read(1 << 20):
                copy.write(block)


def _truncate(database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE bench_copy"))
