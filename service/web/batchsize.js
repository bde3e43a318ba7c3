// The batch-size tab: the noise of batch statistics (POST /v1/simulations/batch-statistics) and
// training across batch sizes (POST /v1/simulations/batch-size-sweep), each as a chart and a table.

import {
  ApiError, clearFieldErrors, clearProblem, isAbort, labelText, request, revealProblem, setFieldError, showProblem,
} from './api.js';
import { formatNumber, formatPercent } from './format.js';
import { scrollableByKeyboard } from './scroll.js';
import { drawXYChart } from './xychart.js';

const $ = (id) => document.getElementById(id);

const NORM_LABELS = { batch: 'batch norm', group: 'group norm', layer: 'layer norm', none: 'no normalization', rms: 'RMS norm' };
const NORM_MARKERS = { batch: 'circle', group: 'square', layer: 'circle', none: 'square', rms: 'circle' };

/** "2, 4, 8" -> [2, 4, 8]; throws Error naming the bad entry. */
/** The batch sizes typed in `control`, or null after saying what is wrong next to it. */
function readSizes(control, errorRegion) {
  try {
    return parseSizes(control.value);
  } catch (err) {
    setFieldError(control, err.message);
    showProblem(errorRegion, new ApiError({ title: 'Cannot read the batch sizes', detail: err.message }));
    return null;
  }
}

function parseSizes(text) {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  if (!parts.length) throw new Error('Enter at least one batch size.');
  return parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`“${part}” is not a whole number.`);
    return Number(part);
  });
}

function cell(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function tableHead(table, captionText, headers) {
  table.replaceChildren();
  table.append(cell('caption', captionText));
  const row = document.createElement('tr');
  headers.forEach((header) => row.append(cell('th', header, { scope: 'col' })));
  const head = document.createElement('thead');
  head.append(row);
  table.append(head);
  const body = document.createElement('tbody');
  table.append(body);
  return body;
}

/** Show a failed call: field errors next to their controls, the rest in the alert region. */
function showFailure(err, region, controls) {
  const fields = showProblem(region, err, {
    skipFields: (field) => Boolean(controls[field.path[0]?.replace(/\[\d+\]$/, '')]),
    labelFor: (path) => labelText(controls[path[0]]) || path.join('.'),
  });
  for (const field of fields) {
    const control = controls[field.path[0]?.replace(/\[\d+\]$/, '')];
    if (control) setFieldError(control, field.messages.join(' '));
  }
  revealProblem(region);
}

function initNoise() {
  const form = $('noise-form');
  const errorRegion = $('noise-error');
  const status = $('noise-status');
  const figure = $('noise-figure');
  const table = $('noise-table');
  const controls = {
    variant: $('noise-variant'),
    batch_sizes: $('noise-batch-sizes'),
    z: $('noise-z'),
    samples: $('noise-samples'),
    features: $('noise-features'),
    seed: $('noise-seed'),
    eps: $('noise-eps'),
  };
  let controller = null;
  scrollableByKeyboard(table.parentElement, 'Noise of batch statistics (table)');

  const render = (data) => {
    const batch = data.variant === 'batch';
    figure.hidden = !batch;
    $('noise-zero').hidden = batch;
    $('noise-zero').textContent = batch ? '' : data.independent_of_batch;
    $('noise-pair').textContent = batch ? data.batch_size_two : '';
    const points = data.points;
    if (batch) {
      const at = (p) => ({ 'data-batch-size': p.batch_size });
      drawXYChart($('noise-chart'), [
        {
          className: 'first-order', label: 'first order', line: true, marker: null,
          points: points.map((p) => ({ x: p.batch_size, y: p.first_order_variance })),
        },
        {
          className: 'exact', label: 'exact', line: true, marker: null,
          points: points.map((p) => ({ x: p.batch_size, y: p.exact_variance })),
        },
        {
          className: 'measured', label: 'measured', line: false, marker: 'circle',
          points: points.map((p) => ({
            x: p.batch_size, y: p.measured_variance,
            low: p.measured_variance - 2 * p.standard_error, high: p.measured_variance + 2 * p.standard_error,
            attrs: { ...at(p), 'data-measured': p.measured_variance },
          })),
        },
      ], { yLog: true, yTitle: 'variance (log scale)', xTitle: 'batch size m (log scale)' });
      const first = points[0];
      const last = points[points.length - 1];
      $('noise-chart-desc').textContent = `Measured variance falls from ${formatNumber(first.measured_variance)} at `
        + `batch size ${first.batch_size} to ${formatNumber(last.measured_variance)} at ${last.batch_size}, `
        + 'following the exact theory; the first-order line overshoots at small batches.';
    }
    const headers = batch
      ? ['Batch size', 'Measured variance', '± 2 standard errors', 'Exact theory', 'First order']
      : ['Batch size', 'Measured variance', 'Largest change of x̂', 'Theory'];
    const body = tableHead(table, `Variance of the normalized value of an example at z = ${formatNumber(data.z)}`, headers);
    for (const p of points) {
      const row = document.createElement('tr');
      row.dataset.batchSize = String(p.batch_size);
      row.append(cell('th', String(p.batch_size), { scope: 'row' }));
      row.append(cell('td', formatNumber(p.measured_variance), { 'data-value': String(p.measured_variance) }));
      if (batch) {
        row.append(cell('td', formatNumber(2 * p.standard_error, 2)));
        row.append(cell('td', formatNumber(p.exact_variance), { 'data-value': String(p.exact_variance) }));
        row.append(cell('td', formatNumber(p.first_order_variance), { 'data-value': String(p.first_order_variance) }));
      } else {
        row.append(cell('td', formatNumber(p.max_abs_change)));
        row.append(cell('td', formatNumber(p.exact_variance), { 'data-value': String(p.exact_variance) }));
      }
      body.append(row);
    }
  };

  const run = async () => {
    clearProblem(errorRegion);
    clearFieldErrors(form);
    const sizes = readSizes(controls.batch_sizes, errorRegion);
    if (!sizes) return;
    const body = {
      variant: controls.variant.value,
      batch_sizes: sizes,
      z: Number(controls.z.value),
      samples: Number(controls.samples.value),
      features: Number(controls.features.value),
      seed: Number(controls.seed.value),
      eps: Number(controls.eps.value),
    };
    controller?.abort();
    controller = new AbortController();
    status.textContent = 'Measuring…';
    figure.setAttribute('aria-busy', 'true');
    try {
      const data = await request('/v1/simulations/batch-statistics', { method: 'POST', body, signal: controller.signal });
      render(data);
      status.textContent = `Measured over ${data.samples.toLocaleString('en')} random batches per batch size.`;
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = '';
      showFailure(err, errorRegion, controls);
    } finally {
      figure.removeAttribute('aria-busy');
    }
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  return run;
}

function initSweep() {
  const form = $('sweep-form');
  const errorRegion = $('sweep-error');
  const status = $('sweep-status');
  const figure = $('sweep-figure');
  const table = $('sweep-table');
  const controls = { batch_sizes: $('sweep-batch-sizes'), epochs: $('sweep-epochs'), scale_learning_rate: $('sweep-scale') };
  let controller = null;
  scrollableByKeyboard(table.parentElement, 'Test error after training (table)');

  const render = (data) => {
    const names = data.normalizations;
    const series = names.map((name) => ({
      className: `norm-${name}`, label: NORM_LABELS[name] || name, line: true, marker: NORM_MARKERS[name] || 'circle',
      points: data.cells.filter((c) => c.normalization === name && c.test_error !== null).map((c) => ({
        x: c.batch_size, y: 100 * c.test_error,
        attrs: { 'data-batch-size': c.batch_size, 'data-normalization': name, 'data-test-error': c.test_error },
      })),
    }));
    figure.hidden = false;
    drawXYChart($('sweep-chart'), series, {
      yTitle: 'test error (%)', xTitle: 'batch size (log scale)', yFormat: (v) => `${formatNumber(v, 3)}%`,
    });
    const legend = $('sweep-legend');
    legend.replaceChildren(...names.map((name) => {
      const item = cell('span', NORM_LABELS[name] || name, { class: 'legend-item' });
      item.prepend(cell('span', '', { class: `swatch norm-${name}`, 'aria-hidden': 'true' }));
      return item;
    }));
    const summary = names.map((name) => {
      const row = data.cells.filter((c) => c.normalization === name);
      return `${NORM_LABELS[name] || name}: ${row.map((c) => `${formatPercent(c.test_error)} at ${c.batch_size}`).join(', ')}`;
    });
    $('sweep-chart-desc').textContent = `Test error per batch size. ${summary.join('. ')}.`;
    const body = tableHead(table, 'Test error after training (lower is better)', ['Normalization', ...data.batch_sizes.map((b) => `batch ${b}`)]);
    for (const name of names) {
      const row = document.createElement('tr');
      row.append(cell('th', NORM_LABELS[name] || name, { scope: 'row' }));
      for (const size of data.batch_sizes) {
        const found = data.cells.find((c) => c.normalization === name && c.batch_size === size);
        row.append(cell('td', found.test_error === null ? 'diverged' : formatPercent(found.test_error), {
          'data-batch-size': String(size), 'data-normalization': name, 'data-value': String(found.test_error),
        }));
      }
      body.append(row);
    }
    $('sweep-explanation').hidden = false;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(errorRegion);
    clearFieldErrors(form);
    const sizes = readSizes(controls.batch_sizes, errorRegion);
    if (!sizes) return;
    const body = {
      batch_sizes: sizes,
      epochs: Number(controls.epochs.value),
      scale_learning_rate: controls.scale_learning_rate.checked,
    };
    controller?.abort();
    controller = new AbortController();
    const button = $('sweep-run');
    button.disabled = true;
    status.textContent = `Training ${sizes.length * 4} networks…`;
    try {
      const data = await request('/v1/simulations/batch-size-sweep', { method: 'POST', body, signal: controller.signal });
      render(data);
      status.textContent = `Trained ${data.cells.length} networks (seed ${data.seed}); the same settings give the same numbers.`;
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = '';
      showFailure(err, errorRegion, controls);
    } finally {
      button.disabled = false;
    }
  });
}

function initModes() {
  const form = $('modes-form');
  const errorRegion = $('modes-error');
  const status = $('modes-status');
  const table = $('modes-table');
  const controls = { batch_sizes: $('modes-batch-sizes'), momenta: $('modes-momentum') };
  scrollableByKeyboard(table.parentElement, 'Training mode versus evaluation mode (table)');

  const render = (data) => {
    const body = tableHead(table, 'Test accuracy of the same trained network', [
      'Batch size', 'Evaluation mode', 'Batch statistics', 'Exact statistics', 'Layer 1 mismatch',
    ]);
    for (const c of data.cells) {
      const row = document.createElement('tr');
      row.dataset.batchSize = String(c.batch_size);
      row.append(cell('th', String(c.batch_size), { scope: 'row' }));
      const accuracy = Object.fromEntries(c.modes.map((m) => [m.mode, m.test_accuracy]));
      for (const mode of ['running', 'batch', 'population']) {
        row.append(cell('td', c.diverged_at_step === null ? formatPercent(accuracy[mode]) : 'diverged', {
          'data-mode': mode, 'data-value': String(accuracy[mode] ?? null),
        }));
      }
      const mismatch = c.layers[0]?.normalized_difference;
      row.append(cell('td', mismatch === undefined ? '—' : formatNumber(mismatch, 3), { 'data-value': String(mismatch ?? null) }));
      body.append(row);
    }
    $('modes-explanation').hidden = false;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(errorRegion);
    clearFieldErrors(form);
    const sizes = readSizes(controls.batch_sizes, errorRegion);
    if (!sizes) return;
    const body = { batch_sizes: sizes, momenta: [Number(controls.momenta.value)], scale_learning_rate: true };
    const button = $('modes-run');
    button.disabled = true;
    status.textContent = `Training ${sizes.length} networks…`;
    try {
      render(await request('/v1/simulations/batch-norm-modes', { method: 'POST', body }));
      status.textContent = 'Each network was trained once and scored three ways.';
    } catch (err) {
      status.textContent = '';
      showFailure(err, errorRegion, controls);
    } finally {
      button.disabled = false;
    }
  });
}

export function initBatchSize() {
  const measure = initNoise();
  initSweep();
  initModes();
  // Measure once, when the tab is first opened (the page's other tabs should not wait for it).
  const tab = $('tab-batch-size');
  const first = () => {
    tab.removeEventListener('click', first);
    tab.removeEventListener('focus', first);
    measure();
  };
  tab.addEventListener('click', first);
  tab.addEventListener('focus', first);
}
