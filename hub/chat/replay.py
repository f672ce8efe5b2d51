"""What a client that joins a session late gets besides the transcript: the AI reply streaming now."""

from __future__ import annotations

import orjson

from hub.broker.base import Broker
from hub.keys import Keys


async def partial_reply(
    broker: Broker, keys: Keys, tenant_id: str, session_id: str, stored_ids: set[str]
) -> tuple[str, list[bytes]] | None:
    """The streaming reply's id and its token frames so far, unless it is already stored in full."""
    buffer = await broker.buffer_read(keys.stream_buffer(tenant_id, session_id))
    if not buffer:
        return None
    message_id = buffer[0].decode()
    if message_id in stored_ids:
        return None
    frames = [
        orjson.dumps({"type": "token", "message_id": message_id, "index": index, "text": token.decode()})
        for index, token in enumerate(buffer[1:])
    ]
    return message_id, frames
