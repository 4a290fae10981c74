"""Small file helpers: every file the package writes goes through a temporary file and an atomic rename."""

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


def write_atomic(path: str | os.PathLike[str], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp_path)`` and rename the result onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
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
    aside = Path(tempfile.mkdtemp(dir=old.parent, prefix=f".{old.name}.old."))
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
