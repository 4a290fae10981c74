from pathlib import Path

import numpy as np
import pytest

from g2l_automl.data import generate


def write_dataset(root: Path, videos: dict[str, list[str]], classes=("background", "a", "b"), dim=4, folds=1) -> Path:
    """A hand-made dataset in the MS-TCN layout: every video goes to train and test of each fold."""
    for sub in ("features", "groundTruth", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "mapping.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes)))
    rng = np.random.default_rng(0)
    for name, labels in videos.items():
        np.save(root / "features" / f"{name}.npy", rng.normal(size=(dim, len(labels))).astype(np.float32))
        (root / "groundTruth" / f"{name}.txt").write_text("".join(f"{label}\n" for label in labels))
    for k in range(1, folds + 1):
        bundle = "".join(f"{name}.txt\n" for name in videos)
        (root / "splits" / f"train.split{k}.bundle").write_text(bundle)
        (root / "splits" / f"test.split{k}.bundle").write_text(bundle)
    return root


@pytest.fixture
def make_dataset():
    return write_dataset


@pytest.fixture
def handmade(tmp_path) -> Path:
    return write_dataset(
        tmp_path / "ds",
        {f"v{i}": ["background"] * 3 + ["a"] * (5 + i) + ["b"] * 4 + ["background"] * 2 for i in range(5)},
    )


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The tiny synthetic preset, cut to 8 videos: enough for end-to-end runs in seconds."""
    return generate(tmp_path_factory.mktemp("syn") / "tiny", "tiny", seed=0, num_videos=8)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database on 127.0.0.1: the one `.ci/run` started (G2L_TEST_POSTGRES_URL), or a throwaway
    cluster started here with the same script (it installs Debian's postgresql when missing) and stopped after."""
    import os
    import socket
    import subprocess
    import tempfile

    url = os.environ.get("G2L_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    script = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"
    base = tempfile.mkdtemp(prefix="g2l-pg-", dir="/tmp")
    os.chmod(base, 0o755)  # the server runs as 'postgres' when the tests run as root
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = subprocess.run(
        [str(script), "start", f"{base}/pg", str(port)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop", f"{base}/pg"], check=False)
        subprocess.run(["rm", "-rf", base], check=False)


@pytest.fixture
def restartable_postgres():
    """A PostgreSQL cluster of this test's own (never the shared one: it is stopped and started mid-test), as
    ``(url, restart)``; ``restart(seconds)`` stops the server (fast: sessions cut), waits and starts it again.
    Skipped when no server can be started here."""
    import os
    import socket
    import subprocess
    import tempfile

    script = Path(__file__).resolve().parents[1] / ".ci" / "postgres.sh"
    base = tempfile.mkdtemp(prefix="g2l-pg-restart-", dir="/tmp")
    os.chmod(base, 0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = subprocess.run([str(script), "start", f"{base}/pg", str(port)], capture_output=True, text=True)
    if started.returncode != 0:
        subprocess.run(["rm", "-rf", base], check=False)
        pytest.skip(f"no PostgreSQL server: {started.stderr.strip()[-200:]}")

    def restart(seconds: float = 1.0) -> None:
        subprocess.run([str(script), "restart", f"{base}/pg", str(port), str(seconds)], check=True)

    try:
        yield started.stdout.strip(), restart
    finally:
        subprocess.run([str(script), "stop", f"{base}/pg"], check=False)
        subprocess.run(["rm", "-rf", base], check=False)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: tiny networks are overhead-bound, and on a shared 2-core machine a second
    thread mostly adds contention (40x slower measured). The previous thread count is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
