"""Platform registrations: the admin API's and CLI's services, and the pylti1p3 tool
configuration that reads them from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from service.errors import Conflict, NotFound, Unprocessable
from service.lti.keys import signing_key
from service.lti.models import LtiDeployment, LtiPlatform
from service.pagination import Page, PageRequest, paginate


@dataclass(frozen=True)
class PlatformSpec:
    """What an LMS admin tells the tool about the platform."""

    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str | None = None
    key_set: dict[str, Any] | None = None
    auth_audience: str | None = None
    deployment_ids: Sequence[str] = ()


@dataclass(frozen=True)
class PlatformView:
    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    auth_audience: str | None
    key_set_url: str | None
    has_key_set: bool
    deployment_ids: list[str]
    created_at: Any


def _view(platform: LtiPlatform) -> PlatformView:
    return PlatformView(
        id=platform.id,
        name=platform.name,
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_login_url=platform.auth_login_url,
        auth_token_url=platform.auth_token_url,
        auth_audience=platform.auth_audience,
        key_set_url=platform.key_set_url,
        has_key_set=platform.key_set is not None,
        deployment_ids=[d.deployment_id for d in platform.deployments],
        created_at=platform.created_at,
    )


def _check_spec(spec: PlatformSpec) -> None:
    if (spec.key_set_url is None) == (spec.key_set is None):
        raise Unprocessable(
            "Give the platform's keys either as key_set_url (its JWKS URL) or as key_set.",
            errors={"key_set_url": ["exactly one of key_set_url and key_set is required"]},
        )
    if spec.key_set is not None and not isinstance(spec.key_set.get("keys"), list):
        raise Unprocessable(
            "key_set must be a JWKS: an object with a `keys` list.",
            errors={"key_set": ["not a JWKS"]},
        )


def add_platform(session: Session, spec: PlatformSpec) -> PlatformView:
    """Register a platform with its deployments; Conflict if (issuer, client_id) is taken."""
    _check_spec(spec)
    platform = LtiPlatform(
        name=spec.name,
        issuer=spec.issuer,
        client_id=spec.client_id,
        auth_login_url=spec.auth_login_url,
        auth_token_url=spec.auth_token_url,
        auth_audience=spec.auth_audience,
        key_set_url=spec.key_set_url,
        key_set=spec.key_set,
        deployments=[LtiDeployment(deployment_id=d) for d in dict.fromkeys(spec.deployment_ids)],
    )
    try:
        with session.begin():
            session.add(platform)
            session.flush()
            return _view(platform)
    except IntegrityError as exc:
        raise Conflict(
            f"A platform with issuer {spec.issuer!r} and client_id {spec.client_id!r} is "
            "already registered."
        ) from exc


def _platform(session: Session, platform_id: int) -> LtiPlatform:
    platform = session.scalar(
        select(LtiPlatform)
        .where(LtiPlatform.id == platform_id)
        .options(selectinload(LtiPlatform.deployments))
    )
    if platform is None:
        raise NotFound(f"There is no LTI platform {platform_id}.")
    return platform


def get_platform(session: Session, platform_id: int) -> PlatformView:
    with session.begin():
        return _view(_platform(session, platform_id))


def list_platforms(session: Session, page: PageRequest) -> Page[PlatformView]:
    query = select(LtiPlatform).options(selectinload(LtiPlatform.deployments))
    with session.begin():
        return paginate(session, query.order_by(LtiPlatform.id), page).map(_view)


def remove_platform(session: Session, platform_id: int) -> None:
    """Delete a registration with its deployments and the launch contexts that name it."""
    with session.begin():
        session.delete(_platform(session, platform_id))


def add_deployment(session: Session, platform_id: int, deployment_id: str) -> PlatformView:
    try:
        with session.begin():
            platform = _platform(session, platform_id)
            platform.deployments.append(LtiDeployment(deployment_id=deployment_id))
            session.flush()
            return _view(platform)
    except IntegrityError as exc:
        raise Conflict(f"Deployment {deployment_id!r} is already registered.") from exc


def remove_deployment(session: Session, platform_id: int, deployment_id: str) -> None:
    with session.begin():
        platform = _platform(session, platform_id)
        found = [d for d in platform.deployments if d.deployment_id == deployment_id]
        if not found:
            raise NotFound(f"Platform {platform_id} has no deployment {deployment_id!r}.")
        platform.deployments.remove(found[0])


# --------------------------------------------------------------------------------------------
# pylti1p3's view of the registrations


def find_platform(session: Session, issuer: str, client_id: str | None) -> LtiPlatform | None:
    """The registration for (issuer, client_id) (call inside a transaction). Without a client
    id (an OIDC login may omit it) only an issuer with a single registration is found."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id is not None:
        return session.scalar(query.where(LtiPlatform.client_id == client_id))
    rows = session.scalars(query.limit(2)).all()
    return rows[0] if len(rows) == 1 else None


def registration_of(platform: LtiPlatform, key_pems: tuple[str, str] | None) -> Registration:
    """pylti1p3's Registration for a platform, with the tool's (private, public) PEMs if given."""
    registration = (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.key_set_url)
        .set_key_set(platform.key_set)  # type: ignore[arg-type]
    )
    if platform.auth_audience:
        registration.set_auth_audience(platform.auth_audience)
    if key_pems is not None:
        registration.set_tool_private_key(key_pems[0]).set_tool_public_key(key_pems[1])
    return registration


class DatabaseToolConf(ToolConfAbstract[Any]):
    """Registrations and deployments looked up in the database; an issuer may have many client
    ids, so a launch is matched on (iss, aud) and a wrong audience finds no registration."""

    def __init__(self, session: Session, secret_key: str, *, with_signing_key: bool) -> None:
        self._session = session
        self._secret_key = secret_key
        self._with_signing_key = with_signing_key
        self.platform_id: int | None = None

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self.find_registration_by_params(iss, None, *args, **kwargs)

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration:
        with self._session.begin():
            platform = find_platform(self._session, iss, client_id)
            if platform is None:
                return None  # type: ignore[return-value]  # pylti1p3 reports "not found"
            pems = None
            if self._with_signing_key:
                key = signing_key(self._session, self._secret_key)
                pems = (key.private_pem, key.public_pem)
            self.platform_id = platform.id
            return registration_of(platform, pems)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        with self._session.begin():
            found = self._session.scalar(
                select(LtiDeployment.deployment_id)
                .join(LtiPlatform, LtiPlatform.id == LtiDeployment.platform_id)
                .where(
                    LtiPlatform.issuer == iss,
                    LtiPlatform.client_id == client_id,
                    LtiDeployment.deployment_id == deployment_id,
                )
            )
        return Deployment().set_deployment_id(found) if found else None
