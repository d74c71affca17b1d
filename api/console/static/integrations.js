// Integrations page: a help desk's import that is queued or running has its status and counts
// refreshed every two seconds from /console/integrations/imports/{id} (no reload), until it
// is done or failed. Values are set with textContent only.
"use strict";

(function () {
  const FIELDS = ["status", "imported", "skipped", "started_at", "finished_at", "error"];
  const EMPTY = { started_at: "not yet", finished_at: "not yet", error: "none" };

  function show(box, run) {
    FIELDS.forEach(function (name) {
      const cell = box.querySelector('[data-field="' + name + '"]');
      if (!cell) return;
      const value = run[name];
      cell.textContent = value === null || value === undefined || value === "" ? (EMPTY[name] || "") : String(value);
      if (name === "status") cell.className = "import-status " + String(value);
    });
    box.dataset.going = run.going ? "yes" : "no";
  }

  function follow(box) {
    const id = box.dataset.importId;
    const timer = window.setInterval(async function () {
      let answer;
      try {
        answer = await window.sbFetch("/console/integrations/imports/" + encodeURIComponent(id));
      } catch (err) {
        return; // offline for a moment: the next tick tries again
      }
      if (!answer.ok) {
        window.clearInterval(timer);
        return;
      }
      const run = await answer.json();
      show(box, run);
      if (!run.going) window.clearInterval(timer);
    }, 2000);
  }

  document.querySelectorAll(".last-import[data-going='yes']").forEach(follow);
})();
