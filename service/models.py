"""Imports every model module so that `metadata` knows all tables (Alembic and tests use it)."""

from __future__ import annotations

import service.auth.models
import service.learners.models
import service.lti.models
import service.outbox.models
import service.quizzes.models
import service.xapi.models  # noqa: F401
from service.db import Base

metadata = Base.metadata

__all__ = ["metadata"]
