/* Small inline-SVG charts for the dashboard: lines over time and horizontal bars.
   Drawn here rather than with a library: two chart kinds do not justify shipping one,
   and nothing may come from a CDN. Each drawn mark carries a <title> (its value on
   hover) and the <svg> says what it drew in data-points / data-series. */
"use strict";
window.Charts = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2457c5", "#c62828", "#1a7f37", "#a15c00", "#7b1fa2", "#00838f",
                   "#5d4037", "#455a64"];

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function clear(svg) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.dataset.points = "0";
    svg.dataset.series = "";
  }

  function box(svg) {
    const r = svg.getBoundingClientRect();
    const w = Math.max(Math.round(r.width) || 400, 200);
    const h = Math.max(Math.round(r.height) || 200, 120);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    return [w, h];
  }

  /* a round number at or above v, for the top of an axis */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  }

  function fmtTime(t, span) {
    const d = new Date(t * 1000);
    const two = (n) => String(n).padStart(2, "0");
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    return span > 86400 ? `${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}` : hm;
  }

  function empty(svg, text) {
    clear(svg);
    const [w, h] = box(svg);
    el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty" }, svg, text);
  }

  /* series: [{name, points: [[t, y], ...], dash?, color?}]; x is a time in seconds */
  function line(svg, series, opts) {
    opts = opts || {};
    clear(svg);
    const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
    if (!pts.length) { empty(svg, opts.emptyText || "no figures yet"); return; }
    const [w, h] = box(svg);
    const legend = series.filter((s) => s.legend !== false);
    const L = 44, R = 10, T = 16 + 14 * Math.ceil(legend.length / 4), B = 22;
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    if (x1 === x0) { x0 -= 30; x1 += 30; }
    const yMax = niceMax(Math.max(...pts.map((p) => p[1])) * 1.05);
    const X = (x) => L + (x - x0) / (x1 - x0) * (w - L - R);
    const Y = (y) => T + (1 - y / yMax) * (h - T - B);
    el("line", { x1: L, y1: Y(0), x2: w - R, y2: Y(0), class: "axis" }, svg);
    el("line", { x1: L, y1: T, x2: L, y2: Y(0), class: "axis" }, svg);
    for (const v of [0, yMax / 2, yMax]) {
      el("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" }, svg, fmt(v));
    }
    el("text", { x: L, y: h - 6 }, svg, fmtTime(x0, x1 - x0));
    el("text", { x: w - R, y: h - 6, "text-anchor": "end" }, svg, fmtTime(x1, x1 - x0));
    let drawn = 0;
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const mine = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
      const k = legend.indexOf(s);
      if (k >= 0) {
        const lx = L + (k % 4) * ((w - L) / 4), ly = 12 + 14 * Math.floor(k / 4);
        el("rect", { x: lx, y: ly - 8, width: 10, height: 3, fill: color }, svg);
        el("text", { x: lx + 14, y: ly - 3 }, svg, s.name);
      }
      if (!mine.length) return;
      if (mine.length > 1) {
        el("polyline", { points: mine.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "),
          fill: "none", stroke: color, "stroke-width": 1.5,
          "stroke-dasharray": s.dash ? "4 3" : "none" }, svg);
      }
      for (const p of mine) {
        const dot = el("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.6, fill: color,
          "data-series": s.name, "data-value": p[1] }, svg);
        el("title", {}, dot, `${s.name}: ${fmt(p[1])}${opts.unit || ""} at ${fmtTime(p[0], 0)}`);
        drawn++;
      }
    });
    svg.dataset.points = String(drawn);
    svg.dataset.series = series.map((s) => s.name).join(",");
  }

  /* bars: [{label, value, max?, text?}] drawn across, each scaled to its own max */
  function bars(svg, items) {
    clear(svg);
    if (!items.length) { empty(svg, "no figures yet"); return; }
    const [w, h] = box(svg);
    const L = 120, R = 60, rowH = Math.min(28, (h - 8) / items.length);
    items.forEach((b, i) => {
      const y = 4 + i * rowH;
      const max = b.max || Math.max(...items.map((x) => x.value || 0), 1);
      const width = Math.max(0, (b.value || 0) / max) * (w - L - R);
      el("text", { x: L - 6, y: y + rowH * 0.62, "text-anchor": "end" }, svg, b.label);
      const bar = el("rect", { x: L, y: y + rowH * 0.15, width: width, height: rowH * 0.7,
        fill: b.color || PALETTE[i % PALETTE.length], "data-label": b.label,
        "data-value": b.value }, svg);
      el("title", {}, bar, `${b.label}: ${b.text || fmt(b.value)}`);
      el("text", { x: L + width + 4, y: y + rowH * 0.62 }, svg, b.text || fmt(b.value));
    });
    svg.dataset.points = String(items.length);
    svg.dataset.series = items.map((b) => b.label).join(",");
  }

  return { line, bars, empty, fmt, fmtTime };
})();
