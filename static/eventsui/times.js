/* Relative times, the one place they are written: every <time class="js-relative" datetime="...">
 * shows how long ago it was ("5 sec. ago", "3 min. ago") and is kept current.
 *
 * The server writes the exact time into the element (text and title), so a page reads well
 * without this script; the feed calls eventsuiTimes.refresh(node) on the rows it inserts.
 */
(function () {
  "use strict";

  var format = new Intl.RelativeTimeFormat("en", { numeric: "always", style: "short" });
  // Show seconds up to 45 s, minutes up to 45 min, hours up to 36 h, then days.
  var UNITS = [[45, 1, "second"], [45 * 60, 60, "minute"], [36 * 3600, 3600, "hour"], [Infinity, 86400, "day"]];

  function relative(iso) {
    var seconds = (Date.parse(iso) - Date.now()) / 1000;  // negative: in the past
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) < UNITS[i][0]) {
        var n = Math.round(seconds / UNITS[i][1]);
        return format.format(n || -0, UNITS[i][2]);  // -0: "0 sec. ago", not "in 0 sec."
      }
    }
  }

  function refresh(root) {
    var nodes = (root || document).querySelectorAll("time.js-relative[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var text = relative(nodes[i].getAttribute("datetime"));
      if (text && nodes[i].textContent !== text) nodes[i].textContent = text;
    }
  }

  window.eventsuiTimes = { refresh: refresh };
  refresh();
  setInterval(refresh, 15000);
})();
