/*
 * app.js: the gomem live dashboard.
 *
 * Data: GET processes (the watched processes, polled), GET events (Server-
 * Sent Events, one "memstats" event per process per snapshot) and
 * GET memstats/history?pid=N (seeds the charts when a process is picked),
 * GET profile/flame?pid=N (the flame graph's call tree; a private route, so
 * over TCP it needs the login of gomemd's --web-config: a 401 is shown, not
 * thrown).  Ended processes come from the "Ended" list of GET processes
 * (the state directory); picking one shows its last profile.
 * All URLs are relative, so the page works under any prefix, offline.
 */
(function () {
  "use strict";

  var MAX_POINTS = 900;          /* 15 min at 1 s */
  var POLL_MS = 2000;

  var procs = new Map();         /* pid -> {pid, comm, exited, last, lastAt} */
  var selected = 0;
  var selectedEnded = false;    /* the selection is an entry of the Ended list */
  var ended = new Map();         /* pid -> the Ended entry of GET processes */
  var flame = { chart: null, data: null, kind: 3, pid: 0, seq: 0, drawnKind: -1 };
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
      tr.classList.toggle("selected", pid === selected && !selectedEnded);
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
      ended = new Map();
      (j.Ended || []).forEach(function (e) {
        var pid = Number(e.Pid);
        if (pid) ended.set(pid, e);
      });
      renderEnded();
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
          if (pid === selected && !selectedEnded) p.exited = true; else procs.delete(pid);
        }
      });
      renderList();
      renderDetailState();
      if (!selected) autoSelect();
    }).catch(function () { /* the daemon may be restarting; try again */ });
  }

  /* Select the process named in the URL (#pid=N or #ended=N), if any. */
  function autoSelect() {
    var m = /pid=(\d+)/.exec(location.hash), e = /ended=(\d+)/.exec(location.hash);
    if (m && procs.has(Number(m[1]))) select(Number(m[1]));
    else if (e && ended.has(Number(e[1]))) selectEnded(Number(e[1]));
  }

  /* How an ended process ended, in words, from its Ended entry. */
  function howEnded(e) {
    var parts = [];
    if (e.OOMKilled) parts.push("killed by the OOM killer");
    if (e.Signal) parts.push("signal " + e.Signal);
    if (e.ExitCode != null && !e.Signal && !e.OOMKilled) parts.push("exit code " + e.ExitCode);
    if (!parts.length && e.How) parts.push(e.How + (e.Code ? " " + e.Code : ""));
    return parts.join(", ") || "ended";
  }

  function fmtWhen(ns) {
    if (!ns) return "–";
    var d = new Date(Number(ns) / 1e6);
    var ago = Date.now() - d.getTime();
    return ago >= 0 && ago < 86400000 ? fmtAge(ago) + " ago" : d.toISOString().slice(0, 16).replace("T", " ");
  }

  function renderEnded() {
    var tbody = document.querySelector("#ended tbody");
    var pids = Array.from(ended.keys()).sort(function (a, b) {
      return Number(ended.get(b).EndedTimeNs || 0) - Number(ended.get(a).EndedTimeNs || 0);
    });
    $("ended-empty").hidden = pids.length > 0;
    tbody.textContent = "";
    pids.forEach(function (pid) {
      var e = ended.get(pid), tr = document.createElement("tr");
      tr.dataset.pid = pid;
      [String(pid), e.Comm || "?", howEnded(e), fmtWhen(e.EndedTimeNs)].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 0 || i === 3) td.className = "num";
        td.textContent = v;
        tr.appendChild(td);
      });
      tr.classList.toggle("selected", selectedEnded && pid === selected);
      tr.addEventListener("click", function () { selectEnded(pid); });
      tbody.appendChild(tr);
    });
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
    if (!p || !p.last || !series || selectedEnded) return;
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
    if (!p || !p.last || selectedEnded) return;
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
    if (selectedEnded) {
      var e = ended.get(selected);
      $("detail-empty").hidden = true;
      $("detail-body").hidden = false;
      $("detail-body").classList.add("ended-only");
      $("exited").hidden = true;
      if (!e) return; /* gone from the state directory: keep what is shown */
      text($("detail-title"), (e.Comm || "?") + " (pid " + selected + ", ended)");
      $("ended-info").hidden = false;
      text($("ended-info"), "Ended " + fmtWhen(e.EndedTimeNs) + ": " + howEnded(e) +
           ". Its last heap profile, kept in gomemd's state directory:");
      return;
    }
    var p = procs.get(selected);
    $("detail-empty").hidden = !!p;
    $("detail-body").hidden = !p;
    if (!p) return;
    $("detail-body").classList.remove("ended-only");
    $("ended-info").hidden = true;
    text($("detail-title"), (p.comm || "?") + " (pid " + p.pid + ")");
    $("exited").hidden = !p.exited;
  }

  /* Show an ended process: its last profile from the state directory. */
  function selectEnded(pid) {
    if (pid === selected && selectedEnded) return;
    selected = pid;
    selectedEnded = true;
    series = null;
    history.replaceState(null, "", "#ended=" + pid);
    $("pprof-link").href = "debug/pprof/heap?pid=" + pid;
    renderDetailState();
    renderList();
    renderEnded();
    loadFlame();
  }

  function select(pid) {
    if (pid === selected && !selectedEnded) return;
    selected = pid;
    selectedEnded = false;
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
    renderEnded();
    loadFlame();
  }

  /* ---- flame graph ---- */

  var FLAME_KINDS = ["allocated objects", "allocated space", "in-use objects", "in-use space"];

  function flameMsg(html) {
    var m = $("flame-msg");
    m.hidden = !html;
    m.textContent = "";
    if (html) m.appendChild(html);
  }

  /* The call tree of GET profile/flame for the selected process. */
  function loadFlame() {
    var pid = selected, seq = ++flame.seq;
    if (!pid) return;
    text($("flame-info"), "loading…");
    fetch("profile/flame?pid=" + pid, { cache: "no-store" }).then(function (r) {
      if (r.ok) return r.json();
      return r.json().catch(function () { return {}; }).then(function (e) {
        throw { status: r.status, error: e && e.error };
      });
    }).then(function (j) {
      if (seq !== flame.seq) return;
      flame.data = j;
      flame.pid = pid;
      flameMsg(null);
      drawFlame(true);
    }).catch(function (e) {
      if (seq !== flame.seq) return;
      flame.data = null;
      text($("flame-info"), "");
      var p = document.createElement("span");
      if (e && (e.status === 401 || e.status === 403)) {
        p.appendChild(document.createTextNode("Heap profiles need a login (HTTP " + e.status +
          "): gomemd serves them over TCP only to the users of its --web-config. "));
        var a = document.createElement("a");
        a.href = "debug/pprof/heap?pid=" + pid + "&debug=1";
        a.textContent = "Sign in";
        a.target = "_blank";
        p.appendChild(a);
        p.appendChild(document.createTextNode(" (the browser asks for the user), then reload."));
      } else {
        p.textContent = "No flame graph: " + ((e && e.error) || (e && e.status ? "HTTP " + e.status : String(e)));
      }
      flameMsg(p);
      if (flame.chart) { flame.chart.update({ name: "root", value: 0, children: [] }); }
    });
  }

  /*
   * The tree for d3-flame-graph with value = column k of the server's flat
   * Frames ([name, parent index, four values], parents first); frames
   * worth zero are left out.
   */
  function flameTree(frames, k) {
    var nodes = new Array(frames.length), root = null;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i], v = Number(f[2 + k]) || 0, par = f[1] >= 0 && f[1] < i ? nodes[f[1]] : null;
      if (i === 0) {
        nodes[0] = root = { name: String(f[0]), value: v, children: [] };
      } else if (par && v > 0) {
        nodes[i] = { name: String(f[0]), value: v, children: [] };
        par.children.push(nodes[i]);
      }
    }
    return root;
  }

  function drawFlame(fresh) {
    if (!flame.data || !flame.data.Frames || !flame.data.Frames.length) return;
    if (!window.flamegraph || !window.d3) {
      var s = document.createElement("span");
      s.textContent = "The flame graph library did not load (vendor/d3-flame-graph).";
      flameMsg(s);
      return;
    }
    var k = flame.kind, bytes = (k === 1 || k === 3);
    var tree = flameTree(flame.data.Frames, k);
    var fmt = bytes ? fmtBytes : fmtCount, total = tree.value;
    tree.name = FLAME_KINDS[k] + ": " + fmt(total);
    if (!flame.chart) {
      flame.chart = window.flamegraph.default()
        .width(chartWidth())
        .cellHeight(18)
        .inverted(true)
        .minFrameSize(1)
        .transitionDuration(200)
        .selfValue(false)
        .setDetailsElement($("flame-details"));
    }
    var label = function (d) {
      var pct = total > 0 ? (100 * d.value / total).toFixed(1) : "0";
      return d.data.name + ": " + fmt(d.value) + " (" + pct + "%)";
    };
    flame.chart.setLabelHandler(label);
    /* A hover tip in text mode (names come from the watched process: never HTML). */
    if (!flame.tip) {
      flame.tip = window.flamegraph.tooltip.defaultFlamegraphTooltip();
      flame.chart.tooltip(flame.tip);
    }
    flame.tip.text(function (d) { return label(d); });
    if (!flame.drawn) {
      flame.drawn = true;
      d3.select("#flame").datum(tree).call(flame.chart);
    } else {
      if (fresh) flame.chart.resetZoom();
      flame.chart.update(tree);
    }
    flame.drawnKind = k;
    var info = (flame.data.Rate ? "sampled every " + fmtBytes(flame.data.Rate) : "");
    if (flame.data.Nodes < flame.data.TotalNodes) {
      info += (info ? "; " : "") + "the " + flame.data.Nodes + " biggest of " +
        flame.data.TotalNodes + " frames";
    }
    text($("flame-info"), info);
    if (total <= 0) {
      var m = document.createElement("span");
      m.textContent = "No " + FLAME_KINDS[k] + " sampled yet.";
      flameMsg(m);
    } else {
      flameMsg(null);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll('input[name="flame-kind"]'), function (r) {
    r.addEventListener("change", function () {
      if (!r.checked) return;
      flame.kind = Number(r.value);
      drawFlame(false);
    });
  });
  $("flame-reset").addEventListener("click", function () { if (flame.chart) flame.chart.resetZoom(); });
  $("flame-reload").addEventListener("click", loadFlame);

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
    if (flame.chart && flame.data) { flame.chart.width(w); drawFlame(false); }
  });

  /* For tests and curious users: the dashboard's state. */
  window.gomemDashboard = {
    selected: function () { return selected; },
    select: select,
    heapAlloc: function () { return series ? series.mem[0].slice() : []; },
    points: function () { return series ? series.t.length : 0; },
    selectEnded: selectEnded,
    flameKind: function () { return flame.drawnKind; },
    flameLoaded: function () { return flame.data ? flame.pid : 0; }
  };

  connect();
  pollProcesses();
  setInterval(pollProcesses, POLL_MS);
  setInterval(function () { renderList(); renderNumbers(); }, 1000);
  setInterval(renderTopSites, 5000);
})();
