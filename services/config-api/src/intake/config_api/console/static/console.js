// Intake console: small enhancements only. Every page works without this file.
"use strict";

(function () {
  // Focus the error summary when a form comes back with errors, so keyboard and screen reader users land on it.
  function focusErrorSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  // The inbox form: provider presets fill and lock the server fields; OAuth2 fields only for OAuth2.
  function inboxForm() {
    var form = document.getElementById("inbox-form");
    if (!form) return;
    var provider = form.querySelector("#provider");
    var hostname = form.querySelector("#hostname");
    var port = form.querySelector("#port");
    var encryption = form.querySelectorAll("input[name=encryption]");
    var auth = form.querySelectorAll("input[name=auth]");
    var custom = { hostname: hostname.value, port: port.value, encryption: checkedValue(encryption) };

    function checkedValue(radios) {
      for (var i = 0; i < radios.length; i++) if (radios[i].checked) return radios[i].value;
      return null;
    }

    function applyPreset() {
      var option = provider.options[provider.selectedIndex];
      var preset = option.hasAttribute("data-hostname");
      if (preset) {
        hostname.value = option.getAttribute("data-hostname");
        port.value = option.getAttribute("data-port");
      }
      hostname.readOnly = preset;
      port.readOnly = preset;
      encryption.forEach(function (radio) {
        if (preset) radio.checked = radio.value === option.getAttribute("data-encryption");
        radio.disabled = preset && !radio.checked;
      });
      if (option.hasAttribute("data-oauth2-only")) {
        auth.forEach(function (radio) {
          radio.checked = radio.value === "oauth2";
          radio.disabled = radio.value !== "oauth2";
        });
      } else {
        auth.forEach(function (radio) { radio.disabled = false; });
      }
      form.querySelectorAll("[data-tenant-field]").forEach(function (element) {
        element.hidden = !option.hasAttribute("data-tenant");
      });
      showAuth();
    }

    function showAuth() {
      var method = checkedValue(auth) || "password";
      form.querySelectorAll("[data-auth]").forEach(function (element) {
        element.hidden = element.getAttribute("data-auth") !== method;
      });
    }

    provider.addEventListener("change", function () {
      if (!provider.options[provider.selectedIndex].hasAttribute("data-hostname")) {
        hostname.value = custom.hostname;
        port.value = custom.port || "993";
      }
      applyPreset();
    });
    hostname.addEventListener("input", function () { custom.hostname = hostname.value; });
    port.addEventListener("input", function () { custom.port = port.value; });
    auth.forEach(function (radio) { radio.addEventListener("change", showAuth); });
    applyPreset();

    // Test connection without leaving the page, so typed secrets stay in their fields.
    var button = form.querySelector("[data-test-connection]");
    var result = document.getElementById("test-result");
    if (button && result && window.fetch) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var data = new URLSearchParams(new FormData(form));
        data.set("action", "test");
        var token = form.querySelector("input[name=csrf_token]").value;
        button.disabled = true;
        button.setAttribute("aria-disabled", "true");
        var label = button.textContent;
        button.textContent = "Testing…";
        result.textContent = "Testing the connection…";
        // getAttribute: the buttons are named "action", so form.action is a button, not the URL.
        fetch(form.getAttribute("action"), {
          method: "POST",
          body: data,
          credentials: "same-origin",
          headers: { "X-CSRF-Token": token, "X-Intake-Fragment": "test-result" }
        }).then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (response.status === 422) {
            // Field errors: submit normally so they appear beside their fields with the summary.
            HTMLFormElement.prototype.submit.call(withAction(form, "test"));
            return null;
          }
          if (!response.ok || type.indexOf("text/html") !== 0) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        }).then(function (html) {
          if (html === null) return;
          clearStaleErrors(form);
          var doc = new DOMParser().parseFromString(html, "text/html");
          result.replaceChildren.apply(result, Array.prototype.slice.call(doc.body.childNodes));
        }).catch(function () {
          result.textContent = "The test could not be run: the console did not answer. Try again.";
        }).finally(function () {
          button.disabled = false;
          button.removeAttribute("aria-disabled");
          button.textContent = label;
        });
      });
    }
  }

  // The values passed validation (the test ran): errors shown from an earlier submission no longer apply.
  function clearStaleErrors(form) {
    var summary = document.getElementById("error-summary");
    if (summary) summary.remove();
    document.querySelectorAll("[data-stale-after-test]").forEach(function (element) { element.remove(); });
    form.querySelectorAll(".field-error").forEach(function (element) { element.remove(); });
    form.querySelectorAll(".has-error").forEach(function (element) { element.classList.remove("has-error"); });
    form.querySelectorAll("[aria-invalid]").forEach(function (element) {
      element.removeAttribute("aria-invalid");
      var described = (element.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && !/-error$/.test(id);
      });
      if (described.length) element.setAttribute("aria-describedby", described.join(" "));
      else element.removeAttribute("aria-describedby");
    });
  }

  function withAction(form, action) {
    var input = form.querySelector("input[type=hidden][name=action]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "action";
      form.appendChild(input);
    }
    input.value = action;
    return form;
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary();
    inboxForm();
  });
})();
