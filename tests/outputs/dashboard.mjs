// dashboard.mjs: the browser test.  Headless Chromium (Debian's) driven by
// playwright-core opens the dashboard, picks the growing workload, checks
// that the HeapAlloc chart data and the shown numbers move, that nothing
// outside loopback was fetched, and that an exited process is shown as
// such.  The flame graph of PROF (profwork.c) must show its real allocation
// sites with widths that follow the switch between in-use and allocated
// space; after a SIGKILL, PROF must be listed as ended and its flame graph
// still open from the state directory.  With a wrong login the flame graph's
// 401 is shown as such.  Saves screenshots.
// Env: BASE, PID, PROF, OUT, PW_DIR, CHROMIUM.
import { createRequire } from "module";
import fs from "fs";

const require = createRequire(process.env.PW_DIR + "/package.json");
const { chromium } = require("playwright-core");

const BASE = process.env.BASE, PID = Number(process.env.PID), OUT = process.env.OUT;
const PROF = Number(process.env.PROF);
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
const killer = setTimeout(() => { console.log("FAIL: timeout"); process.exit(1); }, 110000);

// The frames d3-flame-graph drew: each frame's name (its datum) and width.
const flameFrames = (page) => page.evaluate(() =>
  Array.from(document.querySelectorAll("#flame svg g"))
    .filter((g) => g.__data__ && g.__data__.data && g.querySelector("rect"))
    .map((g) => ({ name: g.__data__.data.name,
                   w: Number(g.querySelector("rect").getAttribute("width")) || 0 })));
const widthOf = (frames, name) => frames.filter((f) => f.name === name)
  .reduce((a, f) => a + f.w, 0);
// Click pid's row until the page has it selected, at most tries times: the
// list re-sorts its rows every second, so a click can land on a row that
// just moved.  Whether it was selected.
const selectRow = async (page, pid, tries) => {
  for (let i = 0; i < tries; i++) {
    await page.click(`#procs tr[data-pid="${pid}"]`);
    if (await page.waitForFunction((p) => window.gomemDashboard.selected() === p, pid,
      { timeout: 2000 }).then(() => true, () => false))
      return true;
  }
  return false;
};
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
  // The page runs under a policy that loads only gomemd's own files and
  // cannot be framed; the page errors checked below include every
  // violation of it.
  const csp = resp.headers()["content-security-policy"] || "";
  for (const d of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"])
    if (!csp.includes(d)) fail("Content-Security-Policy lacks " + d + ": " + JSON.stringify(csp));
  await page.waitForSelector(`#procs tr[data-pid="${PID}"]`, { timeout: 15000 });
  if (!await selectRow(page, PID, 10)) fail("the workload's row cannot be selected");
  // Two points: the history and the live stream.  On a loaded machine
  // (a CI run beside other builds) this has taken over 15 s; say what
  // the page had if it does not come.
  await page.waitForFunction(() => window.gomemDashboard.points() >= 2, null, { timeout: 40000 })
    .catch(async (e) => {
      const st = await page.evaluate(async (pid) => ({
        selected: window.gomemDashboard.selected(), points: window.gomemDashboard.points(),
        conn: document.getElementById("conn").textContent,
        history: await fetch("memstats/history?pid=" + pid)
          .then(async (r) => r.status + " " + (r.ok ? (await r.json()).TimeNs.length + " points" : ""))
          .catch((x) => String(x)),
      }), PID);
      console.log("page state: " + JSON.stringify(st) + "; errors: " + JSON.stringify(errors));
      throw e;
    });

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

  // The flame graph of the profiled workload: in use, then allocated space.
  await selectRow(page, PROF, 3);
  await page.waitForFunction((p) => window.gomemDashboard.flameLoaded() === p &&
    window.gomemDashboard.flameKind() === 3, PROF, { timeout: 20000 }).catch(async (e) => {
    console.log("flame state: " + JSON.stringify(await page.evaluate(() => ({
      loaded: window.gomemDashboard.flameLoaded(), kind: window.gomemDashboard.flameKind(),
      info: document.getElementById("flame-info").textContent,
      msg: document.getElementById("flame-msg").textContent }))) + " errors: " + errors.join(" | "));
    throw e;
  });
  await page.waitForTimeout(600); // the library's transition
  const inuse = await flameFrames(page);
  const leakIn = widthOf(inuse, "leak_big_blocks"), churnIn = widthOf(inuse, "churn_small");
  const mainIn = widthOf(inuse, "main");
  console.log("in use: leak_big_blocks " + leakIn + " px, churn_small " + churnIn + " px, main " + mainIn + " px");
  if (!(leakIn > 100)) fail("in-use flame graph has no wide leak_big_blocks frame: " + JSON.stringify(inuse.map((f) => f.name)));
  if (churnIn > leakIn / 20) fail("churn_small frees everything but is " + churnIn + " px wide in use");
  if (!(mainIn >= leakIn)) fail("main (" + mainIn + " px) narrower than its callee leak_big_blocks");
  // The hover tip names the frame with its in-use bytes: 8 MiB kept, sampled.
  await page.hover("#flame svg g:has-text('leak_big_blocks') rect");
  const tip = await page.evaluate(() => {
    const t = document.querySelector(".d3-flame-graph-tip");
    return t ? t.textContent : "";
  });
  console.log("tip: " + tip);
  const mib = /^leak_big_blocks: ([\d.]+) MiB/.exec(tip);
  if (!mib || !(Number(mib[1]) > 4 && Number(mib[1]) < 16)) fail("hover tip: " + tip);
  await page.check('input[name="flame-kind"][value="1"]');
  await page.waitForFunction(() => window.gomemDashboard.flameKind() === 1, null, { timeout: 5000 });
  await page.waitForTimeout(600);
  const alloc = await flameFrames(page);
  const leakAl = widthOf(alloc, "leak_big_blocks"), churnAl = widthOf(alloc, "churn_small");
  console.log("allocated: leak_big_blocks " + leakAl + " px, churn_small " + churnAl + " px");
  // Truth: 8 MiB kept by leak_big_blocks, 40000 blocks of 96..144 B (4.8 MB) by churn_small.
  const ratio = churnAl / leakAl, want = 40000 * 120 / (8 << 20);
  if (!(churnAl > 0)) fail("allocated flame graph has no churn_small frame");
  if (!(leakAl < leakIn)) fail("the switch to allocated space did not narrow leak_big_blocks: " + leakIn + " -> " + leakAl);
  if (!(ratio > want * 0.6 && ratio < want * 1.6)) fail("churn_small/leak_big_blocks width " + ratio.toFixed(2) + ", want about " + want.toFixed(2));
  await page.screenshot({ path: OUT + "/dashboard-flame.png", fullPage: true });

  // SIGKILL: no goodbye from the process; its last profile stays in the state directory.
  process.kill(PROF, "SIGKILL");
  await page.waitForSelector(`#ended tr[data-pid="${PROF}"]`, { timeout: 20000 });
  const how = await page.textContent(`#ended tr[data-pid="${PROF}"]`);
  console.log("ended row: " + how);
  // gomemd saw the SIGKILL (exit tracepoint): the row says so, not just "vanished"
  if (!/signal SIGKILL/.test(how)) fail("the ended row does not say how it ended: " + how);
  await page.click(`#ended tr[data-pid="${PROF}"]`);
  await page.waitForFunction((p) => window.gomemDashboard.selected() === p &&
    window.gomemDashboard.flameLoaded() === p, PROF, { timeout: 20000 });
  await page.waitForTimeout(600);
  const post = await flameFrames(page);
  const endedInfo = await page.textContent("#ended-info");
  console.log("ended: " + endedInfo);
  if (!(widthOf(post, "churn_small") > 0 && widthOf(post, "leak_big_blocks") > 0))
    fail("the ended process's flame graph lacks its sites: " + JSON.stringify(post.map((f) => f.name)));
  if (await page.isHidden("#ended-info")) fail("the ended process is not shown as ended");
  if (await page.isVisible("#chart-mem")) fail("live charts shown for an ended process");
  await page.screenshot({ path: OUT + "/dashboard-ended.png", fullPage: true });
  // Back to the live workload.
  if (!await selectRow(page, PID, 10)) fail("the live workload's row cannot be selected");

  // The workload exits (the shell kills it when told): the page says so.
  fs.writeFileSync(OUT + "/.kill-workload", "");
  await page.waitForSelector("#exited:not([hidden])", { timeout: 20000 })
    .catch(() => fail("exit of the process not shown"));
  if (offsite.length) fail("requests outside loopback: " + offsite.join(" "));
  if (errors.length) fail("page errors: " + errors.join(" | "));

  // With a wrong login the flame graph (a private route) answers 401: shown,
  // not thrown.  (With none at all, Chromium waits for the user to answer
  // its login dialog, which a headless browser never shows.)
  const anonDir = fs.mkdtempSync("/tmp/gomem-chromium-");
  const anon = await chromium.launchPersistentContext(anonDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    httpCredentials: { username: "mallory", password: "wrong" },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"], timeout: 60000,
  });
  try {
    const p2 = anon.pages()[0] || await anon.newPage();
    const errs2 = [];
    p2.on("pageerror", (e) => errs2.push(String(e)));
    await p2.goto(BASE + "/#ended=" + PROF, { waitUntil: "load" });
    await p2.waitForSelector("#flame-msg:not([hidden])", { timeout: 15000 });
    const msg = await p2.textContent("#flame-msg");
    console.log("no login: " + msg);
    if (!/login/.test(msg) || !/401/.test(msg)) fail("no login message for 401: " + msg);
    if (errs2.length) fail("page errors without login: " + errs2.join(" | "));
  } finally {
    await anon.close();
    fs.rmSync(anonDir, { recursive: true, force: true });
  }
  if (!process.exitCode) console.log("ok: dashboard live, HeapAlloc " + a.shown + " -> " + b.shown);
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  clearTimeout(killer);
  await ctx.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
