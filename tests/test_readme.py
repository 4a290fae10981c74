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


def test_main_job_steps_parse_and_their_files_exist():
    import shlex

    from g2l_automl.cli._main import build_parser

    main_job = _quick_start_commands()[0]
    steps = [shlex.split(step) for step in main_job.split("&&")]
    ours = [step[1:] for step in steps if step[0] == "g2l-optimize"]
    assert [step[0] for step in ours] == ["make-synthetic", "search", "refine", "compare", "report"]
    parsed = [build_parser().parse_args(argv) for argv in ours]
    for args in parsed:
        if args.command in ("search", "refine", "compare"):
            assert (ROOT / args.config).is_file()
    _, search, refine, compare, report = parsed
    assert (refine.storage, refine.study_name) == (search.storage, search.study_name)
    assert (compare.storage, compare.study_name) == (search.storage, search.study_name)
    assert compare.config == search.config and compare.seeds >= 3
    assert (report.storage, report.study_name) == (search.storage, [search.study_name])
    create = next(step for step in steps if step[:2] == ["optuna", "create-study"])
    search = build_parser().parse_args(ours[1])
    assert create[create.index("--storage") + 1] == search.storage
    assert create[create.index("--study-name") + 1] == search.study_name
