"""Credential formats and keyed hashes (pure: no database, no Flask).

Learner token: `<token id hex>.<secret>`; API key: `alk_<key id hex>_<secret>`. Only
HMAC-SHA256(SECRET_KEY, whole credential) is stored, so a database leak reveals no usable
credential and a forged credential never matches; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

API_KEY_PREFIX = "alk_"
_TOKEN = re.compile(r"^(?P<id>[0-9a-f]{32})\.(?P<secret>[A-Za-z0-9_\-]{20,100})$")
_API_KEY = re.compile(r"^alk_(?P<id>[0-9a-f]{32})_(?P<secret>[A-Za-z0-9_\-]{20,100})$")


@dataclass(frozen=True)
class IssuedCredential:
    id: uuid.UUID
    plaintext: str  # shown once, never stored
    secret_hash: str


def keyed_hash(secret_key: str, credential: str) -> str:
    return hmac.new(secret_key.encode(), credential.encode(), hashlib.sha256).hexdigest()


def hashes_match(stored: str, secret_key: str, credential: str) -> bool:
    return hmac.compare_digest(stored, keyed_hash(secret_key, credential))


def issue_token(secret_key: str) -> IssuedCredential:
    token_id = uuid.uuid4()
    plaintext = f"{token_id.hex}.{secrets.token_urlsafe(32)}"
    return IssuedCredential(token_id, plaintext, keyed_hash(secret_key, plaintext))


def issue_api_key(secret_key: str) -> IssuedCredential:
    key_id = uuid.uuid4()
    plaintext = f"{API_KEY_PREFIX}{key_id.hex}_{secrets.token_urlsafe(32)}"
    return IssuedCredential(key_id, plaintext, keyed_hash(secret_key, plaintext))


def parse_token_id(credential: str) -> uuid.UUID | None:
    match = _TOKEN.match(credential)
    return uuid.UUID(match["id"]) if match else None


def parse_api_key_id(credential: str) -> uuid.UUID | None:
    match = _API_KEY.match(credential)
    return uuid.UUID(match["id"]) if match else None
