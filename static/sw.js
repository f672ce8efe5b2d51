/* Mission Control's service worker (served as /mission-control/sw.js, scope /mission-control): shows the
   hub's push alerts (hub/push/alerts.py: a visitor waits for a person, or still waits; hub/chat/notes.py: a
   colleague mentioned this person in a note) and, on a click,
   brings Mission Control up on that conversation: an open Mission Control tab is focused and told which
   conversation to open (static/push.js), else a new one opens at the alert's link. It fetches nothing. */
"use strict";

var HOME = "/mission-control";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var alert = {};
  try { alert = event.data ? event.data.json() : {}; } catch (error) { alert = {}; }
  event.waitUntil(self.registration.showNotification(alert.title || "Bob", {
    body: alert.body || "",
    tag: alert.tag || "bob-alert",          // a later alert about the same visitor replaces the first
    renotify: true,
    requireInteraction: alert.type === "handoff_escalated",
    timestamp: alert.waiting_since ? Date.parse(alert.waiting_since) : Date.now(),
    data: { url: alert.url || HOME, session_id: alert.session_id || null }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var target = new URL(data.url || HOME, self.location.origin);
  if (target.origin !== self.location.origin) { target = new URL(HOME, self.location.origin); }
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (new URL(windows[i].url).pathname === HOME && "focus" in windows[i]) {
        windows[i].postMessage({ type: "bob-open-session", session_id: data.session_id });
        return windows[i].focus();
      }
    }
    return self.clients.openWindow(target.href);
  }));
});
