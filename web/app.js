/*
 * app.js: the gomem live dashboard.
 *
 * Data: GET processes (the watched processes, polled), GET events (Server-
 * Sent Events, one "memstats" event per process per snapshot) and
 * GET memstats/history?pid=N (seeds the charts when a process is picked).
 * All URLs are relative, so the page works under any prefix, offline.
 */
(function () {
  "use strict";

  var MAX_POINTS = 900;          /* 15 min at 1 s */
  var POLL_MS = 2000;

  var procs = new Map();         /* pid -> {pid, comm, exited, last, lastAt} */
  var selected = 0;
  var series = null;             /* columns for the charts of the selected pid */
  var memChart = null, rateChart = null;
  var lastBySizeRender = 0;
  var listPending = false;

  var MEM_FIELDS = ["HeapAlloc", "HeapInuse", "HeapIdle", "HeapReleased", "Sys", "RSS"];
  var MEM_COLORS = ["#1a6fb5", "#2f9e44", "#e8890c", "#9c36b5", "#c92a2a", "#495057"];

  function $(id) { return document.getElementById(id); }

  function fmtBytes(v) {
    if (v == null || isNaN(v)) return "–";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    v = Number(v);
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)) + " " + u[i];
  }
  function fmtCount(v) {
    if (v == null || isNaN(v)) return "–";
    v = Number(v);
    if (Math.abs(v) >= 1e9) return (v / 1e9).toFixed(2) + " G";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(2) + " M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + " k";
    return v.toFixed(v % 1 === 0 ? 0 : 1);
  }
  function fmtAge(ms) {
    if (ms == null || isNaN(ms)) return "–";
    if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
    if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
    return Math.round(ms / 60000) + " min";
  }
  function text(el, s) { if (el.textContent !== s) el.textContent = s; }

  /* Age of a process's latest snapshot now: its age when it arrived plus time since. */
  function ageOf(p) {
    if (!p.last) return null;
    return (p.last.AgeMs || 0) + (Date.now() - p.lastAt);
  }

  /* ---- process list ---- */

  function renderList() {
    var tbody = document.querySelector("#procs tbody");
    var pids = Array.from(procs.keys()).sort(function (a, b) { return a - b; });
    $("procs-empty").hidden = pids.length > 0;
    var rows = [];
    pids.forEach(function (pid) {
      var p = procs.get(pid), ms = p.last && p.last.MemStats;
      var tr = tbody.querySelector('tr[data-pid="' + pid + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.pid = pid;
        tr.innerHTML = '<td class="num"></td><td></td><td class="num"></td><td class="num"></td><td class="num"></td>';
        tr.addEventListener("click", function () { select(pid); });
      }
      var td = tr.children;
      text(td[0], String(pid));
      text(td[1], p.comm || "?");
      text(td[2], ms ? fmtBytes(ms.HeapAlloc) : "–");
      text(td[3], p.last ? fmtBytes(p.last.RSS) : "–");
      text(td[4], p.exited ? "exited" : fmtAge(ageOf(p)));
      tr.classList.toggle("selected", pid === selected);
      tr.classList.toggle("exited", !!p.exited);
      rows.push(tr);
    });
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    Array.from(tbody.children).forEach(function (tr) {
      if (!procs.has(Number(tr.dataset.pid))) tr.remove();
    });
  }

  function pollProcesses() {
    fetch("processes", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (j) {
      var list = j.Processes || [];
      var seen = new Set();
      list.forEach(function (e) {
        var pid = Number(e.Pid);
        if (!pid) return;
        seen.add(pid);
        var p = procs.get(pid) || { pid: pid, last: null, lastAt: 0 };
        p.comm = e.Comm || p.comm;
        p.exited = !!e.Exited;
        procs.set(pid, p);
      });
      /* Gone from the daemon too (grace period over): mark exited, keep the selected one. */
      procs.forEach(function (p, pid) {
        if (!seen.has(pid)) {
          if (pid === selected) p.exited = true; else procs.delete(pid);
        }
      });
      renderList();
      renderDetailState();
      if (!selected) autoSelect();
    }).catch(function () { /* the daemon may be restarting; try again */ });
  }

  /* Select the process named in the URL (#pid=N), if any. */
  function autoSelect() {
    var m = /pid=(\d+)/.exec(location.hash);
    if (m && procs.has(Number(m[1]))) select(Number(m[1]));
  }

  /* ---- charts ---- */

  function emptySeries() {
    return { t: [], mem: MEM_FIELDS.map(function () { return []; }), mal: [], fre: [],
             cm: [], cf: [], prev: null };
  }

  /* Append one point (time in s, the six memory values, cumulative Mallocs/Frees). */
  function pushPoint(s, t, vals, mallocs, frees) {
    if (s.t.length && t <= s.t[s.t.length - 1]) return;
    s.t.push(t);
    vals.forEach(function (v, i) { s.mem[i].push(v); });
    var rm = null, rf = null;
    if (s.prev && t > s.prev.t) {
      var dt = t - s.prev.t;
      rm = Math.max(0, (mallocs - s.prev.m) / dt);
      rf = Math.max(0, (frees - s.prev.f) / dt);
    }
    s.mal.push(rm);
    s.fre.push(rf);
    s.cm.push(mallocs);
    s.cf.push(frees);
    s.prev = { t: t, m: mallocs, f: frees };
    if (s.t.length > MAX_POINTS) {
      s.t.shift(); s.mem.forEach(function (a) { a.shift(); }); s.mal.shift(); s.fre.shift();
      s.cm.shift(); s.cf.shift();
    }
  }

  function chartWidth() {
    return Math.max(320, $("detail").clientWidth - 12);
  }

  function makeCharts() {
    if (memChart) { memChart.destroy(); memChart = null; }
    if (rateChart) { rateChart.destroy(); rateChart = null; }
    var w = chartWidth();
    var memSeries = [{}].concat(MEM_FIELDS.map(function (f, i) {
      return { label: f, stroke: MEM_COLORS[i], width: 1.5, value: function (u, v) { return fmtBytes(v); } };
    }));
    memChart = new uPlot({
      width: w, height: 260, series: memSeries,
      scales: { x: { time: true } },
      axes: [{}, { size: 70, values: function (u, vals) { return vals.map(fmtBytes); } }]
    }, [[]].concat(MEM_FIELDS.map(function () { return []; })), $("chart-mem"));
    rateChart = new uPlot({
      width: w, height: 200,
      series: [{},
        { label: "mallocs/s", stroke: "#1a6fb5", width: 1.5, value: function (u, v) { return fmtCount(v); } },
        { label: "frees/s", stroke: "#e8890c", width: 1.5, value: function (u, v) { return fmtCount(v); } }],
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: function (u, vals) { return vals.map(fmtCount); } }]
    }, [[], [], []], $("chart-rate"));
  }

  function redraw() {
    if (!series || !memChart) return;
    memChart.setData([series.t].concat(series.mem));
    rateChart.setData([series.t, series.mal, series.fre]);
  }

  /* ---- detail pane ---- */

  var NUMBERS = [
    ["HeapAlloc", fmtBytes], ["HeapInuse", fmtBytes], ["HeapIdle", fmtBytes],
    ["HeapReleased", fmtBytes], ["HeapSys", fmtBytes], ["Sys", fmtBytes], ["RSS", fmtBytes],
    ["HeapObjects", fmtCount], ["TotalAlloc", fmtBytes], ["mallocs/s", fmtCount],
    ["frees/s", fmtCount], ["snapshot age", fmtAge]
  ];

  function buildNumbers() {
    var box = $("numbers");
    box.innerHTML = "";
    NUMBERS.forEach(function (n) {
      var d = document.createElement("div");
      d.innerHTML = '<span class="k"></span><span class="v">–</span>';
      d.firstChild.textContent = n[0];
      d.lastChild.id = "num-" + n[0].replace(/[^A-Za-z]/g, "");
      box.appendChild(d);
    });
  }

  function renderNumbers() {
    var p = procs.get(selected);
    if (!p || !p.last) return;
    var ms = p.last.MemStats, last = series && series.t.length - 1;
    var vals = {
      HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, HeapIdle: ms.HeapIdle,
      HeapReleased: ms.HeapReleased, HeapSys: ms.HeapSys, Sys: ms.Sys, RSS: p.last.RSS,
      HeapObjects: ms.HeapObjects, TotalAlloc: ms.TotalAlloc,
      "mallocs/s": last >= 0 ? series.mal[last] : null,
      "frees/s": last >= 0 ? series.fre[last] : null,
      "snapshot age": ageOf(p)
    };
    NUMBERS.forEach(function (n) {
      text($("num-" + n[0].replace(/[^A-Za-z]/g, "")), n[1](vals[n[0]]));
    });
  }

  function renderBySize(force) {
    var p = procs.get(selected);
    if (!p || !p.last) return;
    if (!force && Date.now() - lastBySizeRender < 2000) return;
    lastBySizeRender = Date.now();
    var tbody = document.querySelector("#bysize tbody");
    var html = "";
    (p.last.MemStats.BySize || []).forEach(function (b) {
      if (!b.Mallocs && !b.Frees) return;
      html += "<tr><td class=\"num\">" + b.Size + "</td><td class=\"num\">" + b.Mallocs +
        "</td><td class=\"num\">" + b.Frees + "</td><td class=\"num\">" + (b.Mallocs - b.Frees) +
        "</td></tr>";
    });
    tbody.innerHTML = html || '<tr><td colspan="4" class="hint">no small allocations yet</td></tr>';
  }

  /* Top allocation sites from the heap profile (GET profile/top?pid=N). */
  function renderTopSites() {
    var pid = selected;
    if (!pid) return;
    $("pprof-link").href = "debug/pprof/heap?pid=" + pid;
    fetch("profile/top?pid=" + pid, { cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (t) {
      if (!t || pid !== selected) return;
      var tbody = document.querySelector("#topsites tbody");
      tbody.textContent = "";
      (t.Sites || []).forEach(function (s) {
        var tr = document.createElement("tr");
        [s.Function, fmtBytes(s.InuseSpace), fmtCount(s.InuseObjects), fmtBytes(s.AllocSpace)]
          .forEach(function (v, i) {
            var td = document.createElement("td");
            if (i > 0) td.className = "num";
            td.textContent = v;
            if (i === 0 && s.Stack) td.title = s.Stack.join(" < ");
            tr.appendChild(td);
          });
        tbody.appendChild(tr);
      });
      if (!tbody.children.length) {
        tbody.innerHTML = '<tr><td colspan="4" class="hint">no allocation samples yet</td></tr>';
      }
    }).catch(function () {});
  }

  function renderDetailState() {
    var p = procs.get(selected);
    $("detail-empty").hidden = !!p;
    $("detail-body").hidden = !p;
    if (!p) return;
    text($("detail-title"), (p.comm || "?") + " (pid " + p.pid + ")");
    $("exited").hidden = !p.exited;
  }

  function select(pid) {
    if (pid === selected) return;
    selected = pid;
    history.replaceState(null, "", "#pid=" + pid);
    series = emptySeries();
    renderDetailState();
    buildNumbers();
    makeCharts();
    renderList();
    fetch("memstats/history?pid=" + pid, { cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (h) {
      if (!h || pid !== selected || !h.TimeNs) return;
      var s = emptySeries();
      for (var i = 0; i < h.TimeNs.length; i++) {
        pushPoint(s, h.TimeNs[i] / 1e9, MEM_FIELDS.map(function (f) { return h[f][i]; }),
                  h.Mallocs[i], h.Frees[i]);
      }
      /* Keep live points that arrived while the history was on its way. */
      for (var j = 0; j < series.t.length; j++) {
        pushPoint(s, series.t[j], series.mem.map(function (a) { return a[j]; }),
                  series.cm[j], series.cf[j]);
      }
      series = s;
      redraw();
      renderNumbers();
    }).catch(function () {});
    var p = procs.get(pid);
    if (p && p.last) { onSnapshot(p.last); }
    renderBySize(true);
    renderTopSites();
  }

  /* ---- live events ---- */

  function onSnapshot(ev) {
    var p = procs.get(ev.Pid) || { pid: ev.Pid, exited: false };
    p.comm = ev.Comm || p.comm;
    p.last = ev;
    p.lastAt = Date.now();
    procs.set(ev.Pid, p);
    if (!listPending) {
      listPending = true;
      requestAnimationFrame(function () { listPending = false; renderList(); });
    }
    if (ev.Pid === selected && series) {
      var ms = ev.MemStats;
      pushPoint(series, ev.TimeNs / 1e9,
                [ms.HeapAlloc, ms.HeapInuse, ms.HeapIdle, ms.HeapReleased, ms.Sys, ev.RSS],
                ms.Mallocs, ms.Frees);
      redraw();
      renderNumbers();
      renderBySize(false);
    }
  }

  function connect() {
    var es = new EventSource("events");
    es.onopen = function () { $("conn").className = "conn conn-up"; text($("conn"), "live"); };
    es.onerror = function () { $("conn").className = "conn conn-down"; text($("conn"), "reconnecting"); };
    es.addEventListener("memstats", function (e) {
      try { onSnapshot(JSON.parse(e.data)); } catch (err) { /* skip a bad event */ }
    });
  }

  window.addEventListener("resize", function () {
    var w = chartWidth();
    if (memChart) memChart.setSize({ width: w, height: 260 });
    if (rateChart) rateChart.setSize({ width: w, height: 200 });
  });

  /* For tests and curious users: the dashboard's state. */
  window.gomemDashboard = {
    selected: function () { return selected; },
    select: select,
    heapAlloc: function () { return series ? series.mem[0].slice() : []; },
    points: function () { return series ? series.t.length : 0; }
  };

  connect();
  pollProcesses();
  setInterval(pollProcesses, POLL_MS);
  setInterval(function () { renderList(); renderNumbers(); }, 1000);
  setInterval(renderTopSites, 5000);
})();
