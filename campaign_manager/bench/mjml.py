"""`mjml`: compiling the demo's email templates with mjml-python, against the reference CLI.

Engine: `compile_mjml` (mjml-python, in-process) on every variant of the demo's emails,
each repeated `rounds` times. Baseline: the npm `mjml` CLI compiling the same sources,
written out as files and passed to one CLI call (so Node starts once; its start-up is
measured on its own and reported in the notes). The issue reports the ratio, with no goal.

The CLI is not a dependency: it is looked for in $CAMPAIGN_MANAGER_BENCH_MJML, then in
.bench/node_modules/.bin/mjml under the current folder (`npm install --prefix .bench mjml`),
then on PATH. Without it the baseline is reported unavailable, with how to get it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from campaign_manager.bench.environment import BenchContext
from campaign_manager.bench.harness import Row, progress, repeat, timed
from creatives.demo import demo_email_templates
from creatives.email import compile_mjml

NAME = "mjml"
FULL_ROUNDS = 200
REPEATS = 3
HOW_TO_GET_THE_CLI = (
    "the mjml CLI was not found: `npm install --prefix .bench mjml` in the folder you run "
    "the benchmark from, or set CAMPAIGN_MANAGER_BENCH_MJML to the mjml executable"
)


def find_mjml_cli() -> str | None:
    candidates = [
        os.environ.get("CAMPAIGN_MANAGER_BENCH_MJML", ""),
        str(Path.cwd() / ".bench" / "node_modules" / ".bin" / "mjml"),
        shutil.which("mjml") or "",
    ]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def demo_sources() -> list[str]:
    templates = demo_email_templates(
        "https://cm.example.org/media/paint-bay-web.jpg",
        "https://cm.example.org/p/collision-careers",
    )
    return [content.mjml for variants in templates.values() for content in variants.values()]


def run(ctx: BenchContext) -> list[Row]:
    sources = demo_sources()
    rounds = ctx.size(FULL_ROUNDS, minimum=2)
    work = sources * rounds
    progress(f"mjml: {len(work)} compilations with mjml-python")
    engine = repeat(lambda: [compile_mjml(source) for source in work], REPEATS)
    row = Row(
        benchmark=NAME,
        work=f"{len(sources)} demo templates x {rounds} = {len(work):,} compilations",
        size=len(work),
        unit="templates",
        engine=engine,
        baseline_name="mjml CLI (npm)",
    )
    cli = find_mjml_cli()
    if cli is None:
        row.baseline_name = "mjml CLI: unavailable"
        row.notes.append(HOW_TO_GET_THE_CLI)
        return [row]

    folder = ctx.scratch("mjml")
    inputs = []
    for number, source in enumerate(work):
        path = folder / f"template-{number:05d}.mjml"
        path.write_text(source, encoding="utf-8")
        inputs.append(str(path))
    output = folder / "out"
    output.mkdir()
    progress(f"mjml: the same {len(work)} compilations with {cli}")
    _cli(cli, inputs[:1], output)  # Node and the package load into the page cache
    row.baseline = repeat(lambda: _cli(cli, inputs, output), REPEATS)
    startup, _ = timed(lambda: _cli(cli, ["--version"], None))
    compiled = len(list(output.glob("*.html")))
    if compiled != len(work):
        raise RuntimeError(f"the mjml CLI wrote {compiled} of {len(work)} files")
    version = subprocess.run(  # noqa: S603 - our own arguments
        [cli, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()
    row.notes.append(
        f"CLI {' '.join(version)}; its start-up alone takes {startup * 1000:.0f} ms, "
        "included once per run; ratio < 1 means mjml-python is faster"
    )
    row.baseline_name = "mjml CLI (npm), one call"
    return [row]


def _cli(cli: str, arguments: list[str], output: Path | None) -> None:
    command = [cli, *arguments]
    if output is not None:
        command += ["-o", f"{output}/"]
    subprocess.run(command, capture_output=True, check=True)  # noqa: S603 - our own arguments
