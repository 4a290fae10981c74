"""Small file helpers: every file the package writes goes through a temporary file and an atomic rename, with the
permissions the umask gives (not mkstemp's 0600 or mkdtemp's 0700); output paths are checked before any work."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from g2l_automl.errors import G2LError


def umask() -> int:
    """The process's umask: from ``/proc/self/status`` on Linux, else by setting it and setting it back (which
    another thread creating a file at that instant could notice)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mkdtemp_umask(**kwargs: Any) -> str:
    """``tempfile.mkdtemp`` with the permissions a plain ``mkdir`` would give (0777 less the umask)."""
    path = tempfile.mkdtemp(**kwargs)
    os.chmod(path, 0o777 & ~umask())
    return path


def check_out_dir(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """``path`` if a folder can be made or written there; refuses, before any work, an existing file, a path under
    a file and a place that cannot be written (e.g. ``/proc/...``), naming ``what`` and the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise G2LError(f"{what}: {path}: exists and is not a folder; give a folder")
    _check_writable(path, what, path)
    return path


def check_out_file(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """``path`` if a file can be written there (atomically, by :func:`write_atomic`); refuses, before any work, a
    folder, a path under a file and a place that cannot be written, naming ``what`` and the path."""
    path = Path(path)
    if path.is_dir():
        raise G2LError(f"{what}: {path}: is a folder; give the path of the file to write")
    _check_writable(path.parent, what, path)
    return path


def _check_writable(folder: Path, what: str, shown: Path) -> None:
    """The nearest existing folder at or above ``folder`` must take a new file (a probe made and removed at once:
    permission bits say nothing for root, nor for read-only or virtual file systems)."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise G2LError(f"{what}: {shown}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".g2l-probe.")
    except OSError as exc:
        raise G2LError(f"{what}: {shown}: cannot write in {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: str | os.PathLike[str], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp_path)`` and rename the result onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes it 0600
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def replace_dir(new: str | os.PathLike[str], old: str | os.PathLike[str]) -> None:
    """Move folder ``new`` onto the existing folder ``old`` and delete the old content.

    On Linux the two are swapped in one step (``renameat2(RENAME_EXCHANGE)``), so ``old`` names the complete old
    or the complete new folder at every instant, whatever interrupts. Elsewhere ``old`` is first renamed aside and
    renamed back if the second rename fails."""
    new, old = Path(new), Path(old)
    if _exchange(new, old):
        shutil.rmtree(new)
        return
    aside = Path(mkdtemp_umask(dir=old.parent, prefix=f".{old.name}.old."))
    os.replace(old, aside / old.name)
    try:
        os.replace(new, old)
    except BaseException:
        os.replace(aside / old.name, old)
        aside.rmdir()
        raise
    shutil.rmtree(aside)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the C library, kernel or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))
