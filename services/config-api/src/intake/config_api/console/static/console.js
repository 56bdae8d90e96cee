// Intake console: small enhancements only. Every page works without this file.
"use strict";

(function () {
  // Focus the error summary when a form comes back with errors, so keyboard and screen reader users land on it.
  function focusErrorSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  // A button with data-confirm asks before submitting its form.
  function confirmButtons() {
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary();
    confirmButtons();
    if (window.IntakeInboxForm) window.IntakeInboxForm();
  });
})();
