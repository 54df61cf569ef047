// The overview's charts, drawn by uPlot (assets/uplot, vendored with its
// licence) from /console/api/chart. uPlot writes labels and values as
// text, never as markup. Times are UTC like the rest of the console.
"use strict";

(function () {
  const tierColors = ["#2e8b57", "#3b6fb6", "#c0392b", "#8e44ad", "#d68910"];
  const otherColor = "#7f8c8d";
  const droppedColor = "#c8c8c8";
  const bandFill = "rgba(46, 139, 87, 0.18)";
  const utc = ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  const hourOf = ts => new Date(ts * 1e3).toISOString().slice(11, 16);
  // Half an hour of room at both ends, so the first and last bars show whole.
  const xScale = { time: true, range: (u, min, max) => [min - 1800, max + 1800] };
  const xAxis = { values: (u, splits) => splits.map(hourOf) };

  function widthOf(el) {
    return Math.max(320, Math.min(el.parentElement.clientWidth - 2, 900));
  }

  // Stacked bars: each series is drawn as the sum of itself and the ones
  // below it, the top of the stack first, so the lower ones paint over;
  // the legend shows each series' own count.
  function hourlyChart(el, d) {
    const n = d.series.length;
    const sums = [];
    let acc = d.hours.map(() => 0);
    for (const s of d.series) {
      acc = acc.map((v, i) => v + s.values[i]);
      sums.push(acc);
    }
    const data = [d.hours];
    const series = [{ label: "hour (UTC)", value: (u, v) => v == null ? "-" : hourOf(v) }];
    for (let j = n - 1; j >= 0; j--) {
      const s = d.series[j];
      const color = s.dropped ? droppedColor : (tierColors[j] || otherColor);
      data.push(sums[j]);
      series.push({
        label: s.label, stroke: color, fill: color, width: 0, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.8, 40] }),
        value: (u, v, si, i) => i == null ? "-" : String(s.values[i]),
      });
    }
    const opts = {
      width: widthOf(el), height: 240, tzDate: utc, series: series,
      scales: { x: xScale, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [xAxis, { label: "mails" }],
      legend: { live: true },
    };
    return new uPlot(opts, data, el);
  }

  // The L1 share of forwarded tickets per hour against the healthy band,
  // filled between its two bounds.
  function l1Chart(el, d) {
    const share = d.hours.map((_, i) => {
      let fwd = 0, l1 = 0;
      for (const s of d.series) {
        if (s.dropped) continue;
        fwd += s.values[i];
        if (s.label === "L1") l1 += s.values[i];
      }
      return fwd === 0 ? null : l1 * 100 / fwd;
    });
    const low = d.hours.map(() => d.l1_band[0]);
    const high = d.hours.map(() => d.l1_band[1]);
    const pct = (u, v) => v == null ? "-" : v.toFixed(0) + " %";
    const opts = {
      width: widthOf(el), height: 180, tzDate: utc,
      series: [
        { label: "hour (UTC)", value: (u, v) => v == null ? "-" : hourOf(v) },
        { label: "L1 share", stroke: "#222", width: 2, spanGaps: false, value: pct },
        { label: "healthy from", stroke: "#2e8b57", width: 1, dash: [4, 4], points: { show: false }, value: pct },
        { label: "healthy to", stroke: "#2e8b57", width: 1, dash: [4, 4], points: { show: false }, value: pct },
      ],
      bands: [{ series: [3, 2], fill: bandFill }],
      scales: { x: xScale, y: { range: [0, 100] } },
      axes: [xAxis, { label: "% of forwarded", values: (u, vals) => vals.map(v => v + " %") }],
    };
    return new uPlot(opts, [d.hours, share, low, high], el);
  }

  const plots = {};
  let last = "";

  // draw replaces a chart; refresh calls it only when the data changed.
  function draw(id, make, d) {
    const el = document.getElementById(id);
    if (plots[id]) plots[id].destroy();
    el.replaceChildren();
    plots[id] = make(el, d);
    el.dataset.series = String(plots[id].series.length - 1);
  }

  async function refresh() {
    const res = await fetch("/console/api/chart", { credentials: "same-origin" });
    if (!res.ok) return;
    const text = await res.text();
    if (text === last) return;
    last = text;
    const d = JSON.parse(text);
    draw("hourly", hourlyChart, d);
    draw("l1", l1Chart, d);
    document.getElementById("l1-share").textContent = d.l1_share < 0
      ? "No forwarded tickets in the last 24 hours."
      : "L1 " + d.l1_share.toFixed(0) + " % of the forwarded tickets of the last 24 hours (healthy " + d.l1_band[0] + "–" + d.l1_band[1] + " %).";
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.getElementById("hourly")) return;
    refresh();
    setInterval(refresh, 5000);
  });
})();
