"""Which tenant an authenticated management call acts on: the caller's own, or, for a platform admin,
the one named by ``?business_id=``."""

from __future__ import annotations

from starlette.requests import Request

from hub.api.bodies import text_param
from hub.auth.permissions import Principal
from hub.auth.request import require_principal
from hub.errors import Forbidden, TenantNotFound
from hub.node import Node
from hub.store.tenants import get_tenant_by_business_id


async def managed_tenant_id(request: Request, node: Node, permission: str) -> str:
    principal: Principal = await require_principal(request, node, request.method)
    if permission not in principal.permissions:
        raise Forbidden(f"this account lacks the {permission} permission")
    business_id = request.query_params.get("business_id")
    if business_id is None or business_id == principal.business_id:
        return principal.tenant_id
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins act on other tenants")
    tenant = await get_tenant_by_business_id(node.engine, text_param(business_id, "business_id"))
    if tenant is None:
        raise TenantNotFound("unknown tenant")
    return tenant.id
