"""The documentation names every setting and every command, so it cannot silently fall behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from hubbub.cli.main import cli
from hubbub.settings import ENV_PREFIX, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [
        field.name
        for field in dataclasses.fields(Settings)
        if f"`{field.name}`" not in text or f"`{ENV_PREFIX}{field.name.upper()}`" not in text
    ]
    assert missing == []


def _commands(group: click.Group, prefix: str = "hubbub") -> list[str]:
    names: list[str] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
        else:
            names.append(f"{prefix} {name}")
    return names


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    assert [name for name in _commands(cli) if f"`{name}" not in text] == []


def test_the_readme_starts_with_the_two_commands() -> None:
    lines = (DOCS.parent / "README.md").read_text().splitlines()
    block = lines[lines.index("```") + 1 : lines.index("```") + 3]
    assert [line.split()[:2] for line in block] == [["make", "run"], ["make", "test"]]


def test_the_deployment_guide_shows_the_nginx_and_systemd_files_the_project_ships() -> None:
    text = (DOCS / "deployment.md").read_text()
    for shipped in ("examples/nginx/hubbub.conf", "examples/systemd/hubbub.service"):
        assert (DOCS.parent / shipped).read_text() in text, f"docs/deployment.md does not show {shipped} as it is"


def test_no_file_keeps_a_merge_conflict() -> None:
    """A conflict resolved by committing both sides with git's markers still in them (it happened once)."""
    root = DOCS.parent
    suffixes = {".md", ".py", ".js", ".html", ".css", ".sql", ".toml", ".cfg", ".txt", ".yml", ".yaml"}
    marked = []
    for path in [root / "Makefile", *root.glob("*.md")] + [
        p for top in ("src", "tests", "bench", "docs", ".ci") for p in (root / top).rglob("*") if p.suffix in suffixes
    ]:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
                marked.append(f"{path.relative_to(root)}:{number}")
    assert marked == []
