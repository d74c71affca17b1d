// A live operator stays live on every console page: the tab where they went live keeps the
// live desk's socket (its heartbeats hold their presence) on the inbox or any other page too,
// and an offer that arrives meanwhile shows a notice linking to Live. The live pages run
// their own socket (live-desk.js); a tab that is not live opens none.
"use strict";

(function () {
  if (document.getElementById("live-desk") || document.getElementById("live-session")) return;
  let flagged = null;
  try { flagged = window.sessionStorage.getItem("sbLive"); } catch (err) { return; }
  if (flagged !== "1" || !window.WebSocket) return;
  let socket = null;
  let beat = null;
  let backoff = 1000;
  let stopped = false;

  function toast() {
    if (document.getElementById("live-toast")) return;
    const box = document.createElement("div");
    box.id = "live-toast";
    box.className = "toast";
    box.setAttribute("role", "status");
    box.appendChild(document.createTextNode("A live conversation is offered to you. "));
    const link = document.createElement("a");
    link.href = "/console/live";
    link.textContent = "Open Live";
    link.style.color = "#fff";
    box.appendChild(link);
    document.body.appendChild(box);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/console/live/socket");
    socket.addEventListener("open", function () {
      backoff = 1000;
      socket.send(JSON.stringify({ type: "heartbeat" }));
    });
    socket.addEventListener("message", function (event) {
      let body;
      try { body = JSON.parse(event.data); } catch (err) { return; }
      if (body.type === "hello" && !beat) {
        beat = window.setInterval(function () {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "heartbeat" }));
        }, (body.heartbeat || 10) * 1000);
      }
      if ((body.type === "heartbeat" && body.live === false) || body.type === "signed-out") {
        // No longer live (went offline elsewhere, timed out, signed out): stop holding on.
        stopped = true;
        try { window.sessionStorage.removeItem("sbLive"); } catch (err) { /* private mode */ }
        socket.close();
      }
      if (body.type === "live_offer") toast();
    });
    socket.addEventListener("close", function () {
      if (beat) window.clearInterval(beat);
      beat = null;
      if (stopped) return;
      window.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }
  connect();
})();
