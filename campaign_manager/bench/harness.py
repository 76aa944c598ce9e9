"""What every benchmark shares: timing with repetitions, the result rows, and the report.

A benchmark is a function `run(ctx: BenchContext) -> list[Row]`. It prepares its own data
in fresh databases (see `environment.py`), measures the engine and a baseline doing the same
work in the same run, and says whether the goal from issue 8 was met.

The ratio is always *engine time / baseline time* for the same work: 1.0 is as fast as the
baseline, 2.0 takes twice as long. A goal phrased as a share of the baseline's rate (e.g.
"at least 0.5 of the baseline's emails per second") is the same as a ratio of at most 2.0.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# --- timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds taken by each repetition of one piece of work."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Slowest minus fastest repetition (0 for a single run)."""
        return max(self.samples) - min(self.samples)

    def text(self) -> str:
        if len(self.samples) == 1:
            return seconds_text(self.median)
        half = seconds_text(self.spread / 2)
        return f"{seconds_text(self.median)} ±{half} (n={len(self.samples)})"


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """Run `work` once; return (seconds, what it returned)."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def repeat(
    work: Callable[[], Any], times: int, *, before_each: Callable[[], Any] | None = None
) -> Timing:
    """Time `work` `times` times; `before_each` (untimed) resets what the work changed."""
    samples = []
    for _ in range(times):
        if before_each is not None:
            before_each()
        seconds, _ = timed(work)
        samples.append(seconds)
    return Timing(tuple(samples))


def repeat_pair(
    engine: Callable[[], Any], baseline: Callable[[], Any], times: int
) -> tuple[Timing, Timing]:
    """Time the engine and the baseline `times` times each, alternating, so a change in the
    machine's load during the run falls on both alike."""
    engine_samples, baseline_samples = [], []
    for _ in range(times):
        engine_samples.append(timed(engine)[0])
        baseline_samples.append(timed(baseline)[0])
    return Timing(tuple(engine_samples)), Timing(tuple(baseline_samples))


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- results -------------------------------------------------------------------------------


@dataclass
class Goal:
    """The target from the issue, and whether this run met it (None: cannot be judged)."""

    text: str
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "n/a"}[self.met]


@dataclass
class Row:
    """One line of the report."""

    benchmark: str
    work: str  # what was done, e.g. "2,000 emails"
    size: int = 0
    unit: str = ""
    engine: Timing | None = None
    # Some benchmarks report latencies instead of one time per repetition.
    latency: dict[str, float] = field(default_factory=dict)
    baseline_name: str = ""
    baseline: Timing | None = None
    goal: Goal | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str = ""  # why it did not run, shown instead of figures
    failed: bool = False  # it ran and broke: `skipped` holds the error

    @property
    def rate(self) -> float | None:
        if self.engine is None or not self.size or self.engine.median <= 0:
            return None
        return self.size / self.engine.median

    @property
    def ratio(self) -> float | None:
        if self.engine is None or self.baseline is None or self.baseline.median <= 0:
            return None
        return self.engine.median / self.baseline.median

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("engine", "baseline"):
            timing = getattr(self, key)
            data[key] = (
                None
                if timing is None
                else {
                    "median_s": timing.median,
                    "spread_s": timing.spread,
                    "samples_s": list(timing.samples),
                }
            )
        data["rate_per_s"] = self.rate
        data["ratio"] = self.ratio
        data["goal"] = None if self.goal is None else {"text": self.goal.text, "met": self.goal.met}
        return data


def skipped(benchmark: str, reason: str) -> Row:
    return Row(benchmark=benchmark, work="", skipped=reason)


# --- the report ----------------------------------------------------------------------------

COLUMNS = ("benchmark", "work", "time", "rate", "baseline", "baseline time", "ratio", "goal", "")


def _cells(row: Row) -> list[str]:
    if row.skipped:
        return [row.benchmark, "FAILED" if row.failed else "skipped", "", "", "", "", "", "", ""]
    if row.latency:
        time_cell = ", ".join(f"{k} {seconds_text(v)}" for k, v in row.latency.items())
    else:
        time_cell = row.engine.text() if row.engine else ""
    rate = row.rate
    ratio = row.ratio
    return [
        row.benchmark,
        row.work,
        time_cell,
        f"{rate:,.0f} {row.unit}/s" if rate is not None else "",
        row.baseline_name,
        row.baseline.text() if row.baseline else "",
        _ratio_text(ratio),
        row.goal.text if row.goal else "",
        row.goal.verdict if row.goal else "",
    ]


def _ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def markdown_table(rows: Sequence[Row]) -> str:
    """The report as a Markdown table (readable in a terminal too), then the notes."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    notes = []
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in _cells(row)) + " |")
        if row.skipped:
            label = "failed" if row.failed else "skipped"
            notes.append(f"- {row.benchmark}: {label}: {row.skipped}")
        notes.extend(f"- {row.benchmark}: {note}" for note in row.notes)
    return "\n".join(lines + (["", *notes] if notes else []))


def write_json(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    path.write_text(
        json.dumps({**meta, "results": [row.as_json() for row in rows]}, indent=2) + "\n",
        encoding="utf-8",
    )


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
