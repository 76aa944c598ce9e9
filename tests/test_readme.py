from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    first, second = (line.strip() for line in (ROOT / "README.md").read_text().splitlines()[:2])
    assert first.endswith("campaign-manager demo")
    assert "pytest" in second
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert second in ci_lines
