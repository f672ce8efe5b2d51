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
