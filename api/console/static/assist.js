// An assist's page: the Reply / Internal note tabs, the "AI draft" mark, and the rewrite
// buttons without a reload. Without this script every form still works as plain HTML.
"use strict";

(function () {
  const assist = document.getElementById("assist");
  if (!assist) return;
  const ref = assist.dataset.ref;

  // The latest of the conversation is what matters: start at the bottom.
  const conversation = document.getElementById("conversation");
  if (conversation) conversation.scrollTop = conversation.scrollHeight;

  // --- tabs: Reply | Internal note ---
  const tablist = assist.querySelector(".composer-tabs");
  const tabs = tablist ? Array.from(tablist.querySelectorAll('[role="tab"]')) : [];
  function select(tab, focus) {
    tabs.forEach(function (other) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", chosen ? "true" : "false");
      other.tabIndex = chosen ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !chosen;
    });
    if (focus) tab.focus();
  }
  if (tabs.length) {
    tablist.hidden = false;
    select(tabs[0], false);
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
          const step = event.key === "ArrowRight" ? 1 : tabs.length - 1;
          select(tabs[(index + step) % tabs.length], true);
          event.preventDefault();
        }
      });
    });
  }

  // --- the reply box opens with the AI's draft; the mark goes once the member types ---
  const reply = document.getElementById("reply");
  const form = document.getElementById("reply-form");
  function setMark(on) {
    let mark = document.getElementById("ai-draft");
    if (on && !mark && form) {
      mark = document.createElement("span");
      mark.id = "ai-draft";
      mark.className = "ai-mark";
      mark.textContent = "AI draft";
      const label = form.querySelector('label[for="reply"]');
      if (label) label.insertAdjacentElement("afterend", mark);
    }
    if (mark) mark.hidden = !on;
  }
  if (reply) {
    reply.addEventListener("input", function () { setMark(false); });
  }

  // --- Regenerate / Shorter / More formal / More casual ---
  // They rewrite the AI's draft, not what the member wrote: replacing the member's own words
  // needs their yes. A rewrite that changes nothing (a one-line draft made "shorter") says so.
  const refine = document.getElementById("refine-form");
  let aiText = reply && document.getElementById("ai-draft") ? reply.value : "";
  let said = null;
  function say(text) {
    if (!said) {
      said = document.createElement("p");
      said.className = "hint refine-said";
      said.setAttribute("role", "status");
      refine.appendChild(said);
    }
    said.textContent = text;
    said.hidden = !text;
  }
  if (refine && reply) {
    refine.addEventListener("submit", async function (event) {
      const button = event.submitter;
      if (!button || !button.dataset.mode) return;
      event.preventDefault();
      say("");
      const own = reply.value.trim() !== "" && reply.value !== aiText;
      if (own && !window.confirm("Replace what you wrote with the AI's draft, rewritten (" + button.textContent + ")?")) return;
      const buttons = refine.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      try {
        const response = await window.sbFetch("/console/assists/" + encodeURIComponent(ref) + "/refine", {
          method: "POST", json: { mode: button.dataset.mode },
        });
        if (!response.ok) throw new Error("status " + response.status);
        const body = await response.json();
        if (body.text === reply.value) say("The AI's draft stays as it was: " + button.textContent + " found nothing to change.");
        reply.value = body.text;
        aiText = body.text;
        setMark(true);
        const suggested = document.getElementById("suggested");
        if (suggested) suggested.textContent = body.text;
        reply.focus();
      } catch (error) {
        // Fall back to the plain form (it reloads with the new draft). submit() sends no
        // submitter, so the chosen mode goes along as a field.
        const mode = document.createElement("input");
        mode.type = "hidden";
        mode.name = "mode";
        mode.value = button.dataset.mode;
        refine.appendChild(mode);
        refine.submit();
      } finally {
        buttons.forEach(function (b) { b.disabled = false; });
      }
    });
  }
})();
