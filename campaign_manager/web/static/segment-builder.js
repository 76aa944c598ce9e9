// Segment builder: edits the rule tree held in the form's JSON textarea, and shows the live
// member count and first members from the preview endpoint as the marketer edits.
// Without JavaScript the textarea itself is the editor, so the form always works.
(function () {
  "use strict";

  var builder = document.getElementById("segment-builder");
  var source = document.getElementById("rules");
  if (!builder || !source) return;

  var schema = JSON.parse(builder.dataset.schema);
  var previewUrl = builder.dataset.previewUrl;
  var ownSlug = builder.dataset.slug || null;
  var csrfInput = source.form.querySelector("input[name=csrf_token]");
  var fieldsByName = {};
  schema.fields.forEach(function (f) { fieldsByName[f.name] = f; });

  var root;
  try {
    root = toGroup(JSON.parse(source.value));
  } catch (e) {
    return; // leave the JSON editor visible: the server explains what is wrong on save
  }
  document.getElementById("rules-source").hidden = true;
  builder.hidden = false;
  document.getElementById("segment-preview").hidden = false;

  // --- model: groups are {kind: "group", mode: "all"|"any"|"none", children: [...]} --------

  function toGroup(rule) {
    if (rule.type === "all" || rule.type === "any") {
      return { kind: "group", mode: rule.type, children: rule.rules.map(toNode) };
    }
    if (rule.type === "not") {
      var inner = rule.rule;
      var children = inner.type === "any" ? inner.rules.map(toNode) : [toNode(inner)];
      return { kind: "group", mode: "none", children: children };
    }
    return { kind: "group", mode: "all", children: [toNode(rule)] };
  }

  function toNode(rule) {
    if (rule.type === "all" || rule.type === "any" || rule.type === "not") return toGroup(rule);
    return { kind: "condition", rule: rule };
  }

  function serialize(node, path) {
    node.path = path;
    if (node.kind === "condition") return node.rule;
    if (node.mode === "none") {
      return { type: "not", rule: { type: "any", rules: node.children.map(function (c, i) {
        return serialize(c, path + "/rule/rules/" + i);
      }) } };
    }
    return { type: node.mode, rules: node.children.map(function (c, i) {
      return serialize(c, path + "/rules/" + i);
    }) };
  }

  function newCondition() {
    return { kind: "condition", rule: { type: "field", field: "role", op: "equals", value: "student" } };
  }

  // --- rendering ---------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(label, options, value, onChange) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(label, type, value, onChange) {
    var i = el("input", { type: type, "aria-label": label });
    i.value = value === undefined || value === null ? "" : value;
    i.addEventListener("input", function () { onChange(i.value); });
    return i;
  }

  var SUBJECTS = schema.fields.map(function (f) { return ["field:" + f.name, f.label]; }).concat([
    ["age_band", "Age"], ["consent", "Consent"], ["tag", "Tag"],
    ["attribute", "Custom attribute"], ["segment", "Member of segment"]
  ]);

  function subjectOf(rule) { return rule.type === "field" ? "field:" + rule.field : rule.type; }

  function defaultRule(subject) {
    if (subject.indexOf("field:") === 0) {
      var f = fieldsByName[subject.slice(6)];
      return { type: "field", field: f.name, op: f.operators[0],
               value: f.kind === "choice" ? f.choices[0] : "" };
    }
    if (subject === "age_band") return { type: "age_band", bands: ["13_to_17"] };
    if (subject === "consent") return { type: "consent", channel: "email", status: "granted" };
    if (subject === "tag") return { type: "tag", tag: schema.tags[0] || "" };
    if (subject === "attribute") return { type: "attribute", name: "", op: "equals", value: "" };
    var other = schema.segments.filter(function (s) { return s.slug !== ownSlug; })[0];
    return { type: "segment", slug: other ? other.slug : "" };
  }

  function valueEditor(kind, choices, op, value, set) {
    if (op === "is_empty") return null;
    if (op === "in") {
      if (kind === "choice") {
        var box = el("span", { className: "choices", role: "group", "aria-label": "Values" });
        var chosen = Array.isArray(value) ? value : [];
        choices.forEach(function (c) {
          var cb = el("input", { type: "checkbox", "aria-label": c });
          cb.checked = chosen.indexOf(c) >= 0;
          cb.addEventListener("change", function () {
            set(choices.filter(function (x, i) { return box.querySelectorAll("input")[i].checked; }));
          });
          box.appendChild(el("label", { className: "choice-inline" }, [cb, document.createTextNode(" " + c)]));
        });
        return box;
      }
      return input("Values, separated by commas", "text",
        Array.isArray(value) ? value.join(", ") : value, function (v) {
          set(v.split(",").map(function (x) { return x.trim(); }).filter(Boolean).map(function (x) {
            return kind === "number" && /^-?\d+$/.test(x) ? parseInt(x, 10) : x;
          }));
        });
    }
    if (kind === "choice") {
      return select("Value", choices.map(function (c) { return [c, c]; }), value, set);
    }
    if (kind === "number") {
      return input("Value", "number", value, function (v) {
        set(/^-?\d+$/.test(v) ? parseInt(v, 10) : v);
      });
    }
    if (kind === "date" || kind === "timestamp") return input("Date", "date", value, set);
    return input("Value", "text", value, set);
  }

  function opOptions(ops) {
    return ops.map(function (o) { return [o, schema.operator_labels[o] || o]; });
  }

  function renderCondition(node, parent) {
    var rule = node.rule;
    var row = el("li", { className: "condition" });
    node.element = row;
    var parts = [select("Condition", SUBJECTS, subjectOf(rule), function (v) {
      node.rule = defaultRule(v); changed(true);
    })];
    function set(key) { return function (v) { rule[key] = v; changed(false); }; }

    if (rule.type === "field") {
      var f = fieldsByName[rule.field] || schema.fields[0];
      parts.push(select("Operator", opOptions(f.operators), rule.op, function (v) {
        rule.op = v;
        if (v === "in") rule.value = []; else if (v === "is_empty") delete rule.value;
        else if (Array.isArray(rule.value) || rule.value === undefined) rule.value = f.kind === "choice" ? f.choices[0] : "";
        changed(true);
      }));
      parts.push(valueEditor(f.kind, f.choices, rule.op, rule.value, set("value")));
    } else if (rule.type === "age_band") {
      var bands = el("span", { className: "choices", role: "group", "aria-label": "Age bands" });
      schema.age_bands.forEach(function (b) {
        var cb = el("input", { type: "checkbox", value: b.value, "aria-label": b.label });
        cb.checked = rule.bands.indexOf(b.value) >= 0;
        cb.addEventListener("change", function () {
          rule.bands = Array.prototype.filter.call(bands.querySelectorAll("input"), function (x) {
            return x.checked;
          }).map(function (x) { return x.value; });
          changed(false);
        });
        bands.appendChild(el("label", { className: "choice-inline" }, [cb, document.createTextNode(" " + b.label)]));
      });
      parts.push(bands);
    } else if (rule.type === "consent") {
      parts.push(select("Channel", schema.consent_channels.map(function (c) { return [c, c]; }), rule.channel, set("channel")));
      parts.push(select("Status", schema.consent_statuses.map(function (c) { return [c, c]; }), rule.status, set("status")));
    } else if (rule.type === "tag") {
      var tag = input("Tag", "text", rule.tag, set("tag"));
      tag.setAttribute("list", "segment-builder-tags");
      parts.push(tag);
    } else if (rule.type === "attribute") {
      parts.push(input("Attribute name", "text", rule.name, set("name")));
      parts.push(select("Operator", opOptions(schema.text_operators), rule.op, function (v) {
        rule.op = v;
        if (v === "in") rule.value = []; else if (v === "is_empty") delete rule.value;
        else if (Array.isArray(rule.value) || rule.value === undefined) rule.value = "";
        changed(true);
      }));
      parts.push(valueEditor("text", [], rule.op, rule.value, set("value")));
    } else if (rule.type === "segment") {
      var others = schema.segments.filter(function (s) { return s.slug !== ownSlug; });
      parts.push(select("Segment", others.map(function (s) { return [s.slug, s.name]; }), rule.slug, set("slug")));
    }
    var remove = el("button", { type: "button", className: "link-button", text: "Remove" });
    remove.addEventListener("click", function () {
      parent.children.splice(parent.children.indexOf(node), 1); changed(true);
    });
    parts.push(remove);
    parts.push(el("span", { className: "problem errors", "aria-live": "polite" }));
    parts.forEach(function (p) { if (p) row.appendChild(p); });
    return row;
  }

  function renderGroup(node, parent) {
    var box = el("div", { className: "group" });
    node.element = box;
    var modes = [["all", "all of"], ["any", "any of"], ["none", "none of"]];
    var head = el("p", { className: "group-head" }, [
      document.createTextNode("Contacts matching "),
      select("Match", modes, node.mode, function (v) { node.mode = v; changed(false); }),
      document.createTextNode(" these conditions")
    ]);
    box.appendChild(head);
    var list = el("ul", { className: "conditions" });
    node.children.forEach(function (child) {
      list.appendChild(child.kind === "group"
        ? el("li", { className: "nested" }, [renderGroup(child, node)])
        : renderCondition(child, node));
    });
    box.appendChild(list);
    var add = el("button", { type: "button", text: "Add a condition" });
    add.addEventListener("click", function () { node.children.push(newCondition()); changed(true); });
    var addGroup = el("button", { type: "button", text: "Add a group" });
    addGroup.addEventListener("click", function () {
      node.children.push({ kind: "group", mode: "any", children: [newCondition()] }); changed(true);
    });
    var buttons = [add, addGroup];
    if (parent) {
      var remove = el("button", { type: "button", className: "link-button", text: "Remove group" });
      remove.addEventListener("click", function () {
        parent.children.splice(parent.children.indexOf(node), 1); changed(true);
      });
      buttons.push(remove);
    }
    box.appendChild(el("p", { className: "actions" }, buttons));
    box.appendChild(el("span", { className: "problem errors", "aria-live": "polite" }));
    return box;
  }

  var tagList = el("datalist", { id: "segment-builder-tags" });
  schema.tags.forEach(function (t) { tagList.appendChild(el("option", { value: t })); });
  builder.appendChild(tagList);

  function render() {
    var container = builder.querySelector(".builder-root");
    container.textContent = "";
    container.appendChild(renderGroup(root, null));
  }

  // --- live preview ------------------------------------------------------------------------

  var timer = null;
  var sequence = 0;

  function changed(structure) {
    source.value = JSON.stringify(serialize(root, ""));
    if (structure) render();
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  function nodes(node, out) {
    out.push(node);
    (node.children || []).forEach(function (c) { nodes(c, out); });
    return out;
  }

  function showProblems(problems) {
    var list = document.getElementById("preview-problems");
    list.textContent = "";
    var all = nodes(root, []);
    all.forEach(function (n) {
      var slot = n.element && n.element.querySelector(":scope > .problem");
      if (slot) slot.textContent = "";
      if (n.element) n.element.removeAttribute("aria-invalid");
    });
    problems.forEach(function (p) {
      // The deepest node whose path begins the problem's path is where it belongs.
      var owner = null;
      all.forEach(function (n) {
        if (p.path === n.path || p.path.indexOf(n.path + "/") === 0 || n.path === "") {
          if (!owner || n.path.length >= owner.path.length) owner = n;
        }
      });
      var slot = owner && owner.element && owner.element.querySelector(":scope > .problem");
      if (slot) { slot.textContent = p.message; owner.element.setAttribute("aria-invalid", "true"); }
      list.appendChild(el("li", { text: p.message }));
    });
  }

  function preview() {
    var mine = ++sequence;
    var body = { rules: serialize(root, ""), slug: ownSlug };
    fetch(previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfInput ? csrfInput.value : "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (mine !== sequence) return; // an answer to an older edit
      var count = document.getElementById("preview-count");
      var rows = document.querySelector("#preview-members tbody");
      if (!result.ok) {
        count.textContent = "Not counted: fix the conditions marked below.";
        showProblems(result.data.problems || []);
        return;
      }
      showProblems([]);
      count.textContent = result.data.count.toLocaleString("en-US") +
        (result.data.count === 1 ? " member" : " members");
      document.getElementById("preview-time").textContent = "counted " + result.data.counted_at;
      rows.textContent = "";
      result.data.members.forEach(function (m) {
        var link = el("a", { href: m.url, text: m.name });
        rows.appendChild(el("tr", {}, [
          el("td", {}, [link]), el("td", { text: m.email }), el("td", { text: m.role }),
          el("td", { text: m.school })
        ]));
      });
    }).catch(function () {
      if (mine === sequence) {
        document.getElementById("preview-count").textContent = "The count is unavailable right now.";
      }
    });
  }

  render();
  changed(false);
})();
