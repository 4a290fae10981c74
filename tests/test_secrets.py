"""A storage password never reaches the terminal, a file or the study: every path that shows or stores a storage
URL is run with a URL that carries one (the CI's PostgreSQL trusts any password, so the URLs really connect)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml
from optuna.trial import create_trial

from g2l_automl.cli import main
from g2l_automl.data import generate
from g2l_automl.search import display_url, hide_password
from g2l_automl.structure import StructureSpec

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "studies" / "synthetic-tiny.yaml"
OPTUNA = str(Path(sys.executable).parent / "optuna")
OPTUNA = OPTUNA if Path(OPTUNA).exists() else shutil.which("optuna") or "optuna"
SECRET = "Hunter2-xyzzy"


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.rsplit("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{SECRET}@{host}"


def _masked(url: str) -> str:
    return url.replace(SECRET, "***")


def _name() -> str:
    return f"secret-{uuid.uuid4().hex[:8]}"


def _no_secret_anywhere(*texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert SECRET not in text
    for path in folder.rglob("*") if folder else ():
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://g2l:s3cret@db:5432/x", "postgresql://g2l:***@db:5432/x"),
        ("postgresql+psycopg://a:p%40ss@h/db", "postgresql+psycopg://a:***@h/db"),
        ("mysql+pymysql://u:p@ss/w@h/db", "mysql+pymysql://u:***@h/db"),  # raw @ and / in the password
        ("postgresql://u@h/db?sslmode=require&password=s3cret&x=1", "postgresql://u@h/db?sslmode=require&password=***&x=1"),
        ("postgresql://u:@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),  # a path, not a user:password
        ("search.log", "search.log"),
    ],
)  # fmt: skip
def test_display_url_masks_every_password_form(url, shown):
    assert display_url(url) == shown


def test_hide_password_masks_the_url_and_the_bare_password_raw_or_decoded():
    url = "postgresql://a:p%40ss@h/db"
    text = hide_password(f"cannot open {url}: password p@ss or p%40ss refused", url)
    assert text == "cannot open postgresql://a:***@h/db: password *** or *** refused"
    assert hide_password("nothing to hide", "search.log") == "nothing to hide"


def test_the_documented_postgresql_url_selects_an_installed_driver():
    # README: `optuna create-study --storage postgresql://g2l:PW@db-host/g2l`; SQLAlchemy imports the driver
    # that the plain form selects when the engine is made (no connection yet), which fails without it
    engine = sqlalchemy.create_engine("postgresql://g2l:PW@db-host/g2l")
    assert engine.dialect.driver == "psycopg"
    readme = (ROOT / "README.md").read_text()
    assert "optuna create-study --storage postgresql://g2l:PW@db-host/g2l" in readme


def test_search_banner_report_and_files_hide_the_password(postgres_url, tiny_data, tmp_path, capsys):
    assert postgres_url.startswith("postgresql://")  # the README's form, as the CI's PostgreSQL serves it
    url, name = _with_password(postgres_url), _name()
    created = subprocess.run(
        [OPTUNA, "create-study", "--storage", url, "--study-name", name, "--direction", "maximize"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    out = tmp_path / "out"
    argv = ["search", "--storage", url, "--study-name", name, "--config", str(TINY), "--data", str(tiny_data),
            "--n-trials", "1", "--seed", "0", "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert f"study {name!r} in {_masked(url)}: sampler g2l" in printed.out
    assert main(["report", "--storage", url, "--study-name", name, "--out", str(out / "r.html")]) == 0
    printed2 = capsys.readouterr()
    assert (out / "r.html").exists() and (out / "best_structure.json").exists()
    study = optuna.load_study(study_name=name, storage=url)
    _no_secret_anywhere(
        printed.out, printed.err, printed2.out, printed2.err, json.dumps(study.user_attrs, default=str), folder=out
    )


def test_missing_study_hint_hides_the_password(postgres_url, capsys):
    url = _with_password(postgres_url)
    assert main(["report", "--storage", url, "--study-name", "no-such-study"]) == 2
    err = capsys.readouterr().err
    assert f"optuna create-study --storage {_masked(url)} --study-name no-such-study" in err
    _no_secret_anywhere(err)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}@127.0.0.1:1/none",  # nothing listens there
        f"postgresql://u:{SECRET}@127.0.0.1:notaport/none",  # SQLAlchemy cannot parse it
        f"postgresql+nodriver://u:{SECRET}@127.0.0.1/none",  # no such driver
        f"postgresql://u@127.0.0.1:1/none?password={SECRET}",  # libpq's query form
    ],
)
def test_connection_errors_hide_the_password(url, tmp_path, capsys):
    for command in (["report", "--out", str(tmp_path / "r.html")], ["search", "--config", str(TINY)]):
        assert main([command[0], "--storage", url, "--study-name", "s", *command[1:]]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "storage: cannot open" in err and "***" in err
        _no_secret_anywhere(err)
    assert list(tmp_path.iterdir()) == []


def test_videonas_directions_hint_hides_the_password(postgres_url, tmp_path, capsys):
    root = generate(tmp_path / "multilabel", "multilabel", seed=0, num_videos=24)
    config = {
        "data": {"root": str(root), "steps": 16},
        "space": {"stem_channels": 4, "widths": [[4, 8], [8, 12]], "max_layers": [1, 2]},
        "training": {"epochs": 1, "trial_epochs": 1, "batch_size": 8},
        "optuna": {"metric": ["mAP", "flops"], "sampler": "random", "n_trials": 1},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    url, name = _with_password(postgres_url), _name()
    optuna.create_study(storage=url, study_name=name, direction="maximize")
    argv = ["videonas", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o"), "--method", "optuna",
            "--storage", url, "--study-name", name, "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"optuna create-study --storage {_masked(url)} --study-name NEW_NAME --directions maximize minimize" in err
    _no_secret_anywhere(err)
    assert not (tmp_path / "o").exists()


def test_nni_export_messages_hide_the_password(postgres_url, tmp_path, capsys):
    from test_nni_trial_export import _experiment, _params

    jobs = [{"job": "AAAAA", "id": 0, "nni_pid": "0", "params": _params(1), "final": {"default": 1.0},
             "status": "SUCCEEDED"}]  # fmt: skip
    _experiment(tmp_path, jobs)
    url, name = _with_password(postgres_url), _name()
    argv = ["nni-export", "EXP1", "--experiment-dir", str(tmp_path), "--to-storage", url, "--study-name", name]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"copied 1 trials into study {name!r} in {_masked(url)}" in out
    assert main(argv) == 2  # a second copy is refused
    err = capsys.readouterr().err
    assert f"study {name!r} already exists in {_masked(url)}" in err
    _no_secret_anywhere(out, err)


def test_ensemble_json_and_study_attr_hide_the_password(postgres_url, tiny_data, tmp_path, capsys):
    url, name = _with_password(postgres_url), _name()
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    spec = StructureSpec.mstcn(1, 4, channels=16)
    study.add_trial(create_trial(value=50.0, user_attrs={"structure": spec.to_dict()}))
    out = tmp_path / "e" / "ensemble.json"
    argv = ["ensemble", "--storage", url, "--study-name", name, "--config", str(TINY), "--data", str(tiny_data),
            "--top", "1", "--epochs", "1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert json.loads(out.read_text())["storage"] == _masked(url)
    stored = optuna.load_study(study_name=name, storage=url).user_attrs
    assert "ensemble" in stored
    _no_secret_anywhere(printed.out, printed.err, json.dumps(stored), folder=tmp_path / "e")


def test_compare_json_and_study_attr_hide_the_password(postgres_url, tiny_data, tmp_path, capsys):
    url, name = _with_password(postgres_url), _name()
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    spec = StructureSpec.mstcn(1, 4, channels=16).with_layer(0, 0, dilation=4)
    study.add_trial(create_trial(value=50.0, user_attrs={"structure": spec.to_dict()}))
    out = tmp_path / "c" / "compare.json"
    argv = ["compare", "--config", str(TINY), "--data", str(tiny_data), "--storage", url, "--study-name", name,
            "--seeds", "2", "--epochs", "1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert json.loads(out.read_text())["storage"] == _masked(url)
    stored = optuna.load_study(study_name=name, storage=url).user_attrs["compare"]
    assert stored["storage"] == _masked(url)
    _no_secret_anywhere(printed.out, printed.err, json.dumps(stored), folder=tmp_path / "c")
