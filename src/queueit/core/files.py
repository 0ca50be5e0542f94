"""Files the server keeps under DATA_DIR (the embedded database, generated secrets): readable
by the server's own user only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) with the leaf 0700. An existing directory is left
    as it is: the operator chose it (a volume, a shared mount)."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 when missing; take group and other bits off an existing
    one the server owns (a database made by an older version). SQLite gives its -wal and -shm
    files the database file's mode, so a private database keeps them private too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(path)
        return
    os.fchmod(fd, PRIVATE_FILE_MODE)
    os.close(fd)


def tighten(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid() or not stat.S_IMODE(info.st_mode) & 0o077:
        return
    os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
    log.info("file_permissions_tightened", path=str(path))
