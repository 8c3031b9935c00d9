"""The ``carehub`` command's database subcommands, called as entry-point functions."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from carehub.cli import main
from core.db import create_database, drop_database, with_database
from core.migrate import plan


@pytest.fixture
def empty_url(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"carehub_test_cli_{secrets.token_hex(4)}"
    create_database(pg_admin_url, name)
    url = with_database(pg_admin_url, name)
    monkeypatch.setenv("CAREHUB_DATABASE_URL", url)
    yield url
    drop_database(pg_admin_url, name)


def test_db_migrate_twice_then_status(empty_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status"]) == 0
    assert "pending" in capsys.readouterr().out
    assert main(["db", "migrate"]) == 0
    first = capsys.readouterr().out
    assert "applying migration 0001_core" in first
    steps = len(plan("postgres"))
    assert f"{steps} applied now, 0 before" in first
    assert main(["db", "migrate"]) == 0
    assert f"0 applied now, {steps} before" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    status = capsys.readouterr().out
    assert "pending" not in status
    assert "0002_readings" in status
    assert "postgres" in status


def test_db_migrate_reports_an_unreachable_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["db", "migrate"]) == 1
    assert "cannot connect to the database" in capsys.readouterr().err
