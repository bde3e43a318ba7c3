"""Flask CLI commands: `seed` and `openapi write` (YAML by default, for the committed spec), and
the registration of the packages' command groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO

import click
import yaml
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from service.db import get_database

Seeder = Callable[[Session], str]

openapi_cli = AppGroup("openapi", help="OpenAPI document.")


def openapi_document(app: Flask) -> str:
    """The OpenAPI document as YAML, with a stable key order."""
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return yaml.safe_dump(spec, sort_keys=True, allow_unicode=True, width=100)


@openapi_cli.command("write")
@click.argument("output_file", type=click.File("w"), default="openapi.yaml")
def write_command(output_file: IO[str]) -> None:
    """Write the OpenAPI document (YAML) to OUTPUT_FILE (default: openapi.yaml)."""
    output_file.write(openapi_document(current_app))


@openapi_cli.command("print")
def print_command() -> None:
    """Print the OpenAPI document (YAML)."""
    click.echo(openapi_document(current_app), nl=False)


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Load the lesson content (idempotent: a second run changes nothing)."""
    seeders: list[Seeder] = current_app.extensions.get("seeders", [])
    session_factory = get_database().sessionmaker
    for seeder in seeders:
        with session_factory() as session:
            click.echo(seeder(session))
    if not seeders:
        click.echo("nothing to seed")


def register_cli(app: Flask, groups: Iterable[click.Command]) -> None:
    """The app's commands: the packages' `groups` (given by the composition root), `openapi`
    and `seed`."""
    for group in groups:
        app.cli.add_command(group)
    app.cli.add_command(openapi_cli)  # replaces flask-smorest's JSON-first group
    app.cli.add_command(seed_command)
