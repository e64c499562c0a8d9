// cotrench workbench: permit review actions and layer upload (light JS, no framework)
(function () {
  "use strict";

  // the session cookie is HttpOnly: scripts never see the token, only the CSRF token the
  // server put in the page, which every write sends back
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function key() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function show(el, text) {
    el.textContent = text;
    el.hidden = false;
  }

  // errors are RFC 9457 problem details: `detail` says what went wrong, Chinese first
  function message(body, status) {
    if (body && typeof body.detail === "string") { return body.detail; }
    if (body && body.title) { return body.title; }
    return "HTTP " + status;
  }

  // --- a reviewer's approve / return ------------------------------------------------
  document.querySelectorAll("form.permit-action").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var choice = ev.submitter ? ev.submitter.value : "approved";
      var body = { version: Number(form.dataset.version), comment: form.elements.comment.value };
      body[form.dataset.field] = choice;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      fetch(form.dataset.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-CSRF-Token": csrf(),
          "Idempotency-Key": key()
        },
        body: JSON.stringify(body)
      })
        .then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
        .then(function (rb) {
          if (rb[0].ok) { window.location.reload(); return; }
          show(document.getElementById("action-error"), message(rb[1], rb[0].status));
          form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        });
    });
  });

  // --- a designer's upload ------------------------------------------------------------
  var upload = document.getElementById("upload-form");
  if (upload) {
    upload.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(upload);
      ["crs", "encoding"].forEach(function (k) { if (!data.get(k)) { data.delete(k); } });
      fetch("/layers", { method: "POST", body: data, headers: { "X-CSRF-Token": csrf() } })
        .then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
        .then(function (rb) { report(rb[0], rb[1]); });
    });
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
  }

  function report(r, body) {
    var section = document.getElementById("report");
    // a refused file's problem carries the validation report's members (problems, warnings)
    var rep = r.ok ? body.report : (body || {});
    section.hidden = false;
    var summary = r.ok
      ? "已导入 Imported " + body.layer.feature_count + " 个要素 features as layer " + body.layer.id +
        " (" + body.layer.crs + ")"
      : "已拒绝 Refused: " + message(body, r.status);
    document.getElementById("report-summary").textContent = summary;
    section.dataset.ok = r.ok ? "true" : "false";
    var tbody = document.querySelector("#report-problems tbody");
    tbody.innerHTML = "";
    (rep.problems || []).concat(rep.warnings || []).forEach(function (p, i) {
      var row = document.createElement("tr");
      cell(row, i < (rep.problems || []).length ? "错误 error" : "提示 warning");
      cell(row, p.index === null ? "—" : p.index + (p.feature_id ? " (id " + p.feature_id + ")" : ""));
      cell(row, p.field || "");
      cell(row, p.message);
      tbody.appendChild(row);
    });
    if (r.ok) { colocation(body.layer); }
  }

  function colocation(layer) {
    var section = document.getElementById("colocation");
    var url = upload.dataset.colocationUrl;
    document.getElementById("layer-map-link").href = "/maps/layers/" + layer.id;
    section.hidden = false;
    if (!url || layer.kind !== "proposed_lines") {
      document.getElementById("colocation-summary").textContent =
        layer.kind === "proposed_lines" ? "同路由检查不可用 Co-location check not available." :
        "只有拟建管线触发同路由检查 Only proposed lines trigger the co-location check.";
      return;
    }
    fetch(url.replace("{layer_id}", layer.id), { method: "POST", headers: { "X-CSRF-Token": csrf() } })
      .then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
      .then(function (rb) {
        var body = rb[1];
        section.dataset.done = "true";
        if (!rb[0].ok) {
          document.getElementById("colocation-summary").textContent =
            "同路由检查拒绝 Refused: " + message(body, rb[0].status);
          return;
        }
        var groups = body.groups || [];
        document.getElementById("colocation-summary").textContent =
          (body.lines || []).length + " 条拟建管线已匹配 lines matched · " +
          groups.length + " 个同路由组 co-location groups · " +
          (body.warnings || []).length + " 条警示 warnings";
        var tbody = document.querySelector("#colocation-groups tbody");
        tbody.innerHTML = "";
        groups.forEach(function (g) {
          var row = document.createElement("tr");
          cell(row, "G" + (g.group_id || g.id));
          cell(row, (g.utilities || []).join(", "));
          cell(row, (g.projects || []).join(", "));
          cell(row, g.shared_length_m === undefined ? "" : Number(g.shared_length_m).toFixed(1));
          cell(row, (g.window_start || "") + " – " + (g.window_end || ""));
          tbody.appendChild(row);
        });
        var ul = document.getElementById("colocation-warnings");
        ul.innerHTML = "";
        (body.warnings || []).forEach(function (w) {
          var li = document.createElement("li");
          li.textContent = (w.rule || "") + ": " + (w.message || "");
          ul.appendChild(li);
        });
      });
  }
})();
