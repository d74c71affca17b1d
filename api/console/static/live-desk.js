// The live desk: a WebSocket holds the member's presence with a heartbeat every few seconds
// and brings their live events (offers, the customer's messages, sessions changing); the desk
// and the session page then read their JSON views again. Reconnects with backoff. Customer
// text only ever enters the page as textContent, never as HTML.
"use strict";

(function () {
  const desk = document.getElementById("live-desk");
  const conv = document.getElementById("live-session");
  const root = desk || conv;
  if (!root) return;
  const csrf = document.body.dataset.csrf || "";
  const beatEvery = (parseFloat(root.dataset.heartbeat) || 10) * 1000;
  const socketState = document.getElementById("socket-state");
  // The other console pages of this tab keep the member live (live-presence.js) while this
  // says they are.
  function remember(live) {
    try {
      if (live) window.sessionStorage.setItem("sbLive", "1");
      else window.sessionStorage.removeItem("sbLive");
    } catch (err) { /* private mode: only the live pages hold presence */ }
  }
  if (desk) remember(desk.dataset.live === "yes");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function postForm(action, label, primary) {
    const form = el("form");
    form.method = "post";
    form.action = action;
    form.className = "inline";
    const token = el("input");
    token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
    form.appendChild(token);
    const button = el("button", primary ? "primary" : "", label);
    button.type = "submit";
    form.appendChild(button);
    return form;
  }

  // --- the desk ---
  let deadlines = [];
  function offerNode(o) {
    const li = el("li", "card offer");
    li.dataset.session = o.id;
    const top = el("div", "offer-top");
    top.appendChild(el("strong", "customer", o.customer));
    top.appendChild(document.createTextNode(" "));
    top.appendChild(el("span", "badge open", o.channel));
    top.appendChild(document.createTextNode(" "));
    top.appendChild(el("span", "muted", o.workflow));
    const countdown = el("span", "countdown", o.seconds_left + " s left");
    deadlines.push({ node: countdown, at: Date.now() + o.seconds_left * 1000 });
    top.appendChild(countdown);
    li.appendChild(top);
    const said = el("ol", "offer-messages");
    o.messages.forEach(function (m) { said.appendChild(el("li", "", m.text)); });
    li.appendChild(said);
    const actions = el("div", "offer-actions");
    actions.appendChild(postForm("/console/live/sessions/" + encodeURIComponent(o.id) + "/accept", "Accept", true));
    actions.appendChild(document.createTextNode(" "));
    actions.appendChild(postForm("/console/live/sessions/" + encodeURIComponent(o.id) + "/decline", "Decline", false));
    li.appendChild(actions);
    return li;
  }

  function sessionLink(s) {
    const a = el("a", "", s.customer);
    a.href = s.href;
    return a;
  }

  function render(state) {
    remember(Boolean(state.live));
    const offers = document.getElementById("offers");
    if (offers) {
      deadlines = [];
      offers.replaceChildren.apply(offers, state.offers.map(offerNode));
      document.getElementById("offers-empty").hidden = state.offers.length > 0;
    }
    const mine = document.getElementById("mine");
    if (mine) {
      mine.replaceChildren.apply(mine, state.mine.map(function (s) {
        const li = el("li");
        li.appendChild(sessionLink(s));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "badge open", s.channel));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "muted", s.workflow));
        return li;
      }));
      document.getElementById("mine-empty").hidden = state.mine.length > 0;
    }
    const counted = { "count-offered": state.counts.offered, "count-active": state.counts.active };
    if (state.may_see_presence) counted["count-live"] = state.operators.length;
    Object.keys(counted).forEach(function (id) {
      const node = document.getElementById(id);
      if (node) node.textContent = String(counted[id]);
    });
    const operators = document.getElementById("operators");
    if (operators) {
      operators.replaceChildren.apply(operators, state.operators.map(function (o) {
        const tr = el("tr");
        const name = el("td", "", o.name);
        if (o.you) { name.appendChild(document.createTextNode(" ")); name.appendChild(el("span", "muted", "(you)")); }
        tr.appendChild(name);
        tr.appendChild(el("td", "", o.workflows.map(function (w) { return w.name; }).join(", ")));
        tr.appendChild(el("td", "", o.since_text));
        const held = el("td");
        if (!o.sessions.length) held.appendChild(el("span", "muted", "none"));
        o.sessions.forEach(function (s, i) {
          if (i) held.appendChild(document.createTextNode(", "));
          held.appendChild(sessionLink(s));
        });
        tr.appendChild(held);
        return tr;
      }));
      document.getElementById("operators-empty").hidden = state.operators.length > 0;
    }
  }

  async function refreshDesk() {
    if (leaving) return;
    const response = await fetch("/console/live/state", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) render(await response.json());
  }

  function tick() {
    deadlines.forEach(function (d) {
      const left = Math.max(0, Math.round((d.at - Date.now()) / 1000));
      d.node.textContent = left > 0 ? left + " s left" : "passing on…";
    });
  }

  if (desk) {
    document.querySelectorAll("#offers .countdown").forEach(function (node) {
      deadlines.push({ node: node, at: Date.now() + (parseInt(node.dataset.left, 10) || 0) * 1000 });
    });
    window.setInterval(tick, 1000);
  }

  // A form on its way to the server (Accept, Transfer, Complete) navigates away: a live
  // event arriving meanwhile must not reload the page over it.
  let leaving = false;
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) leaving = true;
  });

  // --- a session ---
  let after = conv ? parseInt(conv.dataset.after, 10) || 0 : 0;
  if (conv) {
    const last = document.querySelector("#history li:last-child");
    if (last) last.scrollIntoView({ block: "nearest" });
  }
  function messageNode(m) {
    const li = el("li", "msg author-" + m.author);
    li.dataset.seq = String(m.seq);
    const head = el("div", "msg-head");
    head.appendChild(el("span", "msg-who", m.who));
    if (m.author === "member") { head.appendChild(document.createTextNode(" ")); head.appendChild(el("span", "muted", "team")); }
    head.appendChild(document.createTextNode(" "));
    const time = el("time", "", m.time);
    time.setAttribute("datetime", m.at);
    head.appendChild(time);
    li.appendChild(head);
    li.appendChild(el("div", "msg-text", m.text));
    return li;
  }

  async function refreshMessages() {
    const url = "/console/live/sessions/" + encodeURIComponent(conv.dataset.session) + "/messages?after=" + after;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    const history = document.getElementById("history");
    body.messages.forEach(function (m) {
      if (m.seq <= after) return;
      history.appendChild(messageNode(m));
      after = m.seq;
    });
    if (body.messages.length) history.lastElementChild.scrollIntoView({ block: "nearest" });
    const status = document.getElementById("session-status");
    if (status && status.textContent !== body.status) status.textContent = body.status;
    if ((conv.dataset.holds === "yes") !== body.holds && !leaving) window.location.reload();
  }

  // Sending: one key per message typed, kept until the gateway confirms it, so a double
  // click or a retry after a lost answer sends the message once.
  const sendForm = document.getElementById("send-form");
  if (sendForm) {
    const box = document.getElementById("message");
    const sendState = document.getElementById("send-state");
    const button = sendForm.querySelector("button[type=submit]");
    let key = null;
    let busy = false;
    function newKey() {
      if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    }
    box.addEventListener("input", function () { if (!busy) key = null; });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); sendForm.requestSubmit(); }
    });
    sendForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (busy || !box.value.trim()) return;
      busy = true;
      button.disabled = true;
      key = key || newKey();
      sendState.textContent = "Sending…";
      try {
        const response = await window.sbFetch(sendForm.action, { method: "POST", json: { text: box.value, key: key } });
        const body = await response.json().catch(function () { return {}; });
        if (response.ok) {
          box.value = "";
          key = null;
          sendState.textContent = "";
          await refreshMessages();
        } else {
          sendState.textContent = body.error || "Not sent: try again.";
        }
      } catch (err) {
        sendState.textContent = "Not sent (no connection): try again.";
      } finally {
        busy = false;
        button.disabled = false;
      }
    });
  }

  // --- the socket ---
  let socket = null;
  let beat = null;
  let backoff = 1000;
  function say(text) { if (socketState) socketState.textContent = text; }
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/console/live/socket");
    socket.addEventListener("open", function () {
      backoff = 1000;
      say("");
      socket.send(JSON.stringify({ type: "heartbeat" }));
      beat = window.setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "heartbeat" }));
      }, beatEvery);
      if (desk) refreshDesk();
      if (conv) refreshMessages();
    });
    socket.addEventListener("message", function (event) {
      let body;
      try { body = JSON.parse(event.data); } catch (err) { return; }
      if (body.type === "signed-out") { window.location.href = "/console/login"; return; }
      if (body.type === "live_offer" || body.type === "live_session" || body.type === "live_presence" || body.type === "resync") {
        if (desk) refreshDesk();
      }
      if (conv && (body.session_id === conv.dataset.session || body.type === "resync")) refreshMessages();
    });
    socket.addEventListener("close", function () {
      if (beat) window.clearInterval(beat);
      beat = null;
      say("Reconnecting…");
      window.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }
  connect();
})();
