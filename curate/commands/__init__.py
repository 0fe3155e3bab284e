"""Typer command functions, kept apart from ``curate/cli.py`` so each can import only what it needs."""
