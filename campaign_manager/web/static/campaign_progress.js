// Live progress on a campaign page: polls the campaign's progress JSON and updates the
// counts in place, without reloading. Stops once the campaign is finished and nothing is
// in flight. Works without it too: the page shows the counts as of loading.
(function () {
  "use strict";
  var root = document.getElementById("campaign-live");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-progress-url");
  var intervalMs = 3000;
  var timer = null;

  function setText(selector, value) {
    var nodes = root.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].textContent !== String(value)) {
        nodes[i].textContent = String(value);
      }
    }
  }

  function fill(kind, rows) {
    rows.forEach(function (row) {
      Object.keys(row.counts).forEach(function (status) {
        setText("[data-" + kind + "='" + row.id + "'][data-status='" + status + "']", row.counts[status]);
      });
      setText("[data-" + kind + "='" + row.id + "'][data-status='total']", row.total);
    });
  }

  function update(data) {
    fill("step", data.steps);
    fill("channel", data.channels);
    setText("[data-total='total']", data.totals.total);
    setText("[data-total='done']", data.totals.done);
    setText("[data-total='sent']", data.totals.counts.sent);
    setText("[data-total='in_flight']", data.in_flight);
    setText("[data-counted-at]", data.counted_at);
    var badge = document.querySelector("[data-campaign-status]");
    if (badge) {
      badge.textContent = data.status.replace("_", " ");
    }
    var notice = root.querySelector("[data-in-flight-text]");
    if (notice && data.status === "cancelled") {
      notice.textContent = data.in_flight > 0
        ? "Cancelled: " + data.in_flight + " in flight — these were already being handed to a provider; waiting for them to finish. Nothing else will be sent."
        : "Cancelled: nothing more will be sent.";
    }
    var finished = (data.status === "completed" || data.status === "cancelled") && data.in_flight === 0;
    root.setAttribute("data-terminal", finished ? "true" : "false");
    return finished;
  }

  function poll() {
    timer = null;
    if (document.hidden) {
      schedule();
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        root.setAttribute("data-updated", String(Date.now()));
        if (!update(data)) {
          schedule();
        }
      })
      .catch(function () {
        // A network blip or a restart: try again, a little later.
        schedule(intervalMs * 3);
      });
  }

  function schedule(delay) {
    if (timer === null) {
      timer = window.setTimeout(poll, delay || intervalMs);
    }
  }

  if (root.getAttribute("data-terminal") !== "true") {
    schedule();
  }
})();
