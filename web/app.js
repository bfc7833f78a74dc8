/*
 * app.js - the gsperf dashboard. Plain browser JavaScript, no framework.
 *
 * Every REFRESH_MS it fetches, from the server that served this page:
 *   /api/v1/series?name=N&range=R  for each chosen series -> one uPlot chart
 *   /api/v1/alerts                 -> the rules table and recent events
 *   /api/v1/metrics                -> the caches panel, the top-functions
 *                                     panel and the metrics table
 *   /api/v1/report                 -> the optimization report panel: every
 *                                     section of the engine's report (functions,
 *                                     caches by level, memory and pressure
 *                                     events, pools and scaling, alerts, the
 *                                     profiler's top functions and zones);
 *                                     hidden while the route is 404, its error
 *                                     (e.g. a bad report file) shown in place
 * The two panels read the registry by the naming convention the library's
 * exporters and the optimization engine share:
 *   per cache     gsperf_cache_{hits,misses,evictions}_total{cache=NAME},
 *                 gsperf_cache_entries{cache=NAME}, gsperf_cache_bytes{cache=NAME}
 *   per function  gsperf_function_calls_total{function=NAME},
 *                 gsperf_function_errors_total{function=NAME},
 *                 gsperf_function_duration_seconds{function=NAME} (histogram),
 *                 gsperf_function_cache_{hits,misses}_total{function=NAME}
 * A token given as ?token=T in the page URL is kept in sessionStorage,
 * removed from the address bar, and sent as "Authorization: Bearer T" on
 * every fetch; it is never written to the console or the page.
 *
 * Series times are seconds on the monitor's clock; each answer carries
 * that clock's "now", so points are shifted onto the wall clock
 * (Date.now()) for the time axis.
 */
(function () {
  "use strict";

  const REFRESH_MS = 2000;

  // The collector's series the picker offers (gsperf/monitor.h).
  const SERIES = [
    { name: "gsp_process_cpu_percent", label: "Process CPU", unit: "pct", on: true },
    { name: "gsp_process_resident_bytes", label: "Process RSS", unit: "bytes", on: true },
    { name: "gsp_process_heap_bytes", label: "Process heap", unit: "bytes" },
    { name: "gsp_process_threads", label: "Process threads", unit: "" },
    { name: "gsp_process_open_fds", label: "Open files", unit: "" },
    { name: "gsp_machine_cpu_percent", label: "Machine CPU", unit: "pct", on: true },
    { name: "gsp_machine_memory_available_bytes", label: "Machine memory available", unit: "bytes" },
    { name: "gsp_machine_load1", label: "Load (1 min)", unit: "", on: true },
    { name: "gsp_machine_load5", label: "Load (5 min)", unit: "" },
    { name: "gsp_cgroup_memory_usage_bytes", label: "cgroup memory", unit: "bytes" },
  ];

  const $ = (id) => document.getElementById(id);

  // ---- token ---------------------------------------------------------------

  function takeToken() {
    const url = new URL(window.location.href);
    let tok = url.searchParams.get("token");
    if (tok) {
      try { sessionStorage.setItem("gsperf-token", tok); } catch (e) { /* private mode */ }
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    } else {
      try { tok = sessionStorage.getItem("gsperf-token"); } catch (e) { tok = null; }
    }
    return tok || "";
  }
  const token = takeToken();

  function authHeaders() {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }
  const NOT_AUTHORISED = "not authorised: open the page with ?token=YOUR_TOKEN";

  async function getJSON(path) {
    const r = await fetch(path, { headers: authHeaders(), cache: "no-store" });
    if (r.status === 404) return null;
    if (r.status === 401) throw new Error(NOT_AUTHORISED);
    if (!r.ok) throw new Error(path.split("?")[0] + ": HTTP " + r.status);
    return r.json();
  }

  // The report: null when the server has none (404); { error } when the
  // server could not make or read it (its message names the cause). After
  // a 404 the route is asked again only every REPORT_RETRY refreshes (a
  // host may add it later), not to fill the console with 404s.
  const REPORT_RETRY = 15;
  let reportSkips = 0;
  async function getReport() {
    if (reportSkips > 0) {
      reportSkips--;
      return null;
    }
    const r = await fetch("/api/v1/report", { headers: authHeaders(), cache: "no-store" });
    if (r.status === 404) {
      reportSkips = REPORT_RETRY;
      return null;
    }
    if (r.status === 401) throw new Error(NOT_AUTHORISED);
    const body = await r.json().catch(() => null);
    if (!r.ok) return { error: (body && body.error) || "/api/v1/report: HTTP " + r.status };
    return body != null ? body : { error: "/api/v1/report: not JSON" };
  }

  // ---- formatting ------------------------------------------------------------

  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + " " + u[i];
  }
  function fmtNum(v) {
    if (v == null || !isFinite(v)) return "–";
    if (Math.abs(v) >= 1e6) return v.toExponential(3);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    return v.toFixed(Math.abs(v) < 10 ? 2 : 1);
  }
  function fmtSeconds(v) {
    if (v == null || !isFinite(v)) return "–";
    if (v < 1e-6) return (v * 1e9).toFixed(0) + " ns";
    if (v < 1e-3) return (v * 1e6).toFixed(1) + " µs";
    if (v < 1) return (v * 1e3).toFixed(1) + " ms";
    return v.toFixed(2) + " s";
  }
  // a value of the named series, by its name's unit suffix
  function fmtByName(name, v) {
    if (name.endsWith("_bytes")) return fmtBytes(v);
    if (name.endsWith("_percent")) return fmt("pct", v);
    if (name.endsWith("_seconds")) return fmtSeconds(v);
    return fmtNum(v);
  }
  function fmt(unit, v) {
    if (unit === "bytes") return fmtBytes(v);
    if (unit === "pct") return (v == null || !isFinite(v)) ? "–" : v.toFixed(1) + " %";
    return fmtNum(v);
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // ---- series picker and charts -----------------------------------------------

  const charts = new Map(); // name -> { spec, box, plot, now }
  window.gspDashboard = { charts, refreshes: 0 };

  function chosen() {
    return SERIES.filter((s) => $("pick-" + s.name).checked);
  }

  function buildPicker() {
    const box = $("picker");
    for (const s of SERIES) {
      const lab = el("label");
      const cb = el("input");
      cb.type = "checkbox";
      cb.id = "pick-" + s.name;
      cb.checked = !!s.on;
      cb.addEventListener("change", () => { syncCharts(); refresh(); });
      lab.append(cb, " " + s.label);
      box.append(lab);
    }
  }

  function chartWidth(box) {
    return Math.max(240, box.clientWidth - 16);
  }

  function makeChart(spec) {
    const box = el("div", "chart");
    box.dataset.series = spec.name;
    const title = el("div", "title");
    const now = el("span", "now", "–");
    title.append(el("span", null, spec.label), now);
    const plotBox = el("div");
    plotBox.append(el("div", "nodata", "waiting for data…"));
    box.append(title, el("div", "name", spec.name), plotBox);
    $("charts").append(box);
    return { spec, box, plotBox, now, plot: null };
  }

  function newPlot(c, data) {
    const unit = c.spec.unit;
    const opts = {
      width: chartWidth(c.box),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // one point would give an empty time range: show the minute before it
      scales: { x: { time: true, range: (u, lo, hi) => (lo === hi ? [lo - 60, hi + 1] : [lo, hi]) }, y: { range: (u, lo, hi) => yRange(unit, lo, hi) } },
      axes: [
        { stroke: "#5b6475", grid: { stroke: "#eceff3" } },
        { stroke: "#5b6475", grid: { stroke: "#eceff3" }, size: 70,
          values: (u, ticks) => ticks.map((t) => fmt(unit, t)) },
      ],
      series: [
        {},
        { label: "max", stroke: "rgba(37,99,235,0.35)", width: 1 },
        { label: "mean", stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,0.08)" },
      ],
    };
    c.plotBox.textContent = "";
    c.plot = new uPlot(opts, data, c.plotBox);
  }

  function yRange(unit, lo, hi) {
    if (lo == null || hi == null) return [0, 1];
    const top = hi > 0 ? hi * 1.1 : 1;
    if (unit === "pct") return [0, Math.max(top, 5)];
    return [Math.min(0, lo), top];
  }

  function syncCharts() {
    const want = new Set(chosen().map((s) => s.name));
    for (const [name, c] of charts) {
      if (!want.has(name)) {
        if (c.plot) c.plot.destroy();
        c.box.remove();
        charts.delete(name);
      }
    }
    for (const s of chosen()) if (!charts.has(s.name)) charts.set(s.name, makeChart(s));
  }

  async function refreshChart(c, range) {
    const q = "/api/v1/series?name=" + encodeURIComponent(c.spec.name) + "&range=" + range;
    const s = await getJSON(q);
    if (!charts.has(c.spec.name)) return; // unticked meanwhile
    if (s == null || s.points.length === 0) {
      c.now.textContent = "no data";
      return;
    }
    const shift = Date.now() / 1000 - s.now;
    const xs = [], mean = [], max = [];
    for (const p of s.points) { xs.push(p.t + shift); mean.push(p.mean); max.push(p.max); }
    const data = [xs, max, mean];
    c.now.textContent = fmt(c.spec.unit, mean[mean.length - 1]);
    if (c.plot) c.plot.setData(data);
    else newPlot(c, data);
  }

  // ---- alerts ------------------------------------------------------------------

  function badge(text) {
    return el("span", "badge " + text, text);
  }

  function renderAlerts(a) {
    const body = $("alerts").tBodies[0];
    body.textContent = "";
    if (a == null) {
      body.append(rowOf([el("td", "empty", "no monitor on this server")], 4));
      return;
    }
    if (a.rules.length === 0) body.append(rowOf([el("td", "empty", "no alert rules loaded")], 4));
    const order = { firing: 0, pending: 1, resolved: 2, inactive: 3 };
    const rules = a.rules.slice().sort((x, y) => (order[x.state] ?? 9) - (order[y.state] ?? 9));
    for (const r of rules) {
      const tr = el("tr", r.state);
      tr.dataset.rule = r.name;
      const cond = r.metric + (r.labels ? "{" + r.labels + "}" : "") + " " + r.comparison + " " +
        fmtByName(r.metric, r.threshold);
      const lv = el("td"); lv.append(badge(r.level));
      const st = el("td"); st.append(badge(r.state));
      tr.append(el("td", null, r.name), el("td", "mono", cond), lv, st);
      body.append(tr);
    }
    const ev = $("events");
    ev.textContent = "";
    const recent = a.events.slice(-8).reverse();
    if (recent.length === 0) ev.append(el("li", "empty", "none"));
    for (const e of recent) {
      const li = el("li");
      li.append(badge(e.level), " " + e.kind.toLowerCase() + ": " + e.rule + " (" + e.series +
        " = " + fmtByName(e.series, e.value) + ")");
      ev.append(li);
    }
  }

  function rowOf(cells, span) {
    const tr = el("tr");
    if (span) cells[0].colSpan = span;
    tr.append(...cells);
    return tr;
  }

  // ---- metrics -------------------------------------------------------------------

  function familyValue(f) {
    if (f.series.length === 0) return "– (absent)"; // e.g. no cgroup limit: no sample
    if (f.type === "histogram") {
      let n = 0, p99 = 0;
      for (const s of f.series) { n += s.count; p99 = Math.max(p99, (s.p99 || 0) * (f.scale || 1)); }
      return n.toLocaleString("en-US") + " obs, p99 " +
        (f.name.endsWith("_seconds") ? fmtSeconds(p99) : fmtNum(p99));
    }
    let sum = 0;
    for (const s of f.series) sum += s.value;
    return fmtByName(f.name, sum);
  }

  function rank(name) {
    if (name.startsWith("gsperf_function")) return 0;
    if (name.startsWith("gsperf_cache") || name.startsWith("gsp_cache")) return 1;
    if (name.startsWith("gsp_http")) return 2;
    return 3;
  }

  // ---- caches and functions, by the naming convention ------------------------------

  // { labelValue: { field: value } } from the families named prefix + field,
  // keyed by the label `key`; histograms keep their whole series object.
  function byLabel(m, prefix, key) {
    const out = new Map();
    for (const f of m.families) {
      if (!f.name.startsWith(prefix)) continue;
      const field = f.name.slice(prefix.length);
      for (const s of f.series) {
        const who = s.labels[key];
        if (who == null) continue;
        if (!out.has(who)) out.set(who, {});
        out.get(who)[field] = f.type === "histogram" ? { ...s, scale: f.scale || 1 } : s.value;
      }
    }
    return out;
  }

  function pct(num, den) {
    return den > 0 ? (100 * num / den).toFixed(1) + " %" : "–";
  }

  function numCell(text, cls) {
    return el("td", "num" + (cls ? " " + cls : ""), text);
  }

  function renderCaches(m) {
    const body = $("caches").tBodies[0];
    body.textContent = "";
    const caches = m == null ? new Map() : byLabel(m, "gsperf_cache_", "cache");
    if (caches.size === 0) {
      body.append(rowOf([el("td", "empty", m == null ? "no registry on this server"
        : "no cache exports its statistics (gsp_monitor_add_cache)")], 7));
      return;
    }
    const names = [...caches.keys()].sort();
    for (const name of names) {
      const c = caches.get(name);
      const hits = c.hits_total || 0, misses = c.misses_total || 0;
      const tr = el("tr");
      tr.dataset.cache = name;
      tr.append(el("td", "mono", name), numCell(pct(hits, hits + misses)), numCell(fmtNum(hits)),
        numCell(fmtNum(misses)), numCell(fmtNum(c.entries)), numCell(fmtBytes(c.bytes)),
        numCell(fmtNum(c.evictions_total || 0)));
      body.append(tr);
    }
  }

  function renderFunctions(m) {
    const body = $("functions").tBodies[0];
    body.textContent = "";
    const fns = m == null ? new Map() : byLabel(m, "gsperf_function_", "function");
    if (fns.size === 0) {
      body.append(rowOf([el("td", "empty", m == null ? "no registry on this server"
        : "no function is monitored yet")], 7));
      return;
    }
    const rows = [...fns.entries()].map(([name, f]) => {
      const d = f.duration_seconds;
      return { name, f, d, total: d ? d.sum * d.scale : 0 };
    });
    rows.sort((a, b) => b.total - a.total || (b.f.calls_total || 0) - (a.f.calls_total || 0));
    for (const r of rows.slice(0, 15)) {
      const calls = r.f.calls_total || 0, errors = r.f.errors_total || 0;
      const ch = r.f.cache_hits_total, cm = r.f.cache_misses_total;
      const tr = el("tr");
      tr.dataset.function = r.name;
      tr.append(el("td", "mono", r.name), numCell(fmtNum(calls)),
        numCell(fmtNum(errors) + (calls > 0 && errors > 0 ? " (" + pct(errors, calls) + ")" : ""),
          errors > 0 ? "bad" : ""),
        numCell(r.d && r.d.count ? fmtSeconds(r.d.p50 * r.d.scale) : "–"),
        numCell(r.d && r.d.count ? fmtSeconds(r.d.p99 * r.d.scale) : "–"),
        numCell(r.d ? fmtSeconds(r.total) : "–"),
        numCell(ch == null && cm == null ? "–" : pct(ch || 0, (ch || 0) + (cm || 0))));
      body.append(tr);
    }
  }

  function renderMetrics(m) {
    const body = $("metrics").tBodies[0];
    body.textContent = "";
    if (m == null) {
      body.append(rowOf([el("td", "empty", "no registry on this server")], 3));
      return;
    }
    const fams = m.families.slice().sort((a, b) => rank(a.name) - rank(b.name)).slice(0, 24);
    for (const f of fams) {
      const name = el("td", "mono", f.name);
      if (f.help) name.title = f.help;
      body.append(rowOf([name, el("td", null, f.type), el("td", "num", familyValue(f))]));
    }
  }


  // ---- the optimization report (/api/v1/report) ------------------------------------

  const has = (v) => v != null && isFinite(v);
  const rate01 = (v) => (has(v) ? (100 * v).toFixed(1) + " %" : "–");
  const ns = (v) => (has(v) ? fmtSeconds(v / 1e9) : "–");

  function fillBody(id, rows, span, emptyText) {
    const body = $(id).tBodies[0];
    body.textContent = "";
    if (rows.length === 0) body.append(rowOf([el("td", "empty", emptyText)], span));
    for (const r of rows) body.append(r);
  }

  function fillList(id, items, emptyText) {
    const ol = $(id);
    ol.textContent = "";
    if (items.length === 0) ol.append(el("li", "empty", emptyText));
    for (const it of items) ol.append(it);
  }

  function reportFunctions(fns) {
    const rows = Object.entries(fns || {}).map(([name, f]) => {
      const d = f.duration_seconds || {};
      const tr = el("tr");
      tr.dataset.function = name;
      const looked = (f.cache_hits || 0) + (f.cache_misses || 0);
      tr.append(el("td", "mono", name), el("td", null, f.strategy || "–"),
        numCell(fmtNum(f.calls)), numCell(fmtNum(f.errors), f.errors > 0 ? "bad" : ""),
        numCell(fmtNum(f.timeouts)), numCell(looked > 0 ? rate01(f.hit_rate) : "–"),
        numCell(d.count ? fmtSeconds(d.p50) : "–"), numCell(d.count ? fmtSeconds(d.p99) : "–"));
      return { tr, calls: f.calls || 0 };
    });
    rows.sort((a, b) => b.calls - a.calls);
    fillBody("report-functions", rows.map((r) => r.tr), 8, "no function registered");
  }

  function cacheRow(name, level, c, isLevel) {
    const tr = el("tr", isLevel ? "level" : null);
    tr.dataset.cache = name;
    tr.dataset.level = level;
    const looked = (c.hits || 0) + (c.misses || 0);
    tr.append(el("td", "mono", isLevel ? level : name), el("td", null, isLevel ? "" : level),
      el("td", null, isLevel ? "" : (c.strategy || "–")), numCell(fmtNum(c.entries)),
      numCell(fmtBytes(c.bytes)), numCell(fmtNum(c.hits)), numCell(fmtNum(c.misses)),
      numCell(looked > 0 ? pct(c.hits || 0, looked) : "–"),
      numCell(has(c.evictions) ? fmtNum(c.evictions) : "–"),
      numCell(has(c.compression_ratio) ? c.compression_ratio.toFixed(2) + "×" : "–"));
    return tr;
  }

  function reportCaches(caches) {
    const rows = [];
    for (const name of Object.keys(caches || {}).sort()) {
      const c = caches[name];
      rows.push(cacheRow(name, c.level || "–", c, false));
      for (const lv of Object.keys(c.levels || {}).sort())
        rows.push(cacheRow(name, lv, c.levels[lv], true));
    }
    fillBody("report-caches", rows, 10, "no cache");
  }

  function kvRow(key, label, value) {
    const tr = el("tr");
    tr.dataset.key = key;
    tr.append(el("th", null, label), el("td", "num", value));
    return tr;
  }

  function reportMemory(m) {
    m = m || {};
    const p = m.process_memory || {}, s = m.system_memory || {}, pr = m.pressure || {};
    const rows = [
      kvRow("rss", "Process RSS", fmtBytes(p.rss_bytes)),
      kvRow("heap", "Process heap", fmtBytes(p.heap_bytes)),
      kvRow("system", "System memory used", s.available === false ? "unavailable"
        : fmt("pct", s.memory_percent) + " (" + fmtBytes(s.used_bytes) + " of " +
          fmtBytes(s.total_bytes) + ")"),
      kvRow("available", "System memory available", fmtBytes(s.available_bytes)),
      kvRow("pressure", "Pressure level", (pr.level || "–") + (has(pr.usage_ratio)
        ? " · " + rate01(pr.usage_ratio) + " of " + fmtBytes(pr.limit_bytes) : "")),
      kvRow("events", "Pressure events", fmtNum(pr.events)),
      kvRow("reclaims", "Reclaims", fmtNum(pr.reclaims) + " (" + fmtBytes(pr.reclaimed_bytes) +
        ")"),
    ];
    fillBody("report-memory", rows, 2, "");
    const evs = (pr.history || []).slice(-8).reverse().map((e) => el("li", null, e.from + " → " +
      e.to + " at RSS " + fmtBytes(e.rss_bytes) + " (" + rate01(e.ratio) + " of the limit)"));
    fillList("report-pressure-events", evs, "none");
  }

  function poolRow(name, p) {
    const tr = el("tr");
    tr.dataset.pool = name;
    const w = p.queue_wait_ns || {}, sc = p.scaling || {};
    tr.append(el("td", null, name), numCell(fmtNum(p.workers)), numCell(fmtNum(p.tasks_run)),
      numCell(fmtNum(p.tasks_stolen)), numCell(w.count ? ns(w.p50) : "–"),
      numCell(w.count ? ns(w.p99) : "–"),
      el("td", null, sc.enabled ? sc.min_workers + "–" + sc.max_workers + " (peak " +
        sc.peak_workers + ")" : "fixed"),
      numCell(fmtNum(sc.grown)), numCell(fmtNum(sc.shrunk)));
    return tr;
  }

  function reportPools(pools) {
    const rows = Object.entries(pools || {}).map(([name, p]) => poolRow(name, p));
    fillBody("report-pools", rows, 9, "no pool");
  }

  function reportAlerts(alerts) {
    const items = (alerts || []).slice(-8).reverse().map((a) => {
      const li = el("li");
      li.dataset.rule = a.rule;
      li.append(badge((a.level || "").toUpperCase()), " " + a.kind + ": " + a.rule + " (" +
        a.series + " = " + fmtByName(a.series, a.value) + ", threshold " +
        fmtByName(a.series, a.threshold) + ")");
      return li;
    });
    fillList("report-alerts", items, "none");
  }

  function reportProfiler(pf) {
    pf = pf || {};
    $("report-profiler-title").textContent = "Profiler: top functions" + (pf.available
      ? " (" + fmtNum(pf.samples) + " samples" + (pf.source ? ", " + pf.source + " profile" : "") +
        ")" : "");
    const top = (pf.top_functions || []).map((f) => {
      const tr = el("tr");
      tr.dataset.function = f.name;
      tr.append(el("td", "mono", f.name), numCell(has(f.self_pct) ? f.self_pct.toFixed(2) : "–"),
        numCell(has(f.total_pct) ? f.total_pct.toFixed(2) : "–"), numCell(fmtNum(f.self_samples)));
      return tr;
    });
    fillBody("report-profiler", top, 4, pf.available ? "no samples yet"
      : "no profile running" + (pf.error ? " (" + pf.error + ")" : ""));
    const zones = (pf.zones || []).map((z) => {
      const tr = el("tr");
      tr.dataset.zone = z.name;
      tr.append(el("td", "mono", z.name), numCell(fmtNum(z.count)),
        numCell(fmtSeconds(z.total_seconds)), numCell(fmtSeconds(z.self_seconds)),
        numCell(fmtSeconds(z.p50)), numCell(fmtSeconds(z.p99)));
      return tr;
    });
    fillBody("report-zones", zones, 6, "no zones");
  }

  function renderReport(rep) {
    const panel = $("report-panel");
    panel.hidden = rep == null;
    window.gspDashboard.report = rep;
    if (rep == null) return;
    const bad = rep.error != null;
    $("report-error").hidden = !bad;
    $("report-body").hidden = bad;
    if (bad) {
      $("report-error").textContent = rep.error;
      return;
    }
    const e = rep.engine || {};
    $("report-engine").textContent = (e.name ? "engine " + e.name + " · " : "") + "level " +
      (e.level || "–") + " · strategy " + (e.strategy || "–") + " · " + fmtNum(e.max_workers) +
      " CPU + " + fmtNum(e.io_workers) + " I/O workers";
    reportFunctions(rep.optimized_functions);
    reportCaches(rep.cache_stats);
    reportMemory(rep.memory_stats);
    reportPools(rep.pool_stats);
    reportAlerts(rep.alerts);
    reportProfiler(rep.profiler);
  }

  // ---- the loop --------------------------------------------------------------------

  function setStatus(text, bad) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("err", !!bad);
  }

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const range = $("range").value;
      const work = [...charts.values()].map((c) => refreshChart(c, range));
      const [alerts, metrics, report] = await Promise.all([getJSON("/api/v1/alerts"),
        getJSON("/api/v1/metrics"), getReport(), ...work]);
      renderReport(report);
      renderAlerts(alerts);
      renderCaches(metrics);
      renderFunctions(metrics);
      renderMetrics(metrics);
      window.gspDashboard.refreshes++;
      setStatus("updated " + new Date().toLocaleTimeString() + " · every " + REFRESH_MS / 1000 + " s");
    } catch (e) {
      setStatus("update failed: " + e.message, true);
    } finally {
      busy = false;
    }
  }

  function resize() {
    for (const c of charts.values()) if (c.plot) c.plot.setSize({ width: chartWidth(c.box), height: 180 });
  }

  buildPicker();
  syncCharts();
  $("range").addEventListener("change", refresh);
  window.addEventListener("resize", resize);
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
