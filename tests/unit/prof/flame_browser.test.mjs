// flame_browser.test.mjs - flame.svg (written by `gsperf profile` for a
// run of two programs) opened from disk in headless chromium: it loads
// nothing else; each process has its root frame; a click zooms (the
// frame fills the width, frames outside its span hide) and "Reset zoom"
// undoes it; "Search" takes a regular expression from a prompt, paints
// the matching frames and shows their share, which matches the JSON
// report's shares of those functions; Escape clears; every label fits
// its frame. Environment: GSP_FLAME, GSP_JSON, GSP_WEB_DIR, GSP_OUT_DIR,
// GSP_CHROMIUM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const flame = path.resolve(env("GSP_FLAME"));
const report = JSON.parse(readFileSync(env("GSP_JSON"), "utf8"));
const require = createRequire(path.join(path.resolve(env("GSP_WEB_DIR")), "package.json"));
const { chromium } = require("playwright-core");

// The frame (<g>) whose title starts with prefix, or null.
async function frameByTitle(page, prefix) {
  const h = await page.evaluateHandle((pre) => [...document.querySelectorAll("g.f")]
    .find((g) => g.querySelector("title").textContent.startsWith(pre)) || null, prefix);
  return h.asElement();
}
const rectOf = async (g) => g.$("rect");
const display = (g) => g.evaluate((e) => e.style.display);
const fill = async (g) => (await rectOf(g)).evaluate((r) => r.style.fill);

test("flame.svg: self-contained, zoom, reset, search", async () => {
  const browser = await chromium.launch({ executablePath: env("GSP_CHROMIUM"),
    args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const urls = [];
    page.on("request", (r) => urls.push(r.url()));
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`file://${flame}`);
    assert.deepEqual(urls, [`file://${flame}`], "the page loads nothing else");

    const procs = report.processes.filter((p) => p.samples > 0);
    assert.ok(procs.length >= 2, "two processes with samples");
    for (const p of procs)
      assert.ok(await frameByTitle(page, `${p.comm} [${p.pid}] (`), `no frame for ${p.pid}`);

    // zoom on the prof_pair process: hot3's frames hide, it fills the width
    const pair = procs.find((p) => p.comm === "prof_pair");
    const pairFrame = await frameByTitle(page, `prof_pair [${pair.pid}] (`);
    await (await rectOf(pairFrame)).click();
    assert.equal(Number(await (await rectOf(pairFrame)).getAttribute("width")), 1200);
    const hot = await frameByTitle(page, "hot_sixty (");
    const major = await frameByTitle(page, "pair_major (");
    assert.equal(await display(hot), "none");
    assert.equal(await display(major), "");
    await page.locator("#reset").click();
    assert.equal(await display(hot), "");

    // search ^hot_ : the share of the three hot functions (they do not nest)
    page.once("dialog", (d) => d.accept("^hot_"));
    await page.locator("#search").click();
    const matched = await page.locator("#matched").textContent();
    const got = Number(/Matched: ([0-9.]+)%/.exec(matched)[1]);
    const want = report.functions.filter((f) => /^hot_/.test(f.name))
      .reduce((s, f) => s + f.self_pct, 0);
    assert.ok(Math.abs(got - want) < 0.5, `matched ${got}%, report says ${want}%`);
    assert.equal(await fill(hot), "rgb(230, 0, 230)");
    assert.equal(await fill(major), "");
    await page.keyboard.press("Escape");
    assert.equal(await page.locator("#matched").textContent(), "");
    assert.equal(await fill(hot), "");

    // every label fits its frame
    const over = await page.evaluate(() => [...document.querySelectorAll("g.f")].filter((g) => {
      const t = g.querySelector("text"), r = g.querySelector("rect");
      return t.textContent && t.getComputedTextLength() > Number(r.getAttribute("width"));
    }).length);
    assert.equal(over, 0, "labels wider than their frame");
    await page.screenshot({ path: path.join(env("GSP_OUT_DIR"), "flame.png") });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
