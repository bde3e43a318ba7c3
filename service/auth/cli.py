"""`flask --app service keys create|revoke`: API keys for authors, integrations and admins."""

from __future__ import annotations

import uuid

import click
from flask import current_app
from flask.cli import AppGroup

from service.auth.models import ROLES
from service.auth.services import create_api_key, revoke_api_key
from service.db import get_database

keys_cli = AppGroup("keys", help="API keys (stored hashed; the key is printed once).")


@keys_cli.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="Who or what the key is for")
def create_command(role: str, name: str) -> None:
    """Create an API key and print it (it cannot be shown again)."""
    with get_database().sessionmaker() as session:
        key, plaintext = create_api_key(
            session, name or role, role, current_app.config["SECRET_KEY"]
        )
    click.echo(plaintext)
    click.echo(f"key id {key.id} (role {role}); send it as `X-API-Key: <key>`", err=True)


@keys_cli.command("revoke")
@click.argument("key_id", type=click.UUID)
def revoke_command(key_id: uuid.UUID) -> None:
    """Revoke an API key by its id."""
    with get_database().sessionmaker() as session:
        revoked = revoke_api_key(session, key_id)
    click.echo("revoked" if revoked else "no such active key")
