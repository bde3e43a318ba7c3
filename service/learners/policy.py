"""Who may do what with learners and attempts. Views and services ask here; nothing else decides.

Failures are the problems the API answers with: Forbidden (403), or NotFound (404) where an id
must not be probed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from service.auth.services import Principal
from service.errors import Forbidden, NotFound

#: API key roles that read every learner's data.
READERS = ("integration", "admin", "author")
#: API key roles that may register learners when OPEN_REGISTRATION is false.
REGISTRARS = ("integration", "admin")


def check_may_register(*, open_registration: bool, caller: Callable[[], Principal]) -> None:
    """Anyone registers while registration is open; otherwise an integration or admin key must
    be sent (`caller` authenticates the request: it is asked only then)."""
    if open_registration:
        return
    principal = caller()
    if principal.is_learner or principal.role not in REGISTRARS:
        raise Forbidden("Registration needs an integration or admin API key here.")


def check_may_read_learner(principal: Principal, learner_id: uuid.UUID) -> None:
    """A learner reads (and deletes) only their own data; API keys are checked by their route's
    roles."""
    if principal.is_learner and principal.learner_id != learner_id:
        raise Forbidden("A learner token gives access to that learner's own data only.")


def check_may_read_attempt(
    principal: Principal, attempt_id: uuid.UUID, owner_id: uuid.UUID | None
) -> None:
    """A learner sees only their own attempts; another learner's is reported as missing (ids are
    not to be probed). `owner_id` is None when there is no such attempt."""
    if owner_id is None or (principal.is_learner and principal.learner_id != owner_id):
        raise NotFound(f"There is no attempt {attempt_id}.")


def check_may_submit(principal: Principal) -> None:
    """Only the learner who started an attempt submits it (read access checked before)."""
    if not principal.is_learner:
        raise Forbidden("Only the learner who started an attempt can submit it.")


def statements_learner(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID | None:
    """Whose xAPI statements a caller lists: a learner token only their own (asking for another
    learner's is Forbidden); an API key the requested learner's, or everyone's."""
    if not principal.is_learner:
        return requested
    if requested is not None:
        check_may_read_learner(principal, requested)
    return principal.learner_id
