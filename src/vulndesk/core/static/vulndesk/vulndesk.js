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

  // Confirmation for irreversible actions: <form data-confirm="message">, with or without
  // hx-post. One attribute for both kinds, so a form asks the same question whether htmx is
  // loaded or not (htmx's own hx-confirm would ask nothing without htmx).
  //
  // A submission is answered here first, in the capture phase, before htmx's listener on the
  // form sees it. Cancelled: the event is stopped as well as prevented, because htmx does not
  // look at defaultPrevented and would still send its request. Accepted: the form is remembered
  // for this one dispatch, so htmx's "htmx:confirm" for the same submission does not ask again.
  var confirmedNow = null;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (!message) return;
    if (!window.confirm(message)) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    confirmedNow = form;
    setTimeout(function () { confirmedNow = null; }, 0);
  }, true);

  // Requests htmx starts from anything else (a button's own hx-post, a trigger other than
  // submit) ask here; issueRequest(true) then sends it without htmx asking again. Only the
  // element that makes the request counts: a live preview inside a confirmed form asks nothing.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    var message = elt && elt.getAttribute && elt.getAttribute("data-confirm");
    if (!message) return;
    if (elt === confirmedNow) {
      confirmedNow = null;
      return;
    }
    event.preventDefault();
    if (window.confirm(message)) event.detail.issueRequest(true);
  });

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
