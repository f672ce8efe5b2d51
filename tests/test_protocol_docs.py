"""docs/PROTOCOL.md and hub/protocol.py say the same: every frame type, error code and close code of both sockets."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import msgspec
import pytest

from hub import protocol
from hub.errors import NotOwner, OwnedByOther, SessionNotFound, StoreUnavailable, Unavailable

DOC = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text()
VISITOR_DOC, AGENT_DOC = DOC.split("\n# Agent WebSocket protocol", 1)
UVICORN_CLOSE_CODES = {1012}  # sent by the server on shutdown, not by the hub's code


def section(text: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same level or higher."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    ends = [match.start() for match in re.finditer(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)]
    return rest[: ends[0]] if ends else rest


def frame_headings(text: str) -> set[str]:
    """The frame types named in ``###`` headings (`ready` and `sessions` name two)."""
    return {name for line in re.findall(r"^### (.*)$", text, re.MULTILINE) for name in re.findall(r"`(\w+)`", line)}


def table_codes(text: str) -> set[str]:
    """The backticked codes in the first cell of every table row below a header."""
    rows = re.findall(r"^\| ([^|]+) \|.*\n(?!\|[-|]+\|)", text, re.MULTILINE)  # a header is followed by |---|
    return {code for cell in rows for code in re.findall(r"`(\w+)`", cell)}


def close_codes(text: str) -> set[int]:
    return {int(code) for code in re.findall(r"^\| `?(\d{4})`? \|", text, re.MULTILINE)}


def tags(union: object) -> set[str]:
    found = set()
    for member in typing.get_args(union):
        tag = member.__struct_config__.tag
        assert isinstance(tag, str)
        found.add(tag)
    return found


def test_every_visitor_frame_is_documented_and_every_documented_frame_exists() -> None:
    assert frame_headings(section(VISITOR_DOC, "## Server → client frames")) == tags(protocol.VisitorOut)
    assert frame_headings(section(VISITOR_DOC, "## Client → server frames")) == tags(protocol.VisitorIn)


def test_every_agent_frame_is_documented_and_every_documented_frame_exists() -> None:
    server = section(AGENT_DOC, "## Server → client frames")
    watched = set(re.findall(r"`(\w+)`", section(server, "### Frames of a watched session"))) & tags(
        protocol.VisitorOut
    )
    assert watched == {"message", "token", "reply_aborted", "typing", "rated", "session_rated", "error"}, (
        "a watched session's are the visitor's"
    )
    assert frame_headings(server) | watched == tags(protocol.AgentOut)
    client = section(AGENT_DOC, "## Client → server frames")
    assert set(re.findall(r'^\| `\{"type":"(\w+)"', client, re.MULTILINE)) == tags(protocol.AgentIn)


@pytest.mark.parametrize(
    ("doc", "heading", "codes"),
    [
        (VISITOR_DOC, "### `error`", protocol.VISITOR_ERROR_CODES),
        (AGENT_DOC, "### `ok` and `error`", protocol.AGENT_ERROR_CODES),
    ],
    ids=["visitor", "agent"],
)
def test_the_error_codes_of_each_socket_are_the_documented_ones(doc: str, heading: str, codes: tuple[str, ...]) -> None:
    assert table_codes(section(doc, heading)) == set(codes)


def test_every_refusal_the_code_can_raise_is_a_listed_error_code() -> None:
    frame_codes = set(typing.get_args(protocol.FrameCode))
    assert frame_codes <= set(protocol.VISITOR_ERROR_CODES) | set(protocol.AGENT_ERROR_CODES)
    assert StoreUnavailable.code in protocol.VISITOR_ERROR_CODES
    for error in (SessionNotFound, OwnedByOther, NotOwner, Unavailable, StoreUnavailable):
        assert error.code in protocol.AGENT_ERROR_CODES, error


def test_the_close_codes_are_the_documented_ones() -> None:
    documented = close_codes(section(VISITOR_DOC, "## Close codes")) | close_codes(section(AGENT_DOC, "## Connecting"))
    assert documented - UVICORN_CLOSE_CODES == {int(code) for code in protocol.Close}
    refusals = [value for value in vars(protocol).values() if isinstance(value, protocol.Refusal)]
    assert {refusal.code for refusal in refusals} | {protocol.Close.FRAME_TOO_BIG} == set(protocol.Close)


def test_frames_encode_as_the_documented_examples() -> None:
    """The shapes the page shows: the tag first, optional fields left out, ``owner: null`` kept in a patch."""
    token = protocol.Token(message_id="c15c", index=0, text="Hi! ")
    assert protocol.encode(token) == b'{"type":"token","message_id":"c15c","index":0,"text":"Hi! "}'
    assert protocol.encode(protocol.Typing(role="ai", active=True)) == b'{"type":"typing","role":"ai","active":true}'
    message = protocol.Message(seq=1, id="m", role="visitor", text="hello", created_at="t", client_id="1")
    assert msgspec.json.decode(protocol.encode(message)) == {
        "type": "message",
        "seq": 1,
        "id": "m",
        "role": "visitor",
        "text": "hello",
        "created_at": "t",
        "client_id": "1",
    }
    patch = protocol.SessionPatch(session=protocol.SessionChange(id="s", mode="ai", owner=None))
    assert msgspec.json.decode(protocol.encode(patch)) == {
        "type": "session",
        "session": {"id": "s", "mode": "ai", "owner": None},
    }


def test_the_token_prefix_read_on_the_hot_path_matches_the_encoding() -> None:
    prefix = protocol.token_prefix('id-with-"quote"')
    frame = protocol.encode(protocol.Token(message_id='id-with-"quote"', index=42, text="x, y")).decode()
    assert protocol.token_index(frame, prefix) == 42
    other = protocol.encode(protocol.Token(message_id="other", index=1, text="z")).decode()
    assert protocol.token_index(other, prefix) is None
    tagged = protocol.tag_session(protocol.session_prefix("s1"), frame)
    assert msgspec.json.decode(tagged)["session_id"] == "s1" and tagged.startswith('{"session_id":"s1","type":"token"')
