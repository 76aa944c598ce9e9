// Import progress: polls the job's progress every second while it is queued or running.
(function () {
  "use strict";

  var box = document.getElementById("import-progress");
  if (!box) return;
  var url = box.dataset.progressUrl;
  var active = { queued: true, running: true };

  function show(name, text) {
    var node = box.querySelector('[data-field="' + name + '"]');
    if (node) node.textContent = text;
  }

  function update(p) {
    show("status", p.status);
    show("rows_done", p.rows_done.toLocaleString("en-US"));
    show("imported", p.imported.toLocaleString("en-US"));
    show("updated", p.updated.toLocaleString("en-US"));
    show("rejected", p.rejected.toLocaleString("en-US"));
    show("rate", p.rate === null ? "—" : p.rate.toLocaleString("en-US"));
    show("seconds_left", p.seconds_left === null ? "—" : p.seconds_left + " s");
    show("error", p.error || "");
    var bar = box.querySelector('[data-field="percent-bar"]');
    if (bar) { bar.value = p.percent; bar.textContent = p.percent + "%"; }
    box.dataset.status = p.status;
  }

  function poll() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        update(p);
        if (active[p.status]) setTimeout(poll, 1000);
        else if (p.status === "done" || p.status === "failed") window.location.reload();
      })
      .catch(function () { setTimeout(poll, 5000); });
  }

  if (active[box.dataset.status]) setTimeout(poll, 500);
})();
