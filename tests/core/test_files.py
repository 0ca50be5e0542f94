"""Hostile guests, attack 7 (files readable by other local users): the server creates
DATA_DIR 0700 and the embedded database and its -wal and -shm files 0600, whatever the
umask; an older 0644 database is tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from queueit.core.engine import create_engine
from queueit.core.migrate import upgrade
from queueit.core.security import local_secret
from queueit.core.settings import Settings


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: what made the files world-readable before."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def open_and_write(settings: Settings) -> list[int]:
    """Migrate, write, and report the modes of the database, -wal and -shm files while a
    connection holds them open (SQLite removes -wal and -shm on the last close)."""
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            await conn.execute(text("INSERT INTO probe VALUES (1)"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM probe"))
            base = settings.data_dir / "queueit.db"
            files = [base, base.with_name("queueit.db-wal"), base.with_name("queueit.db-shm")]
            assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
            return [mode(f) for f in files]
    finally:
        await engine.dispose()


async def test_a_new_data_dir_and_database_are_private(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "nested" / "data")
    modes = await open_and_write(settings)
    assert mode(settings.data_dir) == 0o700
    assert modes == [0o600, 0o600, 0o600], [oct(m) for m in modes]
    # Another local user could not even list the directory, let alone read the database.
    assert not mode(settings.data_dir) & 0o077


async def test_the_generated_secret_lives_in_a_private_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "fresh")
    local_secret(settings)
    assert mode(tmp_path / "fresh") == 0o700
    assert mode(tmp_path / "fresh" / "local_jwt_secret") == 0o600


async def test_an_old_readable_database_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    settings = Settings(_env_file=None, data_dir=data)
    await open_and_write(settings)
    os.chmod(data / "queueit.db", 0o644)  # as an older version left it
    modes = await open_and_write(settings)
    assert modes == [0o600, 0o600, 0o600], [oct(m) for m in modes]
    assert mode(data) == 0o755  # a directory the operator made is theirs to set
