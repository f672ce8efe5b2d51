"""Every HTTP operation of the API and every WebSocket, in one table.

The app builds its routes from ``API`` and ``SOCKETS`` (``hub.app``) and ``/api/openapi.json`` is
generated from the same table (``hub.api.openapi``), so a route cannot exist undocumented.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hub.api import (
    accounts,
    analytics,
    appearance,
    assignment,
    auth,
    canned,
    chat,
    feedback,
    health,
    knowledge,
    labels,
    mentions,
    notes,
    personas,
    pricebook,
    push,
    settings,
    team,
    webhooks,
    widget_keys,
)
from hub.api import chat_models as chat_bodies
from hub.api.models import ManagedQuery
from hub.api.openapi import build_document
from hub.api.operation import Header, Operation, Reply, Socket
from hub.appearance import GREETING_CHARS, LAUNCHER_TEXT_CHARS, MIN_CONTRAST, AppearanceChange, WidgetAppearance
from hub.chat.search import MAX_QUERY_CHARS
from hub.protocol import NoteItem, SessionRow
from hub.settings import Settings
from hub.store.assignment import HISTORY_LIMIT
from hub.tenant_settings import SettingsChange, TenantSettings
from hub.ws.agent import agent_socket
from hub.ws.visitor import visitor_socket

TAGS = {
    "chat": "The public and widget chat paths.",
    "app": "The logged-in app (Mission Control).",
    "auth": "Staff and customer accounts.",
    "tenants": "Onboarding, the team and its seats, AI credits.",
    "personas": "How Bob speaks for a tenant.",
    "canned": "A tenant's canned replies, inserted in Mission Control with `/`.",
    "labels": "A tenant's labels, put on conversations in Mission Control.",
    "conversations": "Staff's side of the conversations: private notes, mentions, search.",
    "knowledge": "What the AI answers from: the tenant's knowledge entries.",
    "widget keys": "Publishable keys for the widget and their allowed origins.",
    "widget appearance": "How the widget looks: colour, greeting, position, language, launcher text.",
    "webhooks": "Events sent to the tenant's endpoints, signed as Standard Webhooks.",
    "pricebook": "The plans and their numbers, versioned.",
    "analytics": "Conversations and credits, per tenant and over all.",
    "ops": "Operations.",
}
RATE_LIMITS = (
    "Rate limited (429 with Retry-After) per address (`HUB_RATE_LIMIT_ADDRESS`, default "
    f"{Settings.rate_limit_address}) and per session (`HUB_RATE_LIMIT_SESSION`, default {Settings.rate_limit_session})"
)
ACCEPT_SSE = Header(
    "Accept", "`text/event-stream` streams the turn as Server-Sent Events (message, token, …, done) instead of JSON."
)
MANAGE_ERRORS = (400, 401, 403, 404)  # a management read: bad parameter, no login, not allowed, unknown tenant
BODY_ERRORS = (413, 415)


async def openapi(request: Request) -> Response:
    return Response(_document_bytes(), media_type="application/json")


def _login(path: str, audience: str) -> list[Operation]:
    return [
        Operation(
            f"{path}/login",
            "POST",
            auth.customer_login if audience == "customer" else auth.staff_login,
            "auth",
            f"Log in ({audience} accounts)",
            {200: Reply("Logged in.", auth.LoginResponse)},
            (400, 401, 413, 415, 429),
            description="Returns a Bearer token and also sets the HttpOnly `bob_session` cookie and the readable "
            "`bob_csrf` cookie. Failed logins are throttled per account and per address (429).",
            auth="none",
            body=auth.LoginRequest,
            body_bytes=auth.LOGIN_BODY_BYTES,
        ),
        *(_password_reset() if audience == "staff" else []),
        Operation(
            f"{path}/logout",
            "POST",
            auth.logout,
            "auth",
            f"Log out ({audience} accounts): revoke the token presented",
            {204: Reply("Revoked; the cookies are cleared.")},
            (401, 403),
        ),
        Operation(
            f"{path}/me",
            "GET",
            auth.me,
            "auth",
            f"Who am I ({audience} accounts)",
            {200: Reply("The caller.", auth.Account)},
            (401,),
        ),
    ]


def _password_reset() -> list[Operation]:
    return [
        Operation(
            "/api/auth/password-reset",
            "POST",
            auth.ask_password_reset,
            "auth",
            "Forgot your password: a one-time link by email (staff accounts)",
            {202: Reply("The same answer whether or not an account has this email.", auth.ResetAsked)},
            (400, 409, 413, 415, 429),
            description="When an active staff account has this email, a link (`/reset-password/{token}`) that "
            "works once, for one hour, is emailed in the page's language. Neither the answer nor its timing says "
            "whether one has. 429 past 3 requests an hour for one email or 10 from one address; 409 "
            "`mail_unavailable` on a hub without SMTP (an owner can make a link on the Team page).",
            auth="none",
            body=auth.ResetRequest,
            body_bytes=auth.LOGIN_BODY_BYTES,
        ),
        Operation(
            "/api/auth/password-reset/complete",
            "POST",
            auth.reset_password,
            "auth",
            "Set a new password with a one-time link: every other login of the person ends",
            {200: Reply("The new password is set and this browser logged in, as a login answers.", auth.LoginResponse)},
            (400, 410, 413, 415, 429),
            description="Every other token of the person is revoked (401 on every node at once) and their Mission "
            "Control sockets are closed (4401). 410 `link_invalid` for a link that is unknown, used or expired; 429 "
            "past 30 links tried a minute from one address.",
            auth="none",
            body=auth.NewPasswordRequest,
            body_bytes=auth.LOGIN_BODY_BYTES,
        ),
    ]


API: tuple[Operation, ...] = (
    Operation(
        "/api/health",
        "GET",
        health.health,
        "ops",
        "Health of this node (database, broker, AI)",
        {
            200: Reply("Ready for traffic.", health.Health),
            503: Reply("Not ready (database or broker down).", health.Health),
        },
        auth="none",
    ),
    Operation(
        "/api/ready",
        "GET",
        health.ready,
        "ops",
        "Readiness: should a load balancer send this node traffic",
        {
            200: Reply("Ready for traffic.", health.Ready),
            503: Reply("Not ready: draining after SIGTERM, or the database, writer or broker unusable.", health.Ready),
        },
        description="Turns 503 (`draining`) the moment the node gets SIGTERM, before it stops taking connections "
        "(after `HUB_DRAIN_S`), and whenever `/api/health` would answer 503. Probe this from load balancers and "
        "Kubernetes' readinessProbe.",
        auth="none",
    ),
    Operation(
        "/api/live",
        "GET",
        health.live,
        "ops",
        "Liveness: the process answers",
        {200: Reply("The process answers.", health.Live)},
        description="Checks nothing else: probe this from Kubernetes' livenessProbe, so an outage of the database or "
        "Redis never restarts the nodes.",
        auth="none",
    ),
    Operation(
        "/api/openapi.json",
        "GET",
        openapi,
        "ops",
        "This document",
        {200: Reply("OpenAPI 3.1.", dict[str, Any])},
        auth="none",
    ),
    *_login("/api/auth", "staff"),
    Operation(
        "/api/auth/me",
        "PATCH",
        auth.change_me,
        "auth",
        "Change your own display name (staff accounts)",
        {200: Reply("The caller, renamed.", auth.Account)},
        (400, 401, 403, *BODY_ERRORS),
        description="The name colleagues see in Mission Control and visitors see on your replies and in "
        '"Alex joined the chat", from your next message on, on every node.',
        body=auth.ProfileChange,
        body_bytes=auth.PROFILE_BODY_BYTES,
    ),
    *_login("/api/customers/auth", "customer"),
    Operation(
        "/api/chat",
        "POST",
        chat.public_chat,
        "chat",
        "Public chat: same origin, anonymous",
        {200: Reply("The AI's reply.", chat_bodies.ChatReply, stream=True)},
        (400, 403, 404, 409, 413, 415, 429, 503),
        description="The visitor is the HttpOnly `bob_visitor` cookie this endpoint sets. A request whose Origin is "
        f"another site gets 403 and no CORS headers: other sites embed the widget. {RATE_LIMITS}.",
        auth="none",
        body=chat_bodies.ChatRequest,
        headers=(Header("Origin", "Absent, or the hub's own origin."), ACCEPT_SSE),
    ),
    Operation(
        "/api/widget/chat",
        "POST",
        chat.widget_chat,
        "chat",
        "Widget chat: cross-origin, with a widget key",
        {
            200: Reply(
                "The AI's reply and the visitor token (also the `X-Visitor-Token` header, there before a stream's "
                "first event).",
                chat_bodies.WidgetChatReply,
                stream=True,
                headers=("X-Visitor-Token", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary"),
            )
        },
        (400, 401, 403, 404, 409, 413, 415, 429, 503),
        description="Needs X-Widget-Key and an Origin allowed for that key. Answers (errors after the origin check "
        f"included) carry Access-Control-Allow-Origin and Vary: Origin. {RATE_LIMITS}, and per widget key "
        f"(`HUB_RATE_LIMIT_KEY`, default {Settings.rate_limit_key}).",
        auth="widget key",
        body=chat_bodies.WidgetChatRequest,
        headers=(
            Header("Origin", "Must be allowed for the widget key.", required=True),
            Header("X-Visitor-Token", "The visitor_token of an earlier answer: the same visitor again."),
            ACCEPT_SSE,
        ),
    ),
    Operation(
        "/api/widget/chat",
        "OPTIONS",
        chat.widget_preflight,
        "chat",
        "CORS preflight for widget chat",
        {
            204: Reply(
                "Allowed.",
                headers=(
                    "Access-Control-Allow-Origin",
                    "Access-Control-Allow-Methods",
                    "Access-Control-Allow-Headers",
                    "Access-Control-Max-Age",
                    "Vary",
                ),
            )
        },
        (403,),
        description="Answered only for an Origin that some active widget key allows.",
        auth="none",
        headers=(
            Header("Origin", "The embedding page's origin.", required=True),
            Header("Access-Control-Request-Method", "POST"),
            Header("Access-Control-Request-Headers", "e.g. content-type, x-widget-key"),
        ),
    ),
    Operation(
        "/api/widget/rating",
        "POST",
        feedback.widget_rating,
        "chat",
        "Widget: rate an AI reply (helpful or not)",
        {200: Reply("Stored; a rating again replaces it.", chat_bodies.WidgetRatingReply)},
        (400, 401, 403, 404, 413, 415, 429, 503),
        description="The widget's HTTP path does what the visitor socket's `rate` frame does. Needs X-Widget-Key, "
        "an Origin allowed for it and the visitor's X-Visitor-Token: only AI replies of the visitor's own "
        "conversation may be rated (anything else is 404 `unknown_message`). Sends the `message.rated` webhook. "
        f"{RATE_LIMITS}.",
        auth="widget key",
        body=chat_bodies.WidgetRating,
        headers=(
            Header("Origin", "Must be allowed for the widget key.", required=True),
            Header("X-Visitor-Token", "The visitor_token of the widget chat's answers.", required=True),
        ),
    ),
    Operation(
        "/api/widget/session-rating",
        "POST",
        feedback.widget_session_rating,
        "chat",
        "Widget: rate the conversation (1 to 5 stars, optional comment)",
        {200: Reply("Stored; a later rating replaces it.", chat_bodies.WidgetSessionRatingReply)},
        (400, 401, 403, 404, 413, 415, 429, 503),
        description="As the visitor socket's `rate_session` frame; the widget asks for it when the conversation "
        "closes. A conversation the visitor never wrote in is 404 `unknown_session`. Sends the `session.rated` "
        f"webhook. {RATE_LIMITS}.",
        auth="widget key",
        body=chat_bodies.WidgetSessionRating,
        headers=(
            Header("Origin", "Must be allowed for the widget key.", required=True),
            Header("X-Visitor-Token", "The visitor_token of the widget chat's answers.", required=True),
        ),
    ),
    *(
        Operation(
            path,
            "OPTIONS",
            chat.widget_preflight,
            "chat",
            f"CORS preflight for {path}",
            {
                204: Reply(
                    "Allowed.",
                    headers=(
                        "Access-Control-Allow-Origin",
                        "Access-Control-Allow-Methods",
                        "Access-Control-Allow-Headers",
                        "Access-Control-Max-Age",
                        "Vary",
                    ),
                )
            },
            (403,),
            description="Answered only for an Origin that some active widget key allows.",
            auth="none",
            headers=(
                Header("Origin", "The embedding page's origin.", required=True),
                Header("Access-Control-Request-Method", "POST"),
                Header("Access-Control-Request-Headers", "e.g. content-type, x-widget-key, x-visitor-token"),
            ),
        )
        for path in ("/api/widget/rating", "/api/widget/session-rating")
    ),
    Operation(
        "/api/chat/session",
        "POST",
        chat.app_session,
        "app",
        "App: open a new session (needs chat.manage)",
        {201: Reply("Opened.", chat_bodies.AppSession)},
        (400, 401, 403, 404, *BODY_ERRORS),
        description="Anonymous callers get 401 with a pointer to POST /api/chat.",
        body=chat_bodies.AppSessionRequest,
        body_optional=True,
    ),
    Operation(
        "/api/chat/message",
        "POST",
        chat.app_message,
        "app",
        "App: post an agent message to a session (needs chat.manage)",
        {200: Reply("Stored and delivered.", chat_bodies.AppMessage, stream=True)},
        (400, 401, 403, 404, 409, *BODY_ERRORS, 503),
        description="Delivered live to the visitor's WebSocket, on any node. While another agent owns the session "
        "(human mode, see Mission Control's takeover) it is refused with 409 owned_by_other.",
        body=chat_bodies.AppMessageRequest,
        headers=(ACCEPT_SSE,),
    ),
    Operation(
        "/api/chat/history/{session_id}",
        "GET",
        chat.app_history,
        "app",
        "App: a session's transcript (needs chat.manage)",
        {200: Reply("The messages.", chat_bodies.History)},
        MANAGE_ERRORS,
        path_parameters=chat_bodies.HistoryPath,
        query=chat_bodies.HistoryQuery,
    ),
    Operation(
        "/api/chat/context/{session_id}",
        "GET",
        chat.app_visitor_context,
        "app",
        "App: what is known about a session's visitor (needs chat.manage)",
        {200: Reply("The visitor's context.", chat_bodies.VisitorContextAnswer)},
        MANAGE_ERRORS,
        description="The page the visitor is on and the pages of the current visit (the widget reports them), "
        "first seen, visits (a new one after 30 minutes without activity), the widget's and the browser's "
        "language, the time zone, and the email address the visitor left. Mission Control shows it beside the "
        "conversation and keeps it live with the agent socket's `visitor_context` frames. A session of "
        "another tenant is 404 `unknown_session`.",
        path_parameters=chat_bodies.HistoryPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions",
        "GET",
        assignment.sessions,
        "app",
        "App: the conversations of Mission Control's list, filtered (needs chat.manage)",
        {200: Reply("The conversations.", assignment.SessionList)},
        MANAGE_ERRORS,
        description="Each with its `assignee`, `labels` (label ids) and the staff-only `transfer` note, as the "
        "agent socket's `sessions` frame. `view` `mine` or `unassigned`, or `agent_id`, picks by assignee; "
        "`status`, `mode` and `label_id` narrow further.",
        query=assignment.SessionsQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}",
        "GET",
        assignment.session,
        "app",
        "App: one conversation's row: status, mode, owner, assignee, labels (needs chat.manage)",
        {200: Reply("The conversation.", SessionRow)},
        MANAGE_ERRORS,
        path_parameters=assignment.SessionPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/staff",
        "GET",
        assignment.staff,
        "app",
        "App: who may be assigned conversations: the tenant's active staff, online or not (needs chat.manage)",
        {200: Reply("The staff, by name.", assignment.StaffList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}/assignee",
        "PUT",
        assignment.set_assignee,
        "app",
        "App: assign a conversation to a staff member, reassign it, or (null) unassign it (needs chat.manage)",
        {200: Reply("The conversation now.", SessionRow)},
        (*MANAGE_ERRORS, 422, *BODY_ERRORS),
        description="404 `unknown_agent` for an id that is no staff member of the tenant; 422 `not_assignable` "
        "for the tenant's customer accounts and disabled staff. Every Mission Control of the tenant, on every "
        "node, gets the change as a `session` patch.",
        body=assignment.AssigneeRequest,
        body_bytes=assignment.ASSIGN_BODY_BYTES,
        path_parameters=assignment.SessionPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}/transfer",
        "POST",
        assignment.transfer,
        "app",
        "App: transfer a conversation to another staff member with a note for staff (needs chat.manage)",
        {200: Reply("The conversation now, with its `transfer` note.", SessionRow)},
        (*MANAGE_ERRORS, 409, 422, *BODY_ERRORS),
        description="The note is shown to staff only (Mission Control, this API), never to the visitor or in a "
        "webhook (`conversation.assigned` says who, not what). The transfer hands the conversation over: whoever "
        "holds it (human mode), the sender or a colleague, lets go of it on every node; the AI stays quiet, "
        "nobody replies until someone takes it over, and the new assignee takes it over without force. 409 "
        "`already_assigned` when it is theirs already.",
        body=assignment.TransferRequest,
        body_bytes=assignment.ASSIGN_BODY_BYTES,
        path_parameters=assignment.SessionPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}/assignments",
        "GET",
        assignment.assignments,
        "app",
        "App: a conversation's assignment history (needs chat.manage)",
        {200: Reply("Its assignments, oldest first.", assignment.AssignmentHistory)},
        MANAGE_ERRORS,
        description="Every change of its assignee: assigned, reassigned, transferred (with the note, for staff "
        "only), unassigned, picked by round-robin, or assigned to whoever took it over while it was assigned to "
        f"nobody; who did it and when. The newest {HISTORY_LIMIT}. A session of another tenant is 404 "
        "`unknown_session`.",
        path_parameters=assignment.SessionPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}/labels/{label_id}",
        "PUT",
        assignment.add_label,
        "app",
        "App: put a label on a conversation (needs chat.manage; doing it again changes nothing)",
        {200: Reply("The conversation now.", SessionRow)},
        (*MANAGE_ERRORS, 409),
        description=labels.LIMITS + " 404 `unknown_label` for a label that is not the tenant's.",
        path_parameters=assignment.SessionLabelPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/chat/sessions/{session_id}/labels/{label_id}",
        "DELETE",
        assignment.remove_label,
        "app",
        "App: take a label off a conversation (needs chat.manage)",
        {200: Reply("The conversation now.", SessionRow)},
        MANAGE_ERRORS,
        path_parameters=assignment.SessionLabelPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/push/key",
        "GET",
        push.offer,
        "app",
        "App: the hub's VAPID public key for Web Push alerts (needs chat.manage)",
        {200: Reply("The key, or null when this hub offers no push.", push.PushOffer)},
        (401, 403),
    ),
    Operation(
        "/api/push/subscriptions",
        "POST",
        push.subscribe,
        "app",
        "App: turn on push alerts in this browser for the calling agent (needs chat.manage)",
        {201: Reply("Stored (a browser subscribing again replaces its own).", push.PushSubscription)},
        (400, 401, 403, 409, *BODY_ERRORS),
        description="The body is the browser's `PushSubscription.toJSON()`. Every agent of the tenant with a "
        "subscription gets a push when a visitor starts waiting for a person, and again when the wait outgrows "
        f"the tenant's `escalate_after_s`. At most {push.PER_AGENT} browsers per agent: a new one beyond "
        "replaces the oldest. 409 push_not_offered when the hub has no VAPID key.",
        body=push.PushSubscriptionRequest,
        body_bytes=push.PUSH_BODY_BYTES,
    ),
    Operation(
        "/api/push/subscriptions",
        "DELETE",
        push.unsubscribe,
        "app",
        "App: turn push alerts off in this browser (the calling agent's own subscription)",
        {204: Reply("Deleted.")},
        (400, 401, 403, 404, *BODY_ERRORS),
        body=push.PushUnsubscribeRequest,
        body_bytes=push.PUSH_BODY_BYTES,
    ),
    Operation(
        "/api/pricebook",
        "GET",
        pricebook.current,
        "pricebook",
        "The published pricebook: the live plans and numbers",
        {200: Reply("The current version.", pricebook.PricebookVersion)},
        (503,),
        auth="none",
    ),
    Operation(
        "/api/pricebook/versions/{version}",
        "GET",
        pricebook.version,
        "pricebook",
        "One published pricebook version (drafts only for platform admins)",
        {200: Reply("That version.", pricebook.PricebookVersion)},
        (400, 404),
        auth="none",
        path_parameters=pricebook.VersionPath,
    ),
    Operation(
        "/api/admin/pricebook/versions",
        "POST",
        pricebook.create_version,
        "pricebook",
        "Platform admin: create a draft version (exactly the three plans)",
        {201: Reply("The draft.", pricebook.PricebookVersion)},
        (400, 401, 403, *BODY_ERRORS),
        body=pricebook.PricebookDraftRequest,
    ),
    Operation(
        "/api/admin/pricebook/versions/{version}/publish",
        "POST",
        pricebook.publish_version,
        "pricebook",
        "Platform admin: publish a draft; every node switches to it at once",
        {200: Reply("Published.", pricebook.PricebookVersion)},
        (400, 401, 403, 404, 409),
        path_parameters=pricebook.VersionPath,
    ),
    Operation(
        "/api/admin/tenants",
        "POST",
        accounts.register_tenant,
        "tenants",
        "Platform admin: register a tenant (plan, owner account, first widget key, default persona)",
        {201: Reply("Registered.", accounts.RegisteredTenant)},
        (400, 401, 403, 409, *BODY_ERRORS),
        description="Everything is checked before anything is written, then the tenant, its default persona, its "
        "first widget key and its owner are written in one transaction: a refusal leaves nothing behind.",
        body=accounts.TenantRequest,
        body_bytes=accounts.ACCOUNT_BODY_BYTES,
    ),
    Operation(
        "/api/users",
        "GET",
        accounts.list_team,
        "tenants",
        "The tenant's team and seats (needs users.manage)",
        {200: Reply("The team.", accounts.Team)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/users",
        "POST",
        accounts.add_teammate,
        "tenants",
        "Add an agent or owner within the plan's seats (needs users.manage; 409 seat_limit)",
        {201: Reply("Added.", accounts.StaffUser)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        body=accounts.TeammateRequest,
        body_bytes=accounts.ACCOUNT_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/invites",
        "GET",
        team.list_invites,
        "tenants",
        "The team's open invitations (needs users.manage)",
        {200: Reply("Neither accepted nor revoked; expired ones too (they can be sent again).", team.InviteList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/invites",
        "POST",
        team.invite,
        "tenants",
        "Invite a person to the team by a one-time link (needs users.manage)",
        {201: Reply("Invited: emailed, or the link to pass on.", team.InviteSent)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        description="The link (`/invite/{token}`) works once, for 7 days; the invitee chooses their password "
        "there and is logged in. It is emailed when the hub has SMTP (`HUB_SMTP_URL`), else answered as `link` "
        "for the caller to pass on (also when the email failed). A live invitation holds a seat. 409 "
        "`email_taken` (an account has this email), `already_invited` (a live invitation has it: send it again) "
        "or `seat_limit`.",
        body=team.InviteRequest,
        body_bytes=accounts.ACCOUNT_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/invites/{invite_id}/resend",
        "POST",
        team.resend,
        "tenants",
        "Send an invitation again with a new link (needs users.manage)",
        {200: Reply("Sent again: the old link no longer works; 7 more days.", team.InviteSent)},
        (*MANAGE_ERRORS, 409),
        description="409 `seat_limit` when the invitation had expired (it held no seat) and the seats are full.",
        path_parameters=team.InvitePath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/invites/{invite_id}",
        "DELETE",
        team.revoke,
        "tenants",
        "Revoke an invitation: its link stops working, its seat is free (needs users.manage)",
        {204: Reply("Revoked.")},
        MANAGE_ERRORS,
        path_parameters=team.InvitePath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/invites/accept",
        "POST",
        team.accept,
        "auth",
        "Accept an invitation: choose a password, get the account, logged in",
        {200: Reply("The account is made and logged in, as a login answers.", auth.LoginResponse)},
        (400, 409, 410, 413, 415, 429),
        description="Sets the same cookies as a login. 410 `link_invalid` for a link that is unknown, used, revoked "
        "or expired (the answer does not say which); 409 `email_taken` or `seat_limit`; 429 past 30 links tried "
        "a minute from one address.",
        auth="none",
        body=team.AcceptRequest,
        body_bytes=accounts.ACCOUNT_BODY_BYTES,
    ),
    Operation(
        "/api/users/{user_id}/deactivate",
        "POST",
        team.deactivate,
        "tenants",
        "Deactivate a teammate: their logins end at once, everywhere (needs users.manage)",
        {200: Reply("Deactivated.", accounts.StaffUser)},
        (*MANAGE_ERRORS, 409),
        description="Their tokens are revoked (every node refuses them from now on, 401), their Mission Control "
        "sockets are closed on every node (4401), their seat is free, and the conversations they had taken over "
        "go back to the Waiting queue (reason `agent_left`). The account and its name stay; log-ins answer 403 "
        "`account_deactivated`. 409 `own_account` for your own account, `last_owner` for the last active owner; "
        "403 for an admin's account unless you are an admin.",
        path_parameters=team.UserPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/users/{user_id}/reactivate",
        "POST",
        team.reactivate,
        "tenants",
        "Reactivate a teammate: they log in again with their password (needs users.manage)",
        {200: Reply("Active again.", accounts.StaffUser)},
        (*MANAGE_ERRORS, 409),
        description="409 `seat_limit` when the plan's seats are taken or invited.",
        path_parameters=team.UserPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/users/{user_id}/password-link",
        "POST",
        team.password_link,
        "tenants",
        "A one-time link for a teammate to set a new password (needs users.manage)",
        {200: Reply("Emailed to them, or the link to pass on.", team.LinkSent)},
        (*MANAGE_ERRORS, 409),
        description="The link works once, for one hour, as the one “Forgot your password?” emails. Emailed when "
        "the hub has SMTP, else answered as `link`. 409 `own_account` for your own account; 403 "
        "`account_deactivated` for a deactivated one.",
        path_parameters=team.UserPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/usage",
        "GET",
        accounts.usage_overview,
        "tenants",
        "This month's AI credits (one credit = one AI reply) against the plan's (needs users.manage)",
        {200: Reply("The usage.", accounts.Usage)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/settings",
        "GET",
        settings.read,
        "tenants",
        "The tenant's settings, e.g. whether the AI keeps answering while a visitor waits for a person",
        {200: Reply("The settings.", TenantSettings)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/settings",
        "PATCH",
        settings.change,
        "tenants",
        "Change some of the tenant's settings (needs users.manage); the others stay",
        {200: Reply("The settings now.", TenantSettings)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        body=SettingsChange,
        body_bytes=settings.SETTINGS_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/metrics/business",
        "GET",
        analytics.business_metrics,
        "analytics",
        "The tenant's conversations per day, AI alone vs taken over, medians, credits (users.manage)",
        {200: Reply("The metrics.", analytics.BusinessMetrics)},
        MANAGE_ERRORS,
        query=analytics.MetricsQuery,
    ),
    Operation(
        "/api/analytics/overview",
        "GET",
        analytics.overview,
        "analytics",
        "Platform admin: the same over every tenant, and each tenant's credits",
        {200: Reply("The overview.", analytics.Overview)},
        (400, 401, 403),
        query=analytics.DaysQuery,
    ),
    Operation(
        "/api/conversations/search",
        "GET",
        notes.search,
        "conversations",
        "Search the tenant's conversations: visitor messages, AI and agent replies, notes (needs chat.manage)",
        {200: Reply("The matching conversations, best first, each with snippets.", notes.SearchResults)},
        (*MANAGE_ERRORS, 503),
        description="Every word of `q` must match, in any of the conversation's messages and notes (one word in the "
        "visitor's message, another in a reply is a match), as a prefix of a word (from 4 letters; shorter words "
        'whole), with accents and Polish and English endings left out ("hamulców" finds "hamulce"), and Polish '
        'stems that alternate met ("hamulec" finds "hamulce", "pies" "psa", "ręka" "ręce"); the words every '
        'sentence has ("the", "czy") are left out unless `q` holds nothing else. First come the conversations '
        "whose one message or note holds the most of the words, then the newest match. 400 `invalid_input` for "
        f"a `q` longer than {MAX_QUERY_CHARS} characters or holding no letter or digit. 503 `unavailable` when "
        "the search took over 5 s.",
        query=notes.SearchQuery,
    ),
    Operation(
        "/api/conversations/{session_id}/notes",
        "GET",
        notes.list_notes,
        "conversations",
        "A conversation's private notes, oldest first (the newest 200; needs chat.manage)",
        {200: Reply("The notes.", notes.NoteList)},
        MANAGE_ERRORS,
        path_parameters=notes.NotesPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/conversations/{session_id}/notes",
        "POST",
        notes.create_note,
        "conversations",
        "Write a private note on a conversation (needs chat.manage)",
        {201: Reply("Stored; shown live to every agent watching the conversation.", NoteItem)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        description="Staff only: a note never reaches the visitor (socket, widget, HTTP paths, history), the AI "
        "or a webhook. Each person in `mentions` is alerted: a `mentioned` frame on their Mission Control, a "
        "Web Push on their devices, an email when SMTP is set up and their Mission Control is closed. "
        "400 `unknown_mention` for an id that is no staff member of the tenant; 404 `unknown_session`.",
        body=notes.NoteRequest,
        body_bytes=notes.NOTE_BODY_BYTES,
        path_parameters=notes.NotesPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/staff",
        "GET",
        notes.list_staff,
        "conversations",
        "The tenant's staff by display name, for mentions (needs chat.manage: every agent)",
        {200: Reply("Every enabled staff account: id, name, role.", notes.StaffList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/mentions",
        "GET",
        mentions.list_mentions,
        "conversations",
        "Your Mentions inbox: the notes that mentioned you, newest first, with your unread count (needs chat.manage)",
        {200: Reply("A page of your mentions, and how many of them all are unread.", mentions.MentionPage)},
        MANAGE_ERRORS,
        description="Only the caller's own mentions in the tenant the call acts on (nobody reads another "
        "person's); nobody is in their own inbox for a note they wrote. Page with `before`: the `next_before` of "
        "the previous page; 404 `unknown_mention_id` when it is none of the caller's mentions. Mission Control "
        "lists these under **Mentions**; the live `mentioned` frame carries each new one's `mention_id`.",
        query=mentions.MentionsQuery,
    ),
    Operation(
        "/api/mentions/read",
        "POST",
        mentions.mark_read,
        "conversations",
        "Mark some of your mentions, or all of them, read (needs chat.manage)",
        {200: Reply("Marked; your unread count now.", mentions.MarkedRead)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        description='`{"ids": [...]}` (up to 100) or `{"all": true}` (every mention up to now); marking one read '
        "again keeps the time it was first read. Your other Mission Controls follow at once, on every node (the "
        "`mentions_read` frame). 404 `unknown_mention_id`, nothing marked, when an id is none of your mentions; "
        "400 `invalid_input` for both or neither of `ids` and `all`.",
        body=mentions.ReadRequest,
        body_bytes=mentions.READ_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/canned-replies",
        "GET",
        canned.list_all,
        "canned",
        "The tenant's canned replies, by title (needs chat.manage: every agent)",
        {200: Reply("All of them.", canned.CannedList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/canned-replies",
        "POST",
        canned.create,
        "canned",
        "Add a canned reply (needs users.manage: owners and admins)",
        {201: Reply("Added.", canned.CannedReply)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        description="409 `too_many_canned_replies` beyond 200 per tenant.",
        body=canned.CannedRequest,
        body_bytes=canned.CANNED_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/canned-replies/{reply_id}",
        "PATCH",
        canned.change,
        "canned",
        "Change a canned reply: the fields sent (needs users.manage)",
        {200: Reply("The canned reply as changed.", canned.CannedReply)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        body=canned.CannedChange,
        body_bytes=canned.CANNED_BODY_BYTES,
        path_parameters=canned.CannedPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/canned-replies/{reply_id}",
        "DELETE",
        canned.remove,
        "canned",
        "Delete a canned reply (needs users.manage)",
        {204: Reply("Deleted.")},
        MANAGE_ERRORS,
        path_parameters=canned.CannedPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/labels",
        "GET",
        labels.list_all,
        "labels",
        "The tenant's labels, by name (needs chat.manage: every agent)",
        {200: Reply("All of them.", labels.LabelList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/labels",
        "POST",
        labels.create,
        "labels",
        "Add a label (needs users.manage: owners and admins)",
        {201: Reply("Added.", labels.LabelEntry)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        description=labels.LIMITS,
        body=labels.LabelRequest,
        body_bytes=labels.LABEL_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/labels/{label_id}",
        "PATCH",
        labels.change,
        "labels",
        "Rename or recolour a label (needs users.manage); every conversation carrying it shows the change",
        {200: Reply("The label as changed.", labels.LabelEntry)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        body=labels.LabelChange,
        body_bytes=labels.LABEL_BODY_BYTES,
        path_parameters=labels.LabelPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/labels/{label_id}",
        "DELETE",
        labels.remove,
        "labels",
        "Delete a label, and take it off every conversation (needs users.manage)",
        {204: Reply("Deleted.")},
        MANAGE_ERRORS,
        path_parameters=labels.LabelPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/personas",
        "GET",
        personas.list_all,
        "personas",
        "The tenant's personas (needs personas.manage)",
        {200: Reply("All of them.", personas.PersonaList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/personas",
        "POST",
        personas.create,
        "personas",
        "Create a persona (needs personas.manage)",
        {201: Reply("Created.", personas.Persona)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        body=personas.PersonaRequest,
        body_bytes=personas.PERSONA_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/personas/{persona_id}",
        "GET",
        personas.read,
        "personas",
        "One persona (needs personas.manage)",
        {200: Reply("The persona.", personas.Persona)},
        MANAGE_ERRORS,
        path_parameters=personas.PersonaPath,
        query=ManagedQuery,
    ),
    *(
        Operation(
            "/api/personas/{persona_id}",
            method,
            personas.change,
            "personas",
            "Change a persona: the fields sent (needs personas.manage; PUT and PATCH alike)",
            {200: Reply("The persona as changed.", personas.Persona)},
            (*MANAGE_ERRORS, 409, *BODY_ERRORS),
            body=personas.PersonaChange,
            body_bytes=personas.PERSONA_BODY_BYTES,
            path_parameters=personas.PersonaPath,
            query=ManagedQuery,
        )
        for method in ("PUT", "PATCH")
    ),
    Operation(
        "/api/personas/{persona_id}",
        "DELETE",
        personas.remove,
        "personas",
        "Delete a persona that is not the active one (needs personas.manage)",
        {204: Reply("Deleted.")},
        (*MANAGE_ERRORS, 409),
        path_parameters=personas.PersonaPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/knowledge",
        "GET",
        knowledge.list_all,
        "knowledge",
        "The tenant's knowledge entries (needs knowledge.manage: owners, admins)",
        {200: Reply("All of them, by title.", knowledge.KnowledgeList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/knowledge",
        "POST",
        knowledge.create,
        "knowledge",
        "Add a knowledge entry; the AI answers from it on every node within seconds",
        {201: Reply("Created.", knowledge.KnowledgeEntry)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        description=f"409 when the tenant would hold more than {knowledge.MAX_ENTRIES} entries.",
        body=knowledge.KnowledgeRequest,
        body_bytes=knowledge.KNOWLEDGE_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/knowledge/import",
        "POST",
        knowledge.bulk_import,
        "knowledge",
        "Import entries in bulk: Markdown files (titled by their first heading) or one CSV file",
        {201: Reply("Every entry created.", knowledge.ImportResult)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        description="`format` `markdown`: each file is one entry, its first heading the title and the rest the "
        "body (a file without a heading is titled by its name). `format` `csv`: one file whose header row names "
        "`title` and `body`, optionally `url`, `language` (en, pl) and `enabled`; one entry per row. All or "
        "nothing: a refused file or row (named in the error) writes no entry.",
        body=knowledge.KnowledgeImport,
        body_bytes=knowledge.IMPORT_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/knowledge/unanswered",
        "GET",
        knowledge.unanswered,
        "knowledge",
        "What Bob could not answer: questions of the last 30 days, grouped by similar wording, most asked first",
        {200: Reply("Up to 20 groups.", knowledge.UnansweredList)},
        MANAGE_ERRORS,
        description="A visitor's question is kept when the AI answered it with no matching knowledge entry, or "
        "when it ended in a request for a person (greetings, thanks and bare requests for a person are not "
        "questions). Each group has its latest wording and what a person from the team first wrote in that "
        "conversation: the portal turns it into a new entry.",
        query=ManagedQuery,
    ),
    Operation(
        "/api/knowledge/{entry_id}",
        "GET",
        knowledge.read,
        "knowledge",
        "One knowledge entry",
        {200: Reply("The entry.", knowledge.KnowledgeEntry)},
        MANAGE_ERRORS,
        path_parameters=knowledge.KnowledgePath,
        query=ManagedQuery,
    ),
    *(
        Operation(
            "/api/knowledge/{entry_id}",
            method,
            knowledge.change,
            "knowledge",
            "Change a knowledge entry: the fields sent (PUT and PATCH alike)",
            {200: Reply("Changed.", knowledge.KnowledgeEntry)},
            (*MANAGE_ERRORS, *BODY_ERRORS),
            body=knowledge.KnowledgeChange,
            body_bytes=knowledge.KNOWLEDGE_BODY_BYTES,
            path_parameters=knowledge.KnowledgePath,
            query=ManagedQuery,
        )
        for method in ("PUT", "PATCH")
    ),
    Operation(
        "/api/knowledge/{entry_id}",
        "DELETE",
        knowledge.remove,
        "knowledge",
        "Delete a knowledge entry",
        {204: Reply("Deleted.")},
        MANAGE_ERRORS,
        path_parameters=knowledge.KnowledgePath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks",
        "GET",
        webhooks.list_all,
        "webhooks",
        "The tenant's webhook endpoints (needs webhooks.manage)",
        {200: Reply("All of them.", webhooks.WebhookList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks",
        "POST",
        webhooks.create,
        "webhooks",
        "Add an endpoint (counts against the plan's integrations: 409 integration_limit)",
        {201: Reply("Created, with its secret.", webhooks.WebhookEndpoint)},
        (*MANAGE_ERRORS, 409, *BODY_ERRORS),
        body=webhooks.WebhookRequest,
        body_bytes=webhooks.WEBHOOK_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks/{endpoint_id}",
        "GET",
        webhooks.read,
        "webhooks",
        "One endpoint, with its secret",
        {200: Reply("The endpoint.", webhooks.WebhookEndpoint)},
        MANAGE_ERRORS,
        path_parameters=webhooks.EndpointPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks/{endpoint_id}",
        "PATCH",
        webhooks.change,
        "webhooks",
        "Change an endpoint (url, events, description, disabled)",
        {200: Reply("Changed.", webhooks.WebhookEndpoint)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        body=webhooks.WebhookChange,
        body_bytes=webhooks.WEBHOOK_BODY_BYTES,
        path_parameters=webhooks.EndpointPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks/{endpoint_id}",
        "DELETE",
        webhooks.remove,
        "webhooks",
        "Delete an endpoint and its delivery log",
        {204: Reply("Deleted.")},
        MANAGE_ERRORS,
        path_parameters=webhooks.EndpointPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks/{endpoint_id}/deliveries",
        "GET",
        webhooks.deliveries,
        "webhooks",
        "The endpoint's delivery log, newest first",
        {200: Reply("The deliveries.", webhooks.WebhookDeliveryList)},
        MANAGE_ERRORS,
        path_parameters=webhooks.EndpointPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
        "POST",
        webhooks.resend,
        "webhooks",
        "Send a delivery again (same webhook-id)",
        {202: Reply("Queued.", webhooks.Redelivery)},
        MANAGE_ERRORS,
        path_parameters=webhooks.DeliveryPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/widget-keys",
        "GET",
        widget_keys.list_keys,
        "widget keys",
        "The tenant's widget keys (needs widget.manage)",
        {200: Reply("The keys, revoked ones included.", widget_keys.WidgetKeyList)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/widget-keys",
        "POST",
        widget_keys.create_key,
        "widget keys",
        "Create a widget key (needs widget.manage)",
        {201: Reply("Created.", widget_keys.WidgetKey)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        body=widget_keys.WidgetKeyRequest,
        body_bytes=widget_keys.WIDGET_KEY_BODY_BYTES,
        query=ManagedQuery,
    ),
    Operation(
        "/api/widget-keys/{key}",
        "DELETE",
        widget_keys.revoke_key,
        "widget keys",
        "Revoke a widget key (needs widget.manage)",
        {204: Reply("Revoked.")},
        MANAGE_ERRORS,
        path_parameters=widget_keys.KeyPath,
        query=ManagedQuery,
    ),
    Operation(
        "/api/widget-appearance",
        "GET",
        appearance.read,
        "widget appearance",
        "How the tenant's widget looks (needs widget.manage)",
        {200: Reply("The appearance.", WidgetAppearance)},
        MANAGE_ERRORS,
        query=ManagedQuery,
    ),
    Operation(
        "/api/widget-appearance",
        "PATCH",
        appearance.change,
        "widget appearance",
        "Change some of the widget's appearance (needs widget.manage); the others stay",
        {200: Reply("The appearance now.", WidgetAppearance)},
        (*MANAGE_ERRORS, *BODY_ERRORS),
        description="Every open widget of the tenant, on every node, shows the change within seconds (a `widget` "
        "frame on the visitor socket), and the next page view loads it. 400 `invalid_input` names the field: a "
        f"colour that is not `#rrggbb`, or one white text cannot be read on (a contrast below {MIN_CONTRAST}:1, "
        f"WCAG AA); a greeting over {GREETING_CHARS} characters or with control characters other than line "
        f"breaks; a launcher text over {LAUNCHER_TEXT_CHARS} characters or on more than one line; a position or "
        "language not listed.",
        body=AppearanceChange,
        body_bytes=appearance.APPEARANCE_BODY_BYTES,
        query=ManagedQuery,
    ),
)

SOCKETS: tuple[Socket, ...] = (
    Socket(
        "/ws/visitor/{tenant_uuid}",
        visitor_socket,
        "The visitor's live conversation: messages, AI tokens, typing, resume",
        "A WebSocket upgrade of `GET /ws/visitor/{tenant_uuid}` (optional query `session_id`, `resume_token`, "
        "`last_seq` to resume). Frames are JSON text; refusals are close codes (4404 unknown tenant, 4403 origin "
        "not allowed, 4400 bad resume).",
    ),
    Socket(
        "/ws/agent",
        agent_socket,
        "Mission Control: the tenant's live session list, watch, takeover, handback, close",
        "A WebSocket upgrade of `GET /ws/agent` (optional query `business_id` for platform admins), authenticated "
        "by the cookie session from the hub's own pages or `Authorization: Bearer`; needs `chat.manage`. Refusals "
        "are close codes (4401 not logged in, 4403 not allowed, 4404 unknown business_id).",
    ),
)


@cache
def openapi_document() -> dict[str, Any]:
    """The document, built once: it depends on the code only (settings appear with their defaults)."""
    return build_document(API, SOCKETS, TAGS)


@cache
def _document_bytes() -> bytes:
    return msgspec.json.encode(openapi_document())
