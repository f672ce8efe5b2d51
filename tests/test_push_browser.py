"""Push alerts in a real browser (Debian's Chromium, headless): Mission Control registers its service worker
with the right scope, an alert delivered to it through the DevTools protocol is shown as a notification,
and a click on it, or its link, opens its conversation.

Headless Chromium does not subscribe: ``pushManager.subscribe`` fails with "Registration failed -
permission denied" even with the notifications permission granted (and its push service, Google's,
is not reachable from here anyway), so the test checks that Mission Control says so and leaves the
toggle off. The push itself is handed to the worker with ``ServiceWorker.deliverPushMessage``,
which is how Chromium's own tests do it; the hub's side of the subscription (encryption, VAPID, the
push service's answers) is tested in test_push.py against a local push service.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from playwright.async_api import expect

from hub.push.alerts import alert_payload
from hub.settings import Settings
from hub.store.push import WaitAlert
from tests.agents import agent_account
from tests.browser import Chromium
from tests.conftest import serve_hub, visitor
from tests.test_dashboard_browser import log_in
from tests.test_handoff import handoff_message
from tests.test_push import KEYS


async def test_mission_control_shows_a_pushed_alert_as_a_notification_and_opens_its_conversation(
    settings: Settings, chromium: Chromium
) -> None:
    push_settings = dataclasses.replace(
        settings, vapid_private_key=KEYS["private_key"], vapid_subject="mailto:ops@bob.example.com"
    )
    async with serve_hub(push_settings) as hub, chromium() as browser:
        tenant = await hub.tenant()
        email = await agent_account(hub.node.engine, tenant.id, "Anna")
        context = await browser.new_context()
        await context.grant_permissions(["notifications"], origin=hub.http)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        refused: list[str] = []  # the pages' and the worker's Content-Security-Policy refuse nothing of this
        context.on(
            "console", lambda message: refused.append(message.text) if "Content Security" in message.text else None
        )
        cdp = await context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
        await cdp.send("ServiceWorker.enable")
        await log_in(page, hub, email)

        toggle = page.get_by_label("Push alerts on this device")
        await expect(toggle).to_be_visible()
        await expect(toggle).not_to_be_checked()
        scope = await page.evaluate("navigator.serviceWorker.ready.then(function (r) { return r.scope; })")
        assert scope == f"{hub.http}/mission-control"

        # Headless Chromium refuses push subscriptions ("Registration failed - permission denied", with the
        # notifications permission granted): Mission Control must say so and leave the toggle off.
        await toggle.click()
        await expect(page.locator("#push-status")).to_contain_text("Push alerts could not be changed")
        await expect(toggle).not_to_be_checked()

        async with visitor(hub.ws, tenant.id) as client:
            await client.send({"type": "handoff", "reason": "Where is my parcel?"})
            await client.until(handoff_message)
            session_id = client.ready["session_id"]
            alert = WaitAlert("h1", tenant.id, session_id, "visitor", "Where is my parcel?", datetime.now(UTC))
            payload = alert_payload(alert, "en", escalated=False, now=datetime.now(UTC))
            [registration_id] = {
                r["registrationId"] for r in registrations if r["scopeURL"] == f"{hub.http}/mission-control"
            }
            await cdp.send(
                "ServiceWorker.deliverPushMessage",
                {"origin": hub.http, "registrationId": registration_id, "data": json.dumps(payload)},
            )
            shown: list[dict[str, Any]] = []
            for _ in range(50):
                shown = await page.evaluate(
                    """navigator.serviceWorker.ready.then(function (r) { return r.getNotifications(); })
                       .then(function (found) { return found.map(function (n) {
                         return { title: n.title, body: n.body, tag: n.tag, data: n.data }; }); })"""
                )
                if shown:
                    break
                await asyncio.sleep(0.1)
            assert shown == [
                {
                    "title": "A visitor is waiting for a person",
                    "body": "They asked for a person. “Where is my parcel?”",
                    "tag": f"handoff-{session_id}",
                    "data": {"url": f"/mission-control#session={session_id}", "session_id": session_id},
                }
            ]

            # A click on it (dispatched in the worker: headless Chromium has no notification to click): the open
            # Mission Control is told to open the conversation, and the notification goes away.
            [worker] = [w for w in context.service_workers if w.url == f"{hub.http}/mission-control/sw.js"]
            await worker.evaluate(
                """self.registration.getNotifications().then(function (found) {
                     self.dispatchEvent(new NotificationEvent("notificationclick", { notification: found[0] }));
                   })"""
            )
            await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {session_id[-6:]}")
            left = await page.evaluate(
                "navigator.serviceWorker.ready.then(function (r) { return r.getNotifications(); })"
                ".then(function (found) { return found.length; })"
            )
            assert left == 0

            await page.keyboard.press("Escape")  # back to the list
            await expect(page.locator("#conversation")).to_be_hidden()
            await page.goto(f"{hub.http}{payload['url']}")  # the alert's link, as a new window would open it
            await expect(page.locator("#conversation")).to_be_visible()
            await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {session_id[-6:]}")
            assert "#" not in page.url, "the link is used once, a reload shows the list"
        assert errors == [] and refused == []
