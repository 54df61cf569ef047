// The console's only script. Everything from mail reaches the page through
// textContent, never as markup; the server's Content-Security-Policy
// forbids inline script besides.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      if (c instanceof Node) {
        const td = document.createElement("td");
        td.appendChild(c);
        tr.appendChild(td);
      } else {
        tr.appendChild(el("td", c));
      }
    }
    return tr;
  }

  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      const td = el("td", empty);
      td.colSpan = cols;
      const tr = document.createElement("tr");
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    for (const r of rows) tbody.appendChild(r);
  }

  function when(s) {
    if (!s) return "-";
    const d = new Date(s);
    if (isNaN(d) || d.getUTCFullYear() < 1971) return "-";
    return d.toISOString().replace("T", " ").slice(0, 19);
  }

  function link(href, text) {
    const a = el("a", text);
    a.href = href;
    return a;
  }

  async function post(url, form) {
    const res = await fetch(url, { method: "POST", body: form, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    let body = null;
    try { body = await res.json(); } catch (e) { body = { errors: ["the server answered " + res.status] }; }
    return { status: res.status, body: body };
  }

  // Overview: poll the intake every 5 seconds.
  async function refreshOverview() {
    const res = await fetch("/console/api/overview", { credentials: "same-origin" });
    if (!res.ok) return;
    const o = await res.json();
    document.getElementById("handled").textContent = o.handled_24h;
    document.getElementById("rules-version").textContent = o.rules_version.slice(0, 12);
    const lr = o.last_reload;
    document.getElementById("last-reload").textContent = lr ? ("last reload " + when(lr.at) + ": " + (lr.errors ? "refused" : (lr.changed ? "activated" : "unchanged"))) : "";
    document.getElementById("filed").textContent = o.filed;
    document.getElementById("problems-open").textContent = o.problems_open;
    fill(document.querySelector("#mailboxes tbody"), o.mailboxes.map(m => row([
      m.account, m.mailbox, m.connected ? "connected" : (m.state || "down"), m.idle ? "yes" : "no", m.backlog, when(m.oldest_undone)])), "No mailbox.", 6);
    fill(document.querySelector("#sinks tbody"), o.sinks.map(s => row([s.queue, s.sent, s.retrying, s.errors_temporary, s.failed_permanent])), "No sink.", 5);
    fill(document.querySelector("#sla tbody"), o.sla_due.map(s => row([
      (s.overdue ? "overdue " : "") + when(s.due), s.tier, s.priority, link("/tickets/" + s.seq, s.subject || "(no subject)")])), "No response due within the hour.", 4);
    fill(document.querySelector("#latest tbody"), o.latest.map(t => row([
      when(t.at), t.from, link("/tickets/" + t.seq, t.subject || "(no subject)"), t.tier, t.priority, t.queue, t.action, t.outcome])), "No mail handled yet.", 8);
  }

  function startOverview() {
    refreshOverview();
    setInterval(refreshOverview, 5000);
  }

  // Playground.
  function startPlayground(root) {
    const text = document.getElementById("rules-text");
    const file = document.getElementById("rules-file");
    let base = root.dataset.base;
    let timer = null;
    let inflight = null;
    let edited = false;

    function rulesForm() {
      const f = new FormData();
      f.append("file", file.value);
      f.append("rules", text.value);
      return f;
    }

    function problems(list, ul) {
      ul.replaceChildren();
      for (const p of list) {
        const li = el("li", p.text || p.msg);
        if (p.line > 0) {
          li.dataset.line = p.line;
          li.title = "go to line " + p.line;
          li.addEventListener("click", () => goToLine(p.line));
        }
        ul.appendChild(li);
      }
    }

    function goToLine(n) {
      const lines = text.value.split("\n");
      let start = 0;
      for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
      text.focus();
      text.setSelectionRange(start, start + (lines[n - 1] || "").length);
    }

    async function check() {
      if (inflight) inflight.abort();
      inflight = new AbortController();
      const status = document.getElementById("check-status");
      status.textContent = "checking…";
      let res;
      try {
        const r = await fetch("/console/api/check", { method: "POST", body: rulesForm(), headers: { "X-CSRF-Token": csrf }, signal: inflight.signal, credentials: "same-origin" });
        res = await r.json();
      } catch (e) {
        if (e.name !== "AbortError") status.textContent = "check failed: " + e;
        return;
      }
      if (!res.errors) res.errors = [];
      if (res.ok) {
        status.textContent = "✓ passes the check (version " + res.version.slice(0, 12) + ")";
        status.className = "status ok";
      } else {
        status.textContent = "✗ " + res.errors.length + " problem" + (res.errors.length === 1 ? "" : "s") + ": a save would be refused";
        status.className = "status bad";
      }
      problems(res.errors.map(p => typeof p === "string" ? { text: p } : p), document.getElementById("check-errors"));
      problems(res.warnings || [], document.getElementById("check-warnings"));
      showDiff(res.diff);
    }

    function showDiff(d) {
      const summary = document.getElementById("diff-summary");
      const tt = document.querySelector("#diff-transitions tbody");
      const tc = document.querySelector("#diff-changes tbody");
      if (!d) {
        summary.textContent = "The edited rules do not load: no replay.";
        tt.replaceChildren();
        tc.replaceChildren();
        return;
      }
      const changed = d.changes.length + d.more;
      summary.textContent = changed + " of " + d.replayed + " recent messages would be decided differently than by the active rules (" + d.against.slice(0, 12) + ")." + (d.partial ? " " + d.partial : "");
      fill(tt, d.transitions.map(t => row([t.field, t.from + " → " + t.to, t.count])), "No change.", 3);
      fill(tc, d.changes.map(c => row([when(c.date), c.from, link("/tickets/" + c.seq, c.subject || "(no subject)"), c.change])), "No message changes.", 4);
    }

    text.addEventListener("input", () => {
      edited = true;
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    });

    async function loadFile() {
      const r = await fetch("/console/api/rulesfile?file=" + encodeURIComponent(file.value), { credentials: "same-origin" });
      const res = await r.json();
      if (r.ok) {
        text.value = res.text;
        base = res.base;
        edited = false;
        check();
      }
    }
    file.addEventListener("change", loadFile);
    document.getElementById("reset").addEventListener("click", loadFile);

    document.getElementById("save").addEventListener("click", async () => {
      const f = rulesForm();
      f.append("base", base);
      const status = document.getElementById("save-status");
      status.textContent = "saving…";
      const r = await post("/console/api/save", f);
      const res = r.body;
      if (r.status === 200 && res.saved) {
        status.textContent = "saved: version " + res.version + " is active";
        status.className = "status ok";
        base = res.base;
        document.getElementById("active-version").textContent = res.version;
        problems([], document.getElementById("save-errors"));
        check();
      } else {
        status.textContent = "refused: nothing was saved; version " + (res.version || "?") + " stays active";
        status.className = "status bad";
        problems((res.errors || []).map(p => typeof p === "string" ? { text: p } : p), document.getElementById("save-errors"));
      }
    });

    document.getElementById("classify").addEventListener("click", async () => {
      const f = new FormData();
      f.append("file", file.value);
      if (edited) f.append("rules", text.value);
      const up = document.getElementById("eml");
      const recent = document.getElementById("recent").value;
      const pasted = document.getElementById("pasted").value;
      if (up.files.length > 0) f.append("eml", up.files[0]);
      else if (recent) f.append("recent", recent);
      else if (pasted) f.append("pasted", pasted);
      const r = await post("/console/api/classify", f);
      const err = document.getElementById("classify-error");
      const out = document.getElementById("result");
      if (r.status !== 200) {
        err.textContent = (r.body.errors || ["failed"]).join("; ");
        err.hidden = false;
        out.hidden = true;
        return;
      }
      err.hidden = true;
      const c = r.body;
      document.getElementById("result-rules").textContent = "Decided by " + c.rules + ".";
      document.getElementById("result-subject").textContent = c.subject || "(no subject)";
      document.getElementById("result-from").textContent = c.from;
      document.getElementById("result-decision").textContent = c.tier + " " + c.priority + " · queue " + c.queue + " · runbook " + c.runbook + " · " + c.action;
      document.getElementById("result-matched").textContent = c.matched.length ? c.matched.join(", ") : "none matched: defaults";
      document.getElementById("result-attachments").textContent = c.attachments.length ? c.attachments.join(", ") : "none";
      const tb = document.querySelector("#result-trace tbody");
      fill(tb, c.trace.map(t => {
        const tr = row([t.Rule, t.Group, t.Result, t.Note]);
        tr.className = t.Result;
        return tr;
      }), "No rule.", 4);
      document.getElementById("result-doc").textContent = c.doc;
      out.hidden = false;
    });

    check();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.getElementById("overview")) startOverview();
    const pg = document.getElementById("playground");
    if (pg) startPlayground(pg);
  });
})();
