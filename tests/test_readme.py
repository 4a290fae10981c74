from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_two_commands_and_ci_runs_the_test_one_verbatim():
    commands = _quick_start_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert "pip install torch==2.13.0" in main_job and "g2l-optimize" in main_job
    assert "pip install torch==2.13.0" in tests and "pytest" in tests
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines
