/* Push alerts on this device: Mission Control's toggle (templates/dashboard.html), the service worker
   (/mission-control/sw.js) and the hub's subscriptions API (/api/push/subscriptions). Turned on, this
   browser gets an alert when a visitor starts waiting for a person, and again when the wait goes on,
   with the tab closed or on a phone. Also opens the conversation an alert links to (#session=<id>). */
(function () {
  "use strict";
  var own = document.getElementById("bob-push-strings");  // this script's strings, as i18n.js's for dashboard.js
  var strings = own ? JSON.parse(own.textContent) : {};
  function _(message, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, message) ? strings[message] : message;
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  var WORKER = "/mission-control/sw.js";
  var SCOPE = "/mission-control";
  var toggle = document.getElementById("push-toggle");
  var box = document.getElementById("push-alerts");
  var status = document.getElementById("push-status");

  function csrf() {
    var match = document.cookie.match(/(?:^|; )bob_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function say(text) { if (status) { status.textContent = text || ""; } }

  // ---- opening the conversation an alert is about ------------------------------------------
  // Mission Control (dashboard.js, loaded before this) opens it even when the list's filter hides it (it says so
  // beside the conversation), and before its socket is connected (it watches it once it is).
  function openSession(id) {
    if (id && window.BobMissionControl) { window.BobMissionControl.open(id); }
  }

  function followLink() {
    var linked = /^#session=(.+)$/.exec(location.hash);
    if (!linked) { return; }
    history.replaceState(null, "", location.pathname + location.search);  // used once: a reload shows the list
    openSession(decodeURIComponent(linked[1]));
  }
  followLink();
  window.addEventListener("hashchange", followLink);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (event) {
      if (event.data && event.data.type === "bob-open-session") { openSession(event.data.session_id); }
    });
  }

  // ---- the toggle ----------------------------------------------------------------------------
  if (!toggle || !box) { return; }  // this hub offers no push (no VAPID key)
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    return;  // this browser cannot receive push: no toggle
  }
  box.hidden = false;

  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return bytes;
  }

  function call(method, body) {
    return fetch("/api/push/subscriptions", {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok && !(method === "DELETE" && response.status === 404)) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          throw new Error((answer.error && answer.error.message) || String(response.status));
        });
      }
      return response;
    });
  }

  var registered = navigator.serviceWorker.register(WORKER, { scope: SCOPE });

  function turnOn() {
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Error(_("Notifications are blocked for this site in the browser's settings.")); }
      return registered;
    }).then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        return existing || registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(toggle.dataset.vapidKey)
        });
      });
    }).then(function (subscription) {
      return call("POST", subscription.toJSON());
    }).then(function () {
      toggle.checked = true;
      say(_("Push alerts are on for this device."));
    });
  }

  function turnOff() {
    return registered.then(function (registration) {
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) { return null; }
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () { return call("DELETE", { endpoint: endpoint }); });
    }).then(function () {
      toggle.checked = false;
      say(_("Push alerts are off for this device."));
    });
  }

  toggle.addEventListener("change", function () {
    var wanted = toggle.checked;
    toggle.disabled = true;
    say("");
    (wanted ? turnOn() : turnOff()).catch(function (error) {
      toggle.checked = !wanted;
      say(_("Push alerts could not be changed: %(reason)s", { reason: error.message }));
    }).then(function () { toggle.disabled = false; });
  });

  // On every visit: show what this browser has, and tell the hub again (it drops subscriptions a push
  // service called gone, and a browser may have renewed its own).
  registered.then(function (registration) {
    return registration.pushManager.getSubscription();
  }).then(function (subscription) {
    toggle.checked = Boolean(subscription) && Notification.permission === "granted";
    if (toggle.checked) { return call("POST", subscription.toJSON()); }
    return null;
  }).catch(function () { /* the toggle says off; turning it on reports what is wrong */ });

  // Logging out turns this device's alerts off: they are the agent's, not the next person's at this browser.
  var logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", function () {
      registered.then(function (registration) { return registration.pushManager.getSubscription(); })
        .then(function (subscription) { if (subscription) { subscription.unsubscribe(); } })
        .catch(function () { /* nothing to turn off */ });
    }, true);
  }
})();
