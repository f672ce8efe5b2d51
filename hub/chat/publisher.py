"""Where live frames go: a session's channel, the tenant's dashboard channel, the tenant's control channel.

Every channel name comes from ``Keys`` and every frame from ``hub.protocol``, so a frame can only be
published to a channel that names its tenant.
"""

from __future__ import annotations

from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.protocol import (
    CancelReply,
    Labels,
    Mentioned,
    MentionsRead,
    NoteFrame,
    Notice,
    SessionChange,
    SessionPatch,
    StaffRenamed,
    VisitorContextFrame,
    encode,
)


class Publisher:
    def __init__(self, fanout: Fanout, keys: Keys) -> None:
        self.fanout = fanout
        self.keys = keys

    def session(self, tenant_id: str, session_id: str, seq: int, frame: bytes) -> None:
        """A frame of one session (``seq`` 0 unless it is a durable message) to every socket on it."""
        self.fanout.publish(self.keys.session_channel(tenant_id, session_id), seq, frame)

    def announce(self, tenant_id: str, change: SessionChange) -> None:
        """Tell every agent dashboard of the tenant what changed about one session."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(SessionPatch(session=change)))

    def notice(self, tenant_id: str, notice: Notice) -> None:
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(notice))

    def staff_renamed(self, tenant_id: str, renamed: StaffRenamed) -> None:
        """Every agent socket of the tenant, on every node: the renamed person's own sockets sign with it."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(renamed))

    def visitor_context(self, tenant_id: str, frame: VisitorContextFrame) -> None:
        """Every agent socket of the tenant, on every node: a visitor's page, visit or email changed."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(frame))

    def labels(self, tenant_id: str, labels: Labels) -> None:
        """Every agent socket of the tenant, on every node: the tenant's labels as they are now."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(labels))

    def note(self, tenant_id: str, note: NoteFrame) -> None:
        """The tenant's agent sockets on every node; each passes it on only while it watches that session. Never
        the session's channel: visitors listen there."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(note))

    def mentioned(self, tenant_id: str, mentioned: Mentioned) -> None:
        """The tenant's agent sockets on every node; only the mentioned person's pass it on."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(mentioned))

    def mentions_read(self, tenant_id: str, read: MentionsRead) -> None:
        """The tenant's agent sockets on every node; only that person's pass it on (their other tabs)."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, encode(read))

    def cancel_reply(self, tenant_id: str, session_id: str) -> None:
        """Every node streaming this tenant's replies hears this, this one included (synchronously)."""
        self.fanout.publish(self.keys.control_channel(tenant_id), 0, encode(CancelReply(session_id=session_id)))
