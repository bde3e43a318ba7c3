"""The tool's RSA signing keys: generation, rotation, the public JWKS and the signing key.

Private keys are kept encrypted (Fernet, with a key derived from SECRET_KEY by HKDF) and are only
ever decrypted to sign. The JWKS publishes the active key and keys retired less than
`RETIRED_KEY_GRACE` ago, so tokens signed just before a rotation still verify.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.errors import ServiceUnavailable
from service.lti.models import LtiToolKey

RSA_KEY_BITS = 2048
RETIRED_KEY_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class SigningKey:
    """The active key: its id (the JWT `kid`) and its PEM encodings."""

    kid: str
    private_pem: str
    public_pem: str


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: datetime
    retired_at: datetime | None


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"activation-lab lti tool key"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def public_jwk_of(private_pem: str) -> dict[str, Any]:
    """The public JWK of a PEM private key, with kid = its RFC 7638 thumbprint."""
    jwk = JWK.from_pem(private_pem.encode())
    public: dict[str, Any] = json.loads(jwk.export_public())
    public.update(kid=jwk.thumbprint(), alg="RS256", use="sig")
    return public


def _new_key(secret_key: str) -> LtiToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = public_jwk_of(pem)
    encrypted = _fernet(secret_key).encrypt(pem.encode()).decode()
    return LtiToolKey(kid=jwk["kid"], public_jwk=jwk, private_key_encrypted=encrypted)


def _active(session: Session) -> LtiToolKey | None:
    return session.scalar(
        select(LtiToolKey)
        .where(LtiToolKey.retired_at.is_(None))
        .order_by(LtiToolKey.created_at.desc(), LtiToolKey.kid)
        .limit(1)
    )


def generate_key(session: Session, secret_key: str) -> tuple[str, bool]:
    """Create the first key if there is no active one; (kid of the active key, created)."""
    with session.begin():
        existing = _active(session)
        if existing is not None:
            return existing.kid, False
        key = _new_key(secret_key)
        session.add(key)
        return key.kid, True


def rotate_key(session: Session, secret_key: str) -> tuple[str, list[str]]:
    """Make a new active key and retire the others (still published for the grace time);
    (new kid, retired kids)."""
    with session.begin():
        now = utcnow()
        retired = list(
            session.scalars(select(LtiToolKey.kid).where(LtiToolKey.retired_at.is_(None)))
        )
        session.execute(
            update(LtiToolKey).where(LtiToolKey.retired_at.is_(None)).values(retired_at=now)
        )
        key = _new_key(secret_key)
        session.add(key)
        return key.kid, retired


def prune_retired_keys(session: Session) -> int:
    """Delete keys retired longer than the grace time ago; how many were deleted."""
    with session.begin():
        result = session.execute(
            delete(LtiToolKey).where(LtiToolKey.retired_at < utcnow() - RETIRED_KEY_GRACE)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_keys(session: Session) -> list[KeyInfo]:
    with session.begin():
        rows = session.scalars(select(LtiToolKey).order_by(LtiToolKey.created_at)).all()
        return [KeyInfo(row.kid, row.created_at, row.retired_at) for row in rows]


def public_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The JWKS the platforms verify the tool's signatures with (public parts only)."""
    with session.begin():
        rows = session.scalars(
            select(LtiToolKey)
            .where(
                or_(
                    LtiToolKey.retired_at.is_(None),
                    LtiToolKey.retired_at > utcnow() - RETIRED_KEY_GRACE,
                )
            )
            .order_by(LtiToolKey.created_at.desc())
        ).all()
        return {"keys": [dict(row.public_jwk) for row in rows]}


def signing_key(session: Session, secret_key: str) -> SigningKey:
    """The active key, decrypted (call inside a transaction). ServiceUnavailable when there is
    none or it cannot be decrypted (SECRET_KEY changed: rotate the key)."""
    key = _active(session)
    if key is None:
        raise ServiceUnavailable(
            "The LTI tool has no signing key yet: run `flask --app service lti generate-key`."
        )
    try:
        private_pem = _fernet(secret_key).decrypt(key.private_key_encrypted.encode()).decode()
    except InvalidToken as exc:
        raise ServiceUnavailable(
            "The LTI signing key cannot be decrypted with this SECRET_KEY: run "
            "`flask --app service lti rotate-key`."
        ) from exc
    public_pem = JWK(**key.public_jwk).export_to_pem().decode()
    return SigningKey(key.kid, private_pem, public_pem)
