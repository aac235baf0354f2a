// "Test against history": posts the builder form as it stands to the backtest view and shows
// the server-rendered answer (histogram with marks, list of firings) under the trigger.
(function () {
  const panel = document.getElementById("backtest");
  const form = document.getElementById("builder-form");
  if (!panel || !form) return;
  const result = panel.querySelector("[data-backtest-result]");
  panel.querySelector("[data-backtest]").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    result.innerHTML = '<p class="muted">Replaying stored events…</p>';
    try {
      const response = await fetch(panel.dataset.url, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      });
      result.innerHTML = await response.text();
    } catch (error) {
      result.textContent = "The backtest could not run: " + error;
    } finally {
      button.disabled = false;
    }
  });
})();
