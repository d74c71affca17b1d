// Switchboard console: progressive enhancement only; every page works as plain HTML forms.
"use strict";

(function () {
  const csrf = document.body.dataset.csrf || "";

  // fetch() with this session's CSRF token; JSON in and out.
  window.sbFetch = async function (url, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    opts.headers = Object.assign({ "X-CSRF-Token": csrf, "Accept": "application/json" }, opts.headers);
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    return fetch(url, opts);
  };

  // Ctrl/Cmd+Shift+O opens the operator panel from anywhere.
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.shiftKey && (event.key === "O" || event.key === "o")) {
      event.preventDefault();
      window.location.href = "/console/operator";
    }
  });
})();
