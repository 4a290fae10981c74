"""NNI trial entry point: ``python -m g2l_automl.nni.trial --config studies/X.yaml``.

Gets the parameters, builds the structure, trains it as a search candidate (the config's training and
validation split), reports ``{'default': <objective.report>, <validation metrics>, 'structure', '_g2l_id'}`` after
every epoch and ``{'default': <objective.metric>, <validation metrics>, 'params', 'train_seconds', 'structure',
'_g2l_id'}`` at the end. ``structure`` is the structure the trial really trained as one short line (e.g.
``1x4 d 1 2 4 8``), so NNI's trial table shows it beside the result even where NNI pairs the wrong parameters.
Every path it controls reports a final result: a crash reports ``{'default': 0.0, 'error': ...}`` and exits 1;
SIGINT (how NNI stops a trial: an assessor's early stop, ``nnictl trial kill``, ``nnictl stop``) and SIGTERM print
one line and report ``{'default': <last validation value or 0.0>, 'stopped': 'SIGINT', ...}``, then the process
dies by that signal (so NNI shows USER_CANCELED, not FAILED); the tuner always learns the outcome and no
``KeyboardInterrupt`` traceback is left in ``trial.stderr``. The
parameters it really used are written to ``g2l_trial.json`` in the trial's output directory, which
``g2l-optimize nni-export`` pairs with its metrics.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import nni

from g2l_automl._files import write_json_atomic
from g2l_automl.errors import G2LError
from g2l_automl.nni._protocol import ID_KEY, STOPPED_KEY, STRUCTURE_KEY
from g2l_automl.training import parse_threads, torch_threads

#: File the trial writes into its NNI output directory.
RECORD_FILE = "g2l_trial.json"


class _Stopped(BaseException):
    """SIGINT or SIGTERM (NNI stopping the trial): leave training at once but still report."""

    def __init__(self, signum: int) -> None:
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")


def _on_stop_signal(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


@contextmanager
def _stop_signals() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`_Stopped` (SIGINT would raise ``KeyboardInterrupt``)."""
    previous = {signum: signal.signal(signum, _on_stop_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (then :func:`_on_stop_signal` runs)."""
    stop = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop)


def _write_record(record: dict[str, Any]) -> None:
    out = os.environ.get("NNI_OUTPUT_DIR")
    if not out:
        return
    write_json_atomic(os.path.join(out, RECORD_FILE), record)


def run_trial(config_path: str, data_root: str | None = None, device: str = "auto") -> int:
    """One NNI trial; returns the process exit status (0: trained and reported; 1: failed; 130 / 143: stopped by
    SIGINT / SIGTERM)."""
    with _stop_signals():
        return _run(config_path, data_root, device)


def _run(config_path: str, data_root: str | None, device: str) -> int:
    tag: dict[str, Any] = {}
    last: list[float] = []  # the latest intermediate default, reported as a stopped trial's default
    reported = False
    try:
        from g2l_automl.config import load_config
        from g2l_automl.search import build_objective, summarize_structure

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
        config = load_config(config_path, data_root=data_root)
        objective = build_objective(config, device)
        structure = config.space.to_structure(params)
        tag = {STRUCTURE_KEY: summarize_structure(structure), **tag}

        def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
            if "val" in logs:
                val = logs["val"]
                value = float(val[objective.report])
                with _signals_held():  # a stopped trial's default is then exactly its last reported value
                    nni.report_intermediate_result({"default": value, **val, **tag})
                    last[:] = [value]

        metrics, n_params, seconds = objective.score(structure, on_epoch)
        values = objective.values(
            metrics, n_params, objective.flops(structure) if "flops" in objective.metrics else None
        )
        default = values if isinstance(values, float) else values[0]
        final = {"default": float(default), **metrics, "params": n_params, "train_seconds": seconds, **tag}
        with _signals_held():  # a stop during the send must not leave two final results (this and a stopped one)
            nni.report_final_result(final)
            reported = True
        return 0
    except _Stopped as exc:
        if reported:  # stopped just after its final report: that result stands
            return 130 if exc.name == "SIGINT" else 143
        print(f"g2l trial {exc} (NNI stops a trial this way); reported a final result marked stopped", file=sys.stderr)
        nni.report_final_result({"default": last[0] if last else 0.0, STOPPED_KEY: exc.name, **tag})
        return 130 if exc.name == "SIGINT" else 143
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(f"g2l trial failed: {message}", file=sys.stderr)
        nni.report_final_result({"default": 0.0, "error": message, **tag})
        return 1


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


def _exit(code: int) -> None:
    """Exit with ``code``; a trial stopped by a signal dies by that signal once it has reported (after its one
    clean line), because NNI 3.0 marks a trial that exits non-zero FAILED and one killed by a signal
    USER_CANCELED."""
    signum = code - 128
    if signum in (signal.SIGINT, signal.SIGTERM):
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
