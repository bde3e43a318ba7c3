// A small SVG chart of series against the batch size: x on a log₂ axis, y on a log₁₀ or linear axis,
// lines, markers and vertical error bars. Used by the batch-size tab.

import { formatNumber } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(svg) {
  for (const node of [...svg.children]) {
    if (node.tagName !== 'title' && node.tagName !== 'desc') node.remove();
  }
}

/** Nice linear ticks (1, 2, 5 × 10^k steps) covering [lo, hi]. */
function linearTicks(lo, hi, count) {
  const raw = (hi - lo) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((b) => b * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** log10 positions of 1, 2, 5 × 10^k (1 and 3 over wider spans, 1 over very wide ones) in [lo, hi]. */
function logTicks(lo, hi) {
  const span = hi - lo;
  const multiples = span <= 1.5 ? [1, 2, 5] : span <= 3 ? [1, 3] : [1];
  const out = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k += 1) {
    for (const m of multiples) {
      const t = k + Math.log10(m);
      if (t >= lo - 1e-9 && t <= hi + 1e-9) out.push(t);
    }
  }
  return out;
}

/**
 * Draw `series` on `svg`. Each series: {className, label, line (bool), marker ('circle' | 'square' |
 * null), points: [{x, y, low, high, attrs}]} with x > 0; y (and low/high) > 0 when yLog.
 * options: {yLog, yTitle, yFormat(value) -> text, xTitle}.
 */
export function drawXYChart(svg, series, { yLog = false, yTitle = '', xTitle = 'batch size', yFormat = formatNumber } = {}) {
  const width = Math.max(svg.clientWidth || svg.parentElement?.clientWidth || 640, 260);
  const height = Number(svg.getAttribute('height')) || 300;
  const margin = { top: 14, right: 18, bottom: 44, left: 62 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  clear(svg);

  const points = series.flatMap((s) => s.points);
  const usable = (v) => Number.isFinite(v) && (!yLog || v > 0);
  const xs = points.map((p) => Math.log2(p.x));
  if (!xs.length) return;
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMax - xMin < 1) {
    xMin -= 0.5;
    xMax += 0.5;
  }
  const ys = points.flatMap((p) => [p.y, p.low, p.high]).filter(usable).map((v) => (yLog ? Math.log10(v) : v));
  let yMin = Math.min(...ys);
  let yMax = Math.max(...ys);
  if (yLog) {
    yMin = Math.floor(yMin * 2) / 2;
    yMax = Math.ceil(yMax * 2) / 2;
  } else {
    yMin = Math.min(0, yMin);
    yMax = yMax > yMin ? yMax * 1.05 : yMin + 1;
  }
  if (yMax - yMin < 1e-12) yMax = yMin + 1;
  const x = (v) => margin.left + ((Math.log2(v) - xMin) / (xMax - xMin)) * plotW;
  const yScaled = (v) => margin.top + ((yMax - v) / (yMax - yMin)) * plotH;
  const y = (v) => yScaled(yLog ? Math.log10(v) : v);

  const axes = svgEl('g', { class: 'axes', 'aria-hidden': 'true' });
  const yTicks = yLog ? logTicks(yMin, yMax) : linearTicks(yMin, yMax, Math.max(2, Math.floor(plotH / 40)));
  for (const t of yTicks) {
    const value = yLog ? Number((10 ** t).toPrecision(3)) : t;
    axes.append(svgEl('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: yScaled(t), y2: yScaled(t) }));
    axes.append(svgEl('text', { class: 'tick', x: margin.left - 6, y: yScaled(t) + 4, 'text-anchor': 'end' }, yFormat(value)));
  }
  const xTickValues = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  let lastRight = -Infinity;
  for (const v of xTickValues) {
    axes.append(svgEl('line', { class: 'tick-mark', x1: x(v), x2: x(v), y1: margin.top + plotH, y2: margin.top + plotH + 5 }));
    if (x(v) - lastRight > 14) { // skip labels that would overlap on a phone
      axes.append(svgEl('text', { class: 'tick', x: x(v), y: margin.top + plotH + 18, 'text-anchor': 'middle' }, String(v)));
      lastRight = x(v) + 4 * String(v).length;
    }
  }
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotH }));
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
  axes.append(svgEl('text', { class: 'axis-title', x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle' }, xTitle));
  axes.append(svgEl('text', {
    class: 'axis-title', x: 0, y: 0, 'text-anchor': 'middle',
    transform: `translate(13 ${margin.top + plotH / 2}) rotate(-90)`,
  }, yTitle));
  svg.append(axes);

  for (const s of series) {
    const group = svgEl('g', { class: `series ${s.className}` });
    const drawn = s.points.filter((p) => usable(p.y));
    if (s.line && drawn.length > 1) {
      const d = drawn.map((p, i) => `${i ? 'L' : 'M'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
      group.append(svgEl('path', { d, class: 'line' }));
    }
    for (const p of drawn) {
      if (usable(p.low) && usable(p.high)) {
        group.append(svgEl('line', { class: 'error-bar', x1: x(p.x), x2: x(p.x), y1: y(p.low), y2: y(p.high) }));
      }
      if (!s.marker) continue;
      const marker = s.marker === 'square'
        ? svgEl('rect', { x: x(p.x) - 4, y: y(p.y) - 4, width: 8, height: 8, ...p.attrs })
        : svgEl('circle', { cx: x(p.x), cy: y(p.y), r: 4.5, ...p.attrs });
      marker.append(svgEl('title', {}, `${s.label}, batch size ${p.x}: ${yFormat(p.y)}`));
      group.append(marker);
    }
    svg.append(group);
  }
}
