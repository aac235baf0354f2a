// The automation builder: add, remove, reorder and retype triggers and actions.
// Inputs carry their path relative to their node (data-rel); names are recomputed from the
// tree after every change, so the server always receives contiguous paths
// (trigger.triggers.0.within, actions.1.deployment_id). No user data is written as HTML.
(function () {
  "use strict";
  const form = document.getElementById("builder-form");
  if (!form) return;

  function ownerNode(el) { return el.parentElement ? el.parentElement.closest("[data-node]") : null; }

  function renumberNode(node, path) {
    node.dataset.path = path;
    node.querySelectorAll("[data-rel]").forEach(function (el) {
      if (el.closest("[data-node]") === node) el.name = path + "." + el.dataset.rel;
    });
    const children = Array.from(node.querySelectorAll('[data-node="trigger"]')).filter(function (c) {
      return ownerNode(c) === node;
    });
    children.forEach(function (child, i) {
      child.classList.remove("depth-0", "depth-1", "depth-2", "depth-3", "depth-4");
      child.classList.add("depth-" + Math.min(depthOf(child), 4));
      renumberNode(child, path + ".triggers." + i);
    });
  }

  function depthOf(node) {
    let depth = 0, cur = ownerNode(node);
    while (cur) { depth++; cur = ownerNode(cur); }
    return depth;
  }

  function renumber() {
    const root = document.querySelector('#trigger-root > [data-node="trigger"]');
    if (root) renumberNode(root, "trigger");
    document.querySelectorAll("[data-action-list]").forEach(function (list) {
      Array.from(list.children).forEach(function (row, i) { renumberNode(row, list.dataset.actionList + "." + i); });
    });
  }

  function fromTemplate(id) {
    const tpl = document.getElementById(id);
    return tpl ? tpl.content.firstElementChild.cloneNode(true) : null;
  }

  form.addEventListener("click", function (event) {
    const target = event.target.closest("button");
    if (!target || !form.contains(target)) return;
    if (target.hasAttribute("data-add-row")) {
      const multi = target.closest("[data-multi]");
      const rows = multi.querySelectorAll(":scope > .multi-row");
      const row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      row.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
      multi.insertBefore(row, target);
      const first = row.querySelector("input"); if (first) first.focus();
    } else if (target.hasAttribute("data-remove-row")) {
      const row = target.closest(".multi-row");
      const multi = row.parentElement;
      if (multi.querySelectorAll(":scope > .multi-row").length > 1) row.remove();
      else row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
    } else if (target.hasAttribute("data-add-trigger")) {
      const node = target.closest('[data-node="trigger"]');
      const kind = target.parentElement.querySelector("[data-add-kind]").value;
      const child = fromTemplate("tpl-trigger-" + kind);
      node.querySelector(":scope > [data-children]").appendChild(child);
      renumber();
    } else if (target.hasAttribute("data-remove-node")) {
      target.closest("[data-node]").remove();
      renumber();
    } else if (target.hasAttribute("data-move")) {
      const node = target.closest("[data-node]");
      if (target.dataset.move === "-1" && node.previousElementSibling) {
        node.parentElement.insertBefore(node, node.previousElementSibling);
      } else if (target.dataset.move === "1" && node.nextElementSibling) {
        node.parentElement.insertBefore(node.nextElementSibling, node);
      }
      renumber();
    }
  });

  // Choosing an action adds it at once: a choice left in a select would save nothing.
  function addAction(select) {
    const kind = select.value;
    if (!kind) return;
    const list = document.querySelector('[data-action-list="' + select.dataset.addAction + '"]');
    const row = fromTemplate("tpl-action-" + kind);
    list.appendChild(row);
    select.value = "";
    const confirmBox = document.getElementById("confirm-no-actions");
    if (confirmBox) confirmBox.hidden = true;  // it has an action now
    renumber();
    const first = row.querySelector("select, input:not([type=hidden]), textarea");
    if (first) first.focus();
  }

  form.addEventListener("change", function (event) {
    const select = event.target;
    if (select.hasAttribute("data-add-action")) { addAction(select); return; }
    if (!select.classList.contains("trigger-type")) return;
    const node = select.closest('[data-node="trigger"]');
    const replacement = fromTemplate("tpl-trigger-" + select.value);
    replacement.querySelector(".trigger-type").value = select.value;
    node.replaceWith(replacement);
    renumber();
  });

  form.addEventListener("submit", renumber);
  document.querySelectorAll("[data-dismiss-confirm]").forEach(function (a) {
    a.addEventListener("click", function () {
      const box = document.getElementById("confirm-no-actions");
      if (box) box.hidden = true;
      switchTo("form");
    });
  });

  // Tabs: Form / JSON, one state. Opening the JSON tab asks the server for Prefect's JSON of
  // the form as it stands; going back to the form after editing the JSON re-renders the form
  // from that JSON (a POST with load_json), so neither tab shows stale values.
  const jsonBox = form.querySelector('textarea[name="json"]');
  const jsonSave = form.querySelector('button[name="save_json"]');
  let jsonEdited = false;
  let current = null;
  if (jsonBox) jsonBox.addEventListener("input", function () { jsonEdited = true; });

  function refreshJson() {
    renumber();
    const body = new FormData(form);
    body.delete("json");
    if (jsonSave) jsonSave.disabled = true;
    jsonBox.setAttribute("aria-busy", "true");
    return fetch(form.dataset.jsonUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) { jsonBox.value = data.json; jsonEdited = false; })
      .catch(function () { /* the server's text of the last render stays */ })
      .finally(function () {
        jsonBox.removeAttribute("aria-busy");
        if (jsonSave) jsonSave.disabled = false;
      });
  }

  function switchTo(name) {
    if (name === current) return;
    if (name === "json" && current === "form" && jsonBox && form.dataset.jsonUrl) {
      refreshJson();
    } else if (name === "form" && current === "json" && jsonEdited) {
      const marker = document.createElement("input");
      marker.type = "hidden"; marker.name = "load_json"; marker.value = "1";
      form.appendChild(marker);
      renumber();
      form.submit();
      return;
    }
    showTab(name);
  }

  function showTab(name) {
    current = name;
    document.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.dataset.tabPanel !== name; });
    document.querySelectorAll("[data-tab-button]").forEach(function (b) {
      b.classList.toggle("active", b.dataset.tabButton === name);
      b.setAttribute("aria-selected", b.dataset.tabButton === name ? "true" : "false");
    });
  }
  document.querySelectorAll("[data-tab-button]").forEach(function (b) {
    b.addEventListener("click", function () { switchTo(b.dataset.tabButton); });
  });
  showTab(form.dataset.initialTab || "form");
  renumber();
})();
