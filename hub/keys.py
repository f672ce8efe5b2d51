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
        """Pub/sub channel for tenant-wide events: session list updates for agents' dashboards."""
        return f"{self.prefix}:t:{tenant_id}:events"

    def widget_channel(self, tenant_id: str) -> str:
        """Pub/sub channel of the tenant's open widgets (every visitor socket of the tenant hears it): a change
        of persona or appearance made in the portal, as one ``widget`` frame."""
        return f"{self.prefix}:t:{tenant_id}:widgets"

    def stream_buffer(self, tenant_id: str, session_id: str) -> str:
        """List holding the AI reply streaming right now: message id first, then its tokens."""
        return f"{self.prefix}:t:{tenant_id}:s:{session_id}:stream"

    def control_channel(self, tenant_id: str) -> str:
        """Pub/sub channel for node-to-node commands about a tenant's sessions (cancel an AI reply)."""
        return f"{self.prefix}:t:{tenant_id}:control"

    def takeover_lock(self, tenant_id: str, session_id: str) -> str:
        """Key naming the agent who owns a session in human mode; it lapses unless heartbeats renew it."""
        return f"{self.prefix}:t:{tenant_id}:s:{session_id}:owner"

    def presence(self, tenant_id: str) -> str:
        """Sorted set of ``session node`` members whose visitor is connected, scored by expiry time."""
        return f"{self.prefix}:t:{tenant_id}:presence"

    def agents(self, tenant_id: str) -> str:
        """Sorted set of ``agent node`` members for the tenant's agents connected to Mission Control."""
        return f"{self.prefix}:t:{tenant_id}:agents"

    def mail_due(self) -> str:
        """Sorted set of ``tenant session`` members whose agent replies are to be emailed, scored by when (the
        end of the reply burst). Platform-wide like the reply leases; each member names its tenant."""
        return f"{self.prefix}:mail"

    def replying(self, tenant_id: str, session_id: str) -> str:
        """Claim of the node replying to a session: one AI reply at a time per session, on all nodes."""
        return f"{self.prefix}:t:{tenant_id}:s:{session_id}:replying"

    def reply_leases(self) -> str:
        """Sorted set of the AI replies streaming on any node (``tenant session message``), scored by lease
        expiry: a node that dies stops renewing, and another node re-answers that visitor. Platform-wide
        like the liveness channels; each member names its tenant."""
        return f"{self.prefix}:replies"

    def pricebook_channel(self) -> str:
        """Platform-wide (the pricebook belongs to no tenant): "a new version was published, reload it"."""
        return f"{self.prefix}:pricebook"

    def knowledge_channel(self) -> str:
        """Platform-wide like the pricebook's: "this tenant's knowledge changed, drop your cache of it". The
        frame names the tenant and carries nothing of its knowledge; one channel serves every tenant, so a
        node need not subscribe per tenant it has cached."""
        return f"{self.prefix}:knowledge"

    def signout_channel(self) -> str:
        """Platform-wide like the knowledge channel: "these logins ended, close their sockets". A platform
        admin's socket may follow any tenant, so one channel reaches every node; each frame names the tenant
        and the person, and carries no secret (at most the hash of the one token that stays)."""
        return f"{self.prefix}:signout"

    def tenants_channel(self) -> str:
        """Platform-wide like the knowledge channel: "this tenant's settings, personas or widget changed, drop
        your caches of it". The frame names the tenant and carries nothing else; every node hears it, also
        one with no socket of that tenant (its next bundle or ``ready`` must not be stale)."""
        return f"{self.prefix}:tenants"

    def liveness_channel(self, node_id: str) -> str:
        """Channel a node's subscriber publishes to itself to prove it still hears Redis."""
        return f"{self.prefix}:node:{node_id}:alive"
