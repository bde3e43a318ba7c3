// SVG charts of a training run: curves over training steps, and percentile bands.

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

/** About `count` round ticks (1, 2, 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo, hi, count) {
  const span = hi - lo || 1;
  const raw = span / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/** [lo, hi] of the finite numbers in `values`, widened when empty or flat. */
export function extent(values, fallback = [0, 1]) {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return fallback;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi - lo < 1e-9) {
    const pad = Math.max(Math.abs(lo) * 0.1, 0.5);
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

function pathOf(points, x, y) {
  let d = '';
  let pen = 'M';
  for (const [px, py] of points) {
    if (!Number.isFinite(py)) {
      pen = 'M';
      continue;
    }
    d += `${pen}${x(px).toFixed(1)},${y(py).toFixed(1)} `;
    pen = 'L';
  }
  return d.trim();
}

/** Closed area between lo and hi over the runs of points where both are finite. */
function bandOf(points, x, y) {
  const runs = [];
  let run = [];
  for (const point of points) {
    if (Number.isFinite(point[1]) && Number.isFinite(point[2])) run.push(point);
    else if (run.length) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length) runs.push(run);
  return runs.map((r) => {
    const top = r.map(([px, , hi]) => `${x(px).toFixed(1)},${y(hi).toFixed(1)}`);
    const bottom = r.reverse().map(([px, lo]) => `${x(px).toFixed(1)},${y(lo).toFixed(1)}`);
    return `M${top.join(' L')} L${bottom.join(' L')} Z`;
  }).join(' ');
}

/**
 * Draw `series` over training steps into `svg` (its width follows its box, its height the
 * attribute). Series: {className, label, points: [[step, y], ...], band?: [[step, lo, hi], ...]}.
 * Non-finite y values break the line. `xMax` fixes the step axis (the whole run, so lines grow
 * into it live); `yDomain` fixes the value axis (shared by side-by-side charts), else it fits.
 */
export function drawStepChart(svg, { series, xMax, yDomain, yTitle, yFormat = (v) => formatNumber(v, 3) }) {
  const width = Math.max(svg.clientWidth || svg.parentElement?.clientWidth || 480, 220);
  const height = Number(svg.getAttribute('height')) || 220;
  const margin = { top: 10, right: 14, bottom: 38, left: 52 };
  const plotH = height - margin.top - margin.bottom;
  const values = series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.band || []).flatMap((p) => [p[1], p[2]])]);
  const [yLo, yHi] = yDomain || extent(values);
  const yTicks = niceTicks(yLo, yHi, Math.max(2, Math.floor(plotH / 36))).map((value) => [value, yFormat(value)]);
  // Room for the longest tick label (a diverging run reaches 1e+300).
  margin.left = Math.max(margin.left, 30 + 7 * Math.max(...yTicks.map(([, text]) => text.length)));
  const plotW = width - margin.left - margin.right;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  for (const node of [...svg.children]) {
    if (node.tagName !== 'title' && node.tagName !== 'desc') node.remove();
  }
  const x = (step) => margin.left + (step / (xMax || 1)) * plotW;
  const y = (value) => margin.top + ((yHi - Math.min(Math.max(value, yLo), yHi)) / (yHi - yLo)) * plotH;

  const axes = svgEl('g', { class: 'axes', 'aria-hidden': 'true' });
  for (const [value, text] of yTicks) {
    axes.append(svgEl('line', { class: 'grid', x1: margin.left, x2: margin.left + plotW, y1: y(value), y2: y(value) }));
    axes.append(svgEl('text', { class: 'tick', x: margin.left - 6, y: y(value) + 4, 'text-anchor': 'end' }, text));
  }
  for (const value of niceTicks(0, xMax || 1, Math.max(2, Math.floor(plotW / 70)))) {
    axes.append(svgEl('line', { class: 'tick-mark', x1: x(value), x2: x(value), y1: margin.top + plotH, y2: margin.top + plotH + 4 }));
    axes.append(svgEl('text', { class: 'tick', x: x(value), y: margin.top + plotH + 16, 'text-anchor': 'middle' }, String(value)));
  }
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotH }));
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: margin.left + plotW, y1: margin.top + plotH, y2: margin.top + plotH }));
  axes.append(svgEl('text', { class: 'axis-title', x: margin.left + plotW / 2, y: height - 4, 'text-anchor': 'middle' }, 'training step'));
  axes.append(svgEl('text', {
    class: 'axis-title', x: 0, y: 0, 'text-anchor': 'middle', transform: `translate(12 ${margin.top + plotH / 2}) rotate(-90)`,
  }, yTitle));
  svg.append(axes);

  for (const s of series) {
    const group = svgEl('g', { class: `series ${s.className}`, 'aria-hidden': 'true' });
    if (s.band?.length) group.append(svgEl('path', { class: 'band', d: bandOf(s.band.map((p) => [...p]), x, y) }));
    const d = pathOf(s.points, x, y);
    if (d) group.append(svgEl('path', { class: 'line', d }));
    svg.append(group);
  }
}
