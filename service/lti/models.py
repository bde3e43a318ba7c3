"""LTI tables: platform registrations and deployments, the tool's signing keys, short-lived
launch data (state, nonces, deep-linking launches) and the launch context of each LTI attempt.

Exactly-once rules live in the schema: one registration per (issuer, client_id), one deployment id
per registration, one launch context per attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, JSONDocument, utcnow


class LtiPlatform(Base):
    """An LMS registration: who signs launches (issuer, JWKS) and where the tool asks for tokens."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))  # the platform's OIDC endpoint
    auth_token_url: Mapped[str] = mapped_column(String(1000))  # OAuth2 token endpoint (AGS)
    auth_audience: Mapped[str | None] = mapped_column(String(1000))  # defaults to the token URL
    key_set_url: Mapped[str | None] = mapped_column(String(1000))  # the platform's JWKS
    key_set: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)  # or a pasted JWKS
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[LtiDeployment]] = relationship(
        back_populates="platform",
        order_by="LtiDeployment.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class LtiDeployment(Base):
    """A deployment id the platform may launch with; launches naming another are refused."""

    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")


class LtiToolKey(Base):
    """An RSA key pair of the tool. The private key is stored encrypted with SECRET_KEY and is
    never served; the newest unretired key signs, retired keys stay in the JWKS for a grace time."""

    __tablename__ = "lti_tool_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class LtiLaunchData(Base):
    """Short-lived key-value rows shared by all workers: OIDC nonces, launch data kept for deep
    linking. Expired rows are never read and are pruned as new ones are written."""

    __tablename__ = "lti_launch_data"
    __table_args__ = (Index("ix_lti_launch_data_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDocument)
    expires_at: Mapped[datetime]


class LtiLaunchContext(Base):
    """Where an attempt came from: the platform, deployment and resource link of its launch and
    the Assignment and Grade Services endpoint its score goes to. Written at launch."""

    __tablename__ = "lti_launch_contexts"

    attempt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True
    )
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    lti_user_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255))  # the LMS course, if sent
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list[str]] = mapped_column(JSONDocument)
    launched_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiCourse(Base):
    """An LMS context (course) an instructor launched from: its Names and Role Provisioning
    Service endpoint and the `differences` link its last roster sync returned."""

    __tablename__ = "lti_courses"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    differences_url: Mapped[str | None] = mapped_column(String(1000))
    synced_at: Mapped[datetime | None]

    members: Mapped[list[LtiRosterMember]] = relationship(
        back_populates="course",
        order_by="LtiRosterMember.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class LtiRosterMember(Base):
    """A member of a course as NRPS last described them (status Active or Inactive; Deleted
    members are removed)."""

    __tablename__ = "lti_roster_members"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("lti_courses.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    course: Mapped[LtiCourse] = relationship(back_populates="members")
