"""pylti1p3 glue: the OIDC login redirect and the id_token validation of a launch.

pylti1p3 reads the Flask request itself, so this module is the one place (with routes.py) that
touches it. Validation checks, in this order: the state cookie set at login, the JWT format, that
the nonce was issued by this tool and is unexpired, the registration for (iss, aud), the signature
against the platform's JWKS (fetched with a timeout; RSA/EC algorithms only), `exp` and `iat`
(required; 30 s clock-skew leeway), the audience and authorized party (`check_audience`), the
deployment id, and the message claims. Nothing is
written until every check has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
import requests
from flask import Response, request
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException, OIDCException
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import BadRequest, Forbidden
from service.lti.jwks import REFRESH
from service.lti.registry import DatabaseToolConf
from service.lti.storage import (
    LAUNCH_DATA_TTL_SECONDS,
    NONCE_TTL_SECONDS,
    LaunchStore,
    PyLtiStorage,
)

if TYPE_CHECKING:
    from jwt.types import Options

CLOCK_SKEW_SECONDS = 30  # the platform's clock may run a little ahead of or behind ours
SIGNING_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
JWT_OPTIONS: Options = {"verify_aud": False, "require": ["exp", "iat"]}
# pylti1p3 matches the audience to a registration itself (a wrong aud finds none), so PyJWT's
# own audience check is off; exp and iat must be present and exp in the future.


class LtiLoginRefused(BadRequest):
    slug = "lti-login-refused"


class LtiLaunchRefused(Forbidden):
    slug = "lti-launch-refused"


@dataclass(frozen=True)
class ToolEnvironment:
    """What a login or launch needs: the session, settings, the shared store and the URLs."""

    session: Session
    settings: Settings
    store: LaunchStore
    base_url: str
    http: requests.Session

    @property
    def launch_url(self) -> str:
        return f"{self.base_url}/lti/launch"

    @property
    def secure(self) -> bool:
        # Behind a TLS-terminating proxy request.is_secure is False, yet the cookies must be
        # SameSite=None; Secure for the platform's cross-site form post to carry them.
        return request.is_secure or self.base_url.startswith("https://")


@dataclass(frozen=True)
class ValidatedLaunch:
    """A launch whose id_token passed every check (its nonce not yet consumed)."""

    claims: dict[str, Any]
    platform_id: int
    launch: ToolMessageLaunch

    @property
    def nonce(self) -> str:
        return str(self.claims["nonce"])

    @property
    def is_deep_link(self) -> bool:
        return bool(self.launch.is_deep_link_launch())

    @property
    def is_resource_link(self) -> bool:
        return bool(self.launch.is_resource_launch())


class ToolMessageLaunch(FlaskMessageLaunch):
    """FlaskMessageLaunch that validates without saving (saving is a write, done only once the
    caller has consumed the nonce)."""

    def validate_without_saving(self) -> ToolMessageLaunch:
        if self._restored:
            raise LtiException("Can't validate restored launch")
        self._validated = True
        try:
            (
                self.validate_state()
                .validate_jwt_format()
                .validate_nonce()
                .validate_registration()
                .validate_jwt_signature()
            )
            self.validate_audience().validate_deployment().validate_message()
        except Exception:
            self._validated = False
            raise
        return self

    def fetch_public_key(self, key_set_url: str, *, refresh: bool = False) -> Any:
        """The platform's JWKS through the HTTP cache of `env.http` (jwks.py); `refresh` asks
        the platform again (conditionally, with the cached ETag). Not cached by pylti1p3."""
        try:
            response = self._requests_session.get(key_set_url, headers=REFRESH if refresh else {})
            response.raise_for_status()
            return response.json()
        except requests.RequestException as exc:
            raise LtiException(f"Error during fetch URL {key_set_url}: {exc}") from exc
        except ValueError as exc:
            raise LtiException(f"Invalid response from {key_set_url}: not JSON") from exc

    def get_public_key(self) -> tuple[str, str]:
        """pylti1p3's lookup by `kid` and `alg`; an unknown `kid` refetches the key set once
        (the platform may have rotated its keys since it was cached)."""
        try:
            return super().get_public_key()
        except LtiException as exc:
            registration = self._registration
            url = registration.get_key_set_url() if registration else None
            if registration is None or not url or str(exc) != "Unable to find public key":
                raise
            registration.set_key_set(self.fetch_public_key(url, refresh=True))
            return super().get_public_key()

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        """pylti1p3's check, with asymmetric algorithms only and a small clock-skew leeway."""
        public_key, key_alg = self.get_public_key()
        if key_alg not in SIGNING_ALGORITHMS:
            raise LtiException(f"Unsupported signing algorithm {key_alg!r}")
        try:
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=[key_alg],
                options=JWT_OPTIONS,
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.InvalidTokenError as exc:
            raise LtiException(f"Can't decode id_token: {exc}") from exc
        return self

    def get_client_id(self) -> str:
        """The registration is looked up by the first audience (pylti1p3 indexed an empty list
        and failed with a 500); `validate_audience` then checks the others."""
        aud = self._get_jwt_body().get("aud")
        first = aud[0] if isinstance(aud, list) and aud else aud
        if not isinstance(first, str) or not first:
            raise LtiException('"aud" is missing')
        return first

    def validate_audience(self) -> ToolMessageLaunch:
        """`aud` and `azp` against the registration's client id (see `check_audience`)."""
        assert self._registration is not None, "validate_registration runs first"
        check_audience(dict(self._get_jwt_body()), str(self._registration.get_client_id()))
        return self


def check_audience(claims: dict[str, Any], client_id: str) -> None:
    """OpenID Connect Core §3.1.3.7 (3–5) and the 1EdTech Security Framework §5.1.3: every
    value of `aud` (a string or an array) is the client id, an `azp` present is the client id,
    and an `aud` with several values needs `azp`. LtiException otherwise."""
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not audiences:
        raise LtiException('"aud" is missing')
    untrusted = [str(value) for value in audiences if value != client_id]
    if untrusted:
        raise LtiException(f"the id_token is also meant for untrusted audiences {untrusted}")
    azp = claims.get("azp")
    if azp is None and len(audiences) > 1:
        raise LtiException('"azp" is required when "aud" has several values')
    if azp is not None and azp != client_id:
        raise LtiException(f'"azp" {azp!r} is not this tool\'s client id')


def _flask_request(env: ToolEnvironment) -> FlaskRequest:
    # pylti1p3's Flask session is unused: every value goes to the shared store.
    return FlaskRequest(session={}, request_is_secure=env.secure)


def _storage(env: ToolEnvironment) -> PyLtiStorage:
    storage = PyLtiStorage(env.store)
    storage.set_request(_flask_request(env))
    return storage


def login_redirect(env: ToolEnvironment) -> Response:
    """Answer an OIDC login initiation: remember a nonce, set the state cookie and redirect the
    browser to the platform's authorization endpoint. LtiLoginRefused for an unknown issuer or
    client id, or missing parameters."""
    tool_conf = DatabaseToolConf(env.session, env.settings.secret_key, with_signing_key=False)
    oidc = FlaskOIDCLogin(_flask_request(env), tool_conf)
    oidc.set_launch_data_storage(_storage(env))
    oidc.set_launch_data_lifetime(NONCE_TTL_SECONDS)
    try:
        # The id_token's target_link_uri carries the resource (e.g. ?quiz=slug); the
        # redirect_uri is always the registered launch URL.
        response: Response = oidc.redirect(env.launch_url)
    except (OIDCException, LtiException) as exc:
        raise LtiLoginRefused(f"LTI login refused: {exc}.") from exc
    response.headers["Cache-Control"] = "no-store"
    return response


def validate_launch(env: ToolEnvironment) -> ValidatedLaunch:
    """Validate the posted id_token; LtiLaunchRefused naming the failed check otherwise."""
    tool_conf = DatabaseToolConf(env.session, env.settings.secret_key, with_signing_key=False)
    launch = ToolMessageLaunch(
        _flask_request(env), tool_conf, launch_data_storage=_storage(env), requests_session=env.http
    )
    launch.set_launch_data_lifetime(LAUNCH_DATA_TTL_SECONDS)
    try:
        launch.validate_without_saving()
    except (LtiException, OIDCException) as exc:
        raise LtiLaunchRefused(f"LTI launch refused: {_reason(exc)}") from exc
    assert tool_conf.platform_id is not None
    return ValidatedLaunch(dict(launch.get_launch_data()), tool_conf.platform_id, launch)


def restore_deep_link_launch(env: ToolEnvironment, launch_id: str) -> ToolMessageLaunch:
    """A deep-linking launch saved at launch time, with the tool's signing key loaded."""
    tool_conf = DatabaseToolConf(env.session, env.settings.secret_key, with_signing_key=True)
    try:
        launch = ToolMessageLaunch.from_cache(
            launch_id,
            _flask_request(env),
            tool_conf,
            launch_data_storage=_storage(env),
            requests_session=env.http,
        )
        if not launch.is_deep_link_launch():
            raise LtiException("the launch is not a deep-linking request")
    except LtiException as exc:
        raise LtiLaunchRefused(
            f"Deep linking refused: {_reason(exc)} Start again from the LMS."
        ) from exc
    assert isinstance(launch, ToolMessageLaunch)
    return launch


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if text == "Invalid Nonce":
        text = "the nonce is unknown, expired or was already used (a replayed launch)"
    elif text == "State not found":
        text = "the state does not match this browser's login (cookie missing or expired)"
    return text if text.endswith(".") else text + "."
