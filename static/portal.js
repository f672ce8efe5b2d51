/* Customer Portal: login, logout, copy, widget keys. Cookie session + X-CSRF-Token for every change. */
(function () {
  "use strict";
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
  var teammate = document.getElementById("new-teammate");
  if (teammate) {
    teammate.addEventListener("submit", function (event) {
      event.preventDefault();
      send("POST", "/api/users", {
        name: document.getElementById("teammate-name").value,
        email: document.getElementById("teammate-email").value,
        password: document.getElementById("teammate-password").value,
        role: document.getElementById("teammate-role").value
      }).then(function (response) { if (response.ok) { window.location.reload(); } else { showError("teammate-error", response); } });
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
  document.querySelectorAll(".canned-edit").forEach(function (form) {
    var url = "/api/canned-replies/" + encodeURIComponent(form.dataset.id);
    var problem = form.querySelector(".error");
    function failed(response) {
      return response.json().then(function (data) {
        problem.textContent = (data.error && data.error.message) || _("Something went wrong");
        problem.hidden = false;
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send("PATCH", url, { title: form.elements.title.value, text: form.elements.text.value })
        .then(function (response) { if (response.ok) { window.location.reload(); } else { failed(response); } });
    });
    form.querySelector(".canned-delete").addEventListener("click", function () {
      send("DELETE", url).then(function (response) { if (response.ok) { window.location.reload(); } else { failed(response); } });
    });
  });
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
  document.querySelectorAll(".label-edit").forEach(function (form) {
    var url = "/api/labels/" + encodeURIComponent(form.dataset.id);
    var problem = form.querySelector(".error");
    function failed(response) {
      return response.json().then(function (data) {
        problem.textContent = (data.error && data.error.message) || _("Something went wrong");
        problem.hidden = false;
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send("PATCH", url, { name: form.elements.name.value, color: form.elements.color.value })
        .then(function (response) { if (response.ok) { window.location.reload(); } else { failed(response); } });
    });
    form.querySelector(".label-delete").addEventListener("click", function () {
      send("DELETE", url).then(function (response) { if (response.ok) { window.location.reload(); } else { failed(response); } });
    });
  });
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
  document.querySelectorAll("button.revoke:not(.delete-persona):not(.delete-webhook):not(.delete-entry)").forEach(function (button) {
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
})();
