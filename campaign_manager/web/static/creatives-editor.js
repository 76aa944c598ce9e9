// Creative editors: refresh the preview frame as the editor types, and switch its width.
// Without JavaScript the "Update preview" button does the same on click.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-preview]");
  var frame = document.getElementById("preview-frame");
  if (!form || !frame) { return; }
  var button = form.querySelector("[data-preview-button]");
  var modeInput = form.querySelector("[data-preview-mode]");
  var timer = null;

  function refresh() {
    if (!button) { return; }
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { form.requestSubmit(button); }, 400);
  }

  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);

  document.querySelectorAll("[data-preview-width]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      frame.classList.toggle("preview-phone", radio.checked && radio.value === "phone");
    });
  });
  document.querySelectorAll("[data-preview-mode-choice]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked && modeInput) {
        modeInput.value = radio.value;
        refresh();
      }
    });
  });
})();
