/* dmc web UI: compose (live preprocessing while typing), runs streamed event by event
   (reload-proof: the running run's id is in the URL and in localStorage, and the page
   replays its events from the service, then follows the live ones), history, dashboard.
   Plain JavaScript against the service's own API (docs/SERVICE.md, docs/WEB.md). */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MIN_CHARS = 15;
  const DRAFT_DEBOUNCE_MS = 250;
  const ACTIVE = "dmc.activeRun";
  /* what the browser test and `make bench` read: when Send was pressed and when the first
     token was on screen (performance.now() of this page) */
  const perf = (window.dmcPerf = { sentAt: null, firstTokenAt: null, runId: null });

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number"
        ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  async function api(path, opts) {
    opts = opts || {};
    const init = { method: opts.method || "GET", credentials: "same-origin",
      signal: opts.signal, headers: {} };
    if (opts.body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    const resp = await fetch(path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || `HTTP ${resp.status}`);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  /* NDJSON from a fetch response, one object per line, to onEvent */
  async function readEvents(resp, onEvent) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) onEvent(JSON.parse(line));
      }
    }
    if (buffer.trim()) onEvent(JSON.parse(buffer));
  }

  function setConn(text) { $("conn").textContent = text || ""; }

  /* --- routing: #compose, #run=ID, #history, #dashboard --------------------------------- */

  function route() {
    const hash = location.hash.replace(/^#/, "");
    const params = new URLSearchParams(hash.includes("=") ? hash : "");
    let view = hash.split("=")[0] || "compose";
    if (view === "run") view = "compose";
    if (!["compose", "history", "dashboard"].includes(view)) view = "compose";
    for (const v of ["compose", "history", "dashboard"]) {
      $("view-" + v).hidden = v !== view;
    }
    document.querySelectorAll("[data-nav]").forEach((a) =>
      a.classList.toggle("active", a.dataset.nav === view));
    if (view === "history") loadHistory();
    if (view === "dashboard") loadDashboard();
    const runId = params.get("run");
    if (runId && runId !== run.id) watch(runId);
    if (view === "compose" && !runId && !run.id) {
      const active = localStorage.getItem(ACTIVE);  // a run still going in another tab
      if (active) watch(active, true);
    }
  }

  /* --- compose: drafts while typing -------------------------------------------------------- */

  let session = sessionStorage.getItem("dmc.session");
  let draftTimer = null, draftAbort = null, lastDraft = "";

  async function sessionId() {
    if (!session) {
      session = (await api("/v1/sessions", { method: "POST", body: { title: "web" } })).id;
      sessionStorage.setItem("dmc.session", session);
    }
    return session;
  }

  function onType() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(draft, DRAFT_DEBOUNCE_MS);
  }

  async function draft() {
    const text = $("request").value;
    if (text === lastDraft) return;
    lastDraft = text;
    if (draftAbort) draftAbort.abort();  // a newer text: the older answer is stale
    const ctl = (draftAbort = new AbortController());
    const state = $("draft-state");
    const left = MIN_CHARS - text.trim().length;
    if (left > 0) {
      state.textContent = `type ${left} more character${left === 1 ? "" : "s"}`;
      return;
    }
    state.textContent = "preparing…";
    try {
      const sid = await sessionId();
      const started = await api("/v1/draft", { method: "POST", signal: ctl.signal,
        body: { text, session_id: sid, prefill: true } });
      if (started.state === "too_short") { state.textContent = "keep typing"; return; }
      let st = await api(`/v1/draft/${started.draft_id}?wait=3`, { signal: ctl.signal });
      while (st.state === "pending" && !ctl.signal.aborted) {
        st = await api(`/v1/draft/${started.draft_id}?wait=3`, { signal: ctl.signal });
      }
      if (ctl.signal.aborted) return;
      if (st.state !== "ready") {
        state.textContent = st.state + (st.error ? `: ${st.error.message}` : "");
        return;
      }
      showDraft(st);
      // the prompt is evaluated ahead on the embedded model: say when it is
      for (let i = 0; i < 90 && !ctl.signal.aborted && (!st.prefill || ["running", "waiting"].includes(st.prefill.state)); i++) {
        await new Promise((r) => setTimeout(r, 500));
        if (ctl.signal.aborted) return;
        st = await api(`/v1/draft/${started.draft_id}`, { signal: ctl.signal });
        if (st.state === "ready") showDraft(st);
      }
    } catch (e) {
      if (e.name !== "AbortError") state.textContent = "error: " + e.message;
    }
  }

  function showDraft(st) {
    const i = st.intent || {};
    $("draft-state").textContent = `ready in ${st.prepare_seconds} s` +
      (st.prefill && st.prefill.state === "done" ? `, prompt evaluated (${st.prefill.seconds} s)` : "");
    $("intent").replaceChildren(
      h("div", { class: "intent" },
        h("strong", { id: "intent-type" }, i.task_type || "?"), " ",
        h("span", { id: "intent-confidence", class: "badge" },
          i.confidence !== undefined ? i.confidence.toFixed(2) : "?"),
        " ", h("span", { class: "muted" }, [i.complexity, i.domain].filter(Boolean).join(", "))));
    const ex = st.extraction || {};
    const rows = [];
    for (const [k, v] of Object.entries(ex)) {
      const shown = Array.isArray(v) ? v.map((x) => typeof x === "object"
        ? `${x.path}${x.exists === false ? " (new)" : ""}` : x).join(", ") : String(v);
      rows.push(h("dt", {}, k.replace(/_/g, " ")), h("dd", { "data-key": k }, shown));
    }
    if (st.payload_tokens) rows.push(h("dt", {}, "context"), h("dd", {}, `${st.payload_tokens} tokens`));
    $("extraction").replaceChildren(...rows);
    $("chunks").replaceChildren(...(st.chunks || []).map((c) => h("li", {},
      h("code", {}, `${c.path}:${c.start_line}-${c.end_line}`),
      c.symbol ? ` ${c.symbol}` : "", " ",
      h("span", { class: "why" }, why(c.why), ` score ${Number(c.score).toFixed(3)}`))));
  }

  function why(reasons) {
    if (!reasons) return "";
    return Object.entries(reasons).map(([k, v]) => typeof v === "object"
      ? `${k} #${v.rank}` : `${k}: ${v}`).join(", ") + ";";
  }

  /* --- a run: its view is rebuilt from its events, so a replay equals the live view ------- */

  const run = { id: null, lastSeq: -1, done: false, stream: null, passEl: null,
    follower: null, firstToken: false };

  function resetRun(id) {
    if (run.follower) run.follower.abort();
    Object.assign(run, { id, lastSeq: -1, done: false, stream: null, passEl: null,
      follower: null, firstToken: false });
    $("run").hidden = !id;
    $("run-id").textContent = id || "";
    $("run-text").textContent = "";
    for (const part of ["stages", "messages", "passes", "files"]) $(part).replaceChildren();
    $("result").hidden = true;
    $("apply-state").textContent = "";
    setStatus("running", "run");
    $("stop").hidden = true;
  }

  function setStatus(text, kind) {
    const s = $("run-status");
    s.textContent = text;
    s.className = "badge " + (kind || "");
  }

  function remember(id) {
    history.replaceState(null, "", "#run=" + id);
    localStorage.setItem(ACTIVE, id);
  }

  function stageItem(stage) {
    let li = $("stage-" + stage);
    if (!li) {
      li = h("li", { id: "stage-" + stage }, stage);
      $("stages").appendChild(li);
    }
    return li;
  }

  function newPass(title) {
    run.stream = h("pre", { class: "stream" });
    run.passEl = h("div", { class: "pass" }, h("h4", {}, title), run.stream,
      h("div", { class: "pass-summary" }));
    $("passes").appendChild(run.passEl);
  }

  function onEvent(ev) {
    if (ev.seq !== undefined && ev.seq >= 0) {
      if (ev.seq <= run.lastSeq) return;  // seen already (a reconnect overlaps)
      run.lastSeq = ev.seq;
    }
    switch (ev.event) {
      case "run_started":
        $("run-text").textContent = ev.text;
        if (!run.done) { $("stop").hidden = false; setStatus("running", "run"); }
        break;
      case "stage_started":
        stageItem(ev.stage).className = "running";
        break;
      case "stage_finished": {
        const li = stageItem(ev.stage);
        li.className = "done";
        li.textContent = `${ev.stage} ${ev.seconds.toFixed(2)} s${ev.cached ? " (prepared)" : ""}`;
        li.title = ev.summary || "";
        break;
      }
      case "message":
        $("messages").appendChild(h("div", { class: "msg " + ev.level },
          `${ev.source}: ${ev.message}`));
        break;
      case "generating":
        newPass(`Pass ${ev.iteration}` + (ev.sample > 1 ? `, sample ${ev.sample}` : ""));
        run.passEl.dataset.iteration = ev.iteration;
        break;
      case "writing_tests":
        newPass("Tests the model writes for the request");
        break;
      case "tokens":
        if (!run.stream) newPass("Answer");
        run.stream.textContent += ev.text;
        if (!run.firstToken) {
          run.firstToken = true;
          if (perf.sentAt !== null && perf.runId === run.id && perf.firstTokenAt === null) {
            // on screen: the frame after the text went into the page
            requestAnimationFrame(() => { if (perf.firstTokenAt === null) perf.firstTokenAt = performance.now(); });
          }
        }
        break;
      case "validating":
        if (run.passEl) run.passEl.querySelector(".pass-summary").textContent =
          "checking " + (ev.files || []).join(", ") + "…";
        break;
      case "checks":
        if (run.passEl && ev.iteration > 0) {
          run.passEl.querySelector(".pass-summary").textContent =
            `${ev.source === "model" ? "model's tests" : "checks"}: ${ev.passed}/${ev.run}`;
        }
        break;
      case "iteration": {
        if (!run.passEl) newPass(`Pass ${ev.iteration}`);
        const ok = ev.passed && (ev.checks || {}).passed === (ev.checks || {}).run &&
          (ev.model_checks || {}).passed === (ev.model_checks || {}).run;
        run.passEl.classList.add(ok ? "ok" : "bad");
        const c = ev.checks || {}, m = ev.model_checks || {};
        const parts = [ok ? "passed" : "did not pass",
          `${ev.errors} error(s), ${ev.warnings} warning(s)`,
          c.run ? `checks ${c.passed}/${c.run}` : null,
          m.run ? `model's tests ${m.passed}/${m.run}` : null,
          `${ev.tokens} tokens in ${ev.seconds} s (${ev.tokens_per_second} tok/s)`,
          ev.finish_reason !== "stop" ? `stopped: ${ev.finish_reason}` : null];
        const summary = run.passEl.querySelector(".pass-summary");
        summary.replaceChildren(h("span", { class: "pass-figures" },
          parts.filter(Boolean).join(" · ")));
        for (const f of (ev.failures || []).slice(0, 5)) {
          summary.appendChild(h("div", { class: "error" },
            `failed: ${f.check_text} — ${f.message}`));
        }
        run.stream = null;
        break;
      }
      case "stopped":
        $("messages").appendChild(h("div", { class: "msg note" }, "stopped: " + ev.reason));
        break;
      case "queued":
        $("messages").appendChild(h("div", { class: "msg note" }, "queued on the agent"));
        break;
      case "done":
      case "error":
        finish(ev);
        break;
      default:
        break;
    }
  }

  function finish(ev) {
    run.done = true;
    $("stop").hidden = true;
    if (localStorage.getItem(ACTIVE) === run.id) localStorage.removeItem(ACTIVE);
    if (ev.event === "error") {
      setStatus(ev.status, "bad");
      $("messages").appendChild(h("div", { class: "msg error" },
        (ev.error && ev.error.message) || "the run failed"));
      return;
    }
    const result = (ev.document || {}).result;
    setStatus(result ? result.status : "done", result && result.status !== "success" ? "bad" : "ok");
    if (result && (result.files || []).length) showChanges(run.id);
  }

  async function showChanges(id) {
    let ch;
    try { ch = await api(`/v1/runs/${id}/changes`); } catch (e) {
      $("apply-state").textContent = e.message;
      return;
    }
    if (id !== run.id) return;
    $("result").hidden = false;
    $("result-status").textContent = ch.status;
    $("result-status").className = "badge " + (ch.status === "success" ? "ok" : "bad");
    $("result-reason").textContent = ch.reason || "";
    $("files").replaceChildren(...ch.files.map((f) => h("div", { class: "file" },
      h("h4", {}, h("code", {}, f.path), f.new_file ? " (new file)" : ""),
      f.refused ? h("p", { class: "error" }, "cannot apply: " + f.refused) : null,
      h("pre", { class: "diff", "data-path": f.path },
        ...(f.diff || []).map((l) => h("span", { class: l.startsWith("@@") ? "hunk"
          : l.startsWith("+") && !l.startsWith("+++") ? "add"
          : l.startsWith("-") && !l.startsWith("---") ? "del" : "ctx" }, l + "\n"))))));
    const last = (ch.actions || []).slice(-1)[0];
    const partial = ch.status !== "success";
    $("apply").textContent = partial ? "Apply anyway (partial)" : "Apply";
    $("apply").disabled = !ch.applicable || (last && last.action === "applied");
    $("discard").disabled = last && last.action === "applied";
    if (last) {
      $("apply-state").textContent = last.action === "applied"
        ? `applied: ${(last.files || []).join(", ")}` : "discarded";
    }
  }

  async function applyResult() {
    const partial = $("result-status").textContent !== "success";
    $("apply").disabled = true;
    try {
      const r = await api(`/v1/runs/${run.id}/apply`, { method: "POST", body: { partial } });
      $("apply-state").textContent = "applied: " + r.applied.join(", ");
      $("discard").disabled = true;
    } catch (e) {
      $("apply-state").textContent = "not applied: " + e.message;
      $("apply").disabled = false;
    }
  }

  async function discardResult() {
    try {
      await api(`/v1/runs/${run.id}/discard`, { method: "POST", body: {} });
      $("apply-state").textContent = "discarded";
      $("files").replaceChildren();
      $("apply").disabled = true;
    } catch (e) {
      $("apply-state").textContent = e.message;
    }
  }

  /* follow a run from the event after run.lastSeq until it ends; reconnect on a drop */
  async function follow() {
    const id = run.id;
    const ctl = (run.follower = new AbortController());
    let failures = 0;
    while (!run.done && run.id === id && !ctl.signal.aborted) {
      try {
        const resp = await fetch(`/v1/runs/${id}/events?after=${run.lastSeq}`,
          { credentials: "same-origin", signal: ctl.signal });
        if (resp.status === 404) { setStatus("unknown run", "bad"); return; }
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        setConn("");
        await readEvents(resp, (ev) => { if (run.id === id) onEvent(ev); });
        failures = 0;
      } catch (e) {
        if (ctl.signal.aborted) return;
        failures++;
        setConn("reconnecting…");
      }
      if (!run.done) await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** failures)));
    }
  }

  /* show a run (from the URL, another tab's run, or the history) */
  async function watch(id, onlyIfRunning) {
    let info;
    try { info = await api(`/v1/runs/${id}`); } catch (e) {
      if (onlyIfRunning) localStorage.removeItem(ACTIVE);
      else { resetRun(id); setStatus("unknown run", "bad"); }
      return;
    }
    if (onlyIfRunning && info.status !== "running") {
      localStorage.removeItem(ACTIVE);
      return;
    }
    resetRun(id);
    history.replaceState(null, "", "#run=" + id);
    $("run-text").textContent = info.text;
    if (info.events === 0) {  // a `dmc run` request: no events, only its outcome
      run.done = true;
      setStatus(info.status, info.status === "success" ? "ok" : "");
      if ((info.files || []).length) showChanges(id);
      return;
    }
    if (info.status === "running") localStorage.setItem(ACTIVE, id);
    follow();
  }

  async function send() {
    const text = $("request").value.trim();
    if (!text || $("send").disabled) return;
    $("send").disabled = true;
    perf.sentAt = performance.now();
    perf.firstTokenAt = null;
    perf.runId = null;
    try {
      const sid = await sessionId();
      let resp = await fetch("/v1/runs", { method: "POST", credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text, session_id: sid }) });
      if (resp.status === 400) {  // the tab's session is gone (a new history): a new one
        session = null;
        sessionStorage.removeItem("dmc.session");
        resp = await fetch("/v1/runs", { method: "POST", credentials: "same-origin",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text, session_id: await sessionId() }) });
      }
      if (!resp.ok) {
        const data = await resp.json().catch(() => ({}));
        throw new Error((data.error && data.error.message) || `HTTP ${resp.status}`);
      }
      await readEvents(resp, (ev) => {
        if (ev.event === "run_started") {
          resetRun(ev.run_id);
          perf.runId = ev.run_id;
          remember(ev.run_id);
        }
        if (run.id === ev.run_id || ev.event !== "run_started") onEvent(ev);
      });
    } catch (e) {
      if (!run.id) { $("draft-state").textContent = "not sent: " + e.message; }
    } finally {
      $("send").disabled = false;
    }
    if (run.id && !run.done) follow();  // the stream broke off: pick it up again
  }

  async function stop() {
    if (!run.id) return;
    try { await api(`/v1/runs/${run.id}/cancel`, { method: "POST", body: {} }); } catch (e) {
      setConn(e.message);
    }
  }

  /* --- history ------------------------------------------------------------------------------ */

  let historyTimer = null;
  async function loadHistory() {
    const q = $("history-q").value;
    let data;
    try { data = await api("/v1/runs?limit=100&q=" + encodeURIComponent(q)); } catch (e) {
      $("history-list").replaceChildren(h("li", { class: "error" }, e.message));
      return;
    }
    $("history-list").replaceChildren(...data.runs.map((r) => h("li", { "data-run": r.id },
      h("a", { href: "#run=" + r.id }, r.text), " ",
      h("span", { class: "badge " + (r.status === "done" ? "ok" : r.status === "running" ? "run" : "") }, r.status),
      h("div", { class: "muted" }, new Date(r.created * 1000).toLocaleString(),
        r.session_id === "cli" ? " · dmc run" : "",
        r.files.length ? " · " + r.files.map((f) => f.path).join(", ") : "",
        r.events ? ` · ${r.events} events` : ""))));
    if (!data.runs.length) $("history-list").replaceChildren(h("li", { class: "muted" }, "no runs"));
  }

  /* --- dashboard ---------------------------------------------------------------------------- */

  const STAGE_NAMES = ["intent", "extract", "retrieve", "optimize", "generate", "validate"];

  async function loadDashboard() {
    const hours = $("dash-hours").value;
    const get = (kind) => api(`/v1/metrics/${kind}?hours=${hours}`);
    const tasks = {
      latency: get("latency").then(drawLatency),
      throughput: get("throughput").then(drawThroughput),
      quality: get("quality").then(drawQuality),
      index: get("index").then(drawIndex),
      queue: get("queue").then(drawQueue),
      memory: get("memory").then(drawMemory),
    };
    for (const [kind, task] of Object.entries(tasks)) {
      task.catch((e) => {
        const fig = $("chart-" + kind);
        if (fig) Charts.empty(fig.querySelector("svg"), "error: " + e.message);
      });
    }
    await Promise.allSettled(Object.values(tasks));
    document.body.dataset.dashboard = "drawn";
  }

  function drawLatency(d) {
    const fig = $("chart-latency");
    const series = [];
    for (const stage of [...STAGE_NAMES, "first_token"]) {
      const p50 = d.buckets.map((b) => [(b.start + b.end) / 2, b.stages[stage].p50]);
      const p95 = d.buckets.map((b) => [(b.start + b.end) / 2, b.stages[stage].p95]);
      if (p50.some((p) => p[1] !== null)) {
        series.push({ name: stage, points: p50 });
        series.push({ name: stage + " p95", points: p95, dash: true, legend: false });
      }
    }
    // p95 shares its stage's colour
    series.forEach((s, i) => { s.color = ["#2457c5", "#c62828", "#1a7f37", "#a15c00", "#7b1fa2", "#00838f", "#5d4037"][Math.floor(i / 2) % 7]; });
    Charts.line(fig.querySelector("svg"), series, { unit: " s" });
    const table = fig.querySelector("table");
    table.replaceChildren(h("tr", {}, h("th", {}, "stage"), h("th", {}, "p50 s"),
      h("th", {}, "p95 s"), h("th", {}, "runs")),
      ...[...STAGE_NAMES, "first_token"].map((s) => {
        const o = d.overall[s];
        return h("tr", { "data-stage": s }, h("td", {}, s.replace("_", " ")),
          h("td", { class: "p50" }, Charts.fmt(o.p50)), h("td", { class: "p95" }, Charts.fmt(o.p95)),
          h("td", {}, String(o.n)));
      }));
  }

  function drawThroughput(d) {
    const runs = d.runs;
    Charts.line($("chart-throughput").querySelector("svg"),
      [{ name: "tokens/s", points: runs.map((r) => [r.at, r.tokens_per_second]) }], { unit: " tok/s" });
    $("chart-throughput").querySelector(".figures").textContent =
      `median ${Charts.fmt(d.median_tokens_per_second)} tok/s over ${runs.length} run(s)`;
    Charts.line($("chart-first-token").querySelector("svg"),
      [{ name: "first token", points: runs.map((r) => [r.at, r.first_token_s]) }], { unit: " s" });
    $("chart-first-token").querySelector(".figures").textContent =
      `median ${Charts.fmt(d.median_first_token_s)} s, p95 ${Charts.fmt(d.p95_first_token_s)} s after the run began`;
  }

  function drawQuality(d) {
    const pct = (v) => v === null ? "–" : `${Math.round(v * 100)}%`;
    Charts.bars($("chart-quality").querySelector("svg"), d.generated_runs ? [
      { label: "first pass", value: d.first_pass_rate, max: 1, text: pct(d.first_pass_rate),
        color: "#a15c00" },
      { label: "final", value: d.final_rate, max: 1, text: pct(d.final_rate), color: "#1a7f37" },
      { label: "checks passed", value: d.checks_passed, max: Math.max(d.checks_run, 1),
        text: `${d.checks_passed}/${d.checks_run}`, color: "#2457c5" },
    ] : []);
    $("chart-quality").querySelector(".figures").textContent = d.generated_runs
      ? `${d.generated_runs} generated run(s); refinement lift ${d.lift >= 0 ? "+" : ""}${Math.round(d.lift * 100)} points`
      : "no generated runs in this window";
  }

  function drawIndex(d) {
    Charts.line($("chart-index").querySelector("svg"),
      [{ name: "chunks", points: d.samples.map((s) => [s.at, s.chunks]) }], { unit: " chunks" });
    const when = (t) => t ? new Date(t * 1000).toLocaleString() : "never";
    const drift = d.drift ? Object.entries(d.drift).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(", ") : "";
    $("chart-index").querySelector(".figures").textContent = d.indexed
      ? `${d.files} files, ${d.chunks} chunks, ${(d.bytes / 1048576).toFixed(1)} MiB; last indexed ${when(d.last_indexed)}` +
        (d.head ? `; HEAD ${d.head.commit.slice(0, 8)} at ${when(d.head.time)}` : "") +
        (d.stale ? ` — stale${d.behind_head ? " (HEAD is newer)" : ""}${drift ? ": " + drift : ""}` : " — up to date")
      : "not indexed (run dmc index)";
  }

  function drawQueue(d) {
    Charts.line($("chart-queue").querySelector("svg"), [
      { name: "running", points: d.samples.map((s) => [s.at, s.running]) },
      { name: "waiting", points: d.samples.map((s) => [s.at, s.waiting]) }]);
    const who = d.mode === "in-process"
      ? `in-process ${d.backend.model || ""}: ${d.backend.ok === false ? "unhealthy" : d.backend.loaded ? "loaded" : "not loaded yet"}`
      : d.agents.map((a) => `${a.url}: ${a.ok ? "ok" : "down"} (${a.seconds} s)`).join("; ");
    $("chart-queue").querySelector(".figures").textContent =
      `${who}; now ${d.queue.running} running, ${d.queue.waiting} waiting`;
  }

  function drawMemory(d) {
    Charts.line($("chart-memory").querySelector("svg"),
      [{ name: "resident", points: d.samples.map((s) => [s.at, s.rss_mib]) }], { unit: " MiB" });
    $("chart-memory").querySelector(".figures").textContent =
      `now ${d.now_mib} MiB; a sample every ${d.sample_every_s} s`;
  }

  /* --- start --------------------------------------------------------------------------------- */

  async function login() {
    const auth = await api("/v1/auth");
    if (!auth.token_required || auth.browser_session) return true;
    const m = location.hash.match(/login=([A-Za-z0-9_-]+)/);
    if (m) {
      history.replaceState(null, "", location.pathname);  // the code leaves the address bar
      try {
        await api("/v1/auth/login", { method: "POST", body: { code: m[1] } });
        return true;
      } catch (e) {
        $("login-error").textContent = e.message;
      }
    }
    $("login").hidden = false;
    return false;
  }

  async function start() {
    $("request").addEventListener("input", onType);
    $("request").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
    });
    $("send").addEventListener("click", send);
    $("stop").addEventListener("click", stop);
    $("apply").addEventListener("click", applyResult);
    $("discard").addEventListener("click", discardResult);
    $("history-q").addEventListener("input", () => {
      clearTimeout(historyTimer);
      historyTimer = setTimeout(loadHistory, 200);
    });
    $("dash-refresh").addEventListener("click", loadDashboard);
    $("dash-hours").addEventListener("change", loadDashboard);
    window.addEventListener("hashchange", () => {
      // a login address pasted into a page that waits at the login: log in now
      if (document.body.dataset.ready !== "1") { if (/login=/.test(location.hash)) boot(); }
      else route();
    });
    boot();
  }

  async function boot() {
    try {
      if (!(await login())) return;
      $("login").hidden = true;
      const status = await api("/v1/status");
      $("repo").textContent = status.repo || "";
    } catch (e) {
      setConn("service unreachable: " + e.message);
      return;
    }
    document.body.dataset.ready = "1";
    route();
    $("request").focus();
  }

  start();
})();
