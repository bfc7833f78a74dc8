// dashboard.test.mjs - the dashboard in a real browser.
//
// "serve": starts `gsperf serve` on an ephemeral port with a token and a
// rule that fires at once (RSS > 0, for_ms 0), drives Debian's chromium
// headless through playwright-core, and checks that: the page loads with
// the token from ?token=, at least one uPlot chart draws real points, the
// firing rule shows in the alert list with its level, and the metrics
// table fills. Screenshot: $GSP_OUT_DIR/dashboard.png.
//
// "panels": starts dashboard_host (tests/browser/dashboard_host.c: real
// work through two caches and two monitored functions) with a rule on the
// "parse" cache's hit ratio series, and checks that the cache panel shows
// both caches and the top-functions panel both functions with non-zero
// calls, errors and latency quantiles, that the figures on the page agree
// with the registry read straight from /api/v1/metrics afterwards (never
// more than it, and not zero), and that the hit-ratio rule fires.
// Screenshot: $GSP_OUT_DIR/dashboard-panels.png.
//
// "report": starts `gsperf serve --report FILE` with a copy of a known
// report (tests/browser/report.json) and checks that the optimization
// report panel shows every section's key figures: functions (calls,
// errors, timeouts, hit rate, p99), caches with each level (L1/L2/L3,
// entries, compression), memory (process RSS, system percent, pressure
// level, events and their history), pools (workers, tasks, steals,
// queue-wait p50/p99, scaling range, grown/shrunk), alerts, and the
// profiler's top functions and zones; then that a rewritten file shows
// up live, that a bad file is shown as an error naming it, and that a
// good file again brings the report back. Screenshot:
// $GSP_OUT_DIR/dashboard-report.png.
//
// Both processes are stopped on every outcome. run.sh picks the test by
// name. Env (set by run.sh): GSPERF_BIN, GSP_HOST_BIN (panels),
// GSP_REPORT (report), GSP_WEB_DIR, GSP_OUT_DIR, GSP_CHROMIUM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, renameSync }
  from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run through tests/browser/run.sh)`);
  return v;
};
const gsperf = env("GSPERF_BIN");
const webDir = path.resolve(env("GSP_WEB_DIR"));
const outDir = path.resolve(env("GSP_OUT_DIR"));
const chromiumPath = process.env.GSP_CHROMIUM || "/usr/bin/chromium";
const require = createRequire(path.join(webDir, "package.json"));
const { chromium } = require("playwright-core");

const TOKEN = "browser-test-token";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function spawnWithRules(work, bin, rules, args) {
  const rulesFile = path.join(work, "rules.json");
  writeFileSync(rulesFile, JSON.stringify({ rules }));
  const portFile = path.join(work, "port");
  const child = spawn(bin, [...args, "--port-file", portFile, "--rules", rulesFile,
    "--token", TOKEN], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  return { child, portFile, stderr: () => stderr };
}

function startServer(work) {
  return spawnWithRules(work, gsperf, [{ name: "rss_present", metric: "gsp_process_resident_bytes",
    comparison: ">", threshold: 0, level: "CRITICAL", for_ms: 0 }],
  ["serve", "--listen", "127.0.0.1:0", "--interval", "200"]);
}

function startHost(work) {
  return spawnWithRules(work, process.env.GSP_HOST_BIN, [{ name: "parse_cache_cold",
    metric: "gsperf_cache_hit_ratio", labels: 'cache="parse"', comparison: "<", threshold: 1,
    level: "WARNING", for_ms: 0 }], []);
}

async function waitPort(srv) {
  return waitFor("the port file", () => {
    if (srv.child.exitCode !== null) throw new Error(`server exited: ${srv.stderr()}`);
    const s = existsSync(srv.portFile) ? readFileSync(srv.portFile, "utf8").trim() : "";
    return /^\d+$/.test(s) ? Number(s) : 0;
  }, 15_000);
}

async function launch(work) {
  // a fresh, empty profile in the work dir (the --user-data-dir)
  return chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: chromiumPath,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// The page asks for /api/v1/report and hides the report panel on its 404:
// that answer is expected from a server without a report.
function reportAbsent(m) {
  return /status of 404/.test(m.text()) && (m.location().url || "").endsWith("/api/v1/report");
}

// A chart asks for its series at once; until the monitor's first sample
// of it (later on a loaded machine) the answer is 404, which the page shows
// as "no data". The report test is about the report panel, not the charts.
function seriesNotYet(m) {
  return /status of 404/.test(m.text()) && /\/api\/v1\/series\?/.test(m.location().url || "");
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null || srv.child.signalCode !== null) return;
  const gone = new Promise((r) => srv.child.once("exit", r));
  srv.child.kill("SIGTERM");
  const t = setTimeout(() => srv.child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(t);
}

test("serve: dashboard shows live charts, the firing alert and metrics", { timeout: 90_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), "gsperf-browser-"));
  const srv = startServer(work);
  let browser = null, page = null;
  try {
    const port = await waitPort(srv);
    browser = await launch(work);
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !reportAbsent(m))
        problems.push(`console: ${m.text()} (${m.location().url || "no url"})`);
    });

    const base = `http://127.0.0.1:${port}`;
    const resp = await page.goto(`${base}/?token=${TOKEN}`, { waitUntil: "load" });
    assert.equal(resp.status(), 200);
    assert.match(await page.title(), /gsperf/);
    // the token left the address bar
    assert.ok(!page.url().includes(TOKEN), `token still in URL: ${page.url()}`);

    // a chart with real points: the uPlot instance's x data has >= 2 points
    await page.waitForFunction(() => {
      const d = window.gspDashboard;
      if (!d) return false;
      for (const c of d.charts.values())
        if (c.plot && c.plot.data[0].length >= 2 && c.plot.data[2].some((v) => v > 0)) return true;
      return false;
    }, null, { timeout: 30_000, polling: 100 });
    const drawn = await page.evaluate(() => [...window.gspDashboard.charts.values()]
      .filter((c) => c.plot).map((c) => ({ name: c.spec.name, n: c.plot.data[0].length })));
    assert.ok(drawn.some((c) => c.name === "gsp_process_resident_bytes" || c.n >= 2),
      `charts: ${JSON.stringify(drawn)}`);
    // the canvas is not blank
    const inked = await page.evaluate(() => {
      const cv = document.querySelector(".chart canvas");
      const px = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
      return n;
    });
    assert.ok(inked > 100, `chart canvas has ${inked} painted pixels`);

    // the firing rule with its level
    const row = page.locator('#alerts tr[data-rule="rss_present"]');
    await row.waitFor({ state: "visible" });
    await page.waitForFunction(() => {
      const r = document.querySelector('#alerts tr[data-rule="rss_present"]');
      return r && r.textContent.includes("firing");
    }, null, { timeout: 20_000, polling: 100 });
    const text = await row.textContent();
    assert.match(text, /CRITICAL/);
    assert.match(text, /firing/);
    assert.match(text, /gsp_process_resident_bytes > 0/);

    // the metrics table came from the authorised API
    await page.waitForFunction(() => document.querySelector("#metrics tbody").textContent
      .includes("gsp_process_resident_bytes"), null, { timeout: 20_000, polling: 100 });
    // a value absent from the sample (here no cgroup CPU quota) is shown as
    // absent, never as 0
    const quota = await page.evaluate(() => [...document.querySelectorAll("#metrics tbody tr")]
      .map((r) => r.textContent).find((t) => t.includes("gsp_cgroup_cpu_quota_cores")));
    if (quota) assert.match(quota, /absent/);
    const status = await page.locator("#status").textContent();
    assert.match(status, /updated/);

    await sleep(500); // let the latest refresh paint before the picture
    await page.screenshot({ path: path.join(outDir, "dashboard.png"), fullPage: true });
    assert.deepEqual(problems, []);
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(outDir, "dashboard-failed.png"), fullPage: true })
        .catch(() => {});
    }
    e.message += `\n--- gsperf serve stderr ---\n${srv.stderr()}`;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(srv);
    rmSync(work, { recursive: true, force: true });
  }
});

// ---- the cache and top-functions panels ------------------------------------------

// The numbers of one table row: cells parsed as numbers where they are.
async function rowCells(page, sel) {
  return page.evaluate((s) => [...document.querySelector(s).cells].map((c) => c.textContent),
    sel);
}
const num = (t) => Number(String(t).replace(/[^0-9.]/g, ""));

async function apiMetrics(port) {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/metrics`,
    { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}

function apiValue(m, family, key, who) {
  const f = m.families.find((x) => x.name === family);
  const s = f && f.series.find((x) => x.labels[key] === who);
  return s ? (s.value ?? s.count) : undefined;
}

test("panels: caches and top functions show a host's real data", { timeout: 90_000,
  skip: process.env.GSP_HOST_BIN ? false : "GSP_HOST_BIN not set" }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), "gsperf-panels-"));
  const srv = startHost(work);
  let browser = null, page = null;
  try {
    const port = await waitPort(srv);
    browser = await launch(work);
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const problems = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !reportAbsent(m))
        problems.push(`console: ${m.text()} (${m.location().url || "no url"})`);
    });
    const resp = await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`, { waitUntil: "load" });
    assert.equal(resp.status(), 200);

    // both caches, with lookups counted and entries held
    for (const c of ["parse", "symbols"])
      await page.waitForFunction((name) => {
        const r = document.querySelector(`#caches tr[data-cache="${name}"]`);
        return r && Number(r.cells[2].textContent.replace(/[^0-9]/g, "")) > 0 &&
          Number(r.cells[4].textContent.replace(/[^0-9]/g, "")) > 0;
      }, c, { timeout: 30_000, polling: 100 });
    // both functions, with calls, errors and latency quantiles
    for (const f of ["parse_text", "resolve_name"])
      await page.waitForFunction((name) => {
        const r = document.querySelector(`#functions tr[data-function="${name}"]`);
        return r && Number(r.cells[1].textContent.replace(/[^0-9]/g, "")) > 0 &&
          /(ns|µs|ms| s)$/.test(r.cells[4].textContent);
      }, f, { timeout: 30_000, polling: 100 });
    const parse = await rowCells(page, '#caches tr[data-cache="parse"]');
    const fn = await rowCells(page, '#functions tr[data-function="parse_text"]');
    const rs = await rowCells(page, '#functions tr[data-function="resolve_name"]');
    assert.match(parse[1], /^\d+\.\d %$/, `hit rate cell: ${parse}`);
    const rate = num(parse[1]);
    assert.ok(rate > 0 && rate < 100, `parse hit rate ${rate}`);
    assert.ok(num(fn[2].split("(")[0]) > 0, `parse_text errors: ${fn}`);
    assert.match(fn[3], /(ns|µs|ms| s)$/);
    assert.match(fn[6], /^\d+\.\d %$/, `function cache hit rate: ${fn}`);
    assert.ok(num(rs[1]) > 0, `resolve_name: ${rs}`);

    // the page's figures are the registry's: never ahead of it, never zero
    const m = await apiMetrics(port);
    const calls = apiValue(m, "gsperf_function_calls_total", "function", "parse_text");
    const hits = apiValue(m, "gsperf_cache_hits_total", "cache", "parse");
    const entries = apiValue(m, "gsperf_cache_entries", "cache", "parse");
    assert.ok(num(fn[1]) > 0 && num(fn[1]) <= calls, `page ${fn[1]} calls, registry ${calls}`);
    assert.ok(num(parse[2]) > 0 && num(parse[2]) <= hits, `page ${parse[2]} hits, registry ${hits}`);
    assert.ok(entries > 0 && entries <= 12, `parse entries ${entries} (bound 12)`);

    // a rule on the cache's hit-ratio series (fed by the cache source) fires
    await page.waitForFunction(() => {
      const r = document.querySelector('#alerts tr[data-rule="parse_cache_cold"]');
      return r && r.textContent.includes("firing");
    }, null, { timeout: 20_000, polling: 100 });

    await sleep(500);
    await page.screenshot({ path: path.join(outDir, "dashboard-panels.png"), fullPage: true });
    assert.deepEqual(problems, []);
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(outDir, "dashboard-panels-failed.png"),
        fullPage: true }).catch(() => {});
    }
    e.message += `\n--- dashboard_host stderr ---\n${srv.stderr()}`;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(srv);
    rmSync(work, { recursive: true, force: true });
  }
});

// ---- the optimization report panel ---------------------------------------------------

// Replace the file as a host should: write aside, then rename over it.
function replaceFile(file, text) {
  writeFileSync(file + ".tmp", text);
  renameSync(file + ".tmp", file);
}

async function cellsOf(page, sel) {
  await page.locator(sel).first().waitFor({ state: "attached" });
  return page.evaluate((s) => [...document.querySelector(s).cells].map((c) => c.textContent), sel);
}

test("report: the optimization report panel shows every section of a saved report",
  { timeout: 120_000, skip: process.env.GSP_REPORT ? false : "GSP_REPORT not set" }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), "gsperf-report-"));
  const file = path.join(work, "report.json");
  const fixture = readFileSync(process.env.GSP_REPORT, "utf8");
  writeFileSync(file, fixture);
  const srv = spawnWithRules(work, gsperf, [], ["serve", "--listen", "127.0.0.1:0",
    "--interval", "500", "--report", file]);
  let browser = null, page = null;
  try {
    const port = await waitPort(srv);
    browser = await launch(work);
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const problems = [];
    let expect503 = false;
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      if (expect503 && /status of 503/.test(m.text())) return; // the bad file, on purpose
      if (seriesNotYet(m)) return;
      problems.push(`console: ${m.text()} (${m.location().url || "no url"})`);
    });
    const resp = await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`, { waitUntil: "load" });
    assert.equal(resp.status(), 200);
    await page.locator("#report-panel").waitFor({ state: "visible", timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector("#report-engine").textContent
      .includes("browser-fixture"), null, { timeout: 20_000, polling: 100 });
    assert.match(await page.locator("#report-engine").textContent(), /level aggressive/);

    // functions
    const pf = await cellsOf(page, '#report-functions tr[data-function="parse_file"]');
    assert.deepEqual([pf[1], pf[2], pf[3], pf[5], pf[7]],
      ["cpu_optimized", "4,321", "7", "69.4 %", "37.5 ms"], `parse_file: ${pf}`);
    const fr = await cellsOf(page, '#report-functions tr[data-function="fetch_remote"]');
    assert.deepEqual([fr[2], fr[3], fr[4], fr[5], fr[7]], ["88", "3", "3", "–", "250.0 ms"],
      `fetch_remote: ${fr}`);

    // caches, each level
    const c1 = await cellsOf(page, '#report-caches tr[data-cache="parse"]:not(.level)');
    assert.deepEqual([c1[1], c1[2], c1[3], c1[4], c1[7], c1[8]],
      ["L1", "lru", "1,290", "5.00 MiB", "69.4 %", "31"], `parse: ${c1}`);
    const big = '#report-caches tr[data-cache="parse_file:compressed"]';
    const l2 = await cellsOf(page, `${big}.level[data-level="L2"]`);
    assert.deepEqual([l2[0], l2[3], l2[4], l2[7], l2[9]], ["L2", "40", "2.75 MiB", "60.0 %", "3.64×"],
      `L2: ${l2}`);
    const l3 = await cellsOf(page, `${big}.level[data-level="L3"]`);
    assert.deepEqual([l3[0], l3[3], l3[4]], ["L3", "5,000", "100.0 MiB"], `L3: ${l3}`);
    assert.ok(await page.locator(`${big}.level[data-level="L1"]`).count() === 1);

    // memory: process, system, pressure and its events
    const mem = async (k) => (await cellsOf(page, `#report-memory tr[data-key="${k}"]`))[1];
    assert.equal(await mem("rss"), "150.0 MiB");
    assert.equal(await mem("heap"), "90.0 MiB");
    assert.match(await mem("system"), /^50\.0 % \(12\.0 GiB of 24\.0 GiB\)$/);
    assert.match(await mem("pressure"), /^warning · 83\.0 % of 512\.0 MiB$/);
    assert.equal(await mem("events"), "2");
    assert.equal(await mem("reclaims"), "5 (20.0 MiB)");
    const evs = await page.locator("#report-pressure-events li").allTextContents();
    assert.equal(evs.length, 2, `pressure events: ${evs}`);
    assert.match(evs[0], /warning → critical at RSS 486\.0 MiB \(95\.0 % of the limit\)/);
    assert.match(evs[1], /normal → warning/);

    // pools and scaling
    const cpu = await cellsOf(page, '#report-pools tr[data-pool="cpu"]');
    assert.deepEqual(cpu.slice(1), ["2", "9,876", "543", "14.5 µs", "2.8 ms", "1–2 (peak 2)", "3",
      "2"], `cpu pool: ${cpu}`);
    const io = await cellsOf(page, '#report-pools tr[data-pool="io"]');
    assert.deepEqual(io.slice(1), ["6", "321", "0", "61.0 µs", "1.9 ms", "1–8 (peak 8)", "11", "6"],
      `io pool: ${io}`);

    // alerts and the profiler
    const al = await page.locator('#report-alerts li[data-rule="rss_high"]').textContent();
    assert.match(al, /CRITICAL/);
    assert.match(al, /firing: rss_high \(gsp_process_resident_bytes = 150\.0 MiB, threshold 100\.0 MiB\)/);
    const top = await cellsOf(page, '#report-profiler tr[data-function="ts_parser_parse"]');
    assert.deepEqual(top.slice(1), ["41.50", "62.25", "622"], `top function: ${top}`);
    const zone = await cellsOf(page, '#report-zones tr[data-zone="analyze.parse"]');
    assert.deepEqual(zone.slice(1), ["4,321", "9.07 s", "8.50 s", "1.3 ms", "37.5 ms"], `zone: ${zone}`);
    assert.match(await page.locator("#report-profiler-title").textContent(),
      /1,500 samples, lent profile/);
    await sleep(300);
    await page.screenshot({ path: path.join(outDir, "dashboard-report.png"), fullPage: true });

    // live: a rewritten report shows up on the page
    replaceFile(file, fixture.replace('"calls": 4321', '"calls": 5005'));
    await page.waitForFunction(() => {
      const r = document.querySelector('#report-functions tr[data-function="parse_file"]');
      return r && r.cells[2].textContent === "5,005";
    }, null, { timeout: 20_000, polling: 100 });

    // a bad file: its error, naming it, in place of the report
    expect503 = true;
    replaceFile(file, "{ this is not json");
    await page.locator("#report-error").waitFor({ state: "visible", timeout: 20_000 });
    const err = await page.locator("#report-error").textContent();
    assert.ok(err.includes(file), `error does not name the file: ${err}`);
    assert.ok(await page.locator("#report-body").isHidden());
    assert.ok(srv.stderr().includes(file), `stderr: ${srv.stderr()}`);

    // good again
    replaceFile(file, fixture);
    await page.locator("#report-body").waitFor({ state: "visible", timeout: 20_000 });
    assert.ok(await page.locator("#report-error").isHidden());
    assert.deepEqual(problems, []);
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(outDir, "dashboard-report-failed.png"),
        fullPage: true }).catch(() => {});
    }
    e.message += `\n--- gsperf serve stderr ---\n${srv.stderr()}`;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(srv);
    rmSync(work, { recursive: true, force: true });
  }
});
