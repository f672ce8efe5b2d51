"""Every Redis key and pub/sub channel name the hub uses, built in one place.

Each name starts with the deployment prefix and carries the tenant, so no code path can read or
publish a session's data without naming its tenant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    def session_channel(self, tenant_id: str, session_id: str) -> str:
        """Pub/sub channel carrying every frame of one session."""
        return f"{self.prefix}:t:{tenant_id}:s:{session_id}"

    def tenant_channel(self, tenant_id: str) -> str:
        """Pub/sub channel for tenant-wide events (session list updates, control messages)."""
        return f"{self.prefix}:t:{tenant_id}:events"

    def stream_buffer(self, tenant_id: str, session_id: str) -> str:
        """List holding the AI reply streaming right now: message id first, then its tokens."""
        return f"{self.prefix}:t:{tenant_id}:s:{session_id}:stream"

    def liveness_channel(self, node_id: str) -> str:
        """Channel a node's subscriber publishes to itself to prove it still hears Redis."""
        return f"{self.prefix}:node:{node_id}:alive"
