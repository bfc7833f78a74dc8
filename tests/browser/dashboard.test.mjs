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
// Both processes are stopped on every outcome. run.sh picks the test by
// name. Env (set by run.sh): GSPERF_BIN, GSP_HOST_BIN (panels),
// GSP_WEB_DIR, GSP_OUT_DIR, GSP_CHROMIUM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
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
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });

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
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
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
