"""Run the reliability suite several times and sum up what the fault-injection scenarios
recorded, as the table in docs/reliability.md.

    CAMPAIGN_MANAGER_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python -m tests.reliability.repeat --runs 5 [-- extra pytest arguments]

Each run is a plain `python -m pytest -m reliability`; every scenario appends its figures
(rows by status, what was lost, the faults injected) to a JSON-lines file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--figures", type=Path, help="JSON-lines file to add to (default: a new temporary one)"
    )
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    figures_file = args.figures or Path(tempfile.mkdtemp()) / "figures.jsonl"
    env = {**os.environ, "CAMPAIGN_MANAGER_RELIABILITY_FIGURES": str(figures_file)}
    outcomes = []
    for run in range(1, args.runs + 1):
        command = [sys.executable, "-m", "pytest", "-m", "reliability", "-q", *args.pytest_args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        outcomes.append(result.returncode)
        print(f"run {run}: {summary}", flush=True)
        if result.returncode:
            print(result.stdout[-5000:], file=sys.stderr)
    print_table(figures_file)
    print(f"\n{outcomes.count(0)} of {len(outcomes)} runs passed; figures in {figures_file}")
    return 1 if any(outcomes) else 0


def print_table(figures_file: Path) -> None:
    runs: Counter[str] = Counter()
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    faults: dict[str, Counter[str]] = defaultdict(Counter)
    lines = figures_file.read_text().splitlines() if figures_file.exists() else []
    for line in lines:
        record = json.loads(line)
        name = record.pop("scenario")
        runs[name] += 1
        statuses[name].update(record.pop("statuses"))
        record.pop("lost")
        for key, value in record.items():
            if isinstance(value, dict):
                faults[name].update({f"{key}: {k}": v for k, v in value.items()})
            else:
                faults[name][key] += value
    print(
        "\n| Scenario | Runs | Deliveries | Sent | Uncertain | Skipped | Lost (failed, pending)"
        " | Faults injected (total) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in sorted(runs):
        s = statuses[name]
        lost = s["failed"] + s["pending"] + s["sending"]
        injected = ", ".join(f"{k} {v}" for k, v in sorted(faults[name].items()))
        print(
            f"| {name} | {runs[name]} | {sum(s.values())} | {s['sent']} | {s['uncertain']} "
            f"| {s['skipped'] + s['suppressed']} | {lost} | {injected} |"
        )


if __name__ == "__main__":
    sys.exit(main())
