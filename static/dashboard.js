/* Mission Control: the live session list and one conversation, over the agent socket (/ws/agent).
   Everything a visitor wrote is shown with textContent: visitors are untrusted. */
(function () {
  "use strict";
  var QUIET_AFTER_MS = 10 * 60 * 1000;
  var $ = function (id) { return document.getElementById(id); };
  var _ = window.BobI18n.gettext;
  var sessions = {};          // id -> Session (docs/PROTOCOL.md), merged from snapshot and patches
  var unread = {};            // id -> count of visitor/ai messages not seen in the conversation view
  var seenSeq = {};           // id -> highest seq the list has seen (for unread counting)
  var agent = null;
  var current = null;         // the watched session
  var lastSeq = 0;            // highest seq shown for the watched session (re-watch resumes after it)
  var shown = {};             // message ids already in the transcript
  var streams = {};           // message_id -> {node, text}
  var ratings = {};           // message_id -> the visitor's rating of that AI reply (true: helpful), watched session
  var socket = null;
  var backoff = 500;
  var typingSent = 0;
  var typingStop = 0;
  var visitorTypingTimer = 0;
  var refs = 0;
  var titleBlink = 0;
  var waitingItems = {};      // id -> <li> of the Waiting queue (kept, so the ticking timers are not re-rendered)
  var snapshotSeen = false;   // after the first snapshot, a session that starts waiting is news (an alert)
  var ALERTS_KEY = "bob-mc-alerts";
  var audio = null;           // the AudioContext, made on a user gesture (browsers allow sound only after one)

  function csrf() {
    var match = document.cookie.match(/(?:^|; )bob_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function send(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function command(type, extra) {
    var frame = { type: type, session_id: current, ref: "c" + (++refs) };
    for (var key in extra || {}) { frame[key] = extra[key]; }
    if (!send(frame)) { notice(_("Not connected: the hub is unreachable, retrying…")); }
  }

  // What the page can say of a refused frame in its own language (the hub's messages are English).
  var ERRORS = {
    unknown_agent: function () { return _("That person is not on this team (any more): pick someone else."); },
    not_assignable: function () { return _("Only active staff (agents, owners, admins) can be assigned conversations."); },
    already_assigned: function () { return _("The conversation is already assigned to them: pick someone else to transfer it to."); },
    unknown_label: function () { return _("That label was deleted meanwhile."); },
    session_label_limit: function () { return _("A conversation carries at most 10 labels: remove one first."); },
    not_owner: function () { return _("Take the conversation over first to reply."); }
  };

  function notice(text) {
    var box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
    if (!text) { $("force").hidden = true; }
  }

  function setConnection(state, text) {
    var el = $("connection");
    el.dataset.state = state;
    el.textContent = text;
  }

  // ---- the session list: who (all, mine, unassigned, one agent), status, mode, label -------------
  // One <li> per shown session, kept by id: a patch updates its row in place and moves it if its place
  // changed; rows are never all redrawn, so the focus and what a screen reader is on survive. Only the
  // status line under the filters speaks (politely), and only of what the agent did or what concerns them.
  var rows = {};              // id -> the row's elements
  var rowIds = 0;             // for the ids a row's button is described by
  var view = { who: "all", agent: "", status: "open", mode: "", label: "" };
  var labels = [];            // the tenant's labels [{id, name, color}], by name
  var staff = [];             // who may be assigned [{id, name, role, online, open_assigned}] (GET /api/chat/staff)
  var staffAt = 0;
  var PANELS = ["assign", "labels", "history"];  // the conversation header's panels: one open at a time

  function assigneeId(session) { return session.assignee ? session.assignee.id : ""; }

  function matches(session) {
    if (view.who === "mine" && (!agent || assigneeId(session) !== agent.id)) { return false; }
    if (view.who === "unassigned" && session.assignee) { return false; }
    if (view.who === "agent" && assigneeId(session) !== view.agent) { return false; }
    if (session.status !== view.status) { return false; }
    if (view.status === "open" && view.mode && session.mode !== view.mode) { return false; }
    if (view.label && (session.labels || []).indexOf(view.label) < 0) { return false; }
    return true;
  }

  function when(iso) {
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit" });
  }

  function labelById(id) {
    for (var i = 0; i < labels.length; i += 1) { if (labels[i].id === id) { return labels[i]; } }
    return null;
  }

  function known(ids) { return (ids || []).map(labelById).filter(Boolean); }

  function setText(element, text) { if (element.textContent !== text) { element.textContent = text; } }

  function part(parent, tag, className) {
    var element = document.createElement(tag);
    element.className = className;
    parent.appendChild(element);
    return element;
  }

  function makeRow(id) {
    var item = document.createElement("li");
    item.className = "session";
    item.dataset.sessionId = id;
    var button = part(item, "button", "open");
    button.type = "button";
    var row = { item: item, button: button };
    row.dot = part(button, "span", "dot");
    row.title = part(button, "span", "title");
    row.side = part(button, "span", "side");
    row.badge = part(row.side, "span", "badge");
    row.waits = part(row.side, "span", "badge waiting");
    row.waits.textContent = _("waiting");
    row.unread = part(row.side, "span", "unread");
    row.meta = part(button, "span", "meta");
    row.assignee = part(row.meta, "span", "assignee");
    row.chips = part(row.meta, "span", "chips");
    row.preview = part(button, "span", "preview");
    row.preview.id = "preview-" + (++rowIds);
    button.setAttribute("aria-describedby", row.preview.id);
    // On the row, so a click on the row itself (push.js opens an alert's conversation so) opens it too.
    item.addEventListener("click", function () { open(id); });
    return row;
  }

  function chips(container, ids) {
    var want = known(ids);
    var text = want.map(function (label) { return label.color + ":" + label.name; }).join("\n");
    if (container.dataset.shown === text) { return; }
    container.dataset.shown = text;
    container.textContent = "";
    want.forEach(function (label) {
      var chip = part(container, "span", "chip " + label.color);
      chip.textContent = label.name;
    });
  }

  function modeText(session) {
    return session.status === "closed" ? _("closed") : session.mode === "human" ?
      (session.owner ? session.owner.name || _("human") : _("human")) : _("AI");
  }

  function fillRow(row, session) {
    var online = !!session.visitor_online;
    row.item.classList.toggle("quiet", !online && Date.now() - new Date(session.updated_at) > QUIET_AFTER_MS);
    row.dot.className = "dot" + (online ? " online" : "");
    row.dot.title = online ? _("Visitor online") : _("Visitor offline");
    var name = _("Visitor %(id)s", { id: session.id.slice(-6) });
    setText(row.title, name + " · " + when(session.updated_at));
    row.badge.className = "badge " + (session.status === "closed" ? "closed" : session.mode);
    setText(row.badge, modeText(session));
    row.waits.hidden = !isWaiting(session);
    var count = unread[session.id] || 0;
    row.unread.hidden = !count;
    setText(row.unread, String(count));
    var mine = session.assignee && agent && session.assignee.id === agent.id;
    setText(row.assignee, !session.assignee ? _("Not assigned") : mine ? _("You") : session.assignee.name);
    row.assignee.classList.toggle("none", !session.assignee);
    chips(row.chips, session.labels);
    var last = session.last_message;
    var said = last && last.role !== "visitor" ? speaker(last.role, last.author) : "";
    setText(row.preview, last ? (said ? said + ": " : "") + last.text : "");
    // The name says what a sighted agent reads at a glance; the preview describes it.
    var facts = [name, when(session.updated_at), online ? _("Visitor online") : _("Visitor offline"), modeText(session)];
    if (isWaiting(session)) { facts.push(_("waiting")); }
    facts.push(!session.assignee ? _("Not assigned") : mine ? _("Assigned to you") :
      _("Assigned to %(name)s", session.assignee));
    var names = known(session.labels).map(function (label) { return label.name; });
    if (names.length) { facts.push(_("Labels: %(names)s", { names: names.join(", ") })); }
    if (count) { facts.push(_("%(n)s unread", { n: count })); }
    var label = facts.join(", ");
    if (row.button.getAttribute("aria-label") !== label) { row.button.setAttribute("aria-label", label); }
    if (session.id === current) { row.button.setAttribute("aria-current", "true"); } else { row.button.removeAttribute("aria-current"); }
  }

  function renderList() {
    var list = $("sessions");
    var items = Object.keys(sessions).map(function (id) { return sessions[id]; }).filter(matches);
    items.sort(function (a, b) { return (b.updated_at || "").localeCompare(a.updated_at || "") || (a.id < b.id ? -1 : 1); });
    var focused = document.activeElement;
    var focusedAt = -1;
    var keep = {};
    items.forEach(function (session, index) {
      keep[session.id] = true;
      var row = rows[session.id] || (rows[session.id] = makeRow(session.id));
      fillRow(row, session);
      // Only rows out of place move: a patch for one session moves that row alone, never the focused one.
      if (list.children[index] !== row.item) { list.insertBefore(row.item, list.children[index] || null); }
    });
    for (var id in rows) {
      if (keep[id]) { continue; }
      if (rows[id].item.contains(focused)) { focusedAt = Array.prototype.indexOf.call(list.children, rows[id].item); }
      rows[id].item.remove();
      delete rows[id];
    }
    if (focusedAt >= 0) {  // the focused row left this view: the focus goes to its neighbour, not to the page
      var next = list.children[Math.min(focusedAt, list.children.length - 1)];
      (next ? next.querySelector("button") : document.querySelector(".view[aria-pressed=true]")).focus();
    } else if (focused && focused !== document.activeElement && list.contains(focused)) {
      focused.focus({ preventScroll: true });  // the focused row itself moved (its own patch)
    }
    $("no-sessions").hidden = items.length > 0;
    $("outside-view").hidden = !(current && sessions[current] && !matches(sessions[current]));
    renderCounts();
    renderWaiting();
    updateTitle();
    return items.length;
  }

  function renderCounts() {
    var mine = 0;
    var nobody = 0;
    for (var id in sessions) {
      var session = sessions[id];
      if (session.status !== "open") { continue; }
      if (!session.assignee) { nobody += 1; } else if (agent && session.assignee.id === agent.id) { mine += 1; }
    }
    setText($("count-mine"), mine ? String(mine) : "");
    setText($("count-unassigned"), nobody ? String(nobody) : "");
  }

  // The polite status line: what the list shows now, after the agent changed the view, or news for them.
  function say(text) {
    var line = $("list-status");
    line.textContent = "";
    setTimeout(function () { line.textContent = text; }, 50);  // a change of text, so it is read even if the same
  }

  function viewChanged() {
    document.querySelectorAll(".view").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.view === view.who ? "true" : "false");
    });
    $("filter-agent").value = view.who === "agent" ? view.agent : "";
    $("filter-mode").disabled = view.status === "closed";  // nobody answers a closed conversation
    var shown = renderList();
    say(_("Conversations shown: %(n)s", { n: shown }));
  }

  function renderLabelOptions() {
    var select = $("filter-label");
    var chosen = view.label;
    while (select.options.length > 1) { select.remove(1); }
    labels.forEach(function (label) { select.add(new Option(label.name, label.id)); });
    if (chosen && !labelById(chosen)) { view.label = ""; }  // that label was deleted
    select.value = view.label;
    select.disabled = !labels.length;
  }

  function renderAgentOptions() {
    var select = $("filter-agent");
    while (select.options.length > 1) { select.remove(1); }
    staff.forEach(function (member) {
      select.add(new Option(agent && member.id === agent.id ? _("%(name)s (you)", member) : member.name, member.id));
    });
    select.value = view.who === "agent" ? view.agent : "";
  }

  function loadStaff(then) {
    if (Date.now() - staffAt < 15000) { if (then) { then(); } return; }
    fetch("/api/chat/staff", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { staff: staff }; })
      .then(function (data) {
        staffAt = Date.now();
        staff = data.staff || [];
        renderAgentOptions();
        if (then) { then(); }
      })
      .catch(function () { if (then) { then(); } });
  }

  // ---- the Waiting queue: who asked for a person, oldest wait on top, the wait ticking ----------
  function isWaiting(session) { return !!(session && session.waiting && session.status === "open"); }

  function waitingCount() {
    var n = 0;
    for (var id in sessions) { if (isWaiting(sessions[id])) { n += 1; } }
    return n;
  }

  function waitedFor(session) {
    var ms = Date.now() - Date.parse(session.waiting.since);
    var s = isNaN(ms) ? 0 : Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    return (m < 10 ? "0" : "") + m + ":" + (s % 60 < 10 ? "0" : "") + (s % 60);
  }

  function reasonText(waiting) {
    if (waiting.reason === "visitor") { return _("asked for a person"); }
    if (waiting.reason === "ai") { return _("the AI handed over"); }
    if (waiting.reason === "credits") { return _("AI credits ran out"); }
    if (waiting.reason === "agent_left") { return _("their agent left the team"); }
    return String(waiting.reason);
  }

  function waitingItem(session) {
    var item = document.createElement("li");
    item.className = "waiting-item";
    item.tabIndex = 0;
    item.setAttribute("role", "button");
    item.dataset.sessionId = session.id;
    var title = document.createElement("span");
    title.className = "title";
    title.textContent = _("Visitor %(id)s", { id: session.id.slice(-6) });
    var wait = document.createElement("span");
    wait.className = "wait";
    wait.title = _("Waiting for");
    var reason = document.createElement("span");
    reason.className = "reason";
    var note = document.createElement("span");
    note.className = "note";
    item.appendChild(title);
    item.appendChild(wait);
    item.appendChild(reason);
    item.appendChild(note);
    item.addEventListener("click", function () { open(session.id); });
    item.addEventListener("keydown", function (event) { if (event.key === "Enter") { open(session.id); } });
    return item;
  }

  // Keeps one <li> per waiting session: added, moved into order and removed as patches say; the text of
  // each is set here, the timer by tick() alone.
  function renderWaiting() {
    var list = $("waiting");
    var items = Object.keys(sessions).map(function (id) { return sessions[id]; }).filter(isWaiting);
    items.sort(function (a, b) { return Date.parse(a.waiting.since) - Date.parse(b.waiting.since); });
    var keep = {};
    items.forEach(function (session, index) {
      keep[session.id] = true;
      var item = waitingItems[session.id] || (waitingItems[session.id] = waitingItem(session));
      item.querySelector(".reason").textContent = reasonText(session.waiting);
      item.querySelector(".note").textContent = session.waiting.note || "";  // the visitor's words: text only
      item.querySelector(".wait").textContent = waitedFor(session);
      if (session.id === current) { item.setAttribute("aria-current", "true"); } else { item.removeAttribute("aria-current"); }
      if (list.children[index] !== item) { list.insertBefore(item, list.children[index] || null); }
    });
    for (var id in waitingItems) {
      if (!keep[id]) { waitingItems[id].remove(); delete waitingItems[id]; }
    }
    $("no-waiting").hidden = items.length > 0;
    var count = $("waiting-count");
    count.textContent = String(items.length);
    count.hidden = !items.length;
  }

  function tick() {
    for (var id in waitingItems) {
      var session = sessions[id];
      if (isWaiting(session)) { waitingItems[id].querySelector(".wait").textContent = waitedFor(session); }
    }
  }

  // ---- alerts: a sound, a desktop notification, the title count --------------------------------
  function alertsOn() {
    try { return localStorage.getItem(ALERTS_KEY) !== "off"; } catch (e) { return true; }
  }

  function permission() { return window.Notification ? Notification.permission : "unsupported"; }

  function renderAlerts() {
    var button = $("alerts");
    var on = alertsOn() && (permission() === "granted" || (permission() === "unsupported" && !!audio));
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = permission() === "denied" && alertsOn() ? _("Alerts blocked by the browser") :
      on ? _("Alerts on") : _("Enable alerts");
  }

  // Sound needs a user gesture: the first click or key on the page (or "Enable alerts") makes the audio.
  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      if (!audio) { audio = new Context(); }
      if (audio.state === "suspended") { audio.resume(); }
    } catch (e) { audio = null; }
  }

  function chime() {
    if (!audio || audio.state !== "running") { return; }
    var now = audio.currentTime;
    [880, 1320].forEach(function (frequency, i) {
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + i * 0.16);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.16 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.16 + 0.3);
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start(now + i * 0.16);
      tone.stop(now + i * 0.16 + 0.32);
    });
  }

  function alertWaiting(session) {
    blink(_("Someone is waiting!"));
    if (!alertsOn()) { return; }
    chime();
    if (permission() !== "granted") { return; }
    try {
      var shown = new Notification(_("A visitor is waiting for a person"), {
        body: _("Visitor %(id)s", { id: session.id.slice(-6) }) + " · " + reasonText(session.waiting) +
          (session.waiting.note ? ": " + session.waiting.note : ""),
        tag: "bob-waiting-" + session.id,
        icon: "/static/icons/icon-192.png"
      });
      shown.onclick = function () { window.focus(); open(session.id); shown.close(); };
    } catch (e) { /* a browser that shows notifications only from a service worker */ }
  }

  // "(2) Mission Control · Bob": the visitors waiting for a person, else the unread messages.
  function updateTitle() {
    var total = waitingCount();
    if (!total) { for (var id in unread) { total += unread[id]; } }
    document.title = (total ? "(" + total + ") " : "") + "Mission Control · Bob";
  }

  function blink(text) {
    if (!document.hidden || titleBlink) { return; }
    var on = false;
    titleBlink = setInterval(function () {
      on = !on;
      if (on) { document.title = text; } else { updateTitle(); }
    }, 1000);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && titleBlink) { clearInterval(titleBlink); titleBlink = 0; updateTitle(); }
  });

  function applyPatch(patch) {
    var session = sessions[patch.id];
    var isNew = !session;
    var wasWaiting = isWaiting(session);
    var wasMine = !!(session && session.assignee && agent && session.assignee.id === agent.id);
    var heldByMe = !!(session && session.owner && agent && session.owner.id === agent.id);
    if (isNew) {
      session = sessions[patch.id] = { id: patch.id, status: "open", mode: "ai", owner: null,
        visitor_online: false, seq: 0, last_message: null, updated_at: "", created_at: "", assignee: null,
        labels: [], transfer: null };
    }
    for (var key in patch) { session[key] = patch[key]; }
    var last = patch.last_message;
    if (last && last.seq > (seenSeq[patch.id] || 0)) {
      seenSeq[patch.id] = last.seq;
      if (patch.id !== current && (last.role === "visitor" || last.role === "ai")) {
        unread[patch.id] = (unread[patch.id] || 0) + 1;
      }
    }
    if (isNew) { blink(_("New conversation!")); }
    if (patch.id === current) { renderHead(); }
    renderList();
    if (!wasMine && patch.assignee && agent && patch.assignee.id === agent.id) {
      say(_("Visitor %(id)s is assigned to you", { id: patch.id.slice(-6) }));
      blink(_("Assigned to you!"));
    }
    if (heldByMe && patch.owner === null && patch.transfer && patch.transfer.by.id !== agent.id) {
      // A colleague handed the conversation this person held to someone else: they no longer answer it.
      var moved = _("%(by)s transferred Visitor %(id)s to %(to)s: you no longer hold it.", {
        by: patch.transfer.by.name, id: patch.id.slice(-6), to: patch.assignee ? patch.assignee.name : ""
      });
      if (patch.id === current) { notice(moved); }
      say(moved);
      blink(_("Transferred to a colleague"));
    }
    if (patch.id === current && "assignee" in patch && !$("history-panel").hidden) { loadHistory(); }
    if (!wasWaiting && isWaiting(session) && snapshotSeen) { alertWaiting(session); }
  }

  // ---- the conversation view ---------------------------------------------------------------
  function renderHead() {
    var session = sessions[current];
    if (!session) { return; }
    var mine = session.owner && agent && session.owner.id === agent.id;
    var mode = $("mode");
    mode.className = "badge " + (session.status === "closed" ? "closed" : session.mode);
    mode.textContent = session.status === "closed" ? _("closed") : session.mode === "human" ? _("human") : _("AI");
    $("owner").textContent = session.owner ?
      (mine ? _("Owner: %(name)s (you)", session.owner) : _("Owner: %(name)s", session.owner)) :
      isWaiting(session) ? _("Waiting for a person: %(reason)s", { reason: reasonText(session.waiting) }) :
      session.status === "closed" ? _("Closed: nobody is answering") :
      session.mode === "human" ? _("Owner: nobody") : _("Bob is answering");
    var closed = session.status === "closed";
    $("takeover").disabled = closed || (!!mine && session.status === "open");
    $("handback").disabled = closed || session.mode !== "human";
    $("close").disabled = closed;
    // A closed conversation takes no reply: the reason is said where the reply would be written. A visitor
    // who writes again reopens it (the patch that says so enables everything again).
    ["reply-text", "send"].forEach(function (id) { $(id).disabled = closed; });
    if (closed) { closeMenu(); }
    $("closed-note").hidden = !closed;
    $("canned-hint").hidden = closed;
    renderAssignment(session);
    ["takeover", "close"].forEach(function (id) {
      if (closed) { $(id).setAttribute("aria-describedby", "closed-note"); } else { $(id).removeAttribute("aria-describedby"); }
    });
    if (closed) { quiet(); }
  }

  // ---- the conversation header: its assignee, labels and transfer note; assign, transfer, labels ---------
  function renderAssignment(session) {
    var mine = session.assignee && agent && session.assignee.id === agent.id;
    setText($("assignee"), !session.assignee ? _("Not assigned") :
      mine ? _("Assigned to %(name)s (you)", session.assignee) : _("Assigned to %(name)s", session.assignee));
    $("assignee").classList.toggle("none", !session.assignee);
    chips($("head-labels"), session.labels);
    var transfer = session.transfer;
    $("transfer-note").hidden = !transfer;
    if (transfer) {
      setText($("transfer-by"), _("Transferred by %(name)s at %(time)s, for the team only:",
        { name: transfer.by.name, time: when(transfer.at) }));
      setText($("transfer-shown"), transfer.note);  // a colleague's words: text only
    }
    $("assign-me").disabled = !!mine || !agent;
    if (!$("labels-panel").hidden) { renderLabelChoices(session); }
  }

  function fillAssignOptions() {
    var select = $("assign-to");
    var session = sessions[current];
    var chosen = select.dataset.touched ? select.value : session && session.assignee ? session.assignee.id : "";
    select.textContent = "";
    select.add(new Option(_("Nobody (unassigned)"), ""));
    var listed = {};
    staff.forEach(function (member) {
      listed[member.id] = true;
      var name = agent && member.id === agent.id ? _("%(name)s (you)", member) : member.name;
      var text = _("%(name)s · %(presence)s · %(n)s open", {
        name: name, presence: member.online ? _("online") : _("offline"), n: member.open_assigned
      });
      select.add(new Option(text, member.id));
    });
    if (session && session.assignee && !listed[session.assignee.id]) {  // not in the list (yet): still shown
      select.add(new Option(session.assignee.name, session.assignee.id));
    }
    select.value = chosen;
  }

  function renderAssignButton() {
    setText($("assign-save"), $("transfer-text").value.trim() ? _("Transfer") : _("Assign"));
  }

  function openPanel(name) {
    closePanels(false);
    $(name + "-panel").hidden = false;
    $(name + "-toggle").setAttribute("aria-expanded", "true");
    if (name === "assign") {
      delete $("assign-to").dataset.touched;
      fillAssignOptions();
      staffAt = 0;  // who is online and how many each has open: as they are now
      loadStaff(function () { if (!$("assign-panel").hidden) { fillAssignOptions(); } });
      renderAssignButton();
      $("assign-to").focus();
    } else if (name === "history") {
      loadHistory();
      $("history-panel").focus();
    } else {
      renderLabelChoices(sessions[current]);
      var first = $("label-choices").querySelector("input");
      (first || $("labels-done")).focus();
    }
  }

  function closePanels(refocus) {
    PANELS.forEach(function (name) {
      if ($(name + "-panel").hidden) { return; }
      $(name + "-panel").hidden = true;
      $(name + "-toggle").setAttribute("aria-expanded", "false");
      if (refocus) { $(name + "-toggle").focus(); }
    });
  }

  // ---- the conversation's assignment history: every change of its assignee, oldest first ---------------
  function personName(person) {
    return agent && person.id === agent.id ? _("%(name)s (you)", person) : person.name;
  }

  function historyText(entry) {
    var names = {
      to: entry.assignee ? personName(entry.assignee) : "",
      from: entry.previous ? personName(entry.previous) : "",
      by: entry.by ? personName(entry.by) : _("the hub")
    };
    if (entry.kind === "round_robin") { return _("Assigned to %(to)s by round-robin", names); }
    if (entry.kind === "takeover") { return _("Assigned to %(to)s, who took it over", names); }
    if (entry.kind === "unassign") {
      return entry.previous ? _("Unassigned from %(from)s by %(by)s", names) : _("Unassigned by %(by)s", names);
    }
    if (entry.kind === "transfer") {
      return entry.previous ? _("Transferred from %(from)s to %(to)s by %(by)s", names) :
        _("Transferred to %(to)s by %(by)s", names);
    }
    if (entry.previous) { return _("Reassigned from %(from)s to %(to)s by %(by)s", names); }
    return _("Assigned to %(to)s by %(by)s", names);
  }

  // The time of day for today's changes, the date too for older ones.
  function historyWhen(iso) {
    var date = new Date(iso);
    if (isNaN(date)) { return ""; }
    if (date.toDateString() === new Date().toDateString()) { return when(iso); }
    return date.toLocaleString(document.documentElement.lang || [], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  var historyOf = null;        // the conversation whose history the panel lists

  function loadHistory() {
    var id = current;
    if (!id) { return; }
    if (historyOf !== id) { $("history-list").textContent = ""; historyOf = null; }  // never another's meanwhile
    setText($("history-status"), _("Loading…"));
    fetch("/api/chat/sessions/" + encodeURIComponent(id) + "/assignments", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) { if (current === id) { renderHistory(data.assignments || []); } })
      .catch(function () { if (current === id) { setText($("history-status"), _("The history could not be read; try again.")); } });
  }

  function renderHistory(entries) {
    historyOf = current;
    var list = $("history-list");
    list.textContent = "";
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      var at = document.createElement("time");
      at.dateTime = entry.at;
      at.textContent = historyWhen(entry.at);
      item.appendChild(at);
      item.appendChild(document.createTextNode(historyText(entry)));
      if (entry.note) {
        var note = document.createElement("q");
        note.textContent = entry.note;  // a colleague's words: text only
        item.appendChild(note);
      }
      list.appendChild(item);
    });
    setText($("history-status"), entries.length ? _("Changes of assignee: %(n)s", { n: entries.length }) :
      _("Nobody has been assigned this conversation yet."));
  }

  // One checkbox per label, kept while the set of labels stays the same (so the focus stays on it).
  function renderLabelChoices(session) {
    var list = $("label-choices");
    var shape = labels.map(function (label) { return label.id + ":" + label.color + ":" + label.name; }).join("\n");
    if (list.dataset.shape !== shape) {
      list.dataset.shape = shape;
      list.textContent = "";
      labels.forEach(function (label) {
        var item = document.createElement("li");
        var choice = document.createElement("label");
        var box = document.createElement("input");
        box.type = "checkbox";
        box.dataset.labelId = label.id;
        box.addEventListener("change", function () {
          command("label", { label_id: label.id, applied: box.checked });
        });
        var chip = document.createElement("span");
        chip.className = "chip " + label.color;
        chip.textContent = label.name;
        choice.appendChild(box);
        choice.appendChild(chip);
        item.appendChild(choice);
        list.appendChild(item);
      });
    }
    var carried = session ? session.labels || [] : [];
    list.querySelectorAll("input").forEach(function (box) { box.checked = carried.indexOf(box.dataset.labelId) >= 0; });
    $("no-labels").hidden = labels.length > 0;
  }

  // Nothing is being written in a closed conversation: no typing line, no reply still streaming.
  function quiet() {
    clearTimeout(visitorTypingTimer);
    $("typing").textContent = "";
    for (var id in streams) { dropStream(id); }
  }

  // Who said a line, as the transcript and the list's preview name them (a system line speaks for itself).
  function speaker(role, author) {
    return role === "visitor" ? _("Visitor") : role === "ai" ? _("Bob (AI)") : role === "agent" ? author || _("Agent") : "";
  }

  function bubble(role, author) {
    var item = document.createElement("li");
    item.className = "msg " + role;
    if (role !== "system") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = speaker(role, author);
      item.appendChild(who);
    }
    var body = document.createElement("span");
    body.className = "body";
    item.appendChild(body);
    return item;
  }

  function scrollDown() {
    var log = $("transcript");
    log.scrollTop = log.scrollHeight;
  }

  function showMessage(frame) {
    if (frame.seq <= lastSeq || shown[frame.id]) { return; }
    lastSeq = frame.seq;
    shown[frame.id] = true;
    var stream = streams[frame.id];
    var item = stream ? stream.node : bubble(frame.role, frame.author);
    delete streams[frame.id];
    item.classList.remove("streaming");
    item.dataset.seq = String(frame.seq);
    item.querySelector(".body").textContent = frame.text;
    if (frame.truncated) {
      var cut = document.createElement("span");
      cut.className = "cut";
      cut.textContent = _("cut short by a takeover");
      item.appendChild(cut);
    }
    if (frame.role === "ai") { showSources(item, frame.sources); showReplyRating(item, frame.id); }
    if (!stream) { placeMessage(item, frame.seq); }
    if (frame.role === "visitor") { $("typing").textContent = ""; }
    scrollDown();
  }

  function showToken(frame) {
    if (shown[frame.message_id] || (sessions[current] && sessions[current].status === "closed")) { return; }
    var stream = streams[frame.message_id];
    if (!stream) {
      stream = streams[frame.message_id] = { node: bubble("ai"), next: 0 };
      stream.node.classList.add("streaming");
      $("transcript").appendChild(stream.node);
    }
    if (frame.index !== stream.next) { return; }  // a repeat after a re-watch
    stream.next += 1;
    stream.node.querySelector(".body").textContent += frame.text;
    scrollDown();
  }

  // The node writing that reply died: its tokens never become a message (another reply follows).
  function dropStream(messageId) {
    var stream = streams[messageId];
    shown[messageId] = true;
    if (!stream) { return; }
    delete streams[messageId];
    if (stream.node.parentNode) { stream.node.parentNode.removeChild(stream.node); }
  }

  function showTyping(frame) {
    if (frame.role !== "visitor" || (sessions[current] && sessions[current].status === "closed")) { return; }
    clearTimeout(visitorTypingTimer);
    $("typing").textContent = frame.active ? _("Visitor is typing…") : "";
    if (frame.active) { visitorTypingTimer = setTimeout(function () { $("typing").textContent = ""; }, 8000); }
  }

  // ---- what the visitor was told and what they thought of it: sources and ratings ---------------
  // An AI reply's sources (the knowledge entries it answered from, stored with it): links under the reply,
  // http(s) only; a source without one is its title as text.
  function showSources(item, sources) {
    var old = item.querySelector(".sources");
    if (old) { old.remove(); }
    if (!Array.isArray(sources) || !sources.length) { return; }
    var box = document.createElement("span");
    box.className = "sources";
    box.appendChild(document.createTextNode(_("Sources:") + " "));
    sources.slice(0, 5).forEach(function (source) {
      if (!source || typeof source.title !== "string") { return; }
      var href = "";
      try {
        var url = new URL(String(source.url || ""));
        if (url.protocol === "http:" || url.protocol === "https:") { href = url.href; }
      } catch (e) { href = ""; }
      var link = document.createElement(href ? "a" : "span");
      if (href) {
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
      link.textContent = source.title;
      box.appendChild(link);
    });
    item.appendChild(box);
  }

  // The visitor's rating of one AI reply, as a badge on it; a later rating replaces it.
  function showReplyRating(item, messageId) {
    item.dataset.messageId = messageId;
    var badge = item.querySelector(".rating");
    if (!(messageId in ratings)) { if (badge) { badge.remove(); } return; }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "rating";
      item.appendChild(badge);
    }
    var helpful = ratings[messageId];
    badge.dataset.helpful = helpful ? "true" : "false";
    badge.textContent = helpful ? _("The visitor found this helpful") : _("The visitor found this not helpful");
  }

  function onRated(frame) {
    ratings[frame.message_id] = !!frame.helpful;
    var items = $("transcript").querySelectorAll(".msg.ai");
    for (var i = 0; i < items.length; i += 1) {
      if (items[i].dataset.messageId === frame.message_id) { showReplyRating(items[i], frame.message_id); }
    }
  }

  // The conversation's 1-5 stars and comment, at the end of the transcript (null: none yet); a later rating
  // replaces it. A status, so a screen reader says it when it arrives.
  function showSessionRating(frame) {
    var old = $("session-rating");
    if (old) { old.remove(); }
    if (!frame) { return; }
    var box = document.createElement("li");
    box.id = "session-rating";
    box.className = "msg session-rating";
    box.setAttribute("role", "status");
    var stars = Math.max(0, Math.min(5, Math.round(+frame.stars || 0)));
    var shown = document.createElement("span");
    shown.className = "stars";
    shown.setAttribute("aria-hidden", "true");
    shown.textContent = "★★★★★".slice(0, stars) + "☆☆☆☆☆".slice(0, 5 - stars);
    var said = document.createElement("span");
    said.className = "said";
    said.textContent = _("The visitor rated this conversation %(n)s of 5", { n: stars });
    box.appendChild(shown);
    box.appendChild(said);
    if (frame.comment) {
      var comment = document.createElement("q");
      comment.className = "comment";
      comment.textContent = frame.comment;  // the visitor's words: text only
      box.appendChild(comment);
    }
    $("transcript").appendChild(box);
    scrollDown();
  }

  function open(id) {
    if (current && current !== id) { send({ type: "unwatch", session_id: current }); }
    current = id;
    lastSeq = 0;
    shown = {};
    streams = {};
    ratings = {};
    showSessionRating(null);
    unread[id] = 0;
    notice("");
    closePanels(false);
    $("transfer-text").value = "";
    $("transcript").textContent = "";
    $("typing").textContent = "";
    $("conversation").hidden = false;
    $("placeholder").hidden = true;
    document.body.classList.add("viewing");  // on a phone: the conversation replaces the list
    $("conversation-title").textContent = _("Visitor %(id)s", { id: id.slice(-6) });
    renderHead();
    renderList();
    send({ type: "watch", session_id: id, last_seq: 0 });
    showContext(id);
    if (!narrow()) { $("reply-text").focus(); }  // a phone would open its keyboard over the transcript
  }

  function narrow() { return window.matchMedia && window.matchMedia("(max-width: 720px)").matches; }

  function leave() {
    if (!current) { return; }
    send({ type: "unwatch", session_id: current });
    closePanels(false);
    current = null;
    $("conversation").hidden = true;
    $("placeholder").hidden = false;
    hideContext();
    document.body.classList.remove("viewing");
    renderList();
  }

  // ---- visitor context: the page the visitor is on, their visits, languages (docs/PROTOCOL.md) -------------
  var contexts = {};          // session id -> the newest VisitorContext known (by its version)
  var CONTEXT_KEY = "bob-mc-context";

  function contextFolded() {
    try {
      var stored = localStorage.getItem(CONTEXT_KEY + (narrow() ? "-phone" : ""));
      return stored ? stored === "folded" : cramped();  // a phone shows the summary line until asked
    } catch (e) { return cramped(); }
  }

  // Beside a conversation narrower than this the panel starts folded (its button opens it).
  function cramped() { return window.matchMedia && window.matchMedia("(max-width: 1100px)").matches; }

  function foldContext(folded) {
    $("visitor-context").classList.toggle("folded", folded);
    $("context-toggle").setAttribute("aria-expanded", folded ? "false" : "true");
    $("context-body").hidden = folded;
  }

  function showContext(id) {
    $("visitor-context").hidden = false;
    foldContext(contextFolded());
    renderContext();
    loadContext(id);
  }

  function hideContext() { $("visitor-context").hidden = true; }

  // The HTTP API says what is known now; the agent socket's visitor_context frames keep it live.
  function loadContext(id) {
    fetch("/api/chat/context/" + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { onVisitorContext(data); } })
      .catch(function () { /* the socket's next frame, or the next opening, tells it */ });
  }

  function onVisitorContext(frame) {
    var known = contexts[frame.session_id];
    if (known && known.version > frame.context.version) { return; }  // an older answer overtaken by a frame
    contexts[frame.session_id] = frame.context;
    if (frame.session_id === current) { renderContext(); }
  }

  function shortUrl(url) {
    var match = /^https?:\/\/([^\/?#]+)([^#]*)/i.exec(url);
    return match ? match[1] + (match[2] === "/" ? "" : match[2]) : url;
  }

  function pageLink(page) {
    var link = document.createElement("a");
    link.href = page.url;  // an http(s) address: the hub takes no other
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    link.textContent = page.title || shortUrl(page.url);
    link.title = page.url;
    return link;
  }

  function whenFull(iso) {
    var date = new Date(iso);
    if (!iso || isNaN(date)) { return ""; }
    try {
      return date.toLocaleString(document.documentElement.lang || [], { dateStyle: "medium", timeStyle: "short" });
    } catch (e) { return date.toLocaleString(); }
  }

  function theirTime(zone) {
    try {
      return new Date().toLocaleTimeString(document.documentElement.lang || [], { hour: "2-digit", minute: "2-digit", timeZone: zone });
    } catch (e) { return ""; }  // a zone this browser does not know
  }

  function renderContext() {
    var context = contexts[current];
    var known = !!(context && (context.visits || context.email));
    $("context-empty").hidden = known;
    $("context-facts").hidden = !known;
    $("context-summary").textContent = !known ? _("nothing reported yet") :
      context.page ? context.page.title || shortUrl(context.page.url) : context.email || "";
    if (!known) { return; }
    var page = $("context-page");
    page.textContent = "";
    if (context.page) {
      page.appendChild(pageLink(context.page));
      var where = document.createElement("span");
      where.className = "context-url";
      where.textContent = shortUrl(context.page.url) + " · " + _("since %(time)s", { time: when(context.page.at) });
      page.appendChild(where);
    } else {
      page.textContent = _("unknown");
    }
    var list = $("context-pages");
    list.textContent = "";
    context.pages.slice().reverse().forEach(function (seen) {
      var item = document.createElement("li");
      item.appendChild(pageLink(seen));
      var at = document.createElement("span");
      at.className = "context-at";
      at.textContent = " · " + when(seen.at);
      item.appendChild(at);
      list.appendChild(item);
    });
    $("context-visits").textContent = context.visits ?
      _("%(n)s (this one since %(time)s)", { n: context.visits, time: when(context.visit_started) }) : _("unknown");
    $("context-first").textContent = whenFull(context.first_seen) || _("unknown");
    var languages = [];
    if (context.language) { languages.push(_("%(tag)s in the widget", { tag: context.language })); }
    if (context.browser_language) { languages.push(_("%(tag)s in the browser", { tag: context.browser_language })); }
    $("context-language").textContent = languages.join(", ") || _("unknown");
    var zone = context.time_zone;
    var there = zone ? theirTime(zone) : "";
    $("context-zone").textContent = !zone ? _("unknown") : there ?
      _("%(zone)s (%(time)s there now)", { zone: zone, time: there }) : zone;
    var email = $("context-email");
    email.textContent = "";
    if (context.email) {
      var mail = document.createElement("a");
      mail.href = "mailto:" + encodeURIComponent(context.email).replace(/%40/g, "@");
      mail.textContent = context.email;
      email.appendChild(mail);
    } else {
      email.textContent = _("not left");
    }
  }

  $("context-toggle").addEventListener("click", function () {
    var folded = $("context-toggle").getAttribute("aria-expanded") === "true";
    foldContext(folded);
    try { localStorage.setItem(CONTEXT_KEY + (narrow() ? "-phone" : ""), folded ? "folded" : "open"); } catch (e) { /* blocked */ }
  });

  // ---- the socket --------------------------------------------------------------------------
  function onFrame(frame) {
    if (frame.type === "ready") {
      agent = frame.agent;
      backoff = 500;
      setConnection("connected", _("Connected"));
    } else if (frame.type === "sessions") {
      var fresh = {};
      frame.sessions.forEach(function (session) {
        fresh[session.id] = session;
        if (seenSeq[session.id] === undefined) { seenSeq[session.id] = session.seq; }
        else if (session.seq > seenSeq[session.id] && session.id !== current) {
          unread[session.id] = (unread[session.id] || 0) + session.seq - seenSeq[session.id];
          seenSeq[session.id] = session.seq;
        }
      });
      var before = sessions;
      sessions = fresh;
      labels = frame.labels || [];
      renderLabelOptions();
      renderList();
      if (snapshotSeen) {  // a reconnect: whoever started waiting while the page was away is news
        loadMentions(false);  // and the mentions (and reads) that came meanwhile
        for (var id in fresh) { if (isWaiting(fresh[id]) && !isWaiting(before[id])) { alertWaiting(fresh[id]); } }
      }
      snapshotSeen = true;
      if (current) {  // resume after a reconnect (a conversation older than the list too: opened from search)
        renderHead();
        send({ type: "watch", session_id: current, last_seq: lastSeq });  // resume after a reconnect
        loadContext(current);  // what changed while the socket was away
      }
    } else if (frame.type === "session") {
      applyPatch(frame.session);
    } else if (frame.type === "labels") {  // the tenant's labels were added, renamed or deleted
      labels = frame.labels;
      renderLabelOptions();
      renderList();
      if (current) { renderHead(); }
    } else if (frame.type === "renamed") {
      // A colleague (or this person, in another tab or the portal) changed their display name.
      if (agent && frame.agent_id === agent.id) {
        agent.name = frame.name;
        $("me").textContent = frame.name;
      }
      for (var sid in sessions) {  // assignees are named as they are now
        if (sessions[sid].assignee && sessions[sid].assignee.id === frame.agent_id) { sessions[sid].assignee.name = frame.name; }
      }
      staff.forEach(function (member) { if (member.id === frame.agent_id) { member.name = frame.name; } });
      renderAgentOptions();
      renderList();
      if (current) { renderHead(); }
    } else if (frame.type === "notice") {
      notice(frame.code === "credits_exhausted" ?  // people must answer now
        _("All AI credits of this month are used: Bob stopped answering; please reply.") : frame.message);
      blink(_("Bob needs you!"));
    } else if (frame.type === "error") {
      // The hub's messages are English; the codes the page can say in full are said in the page's language.
      var text = frame.code === "owned_by_other" && frame.owner && frame.owner.name ?
        _("%(name)s owns this session; take over with force to take it anyway", frame.owner) :
        ERRORS[frame.code] ? ERRORS[frame.code]() : frame.message || frame.code;
      notice(text);
      $("force").hidden = frame.code !== "owned_by_other";
    } else if (frame.type === "ok") {
      if (frame.action === "takeover" || frame.action === "message" || frame.action === "label" || frame.action === "note") { notice(""); }
      if (frame.action === "assign" || frame.action === "transfer") {
        notice("");
        closePanels(true);
        $("transfer-text").value = "";
        staffAt = 0;  // the open counts changed
        var session = sessions[frame.session_id];
        say(frame.action === "transfer" ? _("Transferred to %(name)s", { name: session && session.assignee ? session.assignee.name : "" }) :
          session && session.assignee ? _("Assigned to %(name)s", session.assignee) : _("Not assigned"));
      }
    } else if (frame.type === "visitor_context") {
      onVisitorContext(frame);
    } else if (STAFF_FRAMES[frame.type]) {
      staffFrame(frame);  // notes, mentions (the section below)
    } else if (frame.session_id && frame.session_id === current) {
      if (frame.type === "message") { showMessage(frame); }
      else if (frame.type === "token") { showToken(frame); }
      else if (frame.type === "reply_aborted") { dropStream(frame.message_id); }
      else if (frame.type === "typing") { showTyping(frame); }
      else if (frame.type === "rated") { onRated(frame); }
      else if (frame.type === "session_rated") { showSessionRating(frame); }
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/agent");
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4401) { location.assign("/mission-control/login"); return; }
      if (event.code === 4403) { setConnection("offline", _("Not allowed: %(reason)s", { reason: event.reason })); return; }
      setConnection("offline", _("Reconnecting…"));
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }

  // ---- controls ----------------------------------------------------------------------------
  function reply() {
    var box = $("reply-text");
    var text = box.value.trim();
    if (!text || !current) { return; }
    command("message", { text: text, client_id: "mc-" + Date.now() + "-" + refs });
    box.value = "";
    stopTyping();
  }

  function stopTyping() {
    clearTimeout(typingStop);
    if (typingSent) { send({ type: "typing", session_id: current, active: false }); typingSent = 0; }
  }

  // ---- canned replies: "/" + search in the reply box ----------------------------------------------
  var canned = [];            // the tenant's canned replies (GET /api/canned-replies), read again when stale
  var cannedAt = 0;
  var menu = { open: false, items: [], active: 0, start: 0 };

  function loadCanned() {
    if (Date.now() - cannedAt < 30000) { return; }
    cannedAt = Date.now();
    fetch("/api/canned-replies", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { canned_replies: canned }; })
      .then(function (data) { canned = data.canned_replies || []; if (menu.open) { updateMenu(); } })
      .catch(function () { cannedAt = 0; });
  }

  // The "/query" just before the caret: at the start of the box or after a space, on one line.
  function slashQuery() {
    var box = $("reply-text");
    var before = box.value.slice(0, box.selectionStart);
    var found = /(^|\s)\/([^\n\/]*)$/.exec(before);
    return found ? { start: before.length - found[2].length - 1, query: found[2].toLowerCase().trim() } : null;
  }

  function closeMenu() {
    menu.open = false;
    $("canned-menu").hidden = true;
    $("canned-menu").textContent = "";
    $("reply-text").setAttribute("aria-expanded", "false");
    $("reply-text").removeAttribute("aria-activedescendant");
  }

  function updateMenu() {
    var asked = slashQuery();
    if (!asked) { closeMenu(); return; }
    loadCanned();
    menu.open = true;
    menu.start = asked.start;
    menu.items = canned.filter(function (item) {
      return !asked.query || item.title.toLowerCase().indexOf(asked.query) >= 0 ||
        item.text.toLowerCase().indexOf(asked.query) >= 0;
    }).slice(0, 8);
    menu.active = Math.min(menu.active, Math.max(0, menu.items.length - 1));
    var list = $("canned-menu");
    list.textContent = "";
    menu.items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.id = "canned-option-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === menu.active ? "true" : "false");
      var title = document.createElement("strong");
      title.textContent = item.title;
      var text = document.createElement("span");
      text.textContent = item.text;
      option.appendChild(title);
      option.appendChild(text);
      option.addEventListener("mousedown", function (event) { event.preventDefault(); insertCanned(index); });
      list.appendChild(option);
    });
    if (!menu.items.length) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = canned.length ? _("No canned reply matches") :
        _("No canned replies yet: owners add them in the portal");
      list.appendChild(none);
    }
    list.hidden = false;
    $("reply-text").setAttribute("aria-expanded", "true");
    if (menu.items.length) { $("reply-text").setAttribute("aria-activedescendant", "canned-option-" + menu.active); }
    else { $("reply-text").removeAttribute("aria-activedescendant"); }
  }

  function insertCanned(index) {
    var item = menu.items[index];
    if (!item) { return; }
    var box = $("reply-text");
    var caret = box.selectionStart;
    box.value = box.value.slice(0, menu.start) + item.text + box.value.slice(caret);
    var at = menu.start + item.text.length;
    box.setSelectionRange(at, at);
    closeMenu();
    box.focus();
  }

  function menuKey(event) {
    if (!menu.open) { return false; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (menu.items.length) {
        menu.active = (menu.active + (event.key === "ArrowDown" ? 1 : menu.items.length - 1)) % menu.items.length;
        updateMenu();
      }
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && menu.items.length && !event.shiftKey) {
      insertCanned(menu.active);
      return true;
    }
    if (event.key === "Escape") { closeMenu(); return true; }
    return false;
  }

  $("reply").addEventListener("submit", function (event) { event.preventDefault(); reply(); });
  $("reply-text").addEventListener("keydown", function (event) {
    if (menuKey(event)) { event.preventDefault(); event.stopPropagation(); return; }
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); reply(); }
  });
  $("reply-text").addEventListener("blur", closeMenu);
  $("reply-text").addEventListener("click", updateMenu);
  $("reply-text").addEventListener("input", function () {
    menu.active = 0;
    updateMenu();
    if (!current) { return; }
    var now = Date.now();
    if (now - typingSent > 2000) { send({ type: "typing", session_id: current, active: true }); typingSent = now; }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 3000);
  });
  $("takeover").addEventListener("click", function () { command("takeover"); });
  $("force").addEventListener("click", function () { command("takeover", { force: true }); });
  $("handback").addEventListener("click", function () { command("handback"); });
  $("close").addEventListener("click", function () { command("close"); });
  document.querySelectorAll(".view").forEach(function (button) {
    button.addEventListener("click", function () {
      view.who = button.dataset.view;
      view.agent = "";
      viewChanged();
    });
  });
  $("filter-agent").addEventListener("change", function () {
    view.agent = $("filter-agent").value;
    view.who = view.agent ? "agent" : "all";
    viewChanged();
  });
  $("filter-agent").addEventListener("focus", function () { loadStaff(); });
  $("filter-status").addEventListener("change", function () { view.status = $("filter-status").value; viewChanged(); });
  $("filter-mode").addEventListener("change", function () { view.mode = $("filter-mode").value; viewChanged(); });
  $("filter-label").addEventListener("change", function () { view.label = $("filter-label").value; viewChanged(); });
  PANELS.forEach(function (name) {
    $(name + "-toggle").addEventListener("click", function () {
      if ($(name + "-panel").hidden) { openPanel(name); } else { closePanels(true); }
    });
    $(name + "-panel").addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.stopPropagation(); closePanels(true); }
    });
  });
  $("assign-to").addEventListener("change", function () { $("assign-to").dataset.touched = "1"; });
  $("transfer-text").addEventListener("input", renderAssignButton);
  $("assign-panel").addEventListener("submit", function (event) {
    event.preventDefault();
    var to = $("assign-to").value || null;
    var note = $("transfer-text").value.trim();
    if (!note) { command("assign", { agent_id: to }); return; }
    if (!to) { notice(_("Pick who to transfer the conversation to.")); $("assign-to").focus(); return; }
    command("transfer", { agent_id: to, note: note });
  });
  $("assign-me").addEventListener("click", function () { if (agent) { command("assign", { agent_id: agent.id }); } });
  $("assign-cancel").addEventListener("click", function () { closePanels(true); });
  $("labels-done").addEventListener("click", function () { closePanels(true); });
  $("history-done").addEventListener("click", function () { closePanels(true); });
  // The conversation open is one the filter hides (opened from an alert or a mention): show the list unfiltered.
  $("show-outside").addEventListener("click", function () {
    var session = sessions[current];
    if (!session) { return; }
    view = { who: "all", agent: "", status: session.status, mode: "", label: "" };
    $("filter-status").value = view.status;
    $("filter-mode").value = "";
    $("filter-label").value = "";
    viewChanged();
    if (!narrow() && rows[current]) { rows[current].button.focus(); } else { $("back").focus(); }
  });
  // push.js opens the conversation an alert links to, whatever the list's filter shows (renderList says so).
  window.BobMissionControl = { open: open };
  document.addEventListener("keydown", function (event) {
    if (event.altKey && (event.key === "t" || event.key === "T") && current) { event.preventDefault(); command("takeover"); }
    if (event.altKey && (event.key === "h" || event.key === "H") && current) { event.preventDefault(); command("handback"); }
    if (event.key === "Escape" && current) { leave(); }
  });
  $("back").addEventListener("click", leave);
  $("alerts").addEventListener("click", function () {
    unlockAudio();
    var on = $("alerts").getAttribute("aria-pressed") === "true";
    try { localStorage.setItem(ALERTS_KEY, on ? "off" : "on"); } catch (e) { /* storage blocked */ }
    if (!on && window.Notification && Notification.permission === "default") {
      Notification.requestPermission().then(renderAlerts, renderAlerts);
    }
    renderAlerts();
  });
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, unlockAudio, { once: true, capture: true });
  });
  $("logout").addEventListener("click", function () {
    fetch("/api/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } })
      .then(function () { location.assign("/mission-control/login"); });
  });
  // ---- private notes, @mentions and search (staff only: nothing here reaches the visitor) ----------------
  var STAFF_FRAMES = { note: true, notes: true, mentioned: true, mentions_read: true, watching: true };
  var noteMode = false;
  var team = [];             // the tenant's staff (GET /api/staff), for @mentions; read again when stale
  var teamAt = 0;
  var mentionMenu = { open: false, items: [], active: 0, start: 0 };
  var mentions = [];          // this person's mentions loaded so far and come live since, newest first
  var inbox = { unread: 0, next: null, loaded: false, failed: false, loading: false };
  var search = { q: "", offset: 0 };

  function staffFrame(frame) {
    if (frame.type === "watching") {
      // A conversation opened from search or a mention may be older than the list: it joins the list.
      if (!sessions[frame.session_id]) { sessions[frame.session_id] = frame.session; renderList(); }
      if (frame.session_id === current) { renderHead(); seenIn(frame.session_id); }
    } else if (frame.type === "note" && frame.session_id === current) {
      showNote(frame.note);
    } else if (frame.type === "notes" && frame.session_id === current) {
      frame.notes.forEach(showNote);
    } else if (frame.type === "mentioned" && agent && frame.agent_id === agent.id) {
      mentioned(frame);
    } else if (frame.type === "mentions_read" && agent && frame.agent_id === agent.id) {
      readElsewhere(frame);
    }
  }

  // A message goes before the notes at the end written after it (a replay may come after a live note).
  function placeMessage(item, seq) {
    var log = $("transcript");
    var before = null;
    for (var node = log.lastElementChild; node && node.classList.contains("note"); node = node.previousElementSibling) {
      if (Number(node.dataset.afterSeq) >= seq) { before = node; }
    }
    log.insertBefore(item, before);
  }

  // The text with each "@Name" of the people it mentions marked (text nodes only: notes are not HTML).
  function mentionText(target, text, people) {
    var names = people.map(function (person) { return "@" + person.name; }).filter(function (name) { return name.length > 1; });
    names.sort(function (a, b) { return b.length - a.length; });
    var at = 0;
    while (at < text.length) {
      var next = -1, found = "";
      names.forEach(function (name) {
        var index = text.indexOf(name, at);
        if (index >= 0 && (next < 0 || index < next)) { next = index; found = name; }
      });
      if (next < 0) { break; }
      target.appendChild(document.createTextNode(text.slice(at, next)));
      var strong = document.createElement("strong");
      strong.className = "mention";
      strong.textContent = found;
      target.appendChild(strong);
      at = next + found.length;
    }
    target.appendChild(document.createTextNode(text.slice(at)));
  }

  function showNote(note) {
    var log = $("transcript");
    if (log.querySelector('[data-note-id="' + (window.CSS && CSS.escape ? CSS.escape(note.id) : note.id) + '"]')) { return; }
    var item = document.createElement("li");
    item.className = "msg note";
    item.dataset.noteId = note.id;
    item.dataset.afterSeq = String(note.after_seq);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = _("Private note by %(name)s", { name: note.author.name }) + " · " + when(note.created_at);
    var body = document.createElement("span");
    body.className = "body";
    mentionText(body, note.text, note.mentions || []);
    item.appendChild(who);
    item.appendChild(body);
    // After the message it followed and the notes before it; before anything newer (or a reply streaming).
    var before = null;
    for (var node = log.firstElementChild; node; node = node.nextElementSibling) {
      if (node.classList.contains("streaming") || (!node.classList.contains("note") && Number(node.dataset.seq) > note.after_seq)) {
        before = node;
        break;
      }
    }
    log.insertBefore(item, before);
    if (!before) { scrollDown(); }
  }

  // ---- the composer's two modes: Reply (to the visitor) and Note (to the team) ------------------------
  function setNoteMode(on) {
    noteMode = on;
    $("mode-reply").setAttribute("aria-pressed", on ? "false" : "true");
    $("mode-note").setAttribute("aria-pressed", on ? "true" : "false");
    $("reply").hidden = on;
    $("note").hidden = !on;
    closeMenu();
    closeMentionMenu();
    if (on) { loadTeam(); $("note-text").focus(); } else if (!$("reply-text").disabled) { $("reply-text").focus(); }
  }

  function addNote() {
    var box = $("note-text");
    var text = box.value.trim();
    if (!text || !current) { return; }
    command("note", { text: text, mentions: mentionedIn(text) });
    box.value = "";
    closeMentionMenu();
  }

  // Who the text names: "@" + a colleague's display name, longest names first ("@Anna Nowak" is not "@Anna").
  function mentionedIn(text) {
    var people = team.slice().sort(function (a, b) { return b.name.length - a.name.length; });
    var ids = [];
    people.forEach(function (person) {
      var name = "@" + person.name;
      if (person.name && text.indexOf(name) >= 0) {
        ids.push(person.id);
        text = text.split(name).join(" ");
      }
    });
    return ids.slice(0, 20);
  }

  function loadTeam() {
    if (Date.now() - teamAt < 30000) { return; }
    teamAt = Date.now();
    fetch("/api/staff", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { staff: team }; })
      .then(function (data) { team = data.staff || []; if (mentionMenu.open) { updateMentionMenu(); } })
      .catch(function () { teamAt = 0; });
  }

  // The "@query" just before the caret: at the start of the box or after a space; a name may hold spaces.
  function atQuery() {
    var box = $("note-text");
    var before = box.value.slice(0, box.selectionStart);
    var found = /(^|\s)@([^\n@]{0,40})$/.exec(before);
    return found ? { start: before.length - found[2].length - 1, query: found[2].toLowerCase() } : null;
  }

  function closeMentionMenu() {
    mentionMenu.open = false;
    $("mention-menu").hidden = true;
    $("mention-menu").textContent = "";
    $("note-text").setAttribute("aria-expanded", "false");
    $("note-text").removeAttribute("aria-activedescendant");
  }

  function updateMentionMenu() {
    var asked = atQuery();
    if (!asked) { closeMentionMenu(); return; }
    loadTeam();
    var query = asked.query.trim();
    var items = team.filter(function (person) {
      var name = person.name.toLowerCase();
      return !query || name.indexOf(query) === 0 || name.indexOf(" " + query) >= 0;
    }).slice(0, 8);
    if (!items.length && /\s/.test(asked.query)) { closeMentionMenu(); return; }  // text after a name, not a name
    mentionMenu.open = true;
    mentionMenu.start = asked.start;
    mentionMenu.items = items;
    mentionMenu.active = Math.min(mentionMenu.active, Math.max(0, items.length - 1));
    var list = $("mention-menu");
    list.textContent = "";
    items.forEach(function (person, index) {
      var option = document.createElement("li");
      option.id = "mention-option-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === mentionMenu.active ? "true" : "false");
      var name = document.createElement("strong");
      name.textContent = person.name;
      option.appendChild(name);
      if (agent && person.id === agent.id) {
        var self = document.createElement("span");
        self.textContent = _("you");
        option.appendChild(self);
      }
      option.addEventListener("mousedown", function (event) { event.preventDefault(); insertMention(index); });
      list.appendChild(option);
    });
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = _("Nobody in your team by that name");
      list.appendChild(none);
    }
    list.hidden = false;
    $("note-text").setAttribute("aria-expanded", "true");
    if (items.length) { $("note-text").setAttribute("aria-activedescendant", "mention-option-" + mentionMenu.active); }
    else { $("note-text").removeAttribute("aria-activedescendant"); }
  }

  function insertMention(index) {
    var person = mentionMenu.items[index];
    if (!person) { return; }
    var box = $("note-text");
    var caret = box.selectionStart;
    var name = "@" + person.name + " ";
    box.value = box.value.slice(0, mentionMenu.start) + name + box.value.slice(caret);
    var at = mentionMenu.start + name.length;
    box.setSelectionRange(at, at);
    closeMentionMenu();
    box.focus();
  }

  function mentionKey(event) {
    if (!mentionMenu.open) { return false; }
    var count = mentionMenu.items.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (count) {
        mentionMenu.active = (mentionMenu.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
        updateMentionMenu();
      }
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && count && !event.shiftKey) { insertMention(mentionMenu.active); return true; }
    if (event.key === "Escape") { closeMentionMenu(); return true; }
    return false;
  }

  $("mode-reply").addEventListener("click", function () { setNoteMode(false); });
  $("mode-note").addEventListener("click", function () { setNoteMode(true); });
  $("note").addEventListener("submit", function (event) { event.preventDefault(); addNote(); });
  $("note-text").addEventListener("keydown", function (event) {
    if (mentionKey(event)) { event.preventDefault(); event.stopPropagation(); return; }
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); addNote(); }
  });
  $("note-text").addEventListener("input", function () { mentionMenu.active = 0; updateMentionMenu(); });
  $("note-text").addEventListener("click", updateMentionMenu);
  $("note-text").addEventListener("blur", closeMentionMenu);
  document.addEventListener("keydown", function (event) {
    if (event.altKey && (event.key === "n" || event.key === "N") && current) { event.preventDefault(); setNoteMode(!noteMode); }
  });

  // ---- mentions of this person: their inbox (GET /api/mentions), kept read or unread on the hub --------------
  // An entry is {id, session_id, note_id, author, excerpt, created_at, read}: from the API, or from a live
  // "mentioned" frame. Opening one marks it read (POST /api/mentions/read); "mentions_read" frames bring what this
  // person read in another tab or on another node.
  var EXCERPT_CHARS = 200;

  function fromFrame(frame) {
    var text = frame.note.text;
    return {
      id: frame.mention_id, session_id: frame.session_id, note_id: frame.note.id, author: frame.note.author,
      excerpt: text.length <= EXCERPT_CHARS ? text : text.slice(0, EXCERPT_CHARS - 1) + "…",
      created_at: frame.note.created_at, read: false
    };
  }

  function announce(text) {  // said politely, outside the panel (read even while it is closed)
    var line = $("mentions-said");
    line.textContent = "";
    setTimeout(function () { line.textContent = text; }, 50);
  }

  function byNewest(a, b) { return Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : -1); }

  function loadMentions(older) {
    var url = "/api/mentions?limit=20" + (older && inbox.next ? "&before=" + encodeURIComponent(inbox.next) : "");
    inbox.loading = true;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (page) {
        var known = {};
        page.mentions.forEach(function (entry) { known[entry.id] = true; });
        var oldest = page.next_before && page.mentions.length ? page.mentions[page.mentions.length - 1].created_at : null;
        // Kept: what the page does not hold and still belongs above its end (on an older page: everything loaded).
        var kept = mentions.filter(function (entry) {
          return !known[entry.id] && (older || oldest === null || Date.parse(entry.created_at) >= Date.parse(oldest));
        });
        mentions = kept.concat(page.mentions).sort(byNewest);
        inbox.next = page.next_before;
        inbox.unread = Math.max(page.unread, mentions.filter(function (entry) { return !entry.read; }).length);
        inbox.loaded = true;
        inbox.failed = false;
        renderMentions();
        if (current) { seenIn(current); }  // a conversation opened before the inbox came: its mentions are seen
      })
      .catch(function () { inbox.failed = true; renderMentions(); })
      .then(function () { inbox.loading = false; });
  }

  function mentioned(frame) {
    if (mentions.some(function (entry) { return entry.id === frame.mention_id; })) { return; }
    var entry = fromFrame(frame);
    mentions.unshift(entry);
    inbox.unread += 1;
    renderMentions();
    if (frame.session_id === current && document.visibilityState === "visible") {
      markRead([entry]);  // the conversation is open in front of them: the note shows in it
    } else {
      announce(_("%(name)s mentioned you in a note", { name: frame.note.author.name }));
    }
    blink(_("You were mentioned!"));
    if (!alertsOn()) { return; }
    chime();
    if (permission() !== "granted") { return; }
    try {
      var shown = new Notification(_("%(name)s mentioned you in a note", { name: frame.note.author.name }), {
        body: frame.note.text.slice(0, 200),
        tag: "bob-mention-" + frame.note.id,
        icon: "/static/icons/icon-192.png"
      });
      shown.onclick = function () { window.focus(); openMention(entry.id); shown.close(); };
    } catch (e) { /* a browser that shows notifications only from a service worker */ }
  }

  // Read here: shown at once, stored on the hub, and the hub tells this person's other tabs.
  function markRead(entries) {
    var ids = entries.filter(function (entry) { return !entry.read; }).map(function (entry) { return entry.id; });
    if (!ids.length) { return; }
    entries.forEach(function (entry) { entry.read = true; });
    inbox.unread = Math.max(0, inbox.unread - ids.length);
    renderMentions();
    postRead({ ids: ids });
  }

  function postRead(body) {
    fetch("/api/mentions/read", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() }, body: JSON.stringify(body)
    })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (answer) { inbox.unread = answer.unread; renderMentions(); })
      .catch(function () {
        announce(_("The mention could not be marked read; try again."));
        loadMentions(false);
      });
  }

  function readElsewhere(frame) {
    var ids = {};
    frame.ids.forEach(function (id) { ids[id] = true; });
    mentions.forEach(function (entry) { if (ids[entry.id]) { entry.read = true; } });
    inbox.unread = frame.unread;
    renderMentions();
  }

  function markAllRead() {
    mentions.forEach(function (entry) { entry.read = true; });
    inbox.unread = 0;
    renderMentions();
    postRead({ all: true });
    announce(_("All mentions are marked read."));
    var first = $("mentions-list").querySelector("button");
    (first || $("mentions-toggle")).focus();  // the button itself is gone now
  }

  function openMention(id) {
    mentions.forEach(function (entry) {
      if (entry.id !== id) { return; }
      markRead([entry]);
      if (entry.session_id !== current) { open(entry.session_id); }
    });
    togglePanel(false);
  }

  // A conversation opened (from the list, search or a mention): the mentions in it are seen.
  function seenIn(sessionId) {
    markRead(mentions.filter(function (entry) { return entry.session_id === sessionId && !entry.read; }));
  }

  function mentionWhen(iso) {
    var date = new Date(iso);
    if (isNaN(date)) { return ""; }
    var lang = document.documentElement.lang || [];
    if (date.toDateString() === new Date().toDateString()) { return when(iso); }
    return date.toLocaleString(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function renderMentions() {
    var list = $("mentions-list");
    var focused = list.contains(document.activeElement) ? document.activeElement.dataset.mentionId : null;
    list.textContent = "";
    mentions.forEach(function (entry) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "mention-entry" + (entry.read ? "" : " unread-mention");
      button.dataset.mentionId = entry.id;
      if (!entry.read) {
        var flag = document.createElement("span");
        flag.className = "mention-flag";
        flag.textContent = _("Unread");
        button.appendChild(flag);
      }
      var title = document.createElement("strong");
      title.textContent = _("%(name)s mentioned you", { name: entry.author.name }) + " · " +
        _("Visitor %(id)s", { id: entry.session_id.slice(-6) }) + " · " + mentionWhen(entry.created_at);
      var text = document.createElement("span");
      text.className = "mention-excerpt";
      text.textContent = entry.excerpt;
      button.appendChild(title);
      button.appendChild(text);
      button.addEventListener("click", function () { openMention(entry.id); });
      item.appendChild(button);
      list.appendChild(item);
      if (entry.id === focused) { button.focus(); }  // the list is drawn anew: the keyboard keeps its place
    });
    var count = inbox.unread;
    $("no-mentions").hidden = mentions.length > 0 || !inbox.loaded;
    $("mentions-status").textContent = inbox.failed ? _("The mentions could not be loaded; they are tried again when the connection is back.") :
      inbox.loaded ? "" : _("Loading…");
    $("mentions-more").hidden = !inbox.next;
    $("mentions-all-read").hidden = !count;
    $("mentions-count").textContent = String(count);
    $("mentions-count").hidden = !count;
    $("mentions-toggle").setAttribute("aria-label", count ? _("Mentions, %(n)s unread", { n: count }) : _("Mentions"));
  }

  function togglePanel(open) {
    $("mentions-panel").hidden = !open;
    $("mentions-toggle").setAttribute("aria-expanded", open ? "true" : "false");
  }

  $("mentions-toggle").addEventListener("click", function () { togglePanel($("mentions-panel").hidden); });
  $("mentions-all-read").addEventListener("click", markAllRead);
  $("mentions-more").addEventListener("click", function () { if (!inbox.loading) { loadMentions(true); } });
  // Escape (on the toggle or in the panel) and a click elsewhere close it.
  $("mentions-toggle").parentNode.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !$("mentions-panel").hidden) {
      event.stopPropagation();
      togglePanel(false);
      $("mentions-toggle").focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (!$("mentions-panel").hidden && !$("mentions-toggle").parentNode.contains(event.target)) { togglePanel(false); }
  });

  // ---- search over every conversation of the tenant ---------------------------------------------------
  function roleName(result) {
    if (result.role === "note") { return _("Private note by %(name)s", { name: result.author || _("Agent") }); }
    return result.role === "visitor" ? _("Visitor") : result.role === "ai" ? _("Bob (AI)") : result.author || _("Agent");
  }

  function runSearch(offset) {
    var q = $("search-q").value.trim();
    if (!q) { clearSearch(); return; }
    search.q = q;
    search.offset = offset;
    $("search-results").hidden = false;
    $("search-status").textContent = _("Searching…");
    if (!offset) { $("search-list").textContent = ""; }
    $("search-more").hidden = true;
    var url = "/api/conversations/search?limit=20&offset=" + offset + "&q=" + encodeURIComponent(q);
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, status: response.status, body: body }; });
      })
      .then(function (answer) {
        if (search.q !== q) { return; }  // a newer search was asked meanwhile
        if (!answer.ok) {
          $("search-status").textContent = answer.status === 400 ?
            _("Nothing to search for: type a word of letters or digits (up to 200 characters).") :
            _("The search failed; try again.");
          return;
        }
        answer.body.results.forEach(showResult);
        var total = $("search-list").children.length;
        $("search-status").textContent = total ? _("Conversations found: %(n)s", { n: total }) :
          _("No conversation holds these words.");
        $("search-more").hidden = answer.body.next_offset === null;
        search.offset = answer.body.next_offset || 0;
      })
      .catch(function () { $("search-status").textContent = _("The search failed; try again."); });
  }

  function showResult(result) {
    var item = document.createElement("li");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "search-hit";
    button.dataset.sessionId = result.session_id;
    var title = document.createElement("strong");
    title.textContent = _("Visitor %(id)s", { id: result.session_id.slice(-6) }) + " · " +
      new Date(result.created_at).toLocaleDateString(document.documentElement.lang || []) + " · " +
      (result.status === "closed" ? _("closed") : result.mode === "human" ? _("human") : _("AI"));
    var who = document.createElement("span");
    who.className = "hit-who" + (result.role === "note" ? " hit-note" : "");
    who.textContent = roleName(result) + (result.matches > 1 ? " · " + _("matching: %(n)s", { n: result.matches }) : "");
    var text = document.createElement("span");
    text.className = "hit-text";
    snippetInto(text, result.snippet);
    button.appendChild(title);
    button.appendChild(who);
    button.appendChild(text);
    // The words were spread over several messages or notes: the others holding them, each on a line of its own.
    if (result.also.length) {
      var spread = document.createElement("span");
      spread.className = "hit-spread";
      spread.textContent = _("The words are in %(n)s messages or notes:", { n: result.also.length + 1 });
      button.appendChild(spread);
    }
    result.also.forEach(function (other) {
      var line = document.createElement("span");
      line.className = "hit-also";
      var name = document.createElement("span");
      name.className = "hit-also-who" + (other.role === "note" ? " hit-note" : "");
      name.textContent = roleName(other) + ": ";
      line.appendChild(name);
      snippetInto(line, other.snippet);
      button.appendChild(line);
    });
    button.addEventListener("click", function () { open(result.session_id); });
    item.appendChild(button);
    $("search-list").appendChild(item);
  }

  // A snippet's parts into ``target``: the matching words marked (text nodes only: messages are not HTML).
  function snippetInto(target, parts) {
    parts.forEach(function (part) {
      if (part.mark) {
        var mark = document.createElement("mark");
        mark.textContent = part.text;
        target.appendChild(mark);
      } else {
        target.appendChild(document.createTextNode(part.text));
      }
    });
  }

  function clearSearch() {
    search.q = "";
    $("search-q").value = "";
    $("search-results").hidden = true;
    $("search-list").textContent = "";
    $("search-status").textContent = "";
  }

  $("search").addEventListener("submit", function (event) { event.preventDefault(); runSearch(0); });
  $("search-q").addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.stopPropagation(); clearSearch(); }
  });
  $("search-more").addEventListener("click", function () { runSearch(search.offset); });
  $("search-clear").addEventListener("click", function () { clearSearch(); $("search-q").focus(); });
  // A search in the address (a link, or the form sent before this script ran): it runs at once.
  var asked = new URLSearchParams(location.search).get("q");
  if (asked && asked.trim()) { $("search-q").value = asked; runSearch(0); }
  renderMentions();
  loadMentions(false);

  setInterval(renderList, 60000);  // quiet sessions grey out as time passes
  setInterval(tick, 1000);         // the waits tick; nothing else is re-rendered
  renderAlerts();
  loadCanned();
  loadTeam();
  connect();
})();
