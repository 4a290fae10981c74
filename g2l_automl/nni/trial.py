"""NNI trial entry point: ``python -m g2l_automl.nni.trial --config studies/X.yaml``.

Gets the parameters, builds the structure, trains it as a search candidate (the config's training and
validation split), reports ``{'default': <objective.report>, <validation metrics>, '_g2l_id': id}`` after every
epoch and ``{'default': <objective.metric>, <validation metrics>, 'params', 'train_seconds', '_g2l_id'}`` at the
end. Every path it controls reports a final result: a crash or SIGTERM reports ``{'default': 0.0, 'error': ...}``
and exits non-zero, so the tuner always learns the outcome. The parameters it really used are written to
``g2l_trial.json`` in the trial's output directory, which ``g2l-optimize nni-export`` pairs with its metrics.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import nni

from g2l_automl._files import write_json_atomic
from g2l_automl.errors import G2LError
from g2l_automl.nni._protocol import ID_KEY
from g2l_automl.training import parse_threads, torch_threads

#: File the trial writes into its NNI output directory.
RECORD_FILE = "g2l_trial.json"


class _Terminated(BaseException):
    """SIGTERM (NNI stopping the trial): leave training at once but still report."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated("terminated by signal")


def _write_record(record: dict[str, Any]) -> None:
    out = os.environ.get("NNI_OUTPUT_DIR")
    if not out:
        return
    write_json_atomic(os.path.join(out, RECORD_FILE), record)


def run_trial(config_path: str, data_root: str | None = None, device: str = "auto") -> int:
    """One NNI trial; returns the process exit status (0: trained and reported)."""
    from g2l_automl.config import load_config
    from g2l_automl.search import build_objective

    params = dict(nni.get_next_parameter() or {})
    g2l_id = params.pop(ID_KEY, None)
    tag = {} if g2l_id is None else {ID_KEY: g2l_id}
    _write_record(
        {
            "trial_job_id": nni.get_trial_id(),
            "sequence_id": nni.get_sequence_id(),
            ID_KEY: g2l_id,
            "parameters": params,
            "config": os.path.abspath(config_path),
        }
    )
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        config = load_config(config_path, data_root=data_root)
        objective = build_objective(config, device)
        structure = config.space.to_structure(params)

        def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
            if "val" in logs:
                val = logs["val"]
                nni.report_intermediate_result({"default": float(val[objective.report]), **val, **tag})

        metrics, n_params, seconds = objective.score(structure, on_epoch)
        values = objective.values(
            metrics, n_params, objective.flops(structure) if "flops" in objective.metrics else None
        )
        default = values if isinstance(values, float) else values[0]
        nni.report_final_result(
            {"default": float(default), **metrics, "params": n_params, "train_seconds": seconds, **tag}
        )
        return 0
    except (Exception, _Terminated) as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(f"g2l trial failed: {message}", file=sys.stderr)
        nni.report_final_result({"default": 0.0, "error": message, **tag})
        return 143 if isinstance(exc, _Terminated) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m g2l_automl.nni.trial", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the study config the experiment's search space comes from")
    parser.add_argument("--data", default=None, help="dataset folder (overrides the config's data.root)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--threads",
        default="auto",
        metavar="N|auto",
        help="torch CPU threads (auto: torch's; with trialConcurrency C on one host, give cores / C)",
    )
    args = parser.parse_args(argv)
    try:
        threads = parse_threads(args.threads)
    except G2LError as exc:
        parser.error(str(exc))
    with torch_threads(threads):
        return run_trial(args.config, args.data, args.device)


if __name__ == "__main__":
    sys.exit(main())
