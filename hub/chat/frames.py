"""Client frames, parsed and validated in one place into typed objects.

Anything malformed becomes a ``FrameError`` whose code and message go back as an ``error`` frame;
the connection and the session stay open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from hub.errors import HubError


class FrameError(HubError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class MessageIn:
    text: str
    client_id: str | None


@dataclass(frozen=True)
class ResumeIn:
    session_id: str
    resume_token: str
    last_seq: int


@dataclass(frozen=True)
class TypingIn:
    active: bool


@dataclass(frozen=True)
class PingIn:
    pass


VisitorFrame = MessageIn | ResumeIn | TypingIn | PingIn


def error_frame(code: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "code": code, "message": message})


def _string(body: dict[str, Any], name: str, *, max_len: int, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise FrameError("invalid_frame", f"'{name}' must be a string")
    if len(value) > max_len:
        raise FrameError("invalid_frame", f"'{name}' is longer than {max_len} characters")
    return value


def _message(body: dict[str, Any], max_chars: int) -> MessageIn:
    text = body.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid_frame", "'text' must be a string")
    if len(text) > max_chars:
        raise FrameError("text_too_long", f"message text is longer than {max_chars} characters")
    if not text.strip():
        raise FrameError("empty_text", "message text is empty")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail the store's batch.
        raise FrameError("invalid_frame", "message text must not contain NUL characters")
    client_id = _string(body, "client_id", max_len=64, required=False)
    return MessageIn(text=text, client_id=client_id or None)


def parse_visitor_frame(raw: str, *, max_chars: int) -> VisitorFrame:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_json", "frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise FrameError("invalid_frame", "frame must be a JSON object with a 'type'")
    kind = body.get("type")
    if kind == "message":
        return _message(body, max_chars)
    if kind == "resume":
        session_id = _string(body, "session_id", max_len=64)
        token = _string(body, "resume_token", max_len=128)
        last_seq = body.get("last_seq", 0)
        if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
            raise FrameError("invalid_frame", "'last_seq' must be a non-negative integer")
        assert session_id is not None and token is not None
        return ResumeIn(session_id=session_id, resume_token=token, last_seq=last_seq)
    if kind == "typing":
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise FrameError("invalid_frame", "'active' must be true or false")
        return TypingIn(active=active)
    if kind == "ping":
        return PingIn()
    if not isinstance(kind, str):
        raise FrameError("invalid_frame", "frame must have a string 'type'")
    raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")


AGENT_ACTIONS = ("watch", "unwatch", "takeover", "message", "typing", "handback", "close", "ping")


@dataclass(frozen=True)
class AgentFrame:
    """One agent command; which fields matter depends on ``type`` (docs/PROTOCOL.md)."""

    type: str
    session_id: str = ""
    ref: str | None = None
    text: str = ""
    client_id: str | None = None
    last_seq: int = 0
    force: bool = False
    active: bool = True


def parse_agent_frame(raw: str, *, max_chars: int) -> AgentFrame:
    """Raises ``AgentFrameError`` carrying whatever ``ref`` and ``session_id`` could be read, for the answer."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AgentFrameError("invalid_json", "frame is not valid JSON") from None
    if not isinstance(body, dict):
        raise AgentFrameError("invalid_frame", "frame must be a JSON object with a 'type'")
    ref = body.get("ref")
    ref = ref if isinstance(ref, str) and len(ref) <= 64 else None
    session = body.get("session_id")
    session = session if isinstance(session, str) and len(session) <= 64 else None
    try:
        return _agent_frame(body, ref, max_chars)
    except FrameError as exc:
        raise AgentFrameError(exc.code, exc.message, ref=ref, session_id=session) from None


class AgentFrameError(FrameError):
    def __init__(self, code: str, message: str, *, ref: str | None = None, session_id: str | None = None) -> None:
        super().__init__(code, message)
        self.ref = ref
        self.session_id = session_id


def _agent_frame(body: dict[str, Any], ref: str | None, max_chars: int) -> AgentFrame:
    kind = body.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_frame", "frame must have a string 'type'")
    if kind not in AGENT_ACTIONS:
        raise FrameError("unknown_type", f"unknown frame type {kind[:40]!r}")
    if kind == "ping":
        return AgentFrame("ping", ref=ref)
    session_id = _string(body, "session_id", max_len=64)
    assert session_id is not None
    if not session_id or "\x00" in session_id:
        raise FrameError("invalid_frame", "'session_id' is empty or malformed")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise FrameError("invalid_frame", "'force' must be true or false")
    if kind == "watch":
        last_seq = body.get("last_seq", 0)
        if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
            raise FrameError("invalid_frame", "'last_seq' must be a non-negative integer")
        return AgentFrame(kind, session_id, ref, last_seq=last_seq)
    if kind == "message":
        message = _message(body, max_chars)
        return AgentFrame(kind, session_id, ref, text=message.text, client_id=message.client_id)
    if kind == "typing":
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise FrameError("invalid_frame", "'active' must be true or false")
        return AgentFrame(kind, session_id, ref, active=active)
    return AgentFrame(kind, session_id, ref, force=force)
