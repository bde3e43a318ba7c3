// Hand-written SVG charts: variance per layer on a log axis, and small histograms.

import { formatNumber, formatPow10 } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A step from 1, 2, 5, 10, 20, 50, ... giving at most `maxTicks` integer ticks over `span`. */
function integerStep(span, maxTicks) {
  for (let scale = 1; ; scale *= 10) {
    for (const base of [1, 2, 5]) {
      if (span / (base * scale) <= maxTicks) return base * scale;
    }
  }
}

function ticks(lo, hi, step) {
  const out = [];
  for (let value = Math.ceil(lo / step) * step; value <= hi + 1e-9; value += step) out.push(value);
  return out;
}

/** "10^k" label as text with a superscript tspan; 10^0 is written as 1. */
function powerLabel(exponent, attrs) {
  const text = svgEl('text', attrs);
  if (exponent === 0) {
    text.textContent = '1';
    return text;
  }
  text.append('10');
  text.append(svgEl('tspan', { dy: -6, 'font-size': '0.75em' }, String(exponent).replace('-', '−')));
  return text;
}

/**
 * Draw series of {layer, log10} points. Each series: {name, label, className, pointAttrs(point)}.
 * Null log10 values break the line and get no marker.
 */
export function drawVarianceChart(svg, series) {
  const width = Math.max(svg.clientWidth || svg.parentElement?.clientWidth || 640, 260);
  const height = Number(svg.getAttribute('height')) || 320;
  const margin = { top: 14, right: 58, bottom: 44, left: 54 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  for (const node of [...svg.children]) {
    if (node.tagName !== 'title' && node.tagName !== 'desc') node.remove();
  }

  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.log10));
  const layers = series.flatMap((s) => s.points.map((p) => p.layer));
  if (!layers.length) return;
  const xMin = Math.min(...layers);
  const xMax = Math.max(...layers, xMin + 1);
  const logs = points.map((p) => p.log10);
  let yMin = Math.floor(Math.min(0, ...logs));
  let yMax = Math.ceil(Math.max(0, ...logs));
  if (yMax - yMin < 2) {
    yMin -= 1;
    yMax += 1;
  }
  const x = (layer) => margin.left + ((layer - xMin) / (xMax - xMin)) * plotW;
  const y = (log10) => margin.top + ((yMax - log10) / (yMax - yMin)) * plotH;

  const axes = svgEl('g', { class: 'axes', 'aria-hidden': 'true' });
  const yStep = integerStep(yMax - yMin, Math.max(2, Math.floor(plotH / 32)));
  for (const value of ticks(yMin, yMax, yStep)) {
    axes.append(svgEl('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }));
    axes.append(powerLabel(value, { x: margin.left - 8, y: y(value) + 4, 'text-anchor': 'end', class: 'tick' }));
  }
  const xStep = integerStep(xMax - xMin, Math.max(2, Math.floor(plotW / 44)));
  for (const value of ticks(xMin, xMax, xStep)) {
    axes.append(svgEl('line', { class: 'tick-mark', x1: x(value), x2: x(value), y1: margin.top + plotH, y2: margin.top + plotH + 5 }));
    axes.append(svgEl('text', { x: x(value), y: margin.top + plotH + 18, 'text-anchor': 'middle', class: 'tick' }, String(value)));
  }
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotH }));
  axes.append(svgEl('line', { class: 'axis', x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
  axes.append(svgEl('line', { class: 'reference', x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }));
  axes.append(svgEl('text', { class: 'reference-label', x: width - margin.right + 6, y: y(0) + 4 }, 'Var = 1'));
  axes.append(svgEl('text', { class: 'axis-title', x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle' }, 'layer'));
  axes.append(svgEl('text', {
    class: 'axis-title', x: 0, y: 0, 'text-anchor': 'middle',
    transform: `translate(13 ${margin.top + plotH / 2}) rotate(-90)`,
  }, 'variance (log scale)'));
  svg.append(axes);

  for (const s of series) {
    const group = svgEl('g', { class: `series ${s.className}` });
    let d = '';
    let pen = 'M';
    for (const p of s.points) {
      if (!Number.isFinite(p.log10)) {
        pen = 'M';
        continue;
      }
      d += `${pen}${x(p.layer).toFixed(1)},${y(p.log10).toFixed(1)} `;
      pen = 'L';
    }
    if (d) group.append(svgEl('path', { d: d.trim(), class: 'line' }));
    for (const p of s.points) {
      if (!Number.isFinite(p.log10)) continue;
      const marker = s.square
        ? svgEl('rect', { x: x(p.layer) - 4, y: y(p.log10) - 4, width: 8, height: 8, ...s.pointAttrs(p) })
        : svgEl('circle', { cx: x(p.layer), cy: y(p.log10), r: 4.5, ...s.pointAttrs(p) });
      marker.append(svgEl('title', {}, `${s.label}, layer ${p.layer}: ${formatPow10(p.log10)}`));
      group.append(marker);
    }
    svg.append(group);
  }
}

/**
 * A small histogram figure. `histogram` is {edges: [k+1], counts: [k]}; `caption` is plain text.
 * Returns a <figure> element, or null when the data is unusable.
 */
export function histogramFigure(histogram, { title, caption, width = 220, height = 96 } = {}) {
  const edges = histogram?.edges;
  const counts = histogram?.counts;
  if (!Array.isArray(edges) || !Array.isArray(counts) || counts.length === 0 || edges.length !== counts.length + 1) {
    return null;
  }
  const figure = document.createElement('figure');
  figure.className = 'histogram';
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const maxCount = Math.max(...counts, 1);
  const pad = { top: 4, bottom: 18, side: 4 };
  const plotH = height - pad.top - pad.bottom;
  const span = hi - lo || 1;
  const x = (value) => pad.side + ((value - lo) / span) * (width - 2 * pad.side);
  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${title}: values from ${formatNumber(lo)} to ${formatNumber(hi)}`,
  });
  counts.forEach((count, i) => {
    const barH = (count / maxCount) * plotH;
    svg.append(svgEl('rect', {
      class: 'bar',
      x: x(edges[i]),
      y: pad.top + plotH - barH,
      width: Math.max(x(edges[i + 1]) - x(edges[i]) - 0.5, 0.5),
      height: barH,
    }));
  });
  svg.append(svgEl('line', { class: 'axis', x1: pad.side, x2: width - pad.side, y1: pad.top + plotH, y2: pad.top + plotH }));
  svg.append(svgEl('text', { class: 'tick', x: pad.side, y: height - 4, 'text-anchor': 'start' }, formatNumber(lo, 3)));
  svg.append(svgEl('text', { class: 'tick', x: width - pad.side, y: height - 4, 'text-anchor': 'end' }, formatNumber(hi, 3)));
  if (lo < 0 && hi > 0) {
    svg.append(svgEl('line', { class: 'zero', x1: x(0), x2: x(0), y1: pad.top, y2: pad.top + plotH }));
  }
  const figcaption = document.createElement('figcaption');
  const strong = document.createElement('strong');
  strong.textContent = title;
  figcaption.append(strong);
  if (caption) figcaption.append(document.createElement('br'), caption);
  figure.append(svg, figcaption);
  return figure;
}

/** Equal-width histogram of plain numbers (for the playground's before/after views). */
export function histogramOf(values, bins = 20) {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return null;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array(bins).fill(0);
  for (const value of finite) counts[Math.min(bins - 1, Math.floor(((value - lo) / (hi - lo)) * bins))] += 1;
  return { edges, counts };
}
