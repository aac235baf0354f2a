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
    } else if (target.hasAttribute("data-add-action")) {
      const kind = target.parentElement.querySelector("[data-add-kind]").value;
      const list = document.querySelector('[data-action-list="' + target.dataset.addAction + '"]');
      list.appendChild(fromTemplate("tpl-action-" + kind));
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

  form.addEventListener("change", function (event) {
    const select = event.target;
    if (!select.classList.contains("trigger-type")) return;
    const node = select.closest('[data-node="trigger"]');
    const replacement = fromTemplate("tpl-trigger-" + select.value);
    replacement.querySelector(".trigger-type").value = select.value;
    node.replaceWith(replacement);
    renumber();
  });

  form.addEventListener("submit", renumber);

  // Tabs: Form / JSON.
  function showTab(name) {
    document.querySelectorAll("[data-tab-panel]").forEach(function (p) { p.hidden = p.dataset.tabPanel !== name; });
    document.querySelectorAll("[data-tab-button]").forEach(function (b) {
      b.classList.toggle("active", b.dataset.tabButton === name);
      b.setAttribute("aria-selected", b.dataset.tabButton === name ? "true" : "false");
    });
  }
  document.querySelectorAll("[data-tab-button]").forEach(function (b) {
    b.addEventListener("click", function () { showTab(b.dataset.tabButton); });
  });
  showTab(form.dataset.initialTab || "form");
  renumber();
})();
