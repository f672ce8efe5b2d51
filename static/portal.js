/* Customer Portal: login, logout, copy, widget keys. Cookie session + X-CSRF-Token for every change. */
(function () {
  "use strict";

  // On a phone the page links are one row that scrolls sideways: the page being shown is brought into view.
  var here = document.querySelector('.pages [aria-current="page"]');
  if (here && here.parentNode.scrollWidth > here.parentNode.clientWidth) {
    here.parentNode.scrollLeft = here.offsetLeft - here.parentNode.offsetLeft - 16;
  }
  var _ = window.BobI18n.gettext;
  function csrf() {
    var match = document.cookie.match(/(?:^|; )bob_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  function send(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }
  function showError(id, response) {
    var box = document.getElementById(id);
    return response.json().then(function (data) {
      box.textContent = (data.error && data.error.message) || _("Something went wrong");
      box.hidden = false;
    });
  }
  var login = document.getElementById("login-form");
  if (login) {
    login.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/auth/login", {
        email: document.getElementById("email").value,
        password: document.getElementById("password").value
      }).then(function (response) {
        if (response.ok) { window.location.assign(login.dataset.next || "/portal/"); } else { showError("login-error", response); }
      });
    });
  }
  var logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", function () {
      send("POST", "/api/auth/logout").then(function () { window.location.assign("/portal/login"); });
    });
  }
  var copy = document.getElementById("copy-embed");
  if (copy) {
    copy.addEventListener("click", function () {
      var text = document.getElementById("embed-tag").textContent;
      var status = document.getElementById("copy-status");
      (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(
        function () { status.textContent = _("Copied"); },
        function () { status.textContent = _("Select the tag and copy it"); }
      );
    });
  }
  var form = document.getElementById("new-key");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var origins = document.getElementById("origins").value.split(/\s+/).filter(Boolean);
      send("POST", "/api/widget-keys", { origins: origins, mode: document.getElementById("mode").value })
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("key-error", response); } });
    });
  }
  var persona = document.getElementById("new-persona");
  if (persona) {
    persona.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/personas", {
        name: document.getElementById("persona-name").value,
        description: document.getElementById("persona-description").value,
        tone: document.getElementById("persona-tone").value,
        systemPrompt: document.getElementById("persona-prompt").value,
        active: document.getElementById("persona-active").checked
      }).then(function (response) { if (response.ok) { window.location.reload(); } else { showError("persona-error", response); } });
    });
  }
  document.querySelectorAll("button.activate").forEach(function (button) {
    button.addEventListener("click", function () {
      send("PATCH", "/api/personas/" + encodeURIComponent(button.dataset.persona), { active: true })
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("persona-error", response); } });
    });
  });
  document.querySelectorAll("form.edit-persona").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var fields = {};
      ["name", "description", "tone", "systemPrompt"].forEach(function (field) { fields[field] = form.elements[field].value; });
      send("PATCH", "/api/personas/" + encodeURIComponent(form.dataset.persona), fields)
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("persona-error", response); } });
    });
  });
  document.querySelectorAll("button.delete-persona").forEach(function (button) {
    button.addEventListener("click", function () {
      send("DELETE", "/api/personas/" + encodeURIComponent(button.dataset.persona))
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("persona-error", response); } });
    });
  });
  // Knowledge: one form adds an entry or, after Edit, changes it; imports read the files here and send JSON.
  var entryForm = document.getElementById("entry-form");
  if (entryForm) {
    var editing = null;
    var field = function (id) { return document.getElementById(id); };
    var heading = field("entry-heading");
    var cancel = field("entry-cancel");
    var reset = function () {
      editing = null;
      entryForm.reset();
      heading.textContent = heading.dataset.new;
      cancel.hidden = true;
    };
    entryForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var url = field("entry-url").value.trim();
      var body = {
        title: field("entry-title").value,
        body: field("entry-body").value,
        url: url || null,
        language: field("entry-language").value,
        enabled: field("entry-enabled").checked
      };
      send(editing ? "PUT" : "POST", "/api/knowledge" + (editing ? "/" + encodeURIComponent(editing) : ""), body)
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("knowledge-error", response); } });
    });
    cancel.addEventListener("click", reset);
    document.querySelectorAll("button.edit-entry").forEach(function (button) {
      button.addEventListener("click", function () {
        fetch("/api/knowledge/" + encodeURIComponent(button.dataset.entry), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (entry) {
            editing = entry.id;
            field("entry-title").value = entry.title;
            field("entry-body").value = entry.body;
            field("entry-url").value = entry.url || "";
            field("entry-language").value = entry.language;
            field("entry-enabled").checked = entry.enabled;
            heading.textContent = heading.dataset.edit;
            cancel.hidden = false;
            field("entry-title").focus();
          });
      });
    });
    document.querySelectorAll("button.from-question").forEach(function (button) {
      button.addEventListener("click", function () {
        reset();
        field("entry-title").value = button.dataset.question;
        field("entry-body").value = button.dataset.answer || "";
        field("entry-title").scrollIntoView({ block: "center" });
        field("entry-body").focus();
      });
    });
    document.querySelectorAll("button.delete-entry").forEach(function (button) {
      button.addEventListener("click", function () {
        send("DELETE", "/api/knowledge/" + encodeURIComponent(button.dataset.entry))
          .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("knowledge-error", response); } });
      });
    });
    document.querySelectorAll("input.enable-entry").forEach(function (box) {
      box.addEventListener("change", function () {
        send("PATCH", "/api/knowledge/" + encodeURIComponent(box.dataset.entry), { enabled: box.checked })
          .then(function (response) { if (!response.ok) { box.checked = !box.checked; showError("knowledge-error", response); } });
      });
    });
  }
  var importForm = document.getElementById("import-form");
  if (importForm) {
    importForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var files = Array.prototype.slice.call(document.getElementById("import-files").files);
      var status = document.getElementById("import-status");
      document.getElementById("import-error").hidden = true;
      if (!files.length) { status.textContent = _("Choose one or more files first."); return; }
      Promise.all(files.map(function (file) {
        return file.text().then(function (content) { return { name: file.name, content: content }; });
      })).then(function (read) {
        return send("POST", "/api/knowledge/import", {
          format: document.getElementById("import-format").value,
          language: document.getElementById("import-language").value,
          files: read
        });
      }).then(function (response) {
        if (!response.ok) { status.textContent = ""; return showError("import-error", response); }
        return response.json().then(function (data) {
          status.textContent = _("Imported %(created)s entries.", data);
          window.setTimeout(function () { window.location.reload(); }, 800);
        });
      });
    });
  }
  // Team: invitations by one-time link, deactivating and reactivating, password links. A change reloads the
  // page; what happened (and a link to pass on) is kept for the reloaded page in sessionStorage, then dropped.
  var team = document.getElementById("team");
  if (team) {
    var FLASH = "bob-team-flash";
    var flashed = function (text, link, label) {
      sessionStorage.setItem(FLASH, JSON.stringify({ text: text, link: link || "", label: label || "" }));
      window.location.reload();
    };
    var shown = sessionStorage.getItem(FLASH);
    sessionStorage.removeItem(FLASH);
    if (shown) {
      var flash = JSON.parse(shown);
      document.getElementById("team-flash").hidden = false;
      document.getElementById("team-status").textContent = flash.text;
      if (flash.link) {
        document.getElementById("link-box").hidden = false;
        document.getElementById("flash-link-label").textContent = flash.label;
        document.getElementById("flash-link").value = flash.link;
      }
    }
    var linkField = document.getElementById("flash-link");
    linkField.addEventListener("focus", function () { linkField.select(); });
    document.getElementById("copy-link").addEventListener("click", function () {
      var status = document.getElementById("copy-status");
      (navigator.clipboard ? navigator.clipboard.writeText(linkField.value) : Promise.reject()).then(
        function () { status.textContent = _("Copied"); },
        function () { linkField.focus(); status.textContent = _("Select the link and copy it"); }
      );
    });
    var sent = function (email, answer) {
      if (answer.emailed) { flashed(_("Invitation emailed to %(email)s.", { email: email })); return; }
      flashed(_("Pass this link on to %(email)s yourself: it works once, for 7 days.", { email: email }), answer.link,
        _("Invitation link for %(email)s", { email: email }));
    };
    var answered = function (errorId, then) {
      return function (response) {
        if (!response.ok) { showError(errorId, response); return; }
        if (response.status === 204) { then(null); return; }
        return response.json().then(then);
      };
    };
    document.getElementById("invite-form").addEventListener("submit", function (event) {
      event.preventDefault();
      document.getElementById("invite-error").hidden = true;
      var email = document.getElementById("invite-email").value.trim();
      send("POST", "/api/invites", {
        email: email,
        name: document.getElementById("invite-name").value,
        role: document.getElementById("invite-role").value
      }).then(answered("invite-error", function (answer) { sent(answer.invite.email, answer); }));
    });
    document.querySelectorAll("#invites tr[data-invite]").forEach(function (row) {
      var url = "/api/invites/" + encodeURIComponent(row.dataset.invite);
      row.querySelector("button.resend").addEventListener("click", function () {
        send("POST", url + "/resend").then(answered("team-error", function (answer) { sent(row.dataset.email, answer); }));
      });
      row.querySelector("button.revoke-invite").addEventListener("click", function () {
        send("DELETE", url).then(answered("team-error", function () {
          flashed(_("The invitation for %(email)s is revoked: its link no longer works.", { email: row.dataset.email }));
        }));
      });
    });
    var dialog = document.getElementById("deactivate-dialog");
    var leaving = null;
    dialog.addEventListener("close", function () {
      var row = leaving;
      leaving = null;
      if (!row || dialog.returnValue !== "confirm") { return; }
      send("POST", "/api/users/" + encodeURIComponent(row.dataset.user) + "/deactivate").then(answered("team-error", function () {
        flashed(_("%(name)s is deactivated and was logged out everywhere.", { name: row.dataset.name }));
      }));
    });
    team.querySelectorAll("tr[data-user]").forEach(function (row) {
      var url = "/api/users/" + encodeURIComponent(row.dataset.user);
      var name = row.dataset.name;
      var button = function (kind) { return row.querySelector("button." + kind); };
      if (button("deactivate")) {
        button("deactivate").addEventListener("click", function () {
          leaving = row;
          document.getElementById("deactivate-title").textContent = _("Deactivate %(name)s?", { name: name });
          dialog.returnValue = "";
          dialog.showModal();
        });
      }
      if (button("reactivate")) {
        button("reactivate").addEventListener("click", function () {
          send("POST", url + "/reactivate").then(answered("team-error", function () {
            flashed(_("%(name)s can log in again.", { name: name }));
          }));
        });
      }
      if (button("password-link")) {
        button("password-link").addEventListener("click", function () {
          send("POST", url + "/password-link").then(answered("team-error", function (answer) {
            if (answer.emailed) { flashed(_("A link to a new password was emailed to %(name)s.", { name: name })); return; }
            flashed(_("Pass this link on to %(name)s yourself: it works once, for one hour.", { name: name }), answer.link,
              _("Password link for %(name)s", { name: name }));
          }));
        });
      }
    });
  }
  // Pages opened from a one-time link (an invitation, a new password) and "Forgot your password?".
  var linkForm = document.getElementById("accept-invite") || document.getElementById("reset-form");
  if (linkForm) {
    linkForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("link-error");
      box.hidden = true;
      var password = document.getElementById("new-password").value;
      if (password !== document.getElementById("new-password-again").value) {
        box.textContent = _("The two passwords differ.");
        box.hidden = false;
        return;
      }
      var token = window.location.pathname.split("/").pop();
      var body = { token: token, password: password };
      var url = "/api/auth/password-reset/complete";
      if (linkForm.id === "accept-invite") {
        url = "/api/invites/accept";
        body.name = document.getElementById("invite-name").value;
      }
      send("POST", url, body).then(function (response) {
        if (!response.ok) { showError("link-error", response); return; }
        return response.json().then(function (answer) { window.location.assign(answer.home); });
      });
    });
  }
  var forgot = document.getElementById("forgot-form");
  if (forgot) {
    forgot.addEventListener("submit", function (event) {
      event.preventDefault();
      document.getElementById("forgot-error").hidden = true;
      send("POST", "/api/auth/password-reset", { email: document.getElementById("forgot-email").value })
        .then(function (response) {
          if (!response.ok) { showError("forgot-error", response); return; }
          forgot.hidden = true;
          document.getElementById("forgot-sent").hidden = false;
        });
    });
  }
  var profile = document.getElementById("profile");
  if (profile) {
    profile.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = document.getElementById("profile-status");
      status.textContent = "";
      document.getElementById("profile-error").hidden = true;
      send("PATCH", "/api/auth/me", { name: document.getElementById("profile-name").value }).then(function (response) {
        if (!response.ok) { showError("profile-error", response); return; }
        return response.json().then(function (account) {
          document.getElementById("profile-name").value = account.name;
          document.getElementById("me").textContent = account.name;
          status.textContent = _("Saved. Visitors see “%(name)s” from your next message on.", account);
        });
      });
    });
  }
  var newCanned = document.getElementById("new-canned");
  if (newCanned) {
    newCanned.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/canned-replies", {
        title: document.getElementById("canned-title").value,
        text: document.getElementById("canned-text").value
      }).then(function (response) { if (response.ok) { window.location.reload(); } else { showError("canned-error", response); } });
    });
  }
  // A list of items edited in place (canned replies, labels): each form saves its fields with PATCH, its delete
  // button sends DELETE; either reloads the page when done, or says why not under the form.
  function editInPlace(formSelector, deleteSelector, base, fields) {
    document.querySelectorAll(formSelector).forEach(function (form) {
      var url = base + encodeURIComponent(form.dataset.id);
      var problem = form.querySelector(".error");
      function done(response) {
        if (response.ok) { window.location.reload(); return; }
        return response.json().then(function (data) {
          problem.textContent = (data.error && data.error.message) || _("Something went wrong");
          problem.hidden = false;
        });
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = {};
        fields.forEach(function (name) { body[name] = form.elements[name].value; });
        send("PATCH", url, body).then(done);
      });
      form.querySelector(deleteSelector).addEventListener("click", function () { send("DELETE", url).then(done); });
    });
  }
  editInPlace(".canned-edit", ".canned-delete", "/api/canned-replies/", ["title", "text"]);
  var newLabel = document.getElementById("new-label");
  if (newLabel) {
    newLabel.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/labels", {
        name: document.getElementById("label-name").value,
        color: document.getElementById("label-color").value
      }).then(function (response) { if (response.ok) { window.location.reload(); } else { showError("label-error", response); } });
    });
  }
  editInPlace(".label-edit", ".label-delete", "/api/labels/", ["name", "color"]);
  var roundRobin = document.getElementById("round-robin");
  if (roundRobin) {
    roundRobin.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = document.getElementById("round-robin-status");
      status.textContent = "";
      document.getElementById("round-robin-error").hidden = true;
      send("PATCH", "/api/settings", { round_robin: document.getElementById("round-robin-on").checked })
        .then(function (response) { if (response.ok) { status.textContent = _("Saved"); } else { showError("round-robin-error", response); } });
    });
  }
  var tenantForm = document.getElementById("new-tenant");
  if (tenantForm) {
    tenantForm.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/admin/tenants", {
        name: document.getElementById("tenant-name").value,
        business_id: document.getElementById("tenant-business-id").value,
        plan: document.getElementById("tenant-plan").value,
        origins: document.getElementById("tenant-origins").value.split(/\s+/).filter(Boolean),
        owner: { email: document.getElementById("owner-email").value, password: document.getElementById("owner-password").value }
      }).then(function (response) {
        if (!response.ok) { return showError("tenant-error", response); }
        return response.json().then(function (data) {
          var out = document.getElementById("tenant-result");
          out.textContent = [
            _("Registered %(business_id)s", data),
            "UUID: " + data.uuid,
            _("Plan: %(plan)s", data),
            _("Widget key: %(widget_key)s", data),
            _("Owner: %(email)s", data.owner)
          ].join("\n");
          out.hidden = false;
          document.getElementById("tenant-error").hidden = true;
        });
      });
    });
  }
  var webhook = document.getElementById("new-webhook");
  if (webhook) {
    webhook.addEventListener("submit", function (event) {
      event.preventDefault();
      var events = Array.prototype.map.call(document.querySelectorAll('input[name="event"]:checked'), function (box) { return box.value; });
      send("POST", "/api/webhooks", { url: document.getElementById("webhook-url").value, events: events })
        .then(function (response) { if (response.ok) { window.location.reload(); } else { showError("webhook-error", response); } });
    });
  }
  document.querySelectorAll("button.delete-webhook").forEach(function (button) {
    button.addEventListener("click", function () {
      send("DELETE", "/api/webhooks/" + encodeURIComponent(button.dataset.endpoint)).then(function () { window.location.reload(); });
    });
  });
  document.querySelectorAll("button.redeliver").forEach(function (button) {
    button.addEventListener("click", function () {
      send("POST", "/api/webhooks/" + encodeURIComponent(button.dataset.endpoint) + "/deliveries/" +
        encodeURIComponent(button.dataset.delivery) + "/redeliver").then(function (response) {
        button.textContent = response.ok ? _("Queued") : _("Failed");
        button.disabled = true;
      });
    });
  });
  // Widget keys only (other pages' red buttons share the style, not this action).
  document.querySelectorAll("button.revoke[data-key]").forEach(function (button) {
    button.addEventListener("click", function () {
      send("DELETE", "/api/widget-keys/" + encodeURIComponent(button.dataset.key)).then(function () {
        window.location.reload();
      });
    });
  });
  officeHours(document.getElementById("office-hours"));
  // Office hours: the week as PATCH /api/settings takes it ({office_hours: {time_zone, mon: [{opens, closes}], …}}
  // or null). A day's further spans, set through the API, are kept as they were.
  function officeHours(hoursForm) {
    if (!hoursForm) return;
    var set = document.getElementById("hours-set");
    var fields = document.getElementById("hours-fields");
    var zone = document.getElementById("hours-zone");
    var status = document.getElementById("hours-status");
    var error = document.getElementById("hours-error");
    if (!zone.dataset.current) {
      try {
        zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      } catch (e) { /* the first zone stays selected */ }
    }
    set.addEventListener("change", function () { fields.disabled = !set.checked; });
    hoursForm.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "";
      error.hidden = true;
      var hours = null;
      if (set.checked) {
        hours = { time_zone: zone.value };
        fields.querySelectorAll("tr[data-day]").forEach(function (row) {
          var spans = [];
          if (row.querySelector(".day-open").checked) {
            spans.push({ opens: row.querySelector(".day-opens").value, closes: row.querySelector(".day-closes").value });
            (row.dataset.more || "").split(" ").filter(Boolean).forEach(function (span) {
              var times = span.split("-");
              spans.push({ opens: times[0], closes: times[1] });
            });
          }
          hours[row.dataset.day] = spans;
        });
      }
      send("PATCH", "/api/settings", { office_hours: hours }).then(function (response) {
        if (response.ok) { status.textContent = _("Saved"); } else { showError("hours-error", response); }
      });
    });
  }
  // Widget Setup: the widget's appearance. Every change goes to the live preview at once (the real widget in
  // the frame below, as a `widget` frame: docs/PROTOCOL.md), and is saved with PATCH /api/widget-appearance.
  var look = document.getElementById("appearance");
  if (look) {
    var preview = document.getElementById("widget-preview");
    var picker = document.getElementById("appearance-color");
    var hex = document.getElementById("appearance-hex");
    var contrast = document.getElementById("appearance-contrast");
    var lookStatus = document.getElementById("appearance-status");
    var lookError = document.getElementById("appearance-error");
    var minContrast = parseFloat(look.dataset.minContrast) || 4.5;
    var HEX = /^#[0-9a-f]{6}$/i;
    // WCAG 2's contrast of white text on a colour (the hub checks the same on saving).
    var whiteOn = function (color) {
      var channel = function (i) {
        var value = parseInt(color.slice(i, i + 2), 16) / 255;
        return value <= 0.04045 ? value / 12.92 : Math.pow((value + 0.055) / 1.055, 2.4);
      };
      return 1.05 / (0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5) + 0.05);
    };
    var draft = function () {
      var position = look.querySelector("input[name='appearance-position']:checked");
      return {
        color: HEX.test(hex.value.trim()) ? hex.value.trim().toLowerCase() : picker.value,
        greeting: document.getElementById("appearance-greeting").value,
        position: position ? position.value : "right",
        language: document.getElementById("appearance-language").value,
        launcher_text: document.getElementById("appearance-launcher").value
      };
    };
    var judge = function () {
      var value = hex.value.trim();
      var ok = HEX.test(value);
      var ratio = ok ? whiteOn(value) : 0;
      if (!ok) {
        contrast.textContent = _("Write the colour as # and six hex digits, like #2459d8.");
      } else if (ratio < minContrast) {
        contrast.textContent = _("White text on this colour has a contrast of %(ratio)s:1, too low to read: choose a darker colour (at least %(min)s:1).", {
          ratio: (Math.floor(ratio * 10) / 10).toFixed(1), min: minContrast
        });
      } else {
        contrast.textContent = _("White text on this colour has a contrast of %(ratio)s:1: easy to read.", {
          ratio: (Math.floor(ratio * 10) / 10).toFixed(1)
        });
      }
      var bad = !ok || ratio < minContrast;
      contrast.classList.toggle("error", bad);
      hex.setAttribute("aria-invalid", bad ? "true" : "false");
    };
    var showDraft = function () {
      judge();
      lookStatus.textContent = "";
      if (preview.contentWindow) preview.contentWindow.postMessage({ type: "widget", appearance: draft() }, window.location.origin);
    };
    picker.addEventListener("input", function () { hex.value = picker.value; });
    hex.addEventListener("input", function () { if (HEX.test(hex.value.trim())) picker.value = hex.value.trim().toLowerCase(); });
    look.addEventListener("input", showDraft);
    look.addEventListener("change", showDraft);
    preview.addEventListener("load", showDraft);
    judge();
    look.addEventListener("submit", function (event) {
      event.preventDefault();
      lookStatus.textContent = "";
      lookError.hidden = true;
      send("PATCH", "/api/widget-appearance", draft()).then(function (response) {
        if (response.ok) {
          lookStatus.textContent = _("Saved: every open widget shows it within seconds.");
        } else {
          showError("appearance-error", response);
        }
      });
    });
  }
  // Every form above is sent by this script: their buttons come disabled and are enabled once it listens (an
  // Enter pressed before it arrived, on a slow network, sent the form natively and lost what was typed).
  Array.prototype.forEach.call(document.querySelectorAll("button[data-after-script]"), function (button) {
    button.disabled = false;
  });
})();
