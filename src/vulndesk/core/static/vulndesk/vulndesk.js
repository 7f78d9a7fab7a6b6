// vulndesk's only script of its own. Driven by data- attributes; no inline script anywhere
// (strict CSP). htmx does the rest.
(function () {
  "use strict";

  // Copy buttons: <button data-copy-target="id">
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.value || source.textContent).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Confirmation for irreversible actions: <form data-confirm="message">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // Action panels: show the extra fields a chosen state needs.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-transition-select]");
    if (!select) return;
    var form = select.form;
    form.querySelectorAll("[data-for-state]").forEach(function (el) {
      var states = el.getAttribute("data-for-state").split(" ");
      el.hidden = states.indexOf(select.value) === -1;
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-transition-select]").forEach(function (select) {
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
})();
