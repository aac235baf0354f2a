/* The event page: copy buttons (id, raw JSON) and live relative times. */
(function () {
  "use strict";
  function flash(button, text) {
    var old = button.textContent;
    button.textContent = text;
    setTimeout(function () { button.textContent = old; }, 1200);
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = button.dataset.copyTarget ? document.getElementById(button.dataset.copyTarget) : null;
      var value = target ? target.textContent : button.dataset.copy;
      if (!navigator.clipboard) { flash(button, "Copy unavailable"); return; }
      navigator.clipboard.writeText(value).then(
        function () { flash(button, "Copied"); },
        function () { flash(button, "Copy failed"); }
      );
    });
  });
})();
