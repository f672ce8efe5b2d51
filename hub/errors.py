"""Domain errors, each with the code and HTTP status that clients see.

They are mapped to responses in one place (``hub.api.errors``) and to WebSocket ``error`` frames
by the socket endpoints, so a handler only raises.
"""

from __future__ import annotations


class HubError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class Unauthenticated(HubError):
    code = "unauthenticated"
    status = 401


class Forbidden(HubError):
    code = "forbidden"
    status = 403


class RateLimited(HubError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class PayloadTooLarge(HubError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(HubError):
    code = "unsupported_media_type"
    status = 415


class InvalidInput(HubError):
    code = "invalid_input"
    status = 400


class NotFound(HubError):
    code = "not_found"
    status = 404


class TenantNotFound(NotFound):
    code = "unknown_tenant"


class SessionNotFound(NotFound):
    code = "unknown_session"


class MessageNotFound(NotFound):
    code = "unknown_message"


class AgentNotFound(NotFound):
    """No staff member with that id in this tenant (another tenant's people are no one here)."""

    code = "unknown_agent"


class LabelNotFound(NotFound):
    code = "unknown_label"


class MentionNotFound(NotFound):
    """None of the caller's mentions has that id: another person's, another tenant's and no one's look alike."""

    code = "unknown_mention_id"


class Conflict(HubError):
    code = "conflict"
    status = 409


class LinkInvalid(HubError):
    """A one-time link (an invitation, a password reset) that is unknown, used, revoked or expired: which of
    these is not said, so a link found lying around tells nothing about the account behind it."""

    code = "link_invalid"
    status = 410


class OwnedByOther(Conflict):
    """Another agent owns the session; the error names them so the dashboard can say who."""

    code = "owned_by_other"

    def __init__(self, owner_id: str, owner_name: str) -> None:
        super().__init__(f"{owner_name or 'another agent'} owns this session; take over with force to take it anyway")
        self.owner = {"id": owner_id, "name": owner_name}


class NotOwner(Conflict):
    code = "not_owner"


class AlreadyAssigned(Conflict):
    """A transfer to the person the conversation is already assigned to."""

    code = "already_assigned"


class SessionLabelLimit(Conflict):
    code = "session_label_limit"


class Unprocessable(HubError):
    """Well-formed, but it names something that cannot be used for this (e.g. a customer account as assignee)."""

    code = "unprocessable"
    status = 422


class NotAssignable(Unprocessable):
    code = "not_assignable"


class OriginNotAllowed(HubError):
    code = "origin_not_allowed"
    status = 403


class Unavailable(HubError):
    code = "unavailable"
    status = 503


class StoreUnavailable(Unavailable):
    """The message was not stored (and so not sent): the client retries with the same client_id."""

    code = "not_stored"


class UnknownMention(InvalidInput):
    """A note mentions someone who is not (or no longer) a staff member of the tenant."""

    code = "unknown_mention"
