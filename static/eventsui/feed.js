/* The event feed: live rows over a websocket, gap fill by cursor, older pages, histogram.
 *
 * Every row is HTML rendered on the server from one template (templates/eventsui/_rows.html,
 * autoescaped by Django): the page's first rows, the rows of /events/rows ("older", gap fill)
 * and the live rows of /ws/feed/. This script only places those <li> elements, newest first
 * and each event once; it never builds a row. Relative times are static/eventsui/times.js.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("feed-config");
  if (!configNode) return;
  var config = JSON.parse(configNode.textContent);
  var list = document.getElementById("feed-list");
  var query = config.query || "";
  var times = window.eventsuiTimes;
  var MAX_ROWS = 1000;       // rows kept in the page; older ones are trimmed (and reloadable)
  var MAX_PENDING = 1000;    // rows held while paused before we fall back to a refill

  // -- helpers ---------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function url(base, extra) {
    var params = new URLSearchParams(query);
    Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
    var qs = params.toString();
    return base + (qs ? "?" + qs : "");
  }

  function fetchJSON(target) {
    return fetch(target, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          // The server's own message when it sends one (a query stopped at its time bound).
          return response.json().then(
            function (body) {
              throw new Error((body && body.errors && body.errors.join(" ")) || "HTTP " + response.status);
            },
            function () { throw new Error("HTTP " + response.status); }
          );
        }
        return response.json();
      });
  }

  // Keep shared URLs short: empty filter fields are not submitted.
  var form = document.getElementById("filter-form");
  if (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (input) {
        if (input.name && !input.value) input.disabled = true;
      });
    });
    window.addEventListener("pageshow", function () {
      Array.prototype.forEach.call(form.elements, function (input) { input.disabled = false; });
    });
  }

  if (!list) return;  // an error page: nothing else to do

  // -- rows ------------------------------------------------------------------------------

  var shown = new Set();
  var newest = null;  // {t, id, cursor} of the newest row shown

  function key(li) { return { t: Date.parse(li.dataset.occurred), id: li.dataset.id, cursor: li.dataset.cursor }; }
  function isNewer(a, b) { return a.t > b.t || (a.t === b.t && a.id > b.id); }

  function note(li) {
    shown.add(li.dataset.id);
    var k = key(li);
    if (!newest || isNewer(k, newest)) newest = k;
  }
  Array.prototype.forEach.call(list.children, note);

  /* Server-rendered rows as <li> elements, not yet in the page (a <template> runs nothing). */
  function parseRows(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return Array.prototype.slice.call(template.content.children);
  }

  /* A live row is rendered once for every page it goes to, so its "only this resource" links
   * carry only their own filter: add this page's (as the server does for the rows it pages). */
  function withPageFilter(rows) {
    if (query) {
      rows.forEach(function (li) {
        li.querySelectorAll('a[href^="?"]').forEach(function (a) {
          a.setAttribute("href", "?" + query + "&" + a.getAttribute("href").slice(1));
        });
      });
    }
    return rows;
  }

  function hideEmpty() {
    var empty = document.getElementById("empty-state");
    if (empty) empty.hidden = true;
    list.classList.remove("is-empty");
  }

  /* Insert rows at their place in newest-first order (almost always the top). */
  function insertRows(rows, fresh) {
    var added = 0;
    rows.forEach(function (li) {
      if (shown.has(li.dataset.id)) return;
      if (fresh) li.classList.add("fresh");
      var k = key(li);
      var before = list.firstElementChild;
      while (before && !isNewer(k, key(before))) before = before.nextElementSibling;
      list.insertBefore(li, before);
      times.refresh(li);
      note(li);
      bumpHistogram(li.dataset.occurred);
      added++;
    });
    if (added) hideEmpty();
    trim();
    return added;
  }

  function appendOlder(rows) {
    rows.forEach(function (li) {
      if (shown.has(li.dataset.id)) return;
      list.appendChild(li);
      times.refresh(li);
      note(li);
    });
    if (rows.length) hideEmpty();
  }

  function trim() {
    var removed = false;
    while (list.children.length > MAX_ROWS) {
      var last = list.lastElementChild;
      shown.delete(last.dataset.id);
      list.removeChild(last);
      removed = true;
    }
    if (removed) setOlder(true);
  }

  // -- older events (infinite scroll) ----------------------------------------------------
  // The server renders the "Older events" link (to the next page, for a visit without this
  // script); here it loads that page's rows into this one instead.

  var olderLink = document.getElementById("older-link");
  var olderEnd = document.getElementById("older-end");
  var olderStatus = document.getElementById("older-status");
  var loadingOlder = false;

  function setOlder(more) {
    var last = list.lastElementChild;
    if (more && last) olderLink.href = url("", { before: last.dataset.cursor });
    olderLink.hidden = !(more && last);
    olderEnd.hidden = more || !last;
  }

  function setOlderStatus(text, isError) {
    olderStatus.textContent = text || "";
    olderStatus.className = isError ? "small form-error" : "small muted";
    olderStatus.hidden = !text;
  }

  function loadOlder() {
    var last = list.lastElementChild;
    if (loadingOlder || olderLink.hidden || !last) return;
    loadingOlder = true;
    olderLink.hidden = true;
    setOlderStatus("Loading older events…");
    fetchJSON(url(config.rows_url, { before: last.dataset.cursor }))
      .then(function (data) {
        appendOlder(parseRows(data.html));
        setOlderStatus(null);
        setOlder(!!data.next);
      }, function () {
        setOlderStatus("Could not load older events.", true);
        olderLink.hidden = false;  // a click tries again
      })
      .then(function () { loadingOlder = false; });
  }

  if (olderLink) {
    olderLink.addEventListener("click", function (event) {
      event.preventDefault();
      loadOlder();
    });
    // The link is hidden while a page loads: shown again and still in view, it loads the next.
    if ("IntersectionObserver" in window) {
      new IntersectionObserver(function (entries) {
        if (entries[0].isIntersecting) loadOlder();
      }, { rootMargin: "400px" }).observe(olderLink);
    }
  }

  // -- banner ----------------------------------------------------------------------------

  var banner = document.getElementById("feed-banner");
  function showBanner(text, withReload) {
    if (!banner) return;
    banner.textContent = "";
    banner.appendChild(el("span", null, text));
    if (withReload) {
      var a = el("a", null, " Reload");
      a.href = location.href;
      banner.appendChild(a);
    }
    banner.hidden = false;
  }

  // -- live ------------------------------------------------------------------------------

  var statusNode = document.getElementById("live-status");
  var toggle = document.getElementById("live-toggle");
  var pendingButton = document.getElementById("live-pending");
  var paused = false;
  var pending = [];
  var pendingOverflow = false;
  var filling = false;
  var heldDuringFill = [];
  var socket = null;
  var retryDelay = 1000;

  function setStatus(state, text) {
    if (!statusNode) return;
    statusNode.className = "live-status " + state;
    statusNode.querySelector(".text").textContent = text;
  }

  function updatePending() {
    if (!pendingButton) return;
    var n = pending.length;
    pendingButton.hidden = !paused || (n === 0 && !pendingOverflow);
    pendingButton.textContent = (pendingOverflow ? MAX_PENDING + "+" : n) + " new event" + (n === 1 && !pendingOverflow ? "" : "s") + " waiting";
  }

  function receiveRows(rows) {
    if (filling) { Array.prototype.push.apply(heldDuringFill, rows); return; }
    if (paused) {
      rows.forEach(function (row) {
        if (pending.length < MAX_PENDING) pending.push(row);
        else pendingOverflow = true;
      });
      updatePending();
      return;
    }
    insertRows(rows, true);
  }

  /* Fetch what the page missed: events after the newest row shown, through the same filter. */
  function fillGap() {
    if (filling) return;
    filling = true;
    var done = function () {
      filling = false;
      var held = heldDuringFill;
      heldDuringFill = [];
      receiveRows(held);
    };
    var request = newest
      ? fetchJSON(url(config.rows_url, { after: newest.cursor })).then(function (data) {
          var rows = parseRows(data.html);
          if (paused) { Array.prototype.push.apply(heldDuringFill, rows); }
          else insertRows(rows, true);
          if (data.next) {
            // Too many to replay in order: show the newest and say that some are skipped.
            return fetchJSON(url(config.rows_url, {})).then(function (latest) {
              insertRows(parseRows(latest.html), true);
              showBanner("Many events arrived while this page was disconnected; some are not shown.", true);
            });
          }
        })
      : fetchJSON(url(config.rows_url, {})).then(function (data) { insertRows(parseRows(data.html), true); });
    request.then(done, function () {
      done();
      showBanner("Could not fetch the events missed while disconnected.", true);
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + config.socket_path);
    setStatus("connecting", "Connecting…");
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "filter", query: query }));
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type === "subscribed") {
        retryDelay = 1000;
        setStatus(paused ? "paused" : "live", paused ? "Paused" : "Live");
        fillGap();  // whatever arrived between rendering (or the last connection) and now
      } else if (data.type === "events") {
        receiveRows(withPageFilter(parseRows(data.rows.join(""))));
      } else if (data.type === "gap") {
        fillGap();
      } else if (data.type === "error") {
        setStatus("error", "Live updates unavailable");
        showBanner((data.messages || []).join(" "), false);
      }
    };
    socket.onclose = function () {
      socket = null;
      var seconds = Math.round(retryDelay / 1000);
      setStatus("reconnecting", "Reconnecting in " + seconds + " s…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };
  }

  function setPaused(value) {
    paused = value;
    if (toggle) {
      toggle.textContent = paused ? "Resume" : "Pause";
      toggle.setAttribute("aria-pressed", paused ? "true" : "false");
      toggle.classList.toggle("on", paused);
    }
    if (socket && socket.readyState === WebSocket.OPEN) setStatus(paused ? "paused" : "live", paused ? "Paused" : "Live");
    if (!paused) {
      var rows = pending;
      var overflow = pendingOverflow;
      pending = [];
      pendingOverflow = false;
      insertRows(rows, true);
      if (overflow) fillGap();
    }
    updatePending();
  }

  // A handle for the browser console and the browser tests: drop the socket to see a reconnect.
  window.eventsuiFeed = { disconnect: function () { if (socket) socket.close(); } };

  if (config.live) {
    if (toggle) toggle.addEventListener("click", function () { setPaused(!paused); });
    if (pendingButton) pendingButton.addEventListener("click", function () { setPaused(false); });
    connect();
  }

  // -- histogram -------------------------------------------------------------------------

  var histogramBody = document.getElementById("histogram-body");
  var caption = document.getElementById("histogram-caption");
  var histogram = null;  // {buckets, bars, max}
  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  // Axis labels as precise as the bucket size needs (seconds below a minute, the date once
  // the range passes a day), so that labels after zooming in never all read the same.
  function shortTime(iso, span, bucketMs) {
    var d = new Date(iso);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    if (bucketMs < 60 * 1000 || span <= 3 * 60 * 1000) hm += ":" + pad(d.getUTCSeconds());
    if (span <= 36 * 3600 * 1000) return hm;
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + (span <= 8 * 86400 * 1000 ? " " + hm : "");
  }

  function plural(n, word) { return n.toLocaleString() + " " + word + (n === 1 ? "" : "s"); }

  function drawHistogram(data) {
    var buckets = data.buckets;
    histogramBody.textContent = "";
    var total = buckets.reduce(function (s, b) { return s + b.count; }, 0);
    var unitText = (data.interval === 1 ? "" : data.interval + " ") + data.unit + (data.interval === 1 ? "" : "s");
    function writeCaption() {
      caption.textContent = total.toLocaleString() + " event" + (total === 1 ? "" : "s") + " · per " + unitText + " (UTC)";
    }
    writeCaption();
    var width = 1000, height = 90, gap = buckets.length > 80 ? 1 : 2;
    var max = Math.max.apply(null, buckets.map(function (b) { return b.count; }).concat([1]));
    var wrap = el("div", "histogram-plot");
    // The y-axis: the tallest bar's count and half of it, beside the bars.
    var yaxis = el("div", "y-axis");
    [max, max >= 4 ? Math.round(max / 2) : null, 0].forEach(function (v) {
      yaxis.appendChild(el("span", null, v === null ? "" : v.toLocaleString()));
    });
    yaxis.setAttribute("aria-hidden", "true");
    wrap.appendChild(yaxis);
    var root = svg("svg", { viewBox: "0 0 " + width + " " + (height + 18), preserveAspectRatio: "none", class: "bars", role: "img" });
    root.setAttribute("aria-label", "Event counts over time, up to " + plural(max, "event") + " a bar");
    var bw = width / Math.max(buckets.length, 1);
    var selection = svg("rect", { class: "selection", x: 0, y: 0, width: 0, height: height });
    var bars = buckets.map(function (b, i) {
      var h = b.count ? Math.max(2, (b.count / max) * (height - 4)) : 0;
      var rect = svg("rect", { x: i * bw + gap / 2, y: height - h, width: Math.max(bw - gap, 0.5), height: h, class: "bar" });
      var hit = svg("rect", { x: i * bw, y: 0, width: bw, height: height, class: "hit" });
      var tip = svg("title");
      tip.textContent = plural(b.count, "event") + " · " + b.start.replace("T", " ").slice(0, 19) + " to " + b.end.replace("T", " ").slice(11, 19) + " UTC";
      hit.appendChild(tip);
      hit.dataset.index = i;
      root.appendChild(rect);
      root.appendChild(hit);
      return rect;
    });
    root.appendChild(selection);
    var span = Date.parse(data.until) - Date.parse(data.since);
    var bucketMs = buckets.length ? Date.parse(buckets[0].end) - Date.parse(buckets[0].start) : span;
    var ticks = [0, Math.floor(buckets.length / 4), Math.floor(buckets.length / 2), Math.floor(3 * buckets.length / 4), buckets.length - 1];
    ticks.forEach(function (i, n) {
      if (!buckets[i] || (n > 0 && i === ticks[n - 1])) return;
      var anchor = n === 0 ? "start" : n === ticks.length - 1 ? "end" : "middle";
      var x = n === 0 ? 2 : n === ticks.length - 1 ? width - 2 : i * bw + bw / 2;
      var label = svg("text", { x: x, y: height + 14, class: "axis", "text-anchor": anchor });
      label.textContent = shortTime(n === ticks.length - 1 ? buckets[i].end : buckets[i].start, span, bucketMs);
      root.appendChild(label);
    });
    wrap.appendChild(root);
    histogramBody.appendChild(wrap);
    histogram = {
      buckets: buckets, bars: bars, max: max, height: height,
      count: function () { total++; writeCaption(); }
    };

    // Drag across bars to narrow the time range; a click (less than 6 px of movement) does
    // nothing, so that the range never changes by accident.
    var start = null, startX = 0;
    function indexOf(event) {
      var box = root.getBoundingClientRect();
      var i = Math.floor(((event.clientX - box.left) / box.width) * buckets.length);
      return Math.max(0, Math.min(buckets.length - 1, i));
    }
    function paint(a, b) {
      var lo = Math.min(a, b), hi = Math.max(a, b);
      selection.setAttribute("x", lo * bw);
      selection.setAttribute("width", (hi - lo + 1) * bw);
    }
    root.addEventListener("mousedown", function (event) {
      start = indexOf(event);
      startX = event.clientX;
      event.preventDefault();
    });
    root.addEventListener("mousemove", function (event) {
      if (start !== null && Math.abs(event.clientX - startX) >= 6) paint(start, indexOf(event));
    });
    window.addEventListener("mouseup", function (event) {
      if (start === null) return;
      var end = indexOf(event);
      var lo = Math.min(start, end), hi = Math.max(start, end);
      var dragged = Math.abs(event.clientX - startX) >= 6;
      start = null;
      if (!dragged) { selection.setAttribute("width", 0); return; }
      var params = new URLSearchParams(query);
      params.delete("range");
      params.set("since", buckets[lo].start.slice(0, 19));
      params.set("until", buckets[hi].end.slice(0, 19));
      location.search = params.toString();
    });
  }

  function bumpHistogram(iso) {
    if (!histogram) return;
    var t = Date.parse(iso);
    var buckets = histogram.buckets;
    for (var i = buckets.length - 1; i >= 0; i--) {
      if (t >= Date.parse(buckets[i].start) && t <= Date.parse(buckets[i].end) + 1) {
        buckets[i].count++;
        histogram.count();
        var h = Math.max(2, (Math.min(buckets[i].count, histogram.max) / histogram.max) * (histogram.height - 4));
        histogram.bars[i].setAttribute("y", histogram.height - h);
        histogram.bars[i].setAttribute("height", h);
        return;
      }
    }
  }

  if (histogramBody) {
    fetchJSON(url(config.histogram_url, {}))
      .then(drawHistogram)
      .catch(function (error) {
        histogramBody.textContent = "";
        caption.textContent = "";
        var said = error && error.message && error.message.indexOf("HTTP ") !== 0 ? error.message + " " : "";
        var msg = el("div", "histogram-error", "Could not load event counts. " + said);
        var retry = el("a", null, "Reload the page");
        retry.href = location.href;
        msg.appendChild(retry);
        histogramBody.appendChild(msg);
      });
  }
})();
