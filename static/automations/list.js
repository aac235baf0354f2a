// The enable switches toggle in place (the forms still work without JavaScript).
(function () {
  "use strict";
  document.querySelectorAll(".toggle-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = form.querySelector(".switch-btn");
      const field = form.querySelector('[name="enabled"]');
      fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          button.classList.toggle("on", data.enabled);
          button.setAttribute("aria-checked", data.enabled ? "true" : "false");
          field.value = data.enabled ? "false" : "true";
        })
        .catch(function () { form.submit(); });
    });
  });
})();
