"""Session ids and resume tokens.

A resume token is an HMAC of tenant and session under the hub's secret, so any node can check it
without a lookup and a session of one tenant can never be resumed through another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_session_id() -> str:
    return "s_" + secrets.token_urlsafe(18)


def resume_token(secret_key: str, tenant_id: str, session_id: str) -> str:
    digest = hmac.new(secret_key.encode(), f"resume:{tenant_id}:{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def resume_token_valid(secret_key: str, tenant_id: str, session_id: str, token: str) -> bool:
    if not SESSION_ID.match(session_id):
        return False
    return hmac.compare_digest(resume_token(secret_key, tenant_id, session_id), token)


def new_visitor_token(secret_key: str) -> str:
    """A visitor's proof of identity: a random id and its HMAC, checkable by any node."""
    visitor_id = secrets.token_urlsafe(12)
    return f"{visitor_id}.{_sign(secret_key, 'visitor', visitor_id)}"


def visitor_id_from_token(secret_key: str, token: str | None) -> str | None:
    if not token or "." not in token or len(token) > 128:
        return None
    visitor_id, _, signature = token.partition(".")
    if not hmac.compare_digest(_sign(secret_key, "visitor", visitor_id), signature):
        return None
    return visitor_id


def bound_session_id(secret_key: str, tenant_id: str, visitor_id: str, client_session_id: str) -> str:
    """The real session behind a client-chosen ``session_id``: one per visitor, so a guess opens nothing."""
    return "b_" + _sign(secret_key, "bound", f"{tenant_id}:{visitor_id}:{client_session_id}")[:30]


def _sign(secret_key: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
