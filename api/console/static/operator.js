// The operator panel and History: post with fetch, then show the replies when they arrive.
// Every form here works without this file (Post/Redirect/Get). Text from the server is only
// ever set with textContent: customer text never becomes markup.
"use strict";

(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";
  const zone = body.dataset.tz || undefined;
  const onHistory = body.classList.contains("history-page");
  const conversation = document.getElementById("conversation");

  // --- DOM helpers -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([name, value]) {
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function localTime(iso, short) {
    const when = new Date(iso);
    if (isNaN(when)) return "";
    const options = short
      ? { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone }
      : { day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone };
    try {
      return new Intl.DateTimeFormat("en-GB", options).format(when);
    } catch (error) {
      return when.toLocaleString();
    }
  }

  function randomKey() {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // --- rendering: the same markup as templates/_replies.html ---------------------------------
  function renderProposal(p, next) {
    const rows = p.changes.map(function (c) {
      return el("tr", {}, [
        el("th", { scope: "row", text: c.label }),
        el("td", { className: "before", text: c.before }),
        el("td", { className: "after", text: c.after }),
      ]);
    });
    const box = el("div", { className: "proposal" + (p.open ? "" : " decided"), "data-proposal": p.id, "data-code": p.code }, [
      el("div", { className: "proposal-head" }, [
        el("h2", { className: "reply-title", text: p.open ? "Approval needed" : "Proposal " + p.code }),
        el("span", { className: "status status-" + p.status, text: p.status_label }),
      ]),
      el("p", { className: "summary", text: p.summary }),
      el("table", { className: "changes" }, [
        el("thead", {}, [el("tr", {}, [
          el("th", { scope: "col", text: "Change" }),
          el("th", { scope: "col", text: "Current" }),
          el("th", { scope: "col", text: "Proposed" }),
        ])]),
        el("tbody", {}, rows),
      ]),
    ]);
    if (p.more_changes) box.appendChild(el("p", { className: "muted", text: "… and " + p.more_changes + " more changes." }));
    if (p.estimated_count !== null && p.estimated_count !== undefined) {
      box.appendChild(el("p", { className: "count", text: "This will touch " + p.estimated_count + " item" + (p.estimated_count === 1 ? "" : "s") + "." }));
    }
    p.notices.forEach(function (n) { box.appendChild(el("p", { className: "warn", text: n })); });
    if (p.open) {
      box.appendChild(el("form", { className: "decide", method: "post", action: "/console/operator/proposals/" + encodeURIComponent(p.id) + "/decision" }, [
        el("input", { type: "hidden", name: "csrf_token", value: csrf }),
        el("input", { type: "hidden", name: "next", value: next || "/console/operator" }),
        el("button", { type: "submit", name: "decision", value: "approve", className: "primary", text: "Approve" }),
        el("button", { type: "submit", name: "decision", value: "reject", text: "Reject" }),
        el("span", { className: "muted", text: "Proposal " + p.code + " · expires " + localTime(p.expires_at, false) }),
      ]));
    }
    return box;
  }

  function renderReply(r) {
    const box = el("section", { className: "reply kind-" + r.kind, "data-reply": r.id });
    if (r.kind === "proposal" && r.proposal) {
      box.appendChild(renderProposal(r.proposal));
    } else if (r.kind === "card" || r.kind === "list") {
      if (r.title) box.appendChild(el("h2", { className: "reply-title", text: r.title }));
      r.lead.forEach(function (line) { box.appendChild(el("p", { className: "lead", text: line })); });
      if (r.fields.length) {
        box.appendChild(el("dl", { className: "fields" }, r.fields.map(function (f) {
          return el("div", { className: "field" + (f.tone ? " " + f.tone : "") }, [
            el("dt", { text: f.label }),
            el("dd", { text: f.value }),
            f.detail ? el("dd", { className: "detail", text: f.detail }) : null,
          ]);
        })));
      }
      if (r.chart_url) {
        box.appendChild(el("img", { className: "chart", src: r.chart_url, alt: "Chart: " + (r.title || "figures"), width: 800, height: 400 }));
      }
      if (r.items.length) {
        box.appendChild(el("ul", { className: "items" }, r.items.map(function (item) { return el("li", { text: item }); })));
      }
      r.notes.forEach(function (line) { box.appendChild(el("p", { text: line })); });
      if (r.next_step) {
        box.appendChild(el("p", { className: "next-step" }, [el("strong", { text: "Next step" }), " " + r.next_step]));
      }
    } else if (r.kind === "file" && r.file) {
      box.appendChild(el("p", { text: r.text }));
      if (r.file.url) {
        box.appendChild(el("p", { className: "file" }, [
          el("a", { className: "button", href: r.file.url, download: r.file.filename, text: "Download " + r.file.filename }),
          " ",
          el("span", { className: "muted", text: r.file.size }),
        ]));
        if (r.file.image) box.appendChild(el("img", { className: "chart", src: r.file.url, alt: r.text }));
      } else {
        box.appendChild(el("p", { className: "muted", text: r.file.filename + ": the link has expired. Ask again for a fresh copy." }));
      }
    } else {
      box.appendChild(el("p", { className: "text" + (r.kind === "error" ? " error" : ""), text: r.text }));
    }
    return box;
  }

  function renderExchange(e) {
    const answers = el("div", { className: "answers" }, e.replies.map(renderReply));
    if (!e.finished) answers.appendChild(el("p", { className: "working", text: "Working on it…" }));
    return el("article", { className: "exchange", id: "task-" + e.id, "data-task": e.id, "data-finished": e.finished ? "true" : "false" }, [
      el("div", { className: "asked" }, [
        el("p", { className: "bubble", text: e.text }),
        el("time", { datetime: e.received_at, text: localTime(e.received_at, true) }),
      ]),
      answers,
    ]);
  }

  // A decision's reply carries the proposal as it now stands: every card of it follows.
  function updateProposals(e) {
    e.replies.forEach(function (r) {
      if (!r.proposal || r.kind === "proposal") return;
      document.querySelectorAll('.proposal[data-proposal="' + CSS.escape(r.proposal.id) + '"]').forEach(function (card) {
        card.replaceWith(renderProposal(r.proposal));
      });
    });
  }

  // --- talking to the server ---------------------------------------------------------------
  async function readError(response) {
    try {
      const data = await response.json();
      return data.message || response.statusText;
    } catch (error) {
      return response.status === 403
        ? "This page has expired. Reload it and try again; nothing was changed."
        : "Something went wrong (" + response.status + "). Reload the page and try again.";
    }
  }

  // The live stream says when an answer is ready (`operator_answer`, sent as the task's
  // replies commit, on whichever node ran it): the wait for that task ends at once.
  const wakers = new Map();
  if (window.EventSource) {
    const source = new EventSource("/console/events");
    source.addEventListener("operator_answer", function (event) {
      let data = {};
      try { data = JSON.parse(event.data); } catch (error) { return; }
      const wake = wakers.get(data.task_id);
      if (wake) wake();
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  // Wait until a task is done: woken by its live event, else polled with a bounded backoff
  // (quick at first, then every 4 s), giving up after two minutes (the page, reloaded, shows
  // it whenever it finishes).
  async function waitFor(taskId) {
    let delay = 300;
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      await new Promise(function (resolve) {
        wakers.set(taskId, resolve);
        setTimeout(resolve, delay);
      });
      wakers.delete(taskId);
      delay = Math.min(4000, Math.round(delay * 1.6));
      let response;
      try {
        response = await window.sbFetch("/console/operator/tasks/" + encodeURIComponent(taskId));
      } catch (error) {
        continue; // offline for a moment: try again
      }
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        throw new Error(await readError(response));
      }
      if (!response.ok) continue;
      const exchange = await response.json();
      if (exchange.finished) return exchange;
    }
    throw new Error("Still working on it. Reload the page in a moment to see the answer.");
  }

  function showProblem(where, message) {
    const box = where.querySelector(".working") || el("p");
    box.className = "error";
    box.textContent = message;
    if (!box.parentNode) where.appendChild(box);
  }

  async function refreshSnapshot() {
    const tiles = document.querySelectorAll("#snapshot .tile");
    if (!tiles.length) return;
    try {
      const response = await window.sbFetch("/console/operator/snapshot");
      if (!response.ok) return;
      const data = await response.json();
      data.tiles.forEach(function (tile, index) {
        const node = tiles[index];
        if (!node) return;
        node.querySelector(".tile-label").textContent = tile.label;
        node.querySelector(".tile-value").textContent = tile.value;
        node.querySelector(".tile-detail").textContent = tile.detail;
        node.classList.remove("better", "worse");
        if (tile.tone) node.classList.add(tile.tone);
      });
    } catch (error) {
      /* the figures stay as they were */
    }
  }

  // Show an exchange (placeholder first, then its replies) at the end of the conversation.
  async function follow(taskId, placeholder) {
    try {
      const exchange = await waitFor(taskId);
      const shown = renderExchange(exchange);
      const existing = document.getElementById("task-" + taskId);
      if (existing) existing.replaceWith(shown);
      else if (placeholder) placeholder.replaceWith(shown);
      else conversation.prepend(shown);
      updateProposals(exchange);
      refreshSnapshot();
      return exchange;
    } catch (error) {
      const where = document.getElementById("task-" + taskId) || placeholder;
      if (where) showProblem(where, error.message);
      return null;
    }
  }

  function placeholderFor(text) {
    const empty = document.getElementById("no-exchanges");
    if (empty) empty.remove();
    const shown = renderExchange({ id: "pending-" + randomKey(), text: text, received_at: new Date().toISOString(), finished: false, replies: [] });
    conversation.prepend(shown);
    return shown;
  }

  async function ask(text) {
    const shown = placeholderFor(text);
    let response;
    try {
      response = await window.sbFetch("/console/operator/messages", { method: "POST", json: { text: text, key: randomKey() } });
    } catch (error) {
      showProblem(shown, "The message could not be sent: check the connection and try again.");
      return;
    }
    if (response.status !== 202) {
      showProblem(shown, await readError(response));
      return;
    }
    const accepted = await response.json();
    const existing = document.getElementById("task-" + accepted.task_id);
    if (existing && existing !== shown) {
      shown.remove();
      return;
    }
    shown.id = "task-" + accepted.task_id;
    shown.dataset.task = accepted.task_id;
    await follow(accepted.task_id, shown);
  }

  // --- the operator page -------------------------------------------------------------------
  const form = document.getElementById("ask");
  const box = document.getElementById("message");
  if (form && box && conversation) {
    box.focus();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const text = box.value.trim();
      if (!text) return;
      box.value = "";
      ask(text);
      box.focus();
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    document.querySelectorAll("form.ask-example").forEach(function (example) {
      example.addEventListener("submit", function (event) {
        event.preventDefault();
        const button = event.submitter || example.querySelector("button");
        ask(button.value);
        box.focus();
      });
    });
    conversation.querySelectorAll('.exchange[data-finished="false"]').forEach(function (node) {
      follow(node.dataset.task, null);
    });
    window.setInterval(function () {
      if (document.visibilityState === "visible") refreshSnapshot();
    }, 60000);
  }

  // --- Approve / Reject, wherever a proposal is shown ---------------------------------------
  document.addEventListener("submit", async function (event) {
    const decide = event.target.closest && event.target.closest("form.decide");
    if (!decide) return;
    event.preventDefault();
    const button = event.submitter;
    const decision = button && button.value === "reject" ? "reject" : "approve";
    const buttons = decide.querySelectorAll("button");
    if (decide.dataset.sent) return; // a double click is one decision (the server dedupes too)
    decide.dataset.sent = "1";
    buttons.forEach(function (b) { b.disabled = true; });
    const card = decide.closest(".proposal");
    const say = function (message, kind) {
      const line = el("p", { className: (kind || "muted") + " outcome", text: message });
      card.appendChild(line);
    };
    let response;
    try {
      response = await window.sbFetch(decide.getAttribute("action"), { method: "POST", json: { decision: decision } });
    } catch (error) {
      say("Not sent: check the connection and try again.", "error");
      buttons.forEach(function (b) { b.disabled = false; });
      delete decide.dataset.sent;
      return;
    }
    if (response.status !== 202) {
      say(await readError(response), "error");
      if (response.status >= 500) { // the gateway is restarting: the same click can be tried again
        buttons.forEach(function (b) { b.disabled = false; });
        delete decide.dataset.sent;
      }
      return;
    }
    const accepted = await response.json();
    if (accepted.notice) say(accepted.notice, "notice");
    else say(decision === "approve" ? "Approving…" : "Rejecting…");
    if (onHistory) {
      try {
        await waitFor(accepted.task_id);
      } catch (error) {
        /* the page shows where it stands */
      }
      window.location.assign("/console/history?task=" + encodeURIComponent(accepted.task_id));
      return;
    }
    if (!conversation || document.getElementById("task-" + accepted.task_id)) return;
    const shown = placeholderFor(decision + " " + card.dataset.code);
    shown.id = "task-" + accepted.task_id;
    const exchange = await follow(accepted.task_id, shown);
    if (!exchange) return;
    // The outcome where the buttons were, too: the card may be far from the top.
    document.querySelectorAll('.proposal[data-proposal="' + CSS.escape(card.dataset.proposal) + '"]').forEach(function (shownCard) {
      exchange.replies.forEach(function (r) {
        shownCard.appendChild(el("p", { className: "outcome text" + (r.kind === "error" ? " error" : ""), text: r.text }));
      });
    });
  });

  // --- History: Restore, and a result still being worked on -----------------------------------
  document.querySelectorAll("form.restore").forEach(function (restore) {
    restore.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = restore.querySelector("button");
      if (button.disabled) return;
      button.disabled = true;
      button.textContent = "Proposing…";
      const key = restore.querySelector('input[name="key"]').value;
      let response;
      try {
        response = await window.sbFetch(restore.getAttribute("action"), { method: "POST", json: { key: key } });
      } catch (error) {
        button.disabled = false;
        button.textContent = "Restore";
        return;
      }
      const anchor = "#snapshot-" + restore.dataset.snapshot;
      if (!response.ok) {
        restore.appendChild(el("span", { className: "error", text: await readError(response) }));
        button.textContent = "Restore";
        return;
      }
      const accepted = await response.json();
      if (!accepted.task_id) {
        // A restore of it is already waiting for a decision: the page shows it.
        window.location.hash = anchor;
        window.location.reload();
        return;
      }
      try {
        await waitFor(accepted.task_id);
      } catch (error) {
        /* the page shows where it stands */
      }
      window.location.assign("/console/history?task=" + encodeURIComponent(accepted.task_id) + anchor);
    });
  });
  const result = document.querySelector('.result[data-finished="false"]');
  if (result) {
    waitFor(result.dataset.task).then(
      function () { window.location.reload(); },
      function (error) { showProblem(result, error.message); }
    );
  }
})();
