// dashboard.mjs: the browser test.  Headless Chromium (Debian's) driven by
// playwright-core opens the dashboard, picks the growing workload, checks
// that the HeapAlloc chart data and the shown numbers move, that nothing
// outside loopback was fetched, and that an exited process is shown as
// such.  Saves a screenshot.  Env: BASE, PID, OUT, PW_DIR, CHROMIUM.
import { createRequire } from "module";
import fs from "fs";

const require = createRequire(process.env.PW_DIR + "/package.json");
const { chromium } = require("playwright-core");

const BASE = process.env.BASE, PID = Number(process.env.PID), OUT = process.env.OUT;
const userDir = fs.mkdtempSync("/tmp/gomem-chromium-");
const fail = (msg) => { console.log("FAIL: " + msg); process.exitCode = 1; };

const ctx = await chromium.launchPersistentContext(userDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 1000 },
  // the test user of common.sh's web config: the top sites need it
  httpCredentials: { username: "alice", password: "U*U" },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 60000,
});
const killer = setTimeout(() => { console.log("FAIL: timeout"); process.exit(1); }, 90000);
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const offsite = [], errors = [];
  await page.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.hostname !== "127.0.0.1") { offsite.push(u.href); return route.abort(); }
    return route.continue();
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  const resp = await page.goto(BASE + "/", { waitUntil: "load" });
  if (resp.status() !== 200) fail("GET / gave " + resp.status());
  await page.waitForSelector(`#procs tr[data-pid="${PID}"]`, { timeout: 15000 });
  await page.click(`#procs tr[data-pid="${PID}"]`);
  await page.waitForFunction(() => window.gomemDashboard.points() >= 2, null, { timeout: 15000 });

  const read = () => page.evaluate(() => ({
    heap: window.gomemDashboard.heapAlloc(),
    shown: document.getElementById("num-HeapAlloc").textContent,
    rss: document.getElementById("num-RSS").textContent,
    age: document.getElementById("num-snapshotage").textContent,
    bysize: document.querySelectorAll("#bysize tbody tr").length,
    sites: Array.from(document.querySelectorAll("#topsites tbody td:first-child"))
      .filter((td) => !td.classList.contains("hint")).map((td) => td.textContent),
    canvases: document.querySelectorAll("#chart-mem canvas, #chart-rate canvas").length,
    sel: window.gomemDashboard.selected(),
    rows: document.querySelectorAll("#procs tbody tr").length,
    exitedShown: !document.getElementById("exited").hidden,
  }));
  const a = await read();
  await page.waitForTimeout(4500);
  const b = await read();
  console.log("before:", JSON.stringify({ n: a.heap.length, last: a.heap.at(-1), shown: a.shown }));
  console.log("after: ", JSON.stringify({ n: b.heap.length, last: b.heap.at(-1), shown: b.shown, rss: b.rss, age: b.age }));
  if (b.sel !== PID) fail("selected pid " + b.sel);
  if (!(b.heap.length > a.heap.length)) fail("chart got no new points");
  if (!(b.heap.at(-1) > a.heap.at(-1))) fail("HeapAlloc in the chart did not grow");
  if (a.shown === b.shown) fail("shown HeapAlloc did not change: " + b.shown);
  if (b.canvases < 2) fail("charts not drawn");
  if (b.bysize < 2) fail("BySize table empty");
  if (b.sites.length < 1) fail("Top allocation sites table empty");
  console.log("top allocation sites:", JSON.stringify(b.sites.slice(0, 3)));
  if (!/\d/.test(b.rss)) fail("RSS not shown: " + b.rss);
  if (b.rows < 2) fail("process list has " + b.rows + " rows, want the two workloads");
  if (b.exitedShown) fail("live process shown as exited");
  await page.screenshot({ path: OUT + "/dashboard.png", fullPage: true });

  // The workload exits (the shell kills it when told): the page says so.
  fs.writeFileSync(OUT + "/.kill-workload", "");
  await page.waitForSelector("#exited:not([hidden])", { timeout: 20000 })
    .catch(() => fail("exit of the process not shown"));
  if (offsite.length) fail("requests outside loopback: " + offsite.join(" "));
  if (errors.length) fail("page errors: " + errors.join(" | "));
  if (!process.exitCode) console.log("ok: dashboard live, HeapAlloc " + a.shown + " -> " + b.shown);
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  clearTimeout(killer);
  await ctx.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
