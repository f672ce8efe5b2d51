/* Bob widget: the embeddable chat. Plain ES2017, no framework, no build step. The hub bakes the
   tenant's configuration in when it serves this file (GET /widget/{tenant_uuid}/widget.js).
   The only global name it adds is window.BobWidget. The protocol is docs/PROTOCOL.md. */
(function () {
  "use strict";
  var VERSION = "1.0.0";
  if (window.BobWidget && window.BobWidget.version) return;
  var config;
  try {
    config = __BOB_CONFIG__;
  } catch (e) {
    return;
  }
  config = config || {};

  var warned = false;
  function warn(message) {
    if (warned) return;
    warned = true;
    try {
      console.warn("Bob widget: " + message);
    } catch (e) {
      /* no console */
    }
  }
  // Every entry point goes through safe(): nothing is ever thrown at the host page.
  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        warn(e && e.message ? e.message : String(e));
      }
    };
  }

  // The hub bakes in the strings of every language this widget may speak, from its message catalogs: the
  // tenant may switch its widget's language (or leave it to the visitor's browser, "auto") at any time.
  var catalogs = config.strings || {};
  var look = config.appearance || {}; // how the tenant's widget looks; a `widget` frame replaces it (applyAppearance)
  var personaName = String(config.assistant || "Bob");
  var lang = pickLanguage();
  var strings = catalogs[lang] || {};
  function has(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }
  // The browser's languages in its order of preference; "pl-PL" speaks "pl". English when none fits.
  function pickLanguage() {
    var wanted = String(look.language || "auto").toLowerCase();
    if (has(catalogs, wanted)) return wanted;
    var preferred = (navigator && (navigator.languages || [navigator.language])) || [];
    for (var i = 0; i < preferred.length; i++) {
      var tag = String(preferred[i] || "").toLowerCase();
      if (has(catalogs, tag)) return tag;
      if (has(catalogs, tag.split("-")[0])) return tag.split("-")[0];
    }
    return has(catalogs, "en") ? "en" : Object.keys(catalogs)[0] || "en";
  }
  // _("English text, %(name)s", { name: value }): the text in the widget's language.
  function _(message, values) {
    var text = has(strings, message) ? String(strings[message]) : message;
    return text.replace(/%\((\w+)\)s/g, function (whole, key) {
      return values && has(values, key) ? String(values[key]) : whole;
    });
  }
  var color = "#2459d8";
  var side = "right";
  readAppearance(look);

  // Kept in localStorage per tenant: the session, its resume token, the last seq seen, messages not
  // yet confirmed (with their client_id), whether the panel was open, and the HTTP fallback's state.
  var STORE_KEY = "bob-widget:" + config.tenantId;
  var state = {};
  try {
    state = JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
  } catch (e) {
    state = {};
  }
  if (typeof state !== "object") state = {};
  if (!Array.isArray(state.pending)) state.pending = [];
  if (!Array.isArray(state.hist)) state.hist = [];
  function save() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* storage blocked: the conversation just won't survive a reload */
    }
  }
  // The hub's page behind the link of a reply email (/chat/continue/…) names the conversation to reopen
  // on this script's tag: it replaces whatever this browser held, and the panel opens on its whole transcript.
  function resumeFromPage() {
    var tag = document.currentScript;
    var sid = tag && tag.getAttribute("data-bob-session");
    var tok = tag && tag.getAttribute("data-bob-resume-token");
    if (!sid || !tok) return;
    if (state.sid !== sid) state = { pending: [], hist: [] };
    state.sid = sid;
    state.tok = tok;
    state.seq = 0;
    state.open = 1;
    save();
  }
  resumeFromPage();

  var mode = "ws"; // "ws", "http" (fallback) or "refused"
  var ws = null;
  var wsReady = false;
  var everReady = false;
  var failures = 0; // failed attempts while online, before any ready: two mean WebSockets are blocked
  var attempts = 0; // failed attempts since the last ready, for the backoff
  var retryTimer = 0;
  var connectTimer = 0;
  var pingTimer = 0;
  var pongTimer = 0;
  var typingTimer = 0;
  var lastTypingSent = 0;
  var lastSeq = 0; // highest seq received by this page; the first connect of a page replays everything
  var seqAtLoad = +state.seq || 0;
  var bySeq = {}; // seq -> bubble
  var streams = {}; // AI message_id -> {el, txt, next}
  var finals = {}; // ids of messages already final
  var pendingEls = {}; // client_id -> bubble
  // Sending, in order: only the oldest unconfirmed message (state.pending[0]) is on its way; the next one
  // leaves when the hub has stored it. A refusal sends it again with its client_id, after a backoff.
  var RETRY_LIMIT = 8; // refusals in a row (45 to 90 s of backoff) before the visitor is asked
  var ACK_TIMEOUT_MS = 15000; // no echo and no error by then: counted as a refusal
  var SLOW_MS = 2000; // an unconfirmed message says "Sending…" after this long
  var sending = null; // the pending message on the socket, waiting for its echo
  var tries = 0; // refusals of the oldest pending message in a row
  var failed = false; // gave up on the oldest pending message: it waits for "Try again" (or a new message)
  var slow = false;
  var resendTimer = 0;
  var ackTimer = 0;
  var slowTimer = 0;
  var unread = 0;
  var isOpen = false;
  var built = false;
  var wantOpen = 0;
  var httpBusy = false;
  // A person: "" (nobody asked), "asked" (the visitor asked; waiting for one) or "here" (an agent took over).
  // Known from the transcript's system messages (their `event`), so it survives reloads; state.ask is a
  // request not sent yet (the socket was not ready), sent once it is.
  var person = "";
  var personBar, personBtn;

  var host, root, launcher, badge, panel, logEl, typingEl, statusEl, form, input, noticeEl, closeBtn, titleEl, greetingEl;
  var launcherText, inputLabel, sendBtn;

  function el(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (text != null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function uid() {
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b + 256).toString(16).slice(1);
      })
      .join("");
  }

  var CSS =
    ":host{all:initial}*{box-sizing:border-box}[hidden]{display:none!important}" +
    ".l{position:fixed;^:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;margin:0;padding:0;" +
    "background:~;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;" +
    "justify-content:center}.l svg{width:28px;height:28px;fill:currentColor}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;" +
    "background:#c62828;color:#fff;font:700 12px/20px system-ui,sans-serif}" +
    ".p{position:fixed;^:20px;bottom:20px;width:370px;max-width:calc(100vw - 40px);" +
    "height:min(600px,calc(100vh - 40px));display:flex;flex-direction:column;background:#fff;color:#1b1b1f;" +
    "border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden;" +
    'font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;text-align:left}' +
    ".h{display:flex;align-items:center;gap:8px;padding:10px 10px 10px 16px;background:~;color:#fff}" +
    ".h h2{margin:0;flex:1;min-width:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;" +
    "white-space:nowrap}.x{background:none;border:0;color:inherit;padding:6px 10px;border-radius:8px;cursor:pointer;" +
    "font:600 14px system-ui,sans-serif}.x:focus-visible{outline:2px solid #fff}" +
    ".g{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f4f5f7}" +
    ".m{max-width:85%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".visitor{align-self:flex-end;background:~;color:#fff;border-bottom-right-radius:4px}" +
    ".ai,.agent{align-self:flex-start;background:#fff;border:1px solid #dfe1e6;border-bottom-left-radius:4px}" +
    ".system{align-self:center;color:#555;font-size:13px;font-style:italic;text-align:center}" +
    ".pending{opacity:.6}.a{display:block;font-size:12px;font-weight:600;color:#555}.m a{color:inherit}" +
    ".src{display:block;margin-top:6px;font-size:12px;color:#555}.src a{margin-right:8px;word-break:break-word}" +
    ".st{display:block;margin-top:2px;font-size:12px;font-style:italic;color:#555}.st:empty{display:none}" +
    ".m.held{opacity:1;background:#fff;color:#1b1b1f;border:1px dashed ~}" +
    ".m.failed{opacity:1;background:#fff;color:#1b1b1f;border:1px solid #b3261e}.failed .st{color:#b3261e;" +
    "font-style:normal;font-weight:600}.r{display:block;margin:6px 0 2px auto;border:1px solid #b3261e;" +
    "border-radius:8px;padding:6px 14px;background:#fff;color:#b3261e;font:600 13px system-ui,sans-serif;" +
    "cursor:pointer}.r:hover{background:#fdecea}.r:focus-visible{outline:2px solid #b3261e;outline-offset:2px}" +
    ".s{padding:0 16px;font-size:13px;color:#555}.s:empty{display:none}" +
    ".f{display:flex;gap:8px;padding:10px;border-top:1px solid #dfe1e6;background:#fff;margin:0}" +
    "textarea{flex:1;min-width:0;resize:none;border:1px solid #b9bcc4;border-radius:10px;padding:8px 10px;" +
    "font:16px/1.3 system-ui,sans-serif;color:#1b1b1f;background:#fff;height:40px;max-height:120px}" +
    ".f button{border:0;border-radius:10px;padding:0 14px;background:~;color:#fff;font:600 14px system-ui,sans-serif;" +
    "cursor:pointer}textarea:focus-visible,.f button:focus-visible,.l:focus-visible,.g:focus-visible{outline:2px " +
    "solid ~;outline-offset:2px}.n{margin:0;padding:32px 20px;text-align:center;color:#333}" +
    ".w{margin:0;padding:10px 16px;border-top:1px solid #dfe1e6;background:#fff;font-size:14px;color:#1b1b1f}" +
    ".w p{margin:0 0 6px}.w form{display:flex;gap:8px;flex-wrap:wrap;margin:0}.w label{flex-basis:100%;font-size:13px;" +
    "color:#555}.w input{flex:1 1 180px;min-width:0;border:1px solid #b9bcc4;border-radius:10px;padding:8px 10px;" +
    "font:16px/1.3 system-ui,sans-serif}.w button{border:0;border-radius:10px;padding:0 14px;background:~;color:#fff;" +
    "font:600 14px system-ui,sans-serif;cursor:pointer;min-height:38px}.w input:focus-visible,.w button:focus-visible{outline:2px " +
    "solid ~;outline-offset:2px}.w .e{color:#b3261e;font-weight:600}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    ".hp{display:flex;justify-content:flex-end;padding:6px 10px;background:#fff;border-bottom:1px solid #dfe1e6}" +
    ".hb{border:1px solid ~;border-radius:999px;padding:5px 14px;background:#fff;color:~;" +
    "font:600 13px system-ui,sans-serif;cursor:pointer}.hb:hover{background:#f4f5f7}" +
    ".hb:focus-visible{outline:2px solid ~;outline-offset:2px}.hb[aria-disabled=true]{border-color:#b9bcc4;" +
    "color:#555;cursor:default;background:#fff}" +
    ".rt{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-top:6px;white-space:normal}" +
    ".rb{border:1px solid #b9bcc4;border-radius:999px;padding:3px 10px;min-height:28px;background:#fff;color:#1b1b1f;" +
    "font:600 12px system-ui,sans-serif;cursor:pointer}.rb:hover{background:#f4f5f7}.rb[aria-pressed=true]{background:~;" +
    "border-color:~;color:#fff}.rb:focus-visible,.sv button:focus-visible,.sv textarea:focus-visible{outline:2px solid ~;" +
    "outline-offset:2px}.ro{display:flex;flex-wrap:wrap;gap:6px;align-items:center;flex-basis:100%;font-size:13px;color:#333}" +
    ".sv .stars{display:flex;gap:4px;margin:0 0 8px}.sv .star{background:#fff;color:#8a8f9c;border:1px solid #b9bcc4;" +
    "border-radius:8px;min-width:40px;min-height:40px;padding:0;font:22px/1 system-ui,sans-serif}.sv .star.on{color:#c77700;" +
    "border-color:#c77700}.sv{display:flex;flex-direction:column;gap:6px}.sv p,.sv .stars{margin:0}" +
    ".sv label{font-size:13px;color:#555}.sv textarea{flex:none;width:100%;height:56px}.sv .go{align-self:flex-end;" +
    "border:0;border-radius:10px;padding:0 14px;min-height:38px;background:~;color:#fff;font:600 14px system-ui,sans-serif;" +
    "cursor:pointer}" +
    ".l.tx{width:auto;max-width:calc(100vw - 40px);padding:0 20px 0 16px;border-radius:28px;gap:8px;" +
    'font:600 15px/1.2 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}.l.tx svg{flex:none;width:24px;height:24px}' +
    ".lt{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    "@media (max-width:480px){.p{^:0;bottom:0;width:100%;max-width:100%;height:100%;border-radius:0}}";

  function build() {
    host = el("div", { "data-bob-widget": VERSION });
    host.style.cssText =
      "all:initial!important;display:block!important;position:fixed!important;right:0!important;" +
      "bottom:0!important;width:0!important;height:0!important;z-index:2147483000!important";
    root = host.attachShadow({ mode: "open" });
    paintStyle();

    launcher = el("button", { type: "button", class: "l", "aria-haspopup": "dialog", "aria-expanded": "false" }, root);
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    launcher.appendChild(svg);
    launcherText = el("span", { class: "lt", "aria-hidden": "true", hidden: "" }, launcher);
    badge = el("span", { class: "b", "aria-hidden": "true", hidden: "" }, launcher);
    showLauncherText();

    panel = el(
      "div",
      { class: "p", role: "dialog", "aria-modal": "true", "aria-labelledby": "bob-title", lang: lang, hidden: "" },
      root
    );
    var head = el("div", { class: "h" }, panel);
    titleEl = el("h2", { id: "bob-title" }, head, _("Chat with %(name)s", { name: personaName }));
    closeBtn = el("button", { type: "button", class: "x" }, head, _("Close"));
    // "Talk to a person": always in the panel, under its header (after Close in the Tab order).
    personBar = el("div", { class: "hp" }, panel);
    personBtn = el("button", { type: "button", class: "hb" }, personBar);
    if (state.ask) person = "asked"; // asked before a reload, not sent yet: it goes on the next ready
    showPerson();
    logEl = el("div", { class: "g", role: "log", "aria-live": "polite", "aria-label": _("Conversation"), tabindex: "0" }, panel);
    typingEl = el("div", { class: "s", "aria-live": "polite" }, panel);
    statusEl = el("div", { class: "s", role: "status" }, panel);
    noticeEl = el("p", { class: "n", role: "status", hidden: "" }, panel);
    form = el("form", { class: "f" }, panel);
    inputLabel = el("label", { for: "bob-input", class: "sr" }, form, _("Your message"));
    input = el("textarea", { id: "bob-input", rows: "1", maxlength: "4000", placeholder: _("Type your message…") }, form);
    sendBtn = el("button", { type: "submit" }, form, _("Send"));

    greetingEl = bubble("ai");
    greetingEl._seq = 0;
    greet();
    logEl.appendChild(greetingEl);
    updateBadge();

    launcher.addEventListener("click", safe(function () { open(true); }));
    personBtn.addEventListener("click", safe(askForPerson));
    closeBtn.addEventListener("click", safe(function () { close(true); }));
    panel.addEventListener("keydown", safe(onKey));
    form.addEventListener("submit", safe(function (e) {
      e.preventDefault();
      submit();
    }));
    input.addEventListener("keydown", safe(function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    }));
    input.addEventListener("input", safe(function () {
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
      var now = Date.now();
      if (wsReady && now - lastTypingSent > 3000) {
        lastTypingSent = now;
        sendFrame({ type: "typing", active: true });
      }
    }));
    window.addEventListener("online", safe(function () {
      if (mode === "ws" && !ws && retryTimer) connect();
      retryRatingsNow();
    }));
    window.addEventListener("offline", safe(function () {
      if (ws) drop(ws);
    }));

    (document.body || document.documentElement).appendChild(host);
    built = true;
    state.pending.forEach(showPending);
    paint();
    if (state.sid || state.open || wantOpen || state.pending.length) connect();
    if (state.open || wantOpen) open(wantOpen === 2);
  }

  // ---- panel -------------------------------------------------------------------------------------

  function open(focus) {
    if (!built) {
      wantOpen = focus ? 2 : 1;
      return;
    }
    isOpen = true;
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    unread = 0;
    updateBadge();
    state.open = 1;
    save();
    if (mode === "ws" && !ws) connect();
    pageOpened();
    scrollDown();
    if (focus) (mode === "refused" ? closeBtn : input).focus();
  }

  function close(focusLauncher) {
    if (!built) {
      wantOpen = 0;
      return;
    }
    isOpen = false;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    state.open = 0;
    save();
    if (focusLauncher) launcher.focus();
  }

  function onKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close(true);
    } else if (e.key === "Tab") {
      var candidates = panel.querySelectorAll("button,textarea,a[href],[tabindex='0']");
      var items = Array.prototype.filter.call(candidates, function (n) {
        return !n.disabled && n.getClientRects().length > 0;
      });
      if (!items.length) return;
      var first = items[0];
      var last = items[items.length - 1];
      var active = root.activeElement;
      if (e.shiftKey ? active === first || !panel.contains(active) : active === last || !panel.contains(active)) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    }
  }

  function greet() {
    var text = look.greeting || _("Hi! I'm %(name)s, the assistant of %(business)s.", { name: personaName, business: config.businessName });
    fill(greetingEl, "ai", String(text));
  }

  // The name the AI speaks as comes with every ready and every `widget` frame: a persona renamed or activated
  // in the portal shows in every open widget within seconds (see onWidget).
  function rename(name) {
    if (!name || name === personaName) return;
    personaName = String(name);
    titleEl.textContent = _("Chat with %(name)s", { name: personaName });
    if (greetingEl._who) greetingEl._who.textContent = personaName + ": ";
    greet();
    updateBadge();
  }

  function updateBadge() {
    badge.textContent = String(unread);
    badge.hidden = !unread;
    launcher.setAttribute(
      "aria-label",
      launcherName() + (unread ? " (" + _("%(n)s unread", { n: unread }) + ")" : "")
    );
  }

  function setStatus(text) {
    statusEl.textContent = text || "";
  }

  function setTyping(on, role) {
    clearTimeout(typingTimer);
    typingEl.textContent = on ? _("%(name)s is typing…", { name: role === "agent" ? _("Team") : personaName }) : "";
    if (on && role !== "ai") typingTimer = setTimeout(safe(function () { setTyping(false); }), 8000);
  }

  function scrollDown() {
    if (isOpen) logEl.scrollTop = logEl.scrollHeight;
  }

  // ---- transcript --------------------------------------------------------------------------------

  function bubble(role, author) {
    var node = el("div", { class: "m " + role });
    var who = role === "visitor" ? _("You") : role === "agent" ? author || _("Team") : role === "ai" ? personaName : "";
    if (who) node._who = el("span", { class: role === "agent" ? "a" : "sr" }, node, who + (role === "agent" ? "" : ": "));
    node._txt = el("span", { class: "t" }, node);
    return node;
  }

  // Untrusted text only ever becomes text nodes; http(s) URLs in AI/agent lines become safe links.
  function fill(node, role, text) {
    var box = node._txt;
    box.textContent = "";
    if (role !== "ai" && role !== "agent") {
      box.textContent = text;
      return;
    }
    var re = /\bhttps?:\/\/[^\s<>"']+/gi;
    var at = 0;
    var match;
    while ((match = re.exec(text))) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      var href = "";
      try {
        var parsed = new URL(url);
        if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
      } catch (e) {
        href = "";
      }
      if (!href) continue;
      box.appendChild(document.createTextNode(text.slice(at, match.index)));
      el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, box, url);
      at = match.index + url.length;
      re.lastIndex = at;
    }
    box.appendChild(document.createTextNode(text.slice(at)));
  }

  // An AI reply's sources (knowledge entries it answered from): links under it, http(s) only, titles as text.
  function sources(node, list) {
    if (node._src) node._src.remove();
    node._src = null;
    if (!Array.isArray(list) || !list.length) return;
    var box = el("span", { class: "src" }, node);
    el("span", {}, box, _("Sources:") + " ");
    list.slice(0, 5).forEach(function (s) {
      if (!s || typeof s.title !== "string") return;
      var href = "";
      try {
        var parsed = new URL(String(s.url || ""));
        if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
      } catch (e) {
        href = "";
      }
      if (href) el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, box, s.title);
      else el("span", { class: "st" }, box, s.title + " ");
    });
    node._src = box;
  }

  // Messages are kept in seq order; bubbles without a seq yet (sending, streaming) stay at the end.
  function place(node, seq) {
    var kids = logEl.children;
    var i = kids.length - 1;
    while (i >= 0 && !(kids[i]._seq <= seq)) i--;
    logEl.insertBefore(node, kids[i + 1] || null);
  }

  function showPending(p) {
    if (pendingEls[p.cid]) return;
    var node = bubble("visitor");
    node.classList.add("pending");
    fill(node, "visitor", p.text);
    node._st = el("span", { class: "st" }, node);
    pendingEls[p.cid] = node;
    logEl.appendChild(node);
    scrollDown();
  }

  // A message leaves the queue: stored (its echo came) or taken back. When it was the oldest, the next one goes.
  function settlePending(cid) {
    var head = state.pending[0];
    var before = state.pending.length;
    state.pending = state.pending.filter(function (p) {
      return p.cid !== cid;
    });
    if (state.pending.length !== before) save();
    if (!head || head.cid !== cid) return;
    sending = null;
    tries = 0;
    slow = false;
    clearTimeout(ackTimer);
    clearTimeout(resendTimer);
    clearTimeout(slowTimer);
    resendTimer = slowTimer = 0;
    if (failed) {
      failed = false;
      setStatus("");
    }
    pump();
  }

  // What each unconfirmed bubble says: nothing while all goes well, then why it is not confirmed yet.
  function paint() {
    if (state.pending.length && !slow && !slowTimer) {
      slowTimer = setTimeout(safe(function () {
        slowTimer = 0;
        slow = true;
        paint();
      }), SLOW_MS);
    }
    var stuck = failed || tries > 0 || slow;
    state.pending.forEach(function (p, i) {
      var node = pendingEls[p.cid];
      if (!node) return;
      var note = "";
      if (failed) note = _("Not sent.");
      else if (i > 0) note = stuck ? _("Waiting to send…") : "";
      else if (tries) note = _("Not sent yet. Retrying…");
      else if (slow) note = _("Sending…");
      mark(node, note, failed, failed && i === 0);
    });
  }

  // A message held up looks unlike a sent one (and its note stays readable): white, outlined, red once given up on.
  function mark(node, note, isFailed, canRetry) {
    node.classList.toggle("held", !!note && !isFailed);
    node.classList.toggle("failed", isFailed);
    if (node._st && node._st.textContent !== note) {
      node._st.textContent = note; // inside the log: a screen reader announces the change
      scrollDown();
    }
    if (canRetry && !node._retry) {
      node._retry = el("button", { type: "button", class: "r" }, node, _("Try again"));
      node._retry.addEventListener("click", safe(retryByHand));
    } else if (!canRetry && node._retry) {
      var focused = root.activeElement === node._retry;
      node._retry.remove();
      node._retry = null;
      if (focused) input.focus();
    }
  }

  function onMessage(f, fromCache) {
    var seq = +f.seq;
    var cid = f.client_id;
    if (cid) settlePending(cid);
    if (!(seq > 0) || typeof f.text !== "string") return;
    var pend = cid ? pendingEls[cid] : null;
    if (cid) delete pendingEls[cid];
    if (bySeq[seq]) {
      if (pend && pend !== bySeq[seq]) pend.remove();
      return;
    }
    var role = /^(visitor|ai|agent|system)$/.test(f.role) ? f.role : "system";
    var node;
    var stream = role === "ai" ? streams[f.id] : null;
    if (stream) {
      node = stream.el;
      delete streams[f.id];
    } else if (pend) {
      node = pend;
      node.classList.remove("pending");
      mark(node, "", false, false);
    } else {
      node = bubble(role, f.author ? String(f.author) : "");
    }
    finals[f.id] = 1;
    if (role === "system" && f.event) onEvent(String(f.event));
    fill(node, role, f.text);
    if (role === "ai") {
      sources(node, f.sources);
      rateControls(node, String(f.id || ""));
    }
    node._seq = seq;
    bySeq[seq] = node;
    place(node, seq);
    if (mode === "ws") {
      if (seq > lastSeq) lastSeq = seq;
      if (seq > (+state.seq || 0)) state.seq = seq;
      save();
    } else if (!fromCache) {
      state.hist.push({ seq: seq, role: role, text: f.text, author: f.author, id: f.id, event: f.event, sources: f.sources });
      state.hist = state.hist.slice(-50);
      save();
    }
    if (role === "ai" || role === "agent") setTyping(false);
    if (role === "system") onSystemEvent(f.event);
    if (!isOpen && role !== "visitor" && !fromCache && (mode !== "ws" || seq > seqAtLoad)) {
      unread++;
      updateBadge();
    }
    busy();
    scrollDown();
  }

  function onToken(f) {
    var id = f.message_id;
    if (!id || finals[id] || typeof f.text !== "string") return;
    var s = streams[id];
    if (!s) {
      var node = bubble("ai");
      s = streams[id] = { el: node, txt: node._txt.appendChild(document.createTextNode("")), next: 0 };
      logEl.appendChild(node);
    }
    if (f.index < s.next) return; // already shown (a resume replays the reply from index 0)
    s.txt.appendData(f.text);
    s.next = f.index + 1;
    if (!typingEl.textContent) setTyping(true, "ai");
    busy();
    scrollDown();
  }

  // The node writing that reply died: its tokens never become a message. Another reply follows.
  function onAborted(id) {
    var s = streams[id];
    if (!s) return;
    delete streams[id];
    finals[id] = true; // late tokens of it, from a replay, are not shown again
    if (s.el.parentNode) s.el.parentNode.removeChild(s.el);
    busy();
  }

  function busy() {
    logEl.setAttribute("aria-busy", Object.keys(streams).length ? "true" : "false");
  }

  function onFrame(f, viaHttp) {
    if (!f || typeof f !== "object") return;
    if (f.type === "ready" && !viaHttp) {
      wsReady = everReady = true;
      failures = attempts = 0;
      clearTimeout(connectTimer);
      state.sid = f.session_id;
      state.tok = f.resume_token;
      save();
      onWidget(f); // the persona's name and the appearance now: a bundle kept by the browser may be older
      setStatus("");
      startPing();
      // A new connection: what is still unconfirmed goes again, oldest first, at once (a message the hub
      // stored before the drop comes back in the replay; sent again, it is only echoed).
      sending = null;
      failed = false;
      clearTimeout(resendTimer);
      resendTimer = 0;
      if (state.ask) sendAsk();
      sendRatings();
      pageOnReady();
      pump();
    } else if (f.type === "message") {
      onMessage(f);
    } else if (f.type === "token") {
      onToken(f);
    } else if (f.type === "reply_aborted") {
      onAborted(f.message_id);
    } else if (f.type === "typing") {
      if (f.role !== "visitor") setTyping(f.active !== false, f.role);
    } else if (f.type === "availability") {
      onAvailability(f);
    } else if (f.type === "email_saved") {
      onEmailSaved(f.address);
    } else if (f.type === "rated") {
      if (state.rq && state.rq[f.message_id] === f.helpful) {
        delete state.rq[f.message_id];
        save();
      }
    } else if (f.type === "session_rated") {
      onSessionRated();
    } else if (f.type === "widget") {
      onWidget(f);
    } else if (f.type === "pong") {
      clearTimeout(pongTimer);
    } else if (f.type === "error") {
      if (f.code === "ai_unavailable" || f.code === "timeout") setTyping(false);
      else if (f.code === "not_stored" || f.code === "internal" || f.code === "rate_limited") {
        // Nothing was stored: the message on its way goes again later, with the same client_id.
        if (sending && !(f.client_id && f.client_id !== sending.cid)) refused(+f.retry_after * 1000 || 0);
      } else if (f.code === "invalid_email" || f.code === "email_unavailable") {
        onEmailRefused();
      } else if (f.code === "text_too_long" || f.code === "empty_text") {
        // Only the oldest unconfirmed message is ever on its way: it is the one refused.
        if (state.pending.length) takeBack(sending || state.pending[0]);
        setStatus(_("Your message could not be sent. Please try again."));
      }
    }
  }

  // Sends the oldest unconfirmed message, unless it is on its way, waiting out a backoff, or given up on.
  function pump() {
    paint();
    if (failed || resendTimer || !state.pending.length) return;
    if (mode === "http") return httpPump();
    if (mode !== "ws" || sending || !wsReady) return;
    var p = (sending = state.pending[0]);
    if (p.handoff) sendFrame({ type: "handoff" }); // asked over HTTP, sent after a reload that has a socket
    sendFrame({ type: "message", text: p.text, client_id: p.cid });
    clearTimeout(ackTimer);
    ackTimer = setTimeout(safe(function () {
      if (sending === p) refused(0);
    }), ACK_TIMEOUT_MS);
  }

  // The oldest message was not stored: again after an exponential backoff with jitter (at least `wait` ms),
  // until RETRY_LIMIT refusals in a row; then it (and every later one) waits for the visitor's "Try again".
  function refused(wait) {
    sending = null;
    clearTimeout(ackTimer);
    clearTimeout(resendTimer);
    resendTimer = 0;
    tries++;
    if (tries >= RETRY_LIMIT) {
      failed = true;
      setStatus(_("Your message was not sent. Use “Try again” to send it."));
    } else {
      var base = Math.min(30000, 1000 * Math.pow(2, tries - 1));
      resendTimer = setTimeout(safe(function () {
        resendTimer = 0;
        pump();
      }), Math.max(wait, base / 2 + (Math.random() * base) / 2));
    }
    paint();
  }

  function retryByHand() {
    failed = false;
    tries = 0;
    setStatus("");
    if (mode === "ws" && !ws) connect();
    pump();
  }

  // A message that will never be confirmed: out of the transcript, back into the message box.
  function takeBack(p) {
    settlePending(p.cid);
    if (pendingEls[p.cid]) {
      pendingEls[p.cid].remove();
      delete pendingEls[p.cid];
      input.value = input.value ? input.value + "\n" + p.text : p.text; // nothing the visitor wrote is lost
      return true;
    }
    return false;
  }

  function submit() {
    var text = input.value;
    if (!text.trim() || mode === "refused") return;
    input.value = "";
    input.style.height = "";
    setStatus("");
    var p = { cid: uid(), text: text };
    state.pending.push(p);
    save();
    showPending(p);
    if (failed) {
      // Sending again is the visitor's call: the messages given up on go first, then this one.
      failed = false;
      tries = 0;
    }
    if (mode === "ws" && !ws) connect();
    pump();
  }

  // ---- waiting for a person: who is there, when one will be, an email address -----------------------

  var waitingPerson = false;
  var availabilityTimer = 0;
  var personEl = null;
  var emailForm = null;
  var emailInput = null;
  var emailNote = null;

  // The transcript says whether the visitor waits (a request, then maybe a takeover or a close). Once the
  // replay settles, the hub is asked who is there, in the visitor's language and time zone.
  function onSystemEvent(event) {
    if (event === "handoff_requested") waitingPerson = true;
    else if (event === "takeover" || event === "close" || event === "handback") waitingPerson = false;
    else return;
    clearTimeout(availabilityTimer);
    availabilityTimer = setTimeout(safe(function () {
      if (waitingPerson) askAvailability();
      else if (personEl) personEl.hidden = true;
    }), 300);
  }

  function visitorTimeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  function askAvailability() {
    sendFrame({ type: "availability", time_zone: visitorTimeZone(), language: lang });
  }

  function personBox() {
    if (!personEl) {
      personEl = el("div", { class: "w", role: "status" });
      panel.insertBefore(personEl, form);
    }
    personEl.hidden = false;
    personEl.textContent = "";
    emailForm = emailInput = emailNote = null;
    return personEl;
  }

  function onAvailability(f) {
    if (!waitingPerson) return;
    // Who is there changes (an agent opens Mission Control, office hours begin): asked again each minute.
    clearTimeout(availabilityTimer);
    availabilityTimer = setTimeout(safe(function () {
      if (waitingPerson && !(emailInput && root.activeElement === emailInput)) askAvailability();
    }), 60000);
    var typed = emailInput ? emailInput.value : ""; // what the visitor started typing stays
    var someone = f.agents_online && f.open !== false;
    // Someone is there: the transcript already says a person was asked; this adds the usual wait, if known.
    if (someone && !(f.expected_wait_s > 0)) {
      if (personEl) personEl.hidden = true;
      return;
    }
    var box = personBox();
    if (someone) {
      var minutes = Math.max(1, Math.round(f.expected_wait_s / 60));
      el("p", {}, box, _("Usually a person joins within about %(minutes)s min.", { minutes: minutes }));
    } else if (f.next_open_text) {
      el("p", {}, box, _("Nobody from the team is here right now. A person will be here %(when)s.", { when: f.next_open_text }));
    } else {
      el("p", {}, box, _("Nobody from the team is here right now."));
    }
    if (!f.email_offered) return;
    if (f.email) return onEmailSaved(f.email);
    emailForm = el("form", { novalidate: "" }, box);
    el("label", { for: "bob-email" }, emailForm, _("Leave your email address and we will write to you when they answer."));
    emailInput = el("input", { id: "bob-email", type: "email", autocomplete: "email", maxlength: "254", placeholder: "name@example.com" }, emailForm);
    emailInput.value = typed;
    el("button", { type: "submit" }, emailForm, _("Email me"));
    emailNote = el("p", { class: "e", "aria-live": "assertive" }, box);
    emailForm.addEventListener("submit", safe(function (e) {
      e.preventDefault();
      var address = emailInput.value.trim();
      if (!address) return emailInput.focus();
      emailNote.textContent = "";
      sendFrame({ type: "email", address: address, language: lang });
    }));
  }

  function onEmailSaved(address) {
    var box = personEl || personBox();
    if (emailForm) emailForm.remove();
    if (emailNote) emailNote.remove();
    emailForm = emailInput = emailNote = null;
    el("p", {}, box, _("We will email %(email)s when they answer.", { email: String(address || "") }));
  }

  function onEmailRefused() {
    if (!emailNote) return;
    emailNote.textContent = _("That email address does not look right.");
    emailInput.focus();
  }

  // ---- a person ----------------------------------------------------------------------------------

  // Over the socket the request is a `handoff` frame; the HTTP paths carry it on a message (`handoff: true`),
  // so there the visitor's words say it. Asked once: the control then says the team was asked, and a
  // second click sends nothing (the hub would ignore it anyway while the session waits).
  function askForPerson() {
    if (person || mode === "refused") return;
    setPerson("asked");
    if (mode === "http") return askOverHttp();
    state.ask = 1;
    save();
    if (!ws) connect();
    else if (wsReady) sendAsk();
  }

  function askOverHttp() {
    state.ask = 0;
    var p = { cid: uid(), text: _("I'd like to talk to a person."), handoff: true };
    state.pending.push(p);
    save();
    showPending(p);
    failed = false;
    tries = 0;
    pump();
  }

  function sendAsk() {
    state.ask = 0;
    save();
    sendFrame({ type: "handoff" });
  }

  // What the transcript's system messages say happened: asked, an agent joined, handed back, closed.
  function onEvent(event) {
    if (event === "handoff_requested") setPerson("asked");
    else if (event === "takeover") setPerson("here");
    else if (event === "handback" || event === "close") setPerson("");
    if (event === "close") askStars();
    else if (starsEl && event === "takeover") hideStars();
  }

  function setPerson(value) {
    person = value;
    if (personBtn) showPerson();
  }

  function showPerson() {
    if (person === "asked") personBtn.textContent = _("A person has been asked to join");
    else if (person === "here") personBtn.textContent = _("A person from the team is here");
    else personBtn.textContent = _("Talk to a person");
    // aria-disabled, not disabled: it stays focusable, so a screen reader still reads what it says now.
    if (person) personBtn.setAttribute("aria-disabled", "true");
    else personBtn.removeAttribute("aria-disabled");
  }


  // ---- feedback: each AI reply helpful or not, and the conversation's stars when it closes -----------

  // A reply's rating is kept per message id, so a reload shows it; rating again replaces it. Over the socket
  // it is a `rate` frame, over HTTP a POST with the widget key and visitor token (docs/PROTOCOL.md).
  function rateControls(node, id) {
    if (node._rate || !id || /^r[\d.]+$/.test(id)) return; // an HTTP answer without a message id
    var box = el("span", { class: "rt", role: "group", "aria-label": _("Was this reply helpful?") }, node);
    box._id = id;
    box._yes = el("button", { type: "button", class: "rb", "aria-pressed": "false" }, box, _("Helpful"));
    box._no = el("button", { type: "button", class: "rb", "aria-pressed": "false" }, box, _("Not helpful"));
    box._yes.addEventListener("click", safe(function () { rate(box, true); }));
    box._no.addEventListener("click", safe(function () { rate(box, false); }));
    node._rate = box;
    showRating(box);
  }

  // Ratings made while the socket was away go once more on the next ready (a refused one is not retried).
  function sendRatings() {
    var queued = state.rq || {};
    state.rq = {};
    save();
    for (var id in queued) {
      if (has(queued, id)) sendFrame({ type: "rate", message_id: id, helpful: !!queued[id] });
    }
  }

  function showRating(box) {
    var value = state.rates && state.rates[box._id];
    box._yes.setAttribute("aria-pressed", value === 1 ? "true" : "false");
    box._no.setAttribute("aria-pressed", value === -1 ? "true" : "false");
  }

  function rate(box, helpful) {
    if (mode === "refused") return;
    if (!state.rates || typeof state.rates !== "object") state.rates = {};
    var keys = Object.keys(state.rates);
    if (keys.length > 100) delete state.rates[keys[0]];
    state.rates[box._id] = helpful ? 1 : -1;
    save();
    showRating(box);
    if (mode === "http") {
      queueHttpRating("m:" + box._id, "r", { session_id: state.hsid, message_id: box._id, helpful: helpful });
    } else {
      // Until the hub answers `rated`, the rating is kept to send again on the next connection.
      if (!state.rq || typeof state.rq !== "object") state.rq = {};
      state.rq[box._id] = helpful;
      save();
      sendFrame({ type: "rate", message_id: box._id, helpful: helpful });
    }
    if (helpful) {
      if (box._offer) box._offer.remove();
      box._offer = null;
    } else offerPerson(box);
  }

  // "Not helpful" offers a person: the same request as the panel's Talk to a person control.
  function offerPerson(box) {
    if (box._offer) return;
    var offer = el("span", { class: "ro" }, box);
    if (person) {
      el("span", {}, offer, _("Sorry it did not help. A person from the team will answer here."));
    } else {
      var said = el("span", {}, offer, _("Sorry it did not help. Would you like to talk to a person?"));
      var ask = el("button", { type: "button", class: "rb" }, offer, _("Talk to a person"));
      ask.addEventListener("click", safe(function () {
        askForPerson();
        said.textContent = _("Sorry it did not help. A person from the team will answer here.");
        ask.remove();
        personBtn.focus();
      }));
    }
    box._offer = offer;
    scrollDown();
  }

  // Ratings over HTTP wait in state.hr (kept across reloads) until the hub has them: one on its way at a
  // time, oldest first. A network failure, a 5xx or a 429 sends it again after a backoff (1 s doubling up
  // to a minute, or the Retry-After), for as long as the page is open and again on the next load; a
  // refusal (another 4xx: not this visitor's reply, a revoked key) drops it. A newer rating of the same
  // reply, or of the conversation, replaces the one waiting.
  var RATING_RETRY_MAX_MS = 60000;
  var ratingBusy = false;
  var ratingTimer = 0;
  var ratingTries = 0;

  function queueHttpRating(key, kind, body) {
    var queue = (Array.isArray(state.hr) ? state.hr : []).filter(function (item) {
      return item && item.k !== key;
    });
    queue.push({ k: key, u: kind, b: body });
    state.hr = queue.slice(-50);
    save();
    sendHttpRatings();
  }

  function sendHttpRatings() {
    if (ratingBusy || ratingTimer || mode !== "http" || !Array.isArray(state.hr) || !state.hr.length) return;
    var item = state.hr[0];
    ratingBusy = true;
    postRating(item).then(safe(function (outcome) {
      ratingBusy = false;
      if (outcome.ok || outcome.refused) {
        ratingTries = 0;
        state.hr = (state.hr || []).filter(function (other) {
          return other !== item;
        });
        save();
        if (item.u === "s") {
          if (outcome.ok) onSessionRated();
          else if (starsNote) starsNote.textContent = _("Your rating could not be sent. Please try again.");
        }
        return sendHttpRatings();
      }
      ratingTries++;
      var wait = Math.min(RATING_RETRY_MAX_MS, 1000 * Math.pow(2, ratingTries - 1)) * (0.8 + Math.random() * 0.4);
      ratingTimer = setTimeout(safe(function () {
        ratingTimer = 0;
        sendHttpRatings();
      }), Math.max(wait, outcome.wait));
      if (item.u === "s" && starsNote) starsNote.textContent = _("Not sent yet: your rating goes as soon as the chat is reachable.");
    }));
  }

  // Back online: what waits goes now, not at the end of its backoff.
  function retryRatingsNow() {
    if (!ratingTimer) return;
    clearTimeout(ratingTimer);
    ratingTimer = 0;
    sendHttpRatings();
  }

  function postRating(item) {
    var headers = { "Content-Type": "application/json", "X-Widget-Key": String(config.widgetKey || "") };
    if (state.vt) headers["X-Visitor-Token"] = state.vt;
    var url = item.u === "s" ? config.sessionRatingUrl : config.ratingUrl;
    return fetch(String(url), { method: "POST", headers: headers, body: JSON.stringify(item.b), credentials: "omit" }).then(
      function (res) {
        var again = res.status === 429 || res.status >= 500;
        return { ok: res.ok, refused: !res.ok && !again, wait: (+res.headers.get("Retry-After") || 0) * 1000 };
      },
      function () {
        return { ok: false, refused: false, wait: 0 };
      }
    );
  }

  var starsEl = null;
  var starsNote = null;
  function conversationKey() {
    return mode === "http" ? state.hsid : state.sid;
  }

  // The conversation was closed: how was it? 1 to 5 stars and a comment if the visitor likes; once per
  // conversation (a second rating would replace the first, so it is not asked again).
  function askStars() {
    if (starsEl || !conversationKey() || state.srated === conversationKey()) return;
    var limit = +config.commentChars || 1000;
    var chosen = 0;
    var stars = [];
    starsEl = el("form", { class: "w sv", novalidate: "" });
    panel.insertBefore(starsEl, form);
    el("p", { id: "bob-stars" }, starsEl, _("How was this conversation?"));
    var row = el("div", { class: "stars", role: "group", "aria-labelledby": "bob-stars" }, starsEl);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var label = _("%(n)s of 5 stars", { n: n });
      var star = el("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": label, title: label }, row, "★");
      star.addEventListener("click", safe(function () {
        chosen = n;
        stars.forEach(function (other, i) {
          other.classList.toggle("on", i < n);
          other.setAttribute("aria-pressed", i === n - 1 ? "true" : "false");
        });
        starsNote.textContent = "";
      }));
      stars.push(star);
    });
    el("label", { for: "bob-comment" }, starsEl, _("A comment, if you like (up to %(n)s characters)", { n: limit }));
    var comment = el("textarea", { id: "bob-comment", rows: "2", maxlength: String(limit) }, starsEl);
    el("button", { type: "submit", class: "go" }, starsEl, _("Send rating"));
    starsNote = el("p", { class: "e", "aria-live": "assertive" }, starsEl);
    starsEl.addEventListener("submit", safe(function (e) {
      e.preventDefault();
      if (!chosen) {
        starsNote.textContent = _("Choose from 1 to 5 stars.");
        return stars[0].focus();
      }
      var body = { type: "rate_session", stars: chosen, comment: comment.value.trim().slice(0, limit) || null };
      if (mode === "http") {
        queueHttpRating("s:" + state.hsid, "s", { session_id: state.hsid, stars: body.stars, comment: body.comment });
      } else if (wsReady) sendFrame(body);
      else starsNote.textContent = _("Your rating could not be sent. Please try again.");
    }));
    scrollDown();
  }

  function onSessionRated() {
    state.srated = conversationKey();
    save();
    if (!starsEl) return;
    var focused = starsEl.contains(root.activeElement);
    starsEl.textContent = "";
    starsEl.setAttribute("role", "status");
    el("p", {}, starsEl, _("Thank you for your rating."));
    if (focused) input.focus();
  }

  function hideStars() {
    if (starsEl) starsEl.remove();
    starsEl = starsNote = null;
  }

  // ---- WebSocket ---------------------------------------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (mode !== "ws" || ws) return;
    var url = String(config.wsUrl);
    if (state.sid && state.tok) {
      url +=
        "?session_id=" +
        encodeURIComponent(state.sid) +
        "&resume_token=" +
        encodeURIComponent(state.tok) +
        "&last_seq=" +
        lastSeq;
    }
    var sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      onClose(1006);
      return;
    }
    ws = sock;
    wsReady = false;
    connectTimer = setTimeout(safe(function () { drop(sock); }), everReady ? 10000 : 5000);
    sock.onmessage = safe(function (ev) {
      if (ws === sock) onFrame(JSON.parse(ev.data));
    });
    sock.onclose = safe(function (ev) {
      if (ws === sock) onClose(ev.code);
    });
    sock.onerror = function () {
      /* a close event follows */
    };
  }

  function drop(sock) {
    if (ws !== sock) return;
    try {
      sock.close();
    } catch (e) {
      /* already closed */
    }
    onClose(1006);
  }

  function sendFrame(frame) {
    try {
      if (ws && wsReady) ws.send(JSON.stringify(frame));
    } catch (e) {
      /* the close event reconnects */
    }
  }

  function startPing() {
    clearInterval(pingTimer);
    pingTimer = setInterval(safe(function () {
      var sock = ws;
      if (!wsReady) return;
      sendFrame({ type: "ping" });
      clearTimeout(pongTimer);
      pongTimer = setTimeout(safe(function () { drop(sock); }), 10000);
    }), 25000);
  }

  function onClose(code) {
    var wasReady = wsReady;
    ws = null;
    wsReady = false;
    sending = null; // maybe stored, maybe not: it goes again on the next connection, with its client_id
    clearTimeout(ackTimer);
    clearTimeout(connectTimer);
    clearTimeout(pongTimer);
    clearInterval(pingTimer);
    if (mode !== "ws") return;
    if (code === 4403 || code === 4404) return refuse();
    if (code === 4400) {
      // The stored session cannot be resumed (e.g. the hub's secret changed): start a new one.
      state.sid = state.tok = null;
      state.seq = 0;
      save();
      resetTranscript();
      connect();
      return;
    }
    if (!wasReady) {
      attempts++;
      // Only a socket that fails while the browser is online says that WebSockets are blocked.
      if (navigator.onLine !== false) failures++;
    }
    if (!everReady && failures >= 2) return startHttp();
    if (everReady) setStatus(_("Connection lost. Reconnecting…"));
    var base = Math.min(10000, 500 * Math.pow(2, Math.min(attempts, 5)));
    retryTimer = setTimeout(safe(connect), base / 2 + (Math.random() * base) / 2);
  }

  function resetTranscript() {
    for (var seq in bySeq) bySeq[seq].remove();
    for (var id in streams) streams[id].el.remove();
    bySeq = {};
    streams = {};
    finals = {};
    lastSeq = 0;
    seqAtLoad = 0;
    setPerson("");
    hideStars();
    setTyping(false);
    busy();
  }

  function refuse() {
    mode = "refused";
    clearTimeout(retryTimer);
    warn("chat is not available on this site (the hub refused this page's origin or tenant).");
    logEl.textContent = "";
    logEl.hidden = form.hidden = personBar.hidden = true;
    setTyping(false);
    setStatus("");
    noticeEl.textContent = _("Chat is not available on this site.");
    noticeEl.hidden = false;
    if (isOpen) closeBtn.focus();
    unread = 0;
    updateBadge();
  }

  // ---- HTTP fallback (POST chatUrl, streamed as Server-Sent Events) --------------------------------

  function startHttp() {
    mode = "http";
    clearTimeout(retryTimer);
    setStatus("");
    if (!state.hsid) state.hsid = "w_" + uid().slice(0, 24);
    if (state.ask) askOverHttp(); // asked before the widget knew the socket would not come
    save();
    sendHttpRatings(); // ratings a page before this one could not send
    state.hist.forEach(function (m) {
      onMessage({ seq: m.seq, role: m.role, text: m.text, author: m.author, id: m.id, event: m.event, sources: m.sources }, true);
    });
    httpPump();
  }

  function httpPump() {
    if (httpBusy || mode !== "http" || !state.pending.length || failed || resendTimer) return;
    httpBusy = true;
    var p = state.pending[0];
    var headers = {
      "Content-Type": "application/json",
      Accept: "text/event-stream",
      "X-Widget-Key": String(config.widgetKey || "")
    };
    if (state.vt) headers["X-Visitor-Token"] = state.vt;
    var done = safe(function (err) {
      httpBusy = false;
      // Refused before anything was stored (503 not_stored, 429): the same message again after a backoff.
      if (err && err.again && state.pending[0] === p) return refused(err.wait);
      if (takeBack(p)) err = err || {};
      if (err) {
        setTyping(false);
        if (err.status === 401 || err.status === 403) return refuse();
        setStatus(_("Your message could not be sent. Please try again."));
      }
      httpPump();
    });
    fetch(String(config.chatUrl), {
      method: "POST",
      headers: headers,
      body: JSON.stringify({
        session_id: state.hsid,
        message: p.text,
        handoff: !!p.handoff,
        language: lang,
        time_zone: visitorTimeZone(),
        page: currentPage()
      }),
      credentials: "omit"
    })
      .then(function (res) {
        if (!res.ok) {
          var wait = (+res.headers.get("Retry-After") || 0) * 1000;
          return res
            .json()
            .then(
              function (body) {
                return body && body.error && body.error.code;
              },
              function () {
                return "";
              }
            )
            .then(function (code) {
              throw { status: res.status, again: res.status === 429 || code === "not_stored", wait: wait };
            });
        }
        // The visitor, from the answer's first bytes (the `done` event repeats it): a stream cut before its end
        // still leaves this page the conversation, and the token its ratings need.
        var token = res.headers.get("X-Visitor-Token");
        if (token) {
          state.vt = token;
          save();
        }
        setTyping(true, "ai");
        var type = res.headers.get("content-type") || "";
        if (type.indexOf("text/event-stream") >= 0 && res.body && res.body.getReader) {
          return readSse(res.body.getReader(), p);
        }
        return res.json().then(function (j) {
          httpJson(j, p);
        });
      })
      .then(function () {
        done();
      }, done);
  }

  function readSse(reader, p) {
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        buffer += chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          sseEvent(buffer.slice(0, cut), p);
          buffer = buffer.slice(cut + 2);
        }
        if (!chunk.done) return pump();
      });
    }
    return pump();
  }

  function sseEvent(block, p) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      line = line.replace(/\r$/, "");
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (!data.length) return;
    var f = JSON.parse(data.join("\n"));
    if (name === "done") return httpDone(f);
    if (f.type === "message" && f.role === "visitor" && !f.client_id) f.client_id = p.cid;
    onFrame(f, true);
  }

  function httpDone(d) {
    if (d.visitor_token) state.vt = String(d.visitor_token);
    if (d.waiting === true && person !== "here") setPerson("asked");
    save();
    (d.messages || []).forEach(function (m) {
      onMessage(m);
    });
    setTyping(false);
    httpAvailability(d);
  }

  // Over HTTP each answer says whether the visitor waits for a person and who is there. (An address can
  // only be left on the socket: the HTTP field goes with a message, so the form is not shown here.)
  function httpAvailability(d) {
    clearTimeout(availabilityTimer);
    waitingPerson = !!d.waiting;
    if (!waitingPerson || !d.availability) {
      if (personEl) personEl.hidden = true;
      return;
    }
    var shown = {};
    for (var key in d.availability) shown[key] = d.availability[key];
    shown.email_offered = false;
    onAvailability(shown);
    clearTimeout(availabilityTimer);
  }

  function httpJson(j, p) {
    var seq = +j.seq || 1;
    onMessage({ seq: j.reply != null ? seq - 0.5 : seq, role: "visitor", text: p.text, client_id: p.cid, id: p.cid });
    if (j.reply != null) onMessage({ seq: seq, role: "ai", text: String(j.reply), id: "r" + seq }); // no id to rate
    httpDone(j);
  }

  // ---- the tenant's widget, live: the persona's name and the appearance ----------------------------

  // The hub sends both in every `ready` and, when the tenant changes them in the portal, in a `widget` frame
  // to every open widget at once: the widget follows without a reload. On Widget Setup's live preview the
  // portal also hands over the form's unsaved appearance (see listenForPreview); while it does, that wins.
  var drafted = false;
  function onWidget(f, fromPreview) {
    if (fromPreview) drafted = true;
    if (built) rename(f.assistant);
    else if (f.assistant) personaName = String(f.assistant);
    if (f.appearance && (fromPreview || !drafted)) applyAppearance(f.appearance);
  }

  // The values the widget draws with, each checked: a bad one keeps what was there.
  function readAppearance(a) {
    look = a && typeof a === "object" ? a : {};
    if (/^#[0-9a-f]{6}$/i.test(String(look.color || ""))) color = String(look.color);
    side = look.position === "left" ? "left" : "right";
  }

  function applyAppearance(a) {
    var before = lang;
    readAppearance(a);
    lang = pickLanguage();
    strings = catalogs[lang] || {};
    if (!built) return;
    paintStyle();
    showLauncherText();
    if (lang !== before) relabel();
    else greet();
    updateBadge();
  }

  // The stylesheet with the colour (~) and the side (^) filled in. A constructed sheet also works under a
  // Content-Security-Policy without 'unsafe-inline' styles; the <style> element is for older browsers.
  var sheet = null;
  var styleEl = null;
  function paintStyle() {
    var css = CSS.split("~").join(color).split("^").join(side);
    if (sheet) return sheet.replaceSync(css);
    if (styleEl) {
      styleEl.textContent = css;
      return;
    }
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      sheet = null;
      styleEl = el("style", {}, root, css);
    }
  }

  function showLauncherText() {
    var text = String(look.launcher_text || "");
    launcherText.textContent = text;
    launcherText.hidden = !text;
    launcher.classList.toggle("tx", !!text);
  }

  // The launcher's accessible name starts with the words it shows, if any.
  function launcherName() {
    var name = _("Open chat with %(name)s", { name: personaName });
    return look.launcher_text ? String(look.launcher_text) + " · " + name : name;
  }

  // The widget's language changed: its own words are said again in the new one (the transcript stays as it is).
  function relabel() {
    panel.setAttribute("lang", lang);
    titleEl.textContent = _("Chat with %(name)s", { name: personaName });
    closeBtn.textContent = _("Close");
    logEl.setAttribute("aria-label", _("Conversation"));
    inputLabel.textContent = _("Your message");
    input.setAttribute("placeholder", _("Type your message…"));
    sendBtn.textContent = _("Send");
    showPerson();
    greet();
  }

  // Widget Setup's live preview frames a hub page whose tag carries data-bob-preview: the portal around it
  // (the same origin) posts the form's values as a `widget` frame on every change, and the panel opens at once.
  function listenForPreview() {
    var tag = document.currentScript;
    if (!tag || !tag.hasAttribute("data-bob-preview")) return;
    window.addEventListener("message", safe(function (ev) {
      if (ev.source !== window.parent || ev.origin !== location.origin) return;
      if (ev.data && ev.data.type === "widget") onWidget(ev.data, true);
    }));
    open(false);
  }
  listenForPreview();

  // ---- visitor context: the page the visitor is on, for the team (docs/PROTOCOL.md, the `page` frame) ---

  var PAGE_URL_CHARS = 2048;
  var PAGE_TITLE_CHARS = 300;
  var LANGUAGE_TAG = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;
  var ZONE_NAME = /^[A-Za-z0-9_+\-]+(\/[A-Za-z0-9_+\-]+)*$/;
  // The hub's page behind a reply email's link (/chat/continue/<token>): the token stays out of what is reported.
  var onEmailLink = !!(document.currentScript && document.currentScript.getAttribute("data-bob-session"));
  var pageSent = ""; // the page (address and title) last reported from this page load
  var pageTimer = 0;

  // The page as the hub takes it: an http(s) address (shortened, or none, when too long) and its title.
  function currentPage() {
    var url = String(location.href || "");
    if (onEmailLink) url = location.origin + location.pathname.replace(/[^\/]*$/, "");
    if (url.length > PAGE_URL_CHARS) url = url.split("#")[0];
    if (url.length > PAGE_URL_CHARS) url = url.split("?")[0];
    if (url.length > PAGE_URL_CHARS || !/^https?:\/\//i.test(url)) return null;
    return { url: url, title: String(document.title || "").slice(0, PAGE_TITLE_CHARS) };
  }

  function tagOrNothing(value, pattern, max) {
    value = String(value || "");
    return value.length <= max && pattern.test(value) ? value : undefined;
  }

  // Sent when the page changed since the last report (or always, when asked); only on a ready socket.
  function reportPage(always) {
    var page = currentPage();
    if (!page || !ws || !wsReady) return;
    var key = page.url + "\n" + page.title;
    if (!always && key === pageSent) return;
    pageSent = key;
    sendFrame({
      type: "page",
      url: page.url,
      title: page.title || undefined,
      language: tagOrNothing(lang, LANGUAGE_TAG, 35),
      browser_language: tagOrNothing(navigator.language, LANGUAGE_TAG, 35),
      time_zone: tagOrNothing(visitorTimeZone(), ZONE_NAME, 64)
    });
  }

  // A new socket: the hub holds a report made before the conversation's first message on that socket
  // alone, so until there is a message each new socket is told again; after, only a change is news.
  function pageOnReady() {
    reportPage(!lastSeq);
  }

  // Opening the panel is the visitor's doing: reported even when the page is the same.
  function pageOpened() {
    if (wsReady) reportPage(true);
  }

  // A single-page app changes the page without a reload; its title usually follows a moment later.
  var pageSoon = safe(function () {
    clearTimeout(pageTimer);
    pageTimer = setTimeout(safe(function () { reportPage(false); }), 250);
  });

  function watchPages() {
    ["pushState", "replaceState"].forEach(function (name) {
      var original = window.history && history[name];
      if (typeof original !== "function") return;
      history[name] = function () {
        var result = original.apply(this, arguments); // the page's own errors stay the page's
        pageSoon();
        return result;
      };
    });
    window.addEventListener("popstate", pageSoon);
    window.addEventListener("hashchange", pageSoon);
  }

  // ---- start ---------------------------------------------------------------------------------------

  window.BobWidget = Object.freeze({
    version: VERSION,
    open: safe(function () { open(true); }),
    close: safe(function () { close(false); })
  });
  safe(watchPages)();
  var start = safe(build);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
