// dashboard.test.mjs - the dashboard in a real browser.
//
// Starts `gsperf serve` on an ephemeral port with a token and a rule that
// fires at once (RSS > 0, for_ms 0), drives Debian's chromium headless
// through playwright-core, and checks that: the page loads with the token
// from ?token=, at least one uPlot chart draws real points, the firing
// rule shows in the alert list with its level, and the metrics table
// fills. Saves a screenshot to $GSP_OUT_DIR/dashboard.png. Both processes
// are stopped on every outcome.
//
// Env (set by run.sh): GSPERF_BIN, GSP_WEB_DIR, GSP_OUT_DIR, GSP_CHROMIUM.
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

function startServer(work) {
  const rules = path.join(work, "rules.json");
  writeFileSync(rules, JSON.stringify({
    rules: [{ name: "rss_present", metric: "gsp_process_resident_bytes", comparison: ">",
              threshold: 0, level: "CRITICAL", for_ms: 0 }],
  }));
  const portFile = path.join(work, "port");
  const child = spawn(gsperf, ["serve", "--listen", "127.0.0.1:0", "--port-file", portFile,
    "--interval", "200", "--rules", rules, "--token", TOKEN],
  { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  return { child, portFile, stderr: () => stderr };
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null || srv.child.signalCode !== null) return;
  const gone = new Promise((r) => srv.child.once("exit", r));
  srv.child.kill("SIGTERM");
  const t = setTimeout(() => srv.child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(t);
}

test("dashboard shows live charts, the firing alert and metrics", { timeout: 90_000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), "gsperf-browser-"));
  const srv = startServer(work);
  let browser = null, page = null;
  try {
    const port = await waitFor("the port file", () => {
      if (srv.child.exitCode !== null) throw new Error(`gsperf serve exited: ${srv.stderr()}`);
      const s = existsSync(srv.portFile) ? readFileSync(srv.portFile, "utf8").trim() : "";
      return /^\d+$/.test(s) ? Number(s) : 0;
    }, 15_000);

    // a fresh, empty profile in the work dir (the --user-data-dir)
    browser = await chromium.launchPersistentContext(path.join(work, "profile"), {
      executablePath: chromiumPath,
      headless: true,
      timeout: 30_000,
      viewport: { width: 1400, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
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
