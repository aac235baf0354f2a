// The automation page's engine panel: reloaded every few seconds while the page is visible,
// so new firings and their actions' status appear without a reload. The server renders the panel (one template).
(function () {
  const panel = document.getElementById("engine-panel");
  if (!panel) return;
  const url = panel.dataset.url;
  const every = Number(panel.dataset.every || 2000);
  let last = "";
  async function refresh() {
    if (document.visibilityState !== "visible") return;
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok) return;
      const html = await response.text();
      if (html !== last) {
        last = html;
        // Keep open what the person opened (an action's request and response).
        const open = new Set(
          Array.from(panel.querySelectorAll("details[data-key][open]"), (d) => d.dataset.key)
        );
        panel.innerHTML = html;
        panel.querySelectorAll("details[data-key]").forEach((d) => {
          if (open.has(d.dataset.key)) d.open = true;
        });
      }
    } catch (error) {
      // The server may be restarting: try again on the next tick.
    }
  }
  refresh();
  setInterval(refresh, every);
})();
