"""Logs: text by default, one JSON object per line with ``HUB_LOG_FORMAT=json``, each naming the node and the
tenant, session and request it happened for."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import logs
from hub.settings import Settings, SettingsError
from hub.store.database import open_engine
from tests.accounts import create_tenant
from tests.conftest import SECRET, visitor
from tests.services import HubProcess, free_port


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_log_format_is_text_unless_json_is_asked_for() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"HUB_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="HUB_LOG_FORMAT must be one of text, json"):
        Settings.from_env({"HUB_LOG_FORMAT": "xml"})


def test_a_json_line_carries_the_ids_of_its_context_and_leaves_out_those_unset(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("info", "json")
    logger = logging.getLogger("hub.test")

    def in_a_socket() -> None:
        logs.socket_context("node-1", "tenant-a")
        logs.session_id.set("session-9")
        logger.warning("the AI provider failed for %s", "session-9")

    contextvars.copy_context().run(in_a_socket)
    logger.info("outside any request")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "the AI provider failed for session-9" and first["level"] == "WARNING"
    assert (first["node"], first["tenant"], first["session"], first["logger"]) == (
        "node-1",
        "tenant-a",
        "session-9",
        "hub.test",
    )
    assert len(first["request_id"]) == 32 and first["time"]
    assert second["message"] == "outside any request" and "tenant" not in second and "session" not in second


def test_text_stays_the_terminal_format(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", "text")
    logging.getLogger("hub.test").warning("plain words")
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING hub.test: plain words") and not line.startswith("{")


async def test_a_node_logs_one_json_object_per_line_with_node_tenant_session_and_request(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    try:
        tenant = await create_tenant(engine, name="Logs Shop", business_id="logs-shop")
    finally:
        await engine.dispose()
    node = HubProcess(
        {
            "HUB_DATABASE_URL": sqlite_url,
            "HUB_SECRET_KEY": SECRET,
            "HUB_LOG_FORMAT": "json",
            "HUB_LOG_LEVEL": "info",
            # A provider that is not there: its failure is logged from inside the visitor's conversation.
            "HUB_AI_PROVIDER": "openai",
            "HUB_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        }
    )
    await asyncio.to_thread(node.start)
    try:
        async with httpx.AsyncClient(base_url=node.http) as client:
            answered = await client.get("/api/health", headers={"X-Request-ID": "lb-req-42"})
            assert answered.headers["x-request-id"] == "lb-req-42"
            own = await client.get("/api/health")
            assert len(own.headers["x-request-id"]) == 32, "the node makes one when the balancer sends none"
        async with visitor(node.ws, tenant.id) as client:
            await client.say("hello?")
            await client.until(lambda f: f["type"] == "error" and f["code"] == "ai_unavailable")
            session = client.ready["session_id"]
        lines = await until_logged(node, lambda line: "AI provider failed" in line.get("message", ""))
    finally:
        await asyncio.to_thread(node.stop)
    node_ids = {line.get("node") for line in lines if "node" in line}
    assert len(node_ids) == 1, "one node, one id"
    (failure,) = [line for line in lines if "AI provider failed" in line["message"]]
    assert failure["tenant"] == tenant.id and failure["session"] == session and failure["request_id"]
    assert failure["level"] == "WARNING" and failure["logger"] == "hub.chat.replies"
    access = [line for line in lines if line.get("logger") == "uvicorn.access" and "/api/health" in line["message"]]
    assert any(line.get("request_id") == "lb-req-42" for line in access), access


async def until_logged(node: HubProcess, predicate: Any) -> list[dict[str, Any]]:
    """The node's log as JSON objects (every line must be one), once a line matches."""
    for _ in range(100):
        text = Path(node.log_path).read_text()
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if any(predicate(line) for line in lines):
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(node.log())
