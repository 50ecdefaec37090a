"""`xerosync db upgrade` creates the schema from nothing, as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from xerosync.db import make_engine
from xerosync.models import Base


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xerosync", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_creates_the_schema(empty_database_url: str, tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", env={"DATABASE_URL": empty_database_url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is at head" in result.stdout
    engine = make_engine(empty_database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_bad_setting_stops_the_command_naming_it(tmp_path: Path) -> None:
    result = run_cli("db", "upgrade", env={"DATABASE_URL": "oracle://nope"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
