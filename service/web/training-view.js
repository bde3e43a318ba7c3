// What the training tab shows of a run: results in words, curves, percentile bands, histograms.
// A run here is {variants, steps, edges, records: Map(variant -> [step records]), summary}.

import { histogramFigure } from './chart.js';
import { formatNumber, formatPercent, formatPow10 } from './format.js';
import { drawStepChart, extent } from './training-charts.js';

export const VARIANT_LABELS = {
  none: 'no normalization',
  batch: 'batch norm',
  layer: 'layer norm',
  group: 'group norm',
  rms: 'RMS norm',
  noisy_batch: 'noisy batch norm',
};
const label = (variant) => VARIANT_LABELS[variant] || variant;
const finite = (value) => typeof value === 'number' && Number.isFinite(value);
const lastOf = (list) => list[list.length - 1];

const $ = (id) => document.getElementById(id);

/** The legend: one swatch (colour and dash pattern) per variant. */
export function renderLegend(run) {
  $('train-legend').replaceChildren(...run.variants.map((variant) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    const swatch = document.createElement('span');
    swatch.className = `swatch-line v-${variant}`;
    item.append(swatch, label(variant));
    return item;
  }));
}

/** Loss and test accuracy per variant at every logged step, with a text alternative each. */
export function renderCurves(run) {
  const curve = (field) => run.variants.map((variant) => ({
    className: `v-${variant}`,
    points: (run.records.get(variant) || []).map((r) => [r.step, r[field]]),
  }));
  // A loss that grows by orders of magnitude (a run on its way to diverging) needs a log axis.
  const losses = curve('train_loss').flatMap((s) => s.points.map((p) => p[1])).filter((v) => finite(v) && v > 0);
  const logLoss = losses.length > 1 && Math.max(...losses) / Math.min(...losses) > 1e3;
  const lossSeries = curve('train_loss').map((s) => (logLoss
    ? { ...s, points: s.points.map(([step, v]) => [step, finite(v) && v > 0 ? Math.log10(v) : null]) }
    : s));
  drawStepChart($('train-loss-chart'), {
    series: lossSeries, xMax: run.steps, yTitle: logLoss ? 'loss (log scale)' : 'loss',
    yFormat: logLoss ? (v) => formatPow10(v, 2) : undefined,
  });
  drawStepChart($('train-accuracy-chart'), {
    series: curve('test_accuracy'), xMax: run.steps, yDomain: [0, 1], yTitle: 'accuracy', yFormat: formatPercent,
  });
  const describe = (field, format) => run.variants.map((variant) => {
    const records = run.records.get(variant) || [];
    const first = records.find((r) => finite(r[field]));
    const last = [...records].reverse().find((r) => finite(r[field]));
    if (!first) return `${label(variant)}: no value yet.`;
    return `${label(variant)}: ${format(first[field])} at step ${first.step}, ${format(last[field])} at step ${last.step}.`;
  }).join(' ');
  $('train-loss-desc').textContent = `Training loss. ${describe('train_loss', (v) => formatNumber(v, 3))}`;
  $('train-accuracy-desc').textContent = `Test accuracy. ${describe('test_accuracy', formatPercent)}`;
}

/** The results in words: where each variant is (or ended), and a run that diverged. */
export function renderResults(run) {
  const list = $('train-results');
  list.replaceChildren();
  for (const variant of run.variants) {
    const records = run.records.get(variant) || [];
    const last = lastOf(records);
    if (!last) continue;
    const ended = run.summary?.variants.find((v) => v.variant === variant);
    const item = document.createElement('li');
    item.dataset.variant = variant;
    const name = document.createElement('strong');
    name.textContent = label(variant);
    const accuracy = ended ? ended.final_test_accuracy : last.test_accuracy;
    const loss = ended ? ended.final_train_loss : last.train_loss;
    const value = document.createElement('span');
    value.className = 'test-accuracy';
    value.dataset.value = String(accuracy);
    value.textContent = formatPercent(accuracy);
    const when = ended ? 'at the end' : `at step ${last.step}`;
    item.append(name, `: test accuracy `, value, `, training loss ${formatNumber(loss, 3)} ${when}.`);
    const divergedAt = ended?.diverged_at_step ?? (last.diverged ? last.step : null);
    if (divergedAt !== null && divergedAt !== undefined) {
      item.classList.add('diverged');
      item.append(` Diverged at step ${divergedAt}: the loss stopped being a finite number because the `
        + 'weights blew up, so training stopped there. A smaller learning rate or a normalization layer usually helps.');
    }
    list.append(item);
  }
  $('train-verdict').hidden = !list.children.length;
}

/** Percentile triples [p15, p50, p85] of `layer` (1-based) for each record of `variant`. */
function percentiles(run, variant, layer, track) {
  return (run.records.get(variant) || [])
    .filter((r) => r.layers?.[layer - 1])
    .map((r) => [r.step, ...r.layers[layer - 1][track]]);
}

/** How far the median moved from its first value: max_t |p50(t) - p50(0)|. */
function medianDrift(rows) {
  const medians = rows.map((row) => row[2]).filter(finite);
  if (medians.length < 2) return null;
  return Math.max(...medians.map((m) => Math.abs(m - medians[0])));
}

/** One band chart per variant, side by side on a shared value axis, plus a table and the words. */
export function renderBands(run, layer, track) {
  const container = $('train-bands');
  const all = run.variants.map((variant) => ({ variant, rows: percentiles(run, variant, layer, track) }));
  const yDomain = extent(all.flatMap(({ rows }) => rows.flatMap((row) => row.slice(1))), [-1, 1]);
  const what = track === 'unit_percentiles' ? 'one unit' : 'all units';
  // Lay every figure out first: a chart drawn before its neighbours exist would take their width.
  const charts = all.map(({ variant, rows }) => {
    const figure = document.createElement('figure');
    figure.className = 'chart-figure band-figure';
    figure.dataset.variant = variant;
    const caption = document.createElement('figcaption');
    caption.className = 'chart-title';
    caption.textContent = label(variant);
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'step-chart');
    svg.setAttribute('role', 'img');
    svg.setAttribute('height', '200');
    const first = rows[0];
    const last = lastOf(rows);
    svg.setAttribute('aria-label', first
      ? `Layer ${layer}, ${what}, ${label(variant)}: 15th, 50th and 85th percentiles `
        + `${first.slice(1).map((v) => formatNumber(v, 3)).join(', ')} at step ${first[0]}, `
        + `${last.slice(1).map((v) => formatNumber(v, 3)).join(', ')} at step ${last[0]}.`
      : `Layer ${layer}, ${label(variant)}: no data yet.`);
    figure.append(caption, svg);
    return { svg, figure, variant, rows };
  });
  container.replaceChildren(...charts.map(({ figure }) => figure));
  for (const { svg, variant, rows } of charts) {
    drawStepChart(svg, {
      series: [{ className: `v-${variant}`, points: rows.map((r) => [r[0], r[2]]), band: rows.map((r) => [r[0], r[1], r[3]]) }],
      xMax: run.steps, yDomain, yTitle: 'input of the activation',
    });
  }
  renderBandsTable(all);
  renderDrift(run, all, layer, what);
  renderShift(run, layer);
}

/** ICS (a) of the layer: the distribution_shift of every logged step after the first. */
function renderShift(run, layer) {
  const series = run.variants.map((variant) => ({
    variant,
    className: `v-${variant}`,
    points: (run.records.get(variant) || []).filter((r) => r.step > 0 && r.layers?.[layer - 1])
      .map((r) => [r.step, r.layers[layer - 1].distribution_shift]),
  }));
  drawStepChart($('train-shift-chart'), {
    series, xMax: run.steps, yDomain: [0, extent(series.flatMap((s) => s.points.map((p) => p[1])), [0, 1])[1]],
    yTitle: 'distance moved',
  });
  $('train-shift-desc').textContent = `Layer ${layer}, distance its input moved between measurements. `
    + series.map(({ variant, points }) => {
      const values = points.map((p) => p[1]).filter(finite);
      if (!values.length) return `${label(variant)}: no value yet.`;
      const largest = Math.max(...values);
      const at = points.find((p) => p[1] === largest)[0];
      return `${label(variant)}: largest ${formatNumber(largest, 3)} at step ${at}, `
        + `last ${formatNumber(values[values.length - 1], 3)}.`;
    }).join(' ');
}

function renderBandsTable(all) {
  const table = $('train-bands-table');
  // Up to thousands of cells: built only while the learner has the table open.
  if (!table.closest('details').open) {
    table.replaceChildren();
    return;
  }
  const groups = all.map(({ variant }) => `<th scope="colgroup" colspan="3">${label(variant)}</th>`).join('');
  const percentileHeads = all.map(() => '<th scope="col">15th</th><th scope="col">median</th><th scope="col">85th</th>').join('');
  table.innerHTML = `<thead><tr><th scope="col" rowspan="2">step</th>${groups}</tr><tr>${percentileHeads}</tr></thead>`;
  const body = document.createElement('tbody');
  const steps = [...new Set(all.flatMap(({ rows }) => rows.map((row) => row[0])))].sort((a, b) => a - b);
  for (const step of steps) {
    const row = body.insertRow();
    row.dataset.step = step;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = String(step);
    row.append(th);
    for (const { variant, rows } of all) {
      const found = rows.find((r) => r[0] === step);
      [1, 2, 3].forEach((k) => {
        const cell = row.insertCell();
        cell.dataset.variant = variant;
        if (found) cell.dataset.value = String(found[k]);
        cell.textContent = found ? formatNumber(found[k], 4) : '—';
      });
    }
  }
  table.append(body);
}

/** The picture in words, with the run's own numbers. */
function renderDrift(run, all, layer, what) {
  const parts = all.map(({ variant, rows }) => {
    const drift = medianDrift(rows);
    if (drift === null) return null;
    const saturated = lastOf(run.records.get(variant) || [])?.layers?.[layer - 1]?.saturated_fraction;
    const tail = finite(saturated) && saturated >= 0.05
      ? `, and ${formatPercent(saturated)} of the layer’s inputs now sit in the flat ends of the activation`
      : '';
    return `by up to ${formatNumber(drift, 3)} with ${label(variant)}${tail}`;
  }).filter(Boolean);
  $('train-drift').textContent = parts.length
    ? `Layer ${layer}, ${what}: since the start of training the median has moved ${parts.join('; ')}. `
      + 'A band that wanders means the layers after it keep re-learning what their input looks like.'
    : '';
}

/** The layer's histogram at logged step `step` for every variant, on the run's fixed bins. */
export function renderHistograms(run, layer, step) {
  const container = $('train-histograms');
  container.replaceChildren();
  for (const variant of run.variants) {
    const record = (run.records.get(variant) || []).find((r) => r.step === step);
    const stats = record?.layers?.[layer - 1];
    if (!stats) continue;
    const total = stats.histogram.reduce((a, b) => a + b, 0) + stats.below_range + stats.above_range;
    const outside = stats.below_range + stats.above_range;
    const caption = [
      `mean ${formatNumber(stats.mean, 3)}`,
      `variance ${formatNumber(stats.variance, 3)}`,
      finite(stats.saturated_fraction) ? `saturated ${formatPercent(stats.saturated_fraction)}` : null,
      outside ? `${formatPercent(outside / total)} off the chart` : null,
    ].filter(Boolean).join(' · ');
    const figure = histogramFigure(
      { edges: run.edges, counts: stats.histogram },
      { title: `${label(variant)}, layer ${layer}, step ${record.step}`, caption },
    );
    if (figure) {
      figure.dataset.variant = variant;
      container.append(figure);
    }
  }
}
