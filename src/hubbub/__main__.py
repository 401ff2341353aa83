"""``python -m hubbub`` runs the command-line interface."""

from hubbub.cli.main import main

main()
