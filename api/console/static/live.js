// Live updates for the AI Inbox: new assists, customer replies and status changes appear
// without a reload. Server-Sent Events from /console/events say *what* changed; the list and
// the open assist are then read again through their JSON views. Customer text only ever
// enters the page as textContent, never as HTML.
"use strict";

(function () {
  const panel = document.getElementById("inbox-panel");
  if (!panel || !window.EventSource) return;
  const assist = document.getElementById("assist");
  const current = panel.dataset.current || "";
  const view = panel.dataset.view || "";
  const liveState = document.getElementById("live-state");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- the list ---
  function rowNode(row) {
    const li = el("li");
    li.dataset.ref = row.ref;
    const a = el("a");
    a.href = row.href;
    if (row.ref === current) { li.className = "current"; a.setAttribute("aria-current", "true"); }
    const top = el("span", "row-top");
    top.appendChild(el("span", "customer", row.customer));
    if (row.unread) {
      const dot = el("span", "dot");
      dot.title = "Unread customer reply";
      dot.appendChild(el("span", "sr", "Unread customer reply"));
      top.appendChild(dot);
    }
    const time = el("time", "", row.time);
    time.setAttribute("datetime", row.datetime);
    top.appendChild(time);
    a.appendChild(top);
    a.appendChild(el("span", "summary", row.summary));
    const meta = el("span", "row-meta");
    meta.appendChild(el("span", "ref", row.ref));
    meta.appendChild(el("span", "badge " + row.priority, row.priority));
    meta.appendChild(el("span", "assignee", row.assignee));
    a.appendChild(meta);
    li.appendChild(a);
    return li;
  }

  async function refreshList() {
    const response = await fetch("/console/inbox/rows" + view, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    const list = document.getElementById("assist-list");
    const empty = document.getElementById("assist-list-empty");
    const rows = body.rows.map(rowNode);
    list.replaceChildren.apply(list, rows);
    if (empty) empty.hidden = rows.length > 0;
    Object.keys(body.counts).forEach(function (status) {
      const count = panel.querySelector('[data-count="' + status + '"]');
      if (count) count.textContent = String(body.counts[status]);
    });
  }

  // --- the open assist ---
  function itemNode(item) {
    const li = el("li", "item kind-" + item.kind + (item.flagged ? " flagged" : ""));
    li.dataset.id = item.id;
    const head = el("div", "item-head");
    head.appendChild(el("span", "item-label", item.label));
    head.appendChild(el("span", "who", item.who));
    const time = el("time", "", item.time);
    time.setAttribute("datetime", item.datetime);
    head.appendChild(time);
    li.appendChild(head);
    if (item.flagged) li.appendChild(el("p", "warn", "Not verified as the customer's, so nothing acts on it."));
    li.appendChild(el("div", "body", item.text));
    return li;
  }

  function setBadge(id, value) {
    const badge = document.getElementById(id);
    if (!badge || badge.textContent === value) return;
    badge.textContent = value;
    badge.className = "badge " + value;
  }

  async function refreshAssist() {
    const ref = assist.dataset.ref;
    const response = await fetch("/console/assists/" + encodeURIComponent(ref) + "/state", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const body = await response.json();
    const timeline = document.getElementById("timeline");
    const scroller = document.getElementById("conversation");
    const atBottom = scroller && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const known = new Set(Array.from(timeline.children).map(function (li) { return li.dataset.id; }));
    let heard = false;
    body.items.forEach(function (item) {
      if (known.has(item.id)) return;
      timeline.appendChild(itemNode(item));
      if (item.kind === "customer_reply") heard = true;
    });
    const empty = document.getElementById("timeline-empty");
    if (empty) empty.hidden = timeline.children.length > 0;
    if (scroller && atBottom) scroller.scrollTop = scroller.scrollHeight;
    setBadge("assist-status", body.status);
    setBadge("assist-priority", body.priority);
    const assignee = document.getElementById("assist-assignee");
    if (assignee) assignee.textContent = body.assignee;
    // The member is looking at it: a reply arriving now is read.
    if (heard && body.unread && document.visibilityState === "visible") {
      window.sbFetch("/console/assists/" + encodeURIComponent(ref) + "/read", { method: "POST", json: {} });
    }
  }

  // Several events in a burst make one refresh.
  let timer = null;
  let wantsAssist = false;
  function schedule(forAssist) {
    wantsAssist = wantsAssist || forAssist;
    if (timer) return;
    timer = setTimeout(async function () {
      timer = null;
      const both = wantsAssist;
      wantsAssist = false;
      try {
        await refreshList();
        if (assist && both) await refreshAssist();
      } catch (error) { /* the next event tries again */ }
    }, 150);
  }

  const source = new EventSource("/console/events");
  source.addEventListener("hello", function () {
    if (liveState) liveState.hidden = false;
    // From here on every change is heard: catch up on what changed since the page (or the
    // last connection) was read.
    schedule(true);
  });
  source.addEventListener("assist", function (event) {
    let data = {};
    try { data = JSON.parse(event.data); } catch (error) { return; }
    schedule(Boolean(assist) && data.ref === (assist && assist.dataset.ref));
  });
  source.addEventListener("changed", function () { schedule(true); });
  source.addEventListener("resync", function () { schedule(true); });
  source.addEventListener("signed-out", function () {
    source.close();
    window.location.href = "/console/login";
  });
  source.addEventListener("error", function () { if (liveState) liveState.hidden = true; });
  window.addEventListener("pagehide", function () { source.close(); });
})();
