"""Roles grant permissions; the platform tenant's admins may act on every tenant."""

from __future__ import annotations

from dataclasses import dataclass

from hub.store.models import PLATFORM_BUSINESS_ID as PLATFORM_BUSINESS_ID  # the platform admin rule is its use

CHAT_MANAGE = "chat.manage"
PERSONAS_MANAGE = "personas.manage"
KNOWLEDGE_MANAGE = "knowledge.manage"
WIDGET_MANAGE = "widget.manage"
WEBHOOKS_MANAGE = "webhooks.manage"
USERS_MANAGE = "users.manage"
PRICEBOOK_MANAGE = "pricebook.manage"

STAFF_ROLES: dict[str, frozenset[str]] = {
    "agent": frozenset({CHAT_MANAGE}),
    "owner": frozenset({CHAT_MANAGE, PERSONAS_MANAGE, KNOWLEDGE_MANAGE, WIDGET_MANAGE, WEBHOOKS_MANAGE, USERS_MANAGE}),
    "admin": frozenset(
        {CHAT_MANAGE, PERSONAS_MANAGE, KNOWLEDGE_MANAGE, WIDGET_MANAGE, WEBHOOKS_MANAGE, USERS_MANAGE, PRICEBOOK_MANAGE}
    ),
}
# Customer accounts log in to see their own things; they manage nothing of the tenant's.
CUSTOMER_ROLES: dict[str, frozenset[str]] = {"customer": frozenset()}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as every handler sees it."""

    user_id: str
    tenant_id: str
    business_id: str
    kind: str
    role: str
    email: str
    name: str
    via: str  # bearer | cookie

    @property
    def permissions(self) -> frozenset[str]:
        return (STAFF_ROLES if self.kind == "staff" else CUSTOMER_ROLES).get(self.role, frozenset())

    @property
    def is_platform_admin(self) -> bool:
        return self.kind == "staff" and self.role == "admin" and self.business_id == PLATFORM_BUSINESS_ID

    def can(self, permission: str, tenant_id: str | None = None) -> bool:
        if permission not in self.permissions:
            return False
        return tenant_id is None or tenant_id == self.tenant_id or self.is_platform_admin


def home_of(principal: Principal) -> str:
    """Where a person lands: the first portal page their role may use, else Mission Control, else the docs."""
    if WIDGET_MANAGE in principal.permissions:
        return "/portal/widget"
    if CHAT_MANAGE in principal.permissions:
        return "/mission-control"
    return "/docs"
