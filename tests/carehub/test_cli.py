"""The ``carehub`` command: its lazy command table and the database subcommands, called as entry-point
functions."""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from carehub.cli import main
from carehub.commands import COMMANDS
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


def test_every_listed_command_registers_under_its_listed_name_and_help() -> None:
    """The table ``carehub --help`` shows without importing anything must say what each module says."""
    for command in COMMANDS:
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        command.load().register(subparsers)
        [choice] = subparsers._choices_actions
        assert (choice.dest, choice.help) == (command.name, command.help)


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    listing = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in listing


HUB_NEVER_NEEDS = ("psycopg", "fastapi", "billing", "alerts", "ingest.service", "bumble", "firmware_sim", "numpy")
"""Modules a hub running ``carehub gateway run`` on BlueZ must not load (issue 4: memory on a small hub)."""


def _modules_loaded_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_gateway_run_loads_only_what_a_hub_needs() -> None:
    modules = _modules_loaded_by(
        "from carehub.cli import build_parser\n"
        "args = build_parser(['gateway', 'run']).parse_args(['gateway', 'run'])\n"
        "assert args.handler.__module__ == 'carehub.commands.gateway'"
    )
    assert "gateway.agent" in modules
    assert _loaded(modules, HUB_NEVER_NEEDS) == []


def test_the_check_sees_a_command_that_loads_the_database_driver() -> None:
    """The same probe on ``db`` must find psycopg, or the gateway test above proves nothing."""
    modules = _modules_loaded_by("from carehub.cli import build_parser\nbuild_parser(['db', 'status'])")
    assert "psycopg" in _loaded(modules, HUB_NEVER_NEEDS)
