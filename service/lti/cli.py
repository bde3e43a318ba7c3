"""`flask lti ...`: platform registrations, the tool's keys, pruning, the registration JSON."""

from __future__ import annotations

import click
import orjson
from flask import current_app
from flask.cli import AppGroup

from service.api import API_TITLE
from service.config import Settings
from service.db import get_database
from service.errors import ServiceError
from service.lti import keys, registry, services
from service.lti.storage import DatabaseLaunchStore
from service.pagination import PageRequest

lti_cli = AppGroup("lti", help="LTI 1.3: platform registrations and the tool's keys.")


def _settings() -> Settings:
    config: Settings = current_app.config["SETTINGS"]
    return config


def _fail(error: ServiceError) -> click.ClickException:
    return click.ClickException(error.detail)


@lti_cli.command("add-platform")
@click.option("--name", required=True, help="A label, e.g. the LMS's name")
@click.option("--issuer", required=True, help="The platform's issuer (iss)")
@click.option("--client-id", required=True, help="The client id the platform gave this tool")
@click.option("--auth-login-url", required=True, help="The platform's OIDC auth endpoint")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token endpoint")
@click.option("--key-set-url", required=True, help="The platform's JWKS URL")
@click.option(
    "--auth-audience", default=None, help="Client assertion audience (if not the token URL)"
)
@click.option("--deployment-id", "deployment_ids", multiple=True, help="Repeat for each deployment")
def add_platform_command(
    name: str,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    auth_audience: str | None,
    deployment_ids: tuple[str, ...],
) -> None:
    """Register an LMS platform and its deployment ids."""
    spec = registry.PlatformSpec(
        name=name,
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        key_set_url=key_set_url,
        auth_audience=auth_audience,
        deployment_ids=deployment_ids,
    )
    with get_database().sessionmaker() as session:
        try:
            view = registry.add_platform(session, spec)
        except ServiceError as exc:
            raise _fail(exc) from exc
    click.echo(
        f"platform {view.id}: {view.issuer} (client {view.client_id}), deployments "
        f"{', '.join(view.deployment_ids) or 'none'}"
    )


@lti_cli.command("add-deployment")
@click.argument("platform_id", type=int)
@click.argument("deployment_id")
def add_deployment_command(platform_id: int, deployment_id: str) -> None:
    """Allow launches from another deployment of a platform."""
    with get_database().sessionmaker() as session:
        try:
            view = registry.add_deployment(session, platform_id, deployment_id)
        except ServiceError as exc:
            raise _fail(exc) from exc
    click.echo(f"platform {view.id} deployments: {', '.join(view.deployment_ids)}")


@lti_cli.command("list-platforms")
def list_platforms_command() -> None:
    """Show the registered platforms."""
    with get_database().sessionmaker() as session:
        page = registry.list_platforms(session, PageRequest(1, 1000))
    for view in page.items:
        click.echo(
            f"{view.id}\t{view.name}\t{view.issuer}\tclient {view.client_id}\t"
            f"deployments {','.join(view.deployment_ids) or '-'}"
        )
    if not page.items:
        click.echo("no platforms registered")


@lti_cli.command("remove-platform")
@click.argument("platform_id", type=int)
def remove_platform_command(platform_id: int) -> None:
    """Remove a platform registration (its launches are refused from now on)."""
    with get_database().sessionmaker() as session:
        try:
            registry.remove_platform(session, platform_id)
        except ServiceError as exc:
            raise _fail(exc) from exc
    click.echo(f"removed platform {platform_id}")


@lti_cli.command("generate-key")
def generate_key_command() -> None:
    """Create the tool's signing key if there is none (safe to run on every deploy)."""
    with get_database().sessionmaker() as session:
        kid, created = keys.generate_key(session, _settings().secret_key)
    click.echo(f"{'created' if created else 'kept'} active key {kid}")


@lti_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Make a new signing key; the old ones stay in the JWKS for 24 hours, then prune them."""
    with get_database().sessionmaker() as session:
        kid, retired = keys.rotate_key(session, _settings().secret_key)
    click.echo(f"active key {kid}; retired {', '.join(retired) or 'none'}")


@lti_cli.command("list-keys")
def list_keys_command() -> None:
    """Show the tool's keys (ids and dates only: private keys are never printed)."""
    with get_database().sessionmaker() as session:
        infos = keys.list_keys(session)
    for info in infos:
        state = f"retired {info.retired_at:%Y-%m-%dT%H:%M:%SZ}" if info.retired_at else "active"
        click.echo(f"{info.kid}\tcreated {info.created_at:%Y-%m-%dT%H:%M:%SZ}\t{state}")
    if not infos:
        click.echo("no keys: run `flask --app service lti generate-key`")


@lti_cli.command("prune")
def prune_command() -> None:
    """Delete expired launch data (nonces, deep-linking launches) and long-retired keys."""
    with get_database().sessionmaker() as session:
        launch_rows = DatabaseLaunchStore(session).prune()
        key_rows = keys.prune_retired_keys(session)
    click.echo(f"removed {launch_rows} expired launch rows and {key_rows} retired keys")


@lti_cli.command("config")
@click.option("--base-url", default=None, help="The tool's public URL (default: PUBLIC_BASE_URL)")
def config_command(base_url: str | None) -> None:
    """Print the tool's registration JSON (what GET /lti/config serves)."""
    url = base_url or _settings().public_base_url
    if not url:
        raise click.UsageError("Set PUBLIC_BASE_URL or pass --base-url.")
    document = services.tool_configuration(url.rstrip("/"), API_TITLE)
    document["https://purl.imsglobal.org/spec/lti-tool-configuration"] = document.pop(
        "lti_tool_configuration"
    )
    click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
