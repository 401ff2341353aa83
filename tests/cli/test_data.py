"""``hubbub migrate`` and ``hubbub backup`` from the command line."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from hubbub.cli.main import cli
from tests.conftest import NodeFactory

FAST_HASH = {"HUBBUB_PASSWORD_TIME_COST": "1", "HUBBUB_PASSWORD_MEMORY_KIB": "1024"}


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=FAST_HASH, catch_exceptions=False)


def _lines(result: Result) -> list[str]:
    return result.output.strip().splitlines()


def test_migrate_copies_a_sqlite_database_into_postgresql(tmp_path: Path, postgres_server: Any) -> None:
    data = str(tmp_path)
    created = _invoke(
        "users", "create", "Ann", "--email", "ann@example.org", "--password", "pw-123456", "--data-dir", data
    )
    assert created.exit_code == 0, created.output
    assert _invoke("rooms", "create", "Den", "--data-dir", data).exit_code == 0
    source = f"sqlite:///{tmp_path / 'hubbub.sqlite3'}"
    target = postgres_server.empty_database()

    result = _invoke("migrate", "--from", source, "--to", target)
    assert result.exit_code == 0, result.output
    assert "events:" in result.output and _lines(result)[-1].startswith("verified: ")
    listed = _invoke("users", "list", "--database", target)
    assert _lines(listed) == ["1\tAnn\tann@example.org\t20"]
    assert _lines(_invoke("rooms", "list", "--database", target))[0].startswith("1\tDen\tpublic")

    again = _invoke("migrate", "--from", source, "--to", target)
    assert again.exit_code == 0 and "already holds a complete copy" in again.output


def test_migrate_refuses_a_target_in_use(tmp_path: Path, postgres_server: Any) -> None:
    assert _invoke("rooms", "create", "Den", "--data-dir", str(tmp_path)).exit_code == 0
    target = postgres_server.database()
    assert _invoke("rooms", "create", "Elsewhere", "--database", target).exit_code == 0
    result = _invoke("migrate", "--from", f"sqlite:///{tmp_path / 'hubbub.sqlite3'}", "--to", target)
    assert result.exit_code == 1 and "not empty" in result.output
    assert [line.split("\t")[1] for line in _lines(_invoke("rooms", "list", "--database", target))] == ["Elsewhere"]


def test_migrate_says_what_it_expects(tmp_path: Path) -> None:
    wrong_from = _invoke("migrate", "--from", "postgresql://x/y", "--to", "postgresql://x/z")
    assert wrong_from.exit_code == 2 and "expected sqlite:///" in wrong_from.output
    wrong_to = _invoke("migrate", "--from", f"sqlite:///{tmp_path}/a.sqlite3", "--to", "mysql://x/y")
    assert wrong_to.exit_code == 2 and "expected postgresql://" in wrong_to.output
    missing = _invoke("migrate", "--from", f"sqlite:///{tmp_path}/none.sqlite3", "--to", "postgresql://x/y")
    assert missing.exit_code == 1 and "no SQLite database" in missing.output


async def test_backup_copies_the_database_while_the_server_writes(make_node: NodeFactory, tmp_path: Path) -> None:
    node = await make_node(database="")  # SQLite in its data directory, whatever HUBBUB_TEST_ENGINE says
    author = await node.user("Ann")
    room = await node.room("Den")
    for i in range(20):
        await node.service.messages.post(author.id, room, f"before the backup {i}")
    data_dir = str(node.runtime.settings.data_dir)
    target = tmp_path / "backups" / "hubbub-backup.sqlite3"
    target.parent.mkdir()

    # The CLI runs an event loop of its own: off this test's loop, in a thread.
    result = await asyncio.to_thread(_invoke, "backup", str(target), "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert _lines(result)[-1] == str(target) and "last event id" in result.output
    await node.service.messages.post(author.id, room, "after the backup")  # the server goes on
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        texts = [row[0] for row in copy.execute("SELECT source FROM messages ORDER BY id")]
    assert texts == [f"before the backup {i}" for i in range(20)]
    assert not target.with_name(target.name + ".partial").exists()

    # The copy is a database hubbub opens as it is: what "restore" means (docs/deployment.md).
    restored = await asyncio.to_thread(_invoke, "rooms", "list", "--database", f"sqlite:///{target}")
    assert _lines(restored)[0].startswith(f"{room}\tDen\tpublic\t20")

    refused = await asyncio.to_thread(_invoke, "backup", str(target), "--data-dir", data_dir)
    assert refused.exit_code == 1 and "never overwrites" in refused.output


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    result = _invoke("backup", str(tmp_path / "x.sqlite3"), "--database", "postgresql://u@127.0.0.1:1/db")
    assert result.exit_code == 1 and "pg_dump" in result.output
    missing = _invoke("backup", str(tmp_path / "x.sqlite3"), "--data-dir", str(tmp_path / "empty"))
    assert missing.exit_code == 1 and "no SQLite database" in missing.output
