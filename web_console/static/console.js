// Glue between the console's JSON twins (/ui/api/...) and Observable Plot: no chart code of our own.
"use strict";
(function () {
  const main = document.querySelector("main[data-api]");
  const page = document.body.dataset.page;
  if (!main || typeof Plot === "undefined") return;

  const STATUS = {domain: ["success", "failed", "killed", "cancelled", "running"],
                  range: ["#2e7d32", "#c62828", "#6a1b9a", "#9e9e9e", "#1565c0"]};
  const FLAGS = {domain: ["sample", "missing value", "unseen category"], range: ["#1f77b4", "#ff7f0e", "#d62728"]};
  const day = (ds) => new Date(ds + "T00:00:00Z");
  // a date axis: one tick per night while there are few, else Plot's own choice
  const nights = (n) => ({label: null, type: "utc", tickFormat: "%b %d", ...(n <= 14 ? {ticks: "day"} : {})});

  function draw(selector, figure) {
    const slot = main.querySelector(selector);
    if (slot) slot.replaceChildren(figure);
  }

  function model(data) {
    if (!data.scatter.available) return;
    data.scatter.evaluators.forEach((e, i) => {
      const points = e.points.filter((p) => p.native !== null);
      if (!points.length) return;  // an evaluator without output on any row: its table row says why
      const lo = Math.min(...points.map((p) => Math.min(p.native, p.exported)));
      const hi = Math.max(...points.map((p) => Math.max(p.native, p.exported)));
      draw(`[data-plot="scatter"][data-index="${i}"]`, Plot.plot({
        width: 420, height: 360, grid: true, color: {...FLAGS, legend: true},
        x: {label: "native"}, y: {label: e.evaluator},
        marks: [
          Plot.line([[lo, lo], [hi, hi]], {stroke: "#bbb"}),
          Plot.dot(points, {x: "native", y: "exported", stroke: "flag", r: 3,
                            title: (p) => `row ${p.row} (${p.kind}), ${p.column}\nnative ${p.native}\n${e.evaluator} ${p.exported}`}),
        ],
      }));
      draw(`[data-plot="diff"][data-index="${i}"]`, Plot.plot({
        width: 420, height: 360, x: {label: `${e.evaluator} − native`, tickFormat: "~e"}, y: {label: "rows", grid: true},
        marks: [Plot.rectY(e.histogram, {x1: "x0", x2: "x1", y: "count", fill: "#4c78a8", insetLeft: 0.5,
                                         title: (b) => `${b.count} row(s) in [${b.x0}, ${b.x1})`}),
                Plot.ruleY([0])],
      }));
    });
  }

  function job(data) {
    const runs = data.runs.slice().reverse();  // oldest first
    const seen = {};
    runs.forEach((r) => { seen[r.ds] = (seen[r.ds] || 0) + 1; r.try = `run ${seen[r.ds]}`; });
    draw('[data-plot="grid"]', Plot.plot({
      width: 900, height: 90 + 28 * Math.max(...Object.values(seen)), padding: 0.08, marginBottom: 60,
      x: {label: null, type: "band", tickRotate: -45}, y: {label: null}, color: {...STATUS, legend: true},
      marks: [Plot.cell(runs, {x: "ds", y: "try", fill: "status", inset: 1,
                               title: (r) => `${r.ds} ${r.trigger}: ${r.status}${r.message ? "\n" + r.message : ""}`})],
    }));
    const scored = runs.filter((r) => r.status === "success");
    const withPsi = scored.filter((r) => r.psi !== null);
    const top = Math.max(0.3, ...withPsi.map((r) => r.psi * 1.1));
    draw('[data-plot="psi"]', Plot.plot({
      width: 900, height: 260, x: nights(withPsi.length), y: {label: "PSI", domain: [0, top]},
      marks: [
        Plot.rect([{y1: 0, y2: 0.1, l: "stable"}, {y1: 0.1, y2: 0.25, l: "moderate"}, {y1: 0.25, y2: top, l: "significant"}],
                  {y1: "y1", y2: "y2", fill: (b) => ({stable: "#e8f5e9", moderate: "#fff8e1", significant: "#ffebee"})[b.l]}),
        Plot.ruleY([0.1, 0.25], {stroke: "#999", strokeDasharray: "4,3"}),
        Plot.lineY(withPsi, {x: (r) => day(r.ds), y: "psi", stroke: "#333"}),
        Plot.dot(withPsi, {x: (r) => day(r.ds), y: "psi", fill: "#333", title: (r) => `${r.ds}: PSI ${r.psi} (${r.drift})`}),
      ],
    }));
    draw('[data-plot="rows"]', Plot.plot({
      width: 440, height: 260, marginBottom: 60, x: {label: null, type: "band", tickRotate: -45},
      y: {label: "rows", grid: true},
      marks: [Plot.barY(scored, {x: "ds", y: "rows", fill: "#4c78a8", title: (r) => `${r.ds}: ${r.rows} rows`}), Plot.ruleY([0])],
    }));
    const timed = runs.filter((r) => r.duration_s !== null);
    draw('[data-plot="duration"]', Plot.plot({
      width: 440, height: 260, x: nights(timed.length), y: {label: "seconds", grid: true, zero: true},
      marks: [Plot.dot(timed, {x: (r) => day(r.ds), y: "duration_s", stroke: "status", title: (r) => `${r.ds}: ${r.duration_s} s`}),
              Plot.ruleY([0])],
      color: STATUS,
    }));
    data.histograms.forEach((h, i) => {
      const shares = h.bins.flatMap((b) => [{bin: b.bin, series: "reference", share: b.reference},
                                            {bin: b.bin, series: `dt=${data.latest.ds}`, share: b.latest}]);
      draw(`[data-plot="histogram"][data-index="${i}"]`, Plot.plot({
        width: 900, height: 280, color: {legend: true}, x: {axis: null}, y: {label: "share of rows", grid: true},
        fx: {label: null, tickFormat: (k) => h.bins[k].label, padding: 0.15},
        marks: [Plot.barY(shares, {fx: "bin", x: "series", y: "share", fill: "series",
                                   title: (s) => `${h.bins[s.bin].label}, ${s.series}: ${s.share}`}),
                Plot.ruleY([0])],
      }));
    });
  }

  fetch(main.dataset.api, {credentials: "same-origin", headers: {Accept: "application/json"}})
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${main.dataset.api}: HTTP ${r.status}`))))
    .then((data) => {
      if (page === "model") model(data);
      else if (page === "job" && !data.error && data.runs.length) job(data);
      document.body.dataset.plotted = "true";
    })
    .catch((err) => {
      const note = document.createElement("p");
      note.className = "notice";
      note.textContent = `The plots could not be drawn: ${err.message}`;
      main.prepend(note);
      console.error(err);
    });
})();
