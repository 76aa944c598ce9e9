"""`campaign-manager bench`: honest, repeatable speed figures, each next to a same-run baseline.

One module per benchmark (its `run(ctx)` returns report rows); `harness.py` times and
reports, `environment.py` makes and removes the databases. The sizes are the issue's real
sizes times `--scale` (default `DEFAULT_SCALE`); see docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import importlib
import shutil
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from campaign_manager.bench.environment import BenchContext
from campaign_manager.bench.harness import Row, progress, skipped

DEFAULT_SCALE = 0.05


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str  # campaign_manager.bench.<module>, with run(ctx) -> list[Row]
    needs_postgres: bool
    summary: str


BENCHMARKS = (
    Benchmark("email", "email", False, "emails through the whole engine vs smtplib"),
    Benchmark("segments", "segments", True, "segment counts vs hand-written SQL"),
    Benchmark("import", "importing", True, "CSV import vs COPY"),
    Benchmark("materialize", "materializing", True, "deliveries for one step vs INSERT … SELECT"),
    Benchmark("print", "printing", False, "co-branded flyers vs plain WeasyPrint"),
    Benchmark("mjml", "mjml", False, "mjml-python vs the mjml CLI"),
    Benchmark("scheduler", "scheduler", False, "lateness of due steps"),
    Benchmark("web", "web", True, "pages under load behind gunicorn"),
)
NAMES = tuple(b.name for b in BENCHMARKS)


def run_benchmarks(
    names: Sequence[str],
    *,
    scale: float,
    postgres_server: str | None,
    on_row: Callable[[Row], None] | None = None,
) -> tuple[list[Row], BenchContext]:
    """Run the named benchmarks (all when empty) in order; a failure becomes a row, not a crash.

    Everything is made in a scratch folder removed at the end, and in databases dropped
    as each benchmark ends.
    """
    chosen = [b for b in BENCHMARKS if not names or b.name in names]
    workdir = Path(tempfile.mkdtemp(prefix="cm-bench-"))
    ctx = BenchContext(scale=scale, postgres_server=postgres_server, workdir=workdir)
    rows: list[Row] = []
    try:
        for benchmark in chosen:
            if benchmark.needs_postgres and not postgres_server:
                new = [
                    skipped(
                        benchmark.name,
                        "needs PostgreSQL: pass --database-url postgresql+psycopg://USER@HOST/DB "
                        "or set CAMPAIGN_MANAGER_BENCH_DATABASE_URL",
                    )
                ]
            else:
                progress(f"{benchmark.name}: starting (scale {scale:g})")
                module = importlib.import_module(f"campaign_manager.bench.{benchmark.module}")
                try:
                    new = module.run(ctx)
                except Exception as exc:
                    traceback.print_exc()
                    new = [
                        Row(
                            benchmark.name,
                            "",
                            skipped=f"{type(exc).__name__}: {exc}",
                            failed=True,
                        )
                    ]
            rows.extend(new)
            for row in new:
                if on_row:
                    on_row(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        # WeasyPrint removes its font folders in temp when its objects are collected.
        gc.collect()
    return rows, ctx
