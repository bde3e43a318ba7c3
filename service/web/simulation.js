// The simulation tab: controls -> debounced POST /v1/simulations/propagation -> chart, regime, histograms.

import {
  ApiError, clearProblem, invalidSettings, isAbort, labelText, request, setFieldError, showProblem,
} from './api.js';
import { drawVarianceChart, histogramFigure } from './chart.js';
import { formatNumber, formatPercent, formatPow10, safeLog10 } from './format.js';
import { scrollableByKeyboard } from './scroll.js';

const DEBOUNCE_MS = 150;

const REGIME_TEXT = {
  exploding: 'Each layer multiplies the variance by more than one, and the factors compound: the signal '
    + 'grows by orders of magnitude. Deep layers receive enormous inputs, squashing activations such as tanh '
    + 'saturate, and gradients become unusable.',
  stable: 'The per-layer factor is close to one, so the signal keeps roughly the same spread from the '
    + 'first layer to the last. This is what a good initialization (or a normalization layer) aims for.',
  vanishing: 'Each layer shrinks the variance, and the shrinking compounds: after a few layers the signal '
    + 'is almost zero and the last layers barely see the input.',
};

const FALLBACK_SCHEMES = [
  'lecun_normal', 'lecun_uniform', 'xavier_normal', 'xavier_uniform', 'he_normal', 'he_uniform', 'orthogonal',
];

const $ = (id) => document.getElementById(id);

const SCHEME_FAMILIES = { lecun: 'LeCun', xavier: 'Xavier (Glorot)', he: 'He (Kaiming)', orthogonal: 'Orthogonal' };
const schemeLabel = (name) => name.split('_').map((part, i) => (i === 0 ? SCHEME_FAMILIES[part] || part : part)).join(' ');
const WV_HELP = 'The slider moves in powers of ten (−4 means 0.0001, 0 means 1); type an exact value in the box.';

export function initSimulation() {
  const form = $('sim-controls');
  const slider = $('weight-variance');
  const valueBox = $('weight-variance-value');
  const svg = $('variance-chart');
  const errorRegion = $('sim-error');
  let weightVariance = Number(valueBox.value);
  let timer = null;
  let controller = null;
  let lastLayers = null;
  let schemes = new Map();

  // Keep the log slider and the plain-value box in step; the box may go past the slider's range.
  const describeSlider = () => slider.setAttribute('aria-valuetext', `Var(W) = ${formatNumber(weightVariance)}`);
  slider.addEventListener('input', () => {
    weightVariance = Number((10 ** Number(slider.value)).toPrecision(6));
    valueBox.value = String(weightVariance);
    describeSlider();
  });
  valueBox.addEventListener('input', () => {
    const value = Number(valueBox.value);
    if (valueBox.value !== '' && value > 0) {
      weightVariance = value;
      slider.value = String(Math.log10(value));
      describeSlider();
    }
  });
  describeSlider();
  scrollableByKeyboard($('variance-table').parentElement, 'Variance per layer (table)');

  form.addEventListener('input', () => schedule());
  form.addEventListener('change', () => schedule());
  form.addEventListener('submit', (event) => event.preventDefault());

  for (const button of form.querySelectorAll('[data-preset]')) {
    button.addEventListener('click', () => {
      const value = Number(button.dataset.preset);
      $('init').value = 'custom';
      $('activation').value = 'linear';
      $('normalization').value = 'none';
      $('width').value = '100';
      $('depth').value = '10';
      weightVariance = value;
      valueBox.value = String(value);
      slider.value = String(Math.log10(value));
      describeSlider();
      schedule(0);
    });
  }

  new ResizeObserver(() => {
    if (lastLayers) render(lastLayers.data, lastLayers.backward);
  }).observe(svg.parentElement);

  loadSchemes();
  schedule(0);

  async function loadSchemes() {
    let list = FALLBACK_SCHEMES.map((name) => ({ name }));
    try {
      const data = await request('/v1/simulations/init-schemes');
      const items = Array.isArray(data) ? data : data?.items || data?.schemes || [];
      if (items.length) list = items.map((item) => (typeof item === 'string' ? { name: item } : item));
    } catch {
      /* the static list is enough to run the page; errors show up on the simulation call */
    }
    const select = $('init');
    schemes = new Map();
    for (const scheme of list) {
      const name = scheme.name || scheme.id || scheme.slug || scheme.scheme;
      if (!name) continue;
      schemes.set(name, scheme);
      if (![...select.options].some((option) => option.value === name)) {
        select.append(new Option(scheme.label || scheme.title || schemeLabel(name), name));
      }
    }
  }

  function syncPresets() {
    const lesson = $('init').value === 'custom' && $('activation').value === 'linear'
      && $('normalization').value === 'none' && $('width').value === '100' && $('depth').value === '10';
    for (const button of form.querySelectorAll('[data-preset]')) {
      button.setAttribute('aria-pressed', String(lesson && Number(button.dataset.preset) === weightVariance));
    }
  }

  /** Show `value` in the slider and the box (the box also shows values past the slider's range). */
  function showWeightVariance(value) {
    valueBox.value = String(value);
    slider.value = String(Math.log10(value));
    slider.setAttribute('aria-valuetext', `Var(W) = ${formatNumber(value)}`);
  }

  function syncVisibility() {
    syncPresets();
    const custom = $('init').value === 'custom';
    // Back from a scheme, whose variance the disabled controls showed: restore the custom one.
    if (custom && valueBox.disabled) showWeightVariance(weightVariance);
    slider.disabled = !custom;
    valueBox.disabled = !custom;
    $('gain-field').hidden = custom;
    $('negative-slope-field').hidden = $('activation').value !== 'leaky_relu';
    $('depth-output').textContent = $('depth').value;
    const scheme = schemes.get($('init').value);
    const formula = scheme?.formula || scheme?.formula_text || scheme?.description;
    $('init-help').textContent = custom
      ? 'Custom uses the weight variance below; a named scheme picks the variance from the layer width (and the gain).'
      : `${scheme?.label || scheme?.title || schemeLabel($('init').value)}${formula ? `: ${formula}` : ''}`;
    $('weight-variance-help').textContent = custom
      ? WV_HELP
      : 'Set by the initialization scheme; choose “Custom weight variance” to set it yourself.';
  }

  function schedule(delay = DEBOUNCE_MS) {
    syncVisibility();
    clearTimeout(timer);
    timer = setTimeout(run, delay);
  }

  function readBody() {
    const error = invalidSettings(form, 'Nothing was computed: fix the marked fields.');
    if (error) return { error };
    const num = (id) => Number($(id).value);
    const mode = $('mode').value;
    const body = {
      mode,
      depth: num('depth'),
      width: num('width'),
      activation: $('activation').value,
      normalization: $('normalization').value === 'none' ? null : $('normalization').value,
      input_variance: num('input-variance'),
      backward: $('backward').checked,
    };
    if (body.activation === 'leaky_relu') body.negative_slope = num('negative-slope');
    if ($('init').value === 'custom') {
      body.weight_variance = weightVariance;
    } else {
      body.init = $('init').value;
      if ($('gain').value !== '') body.gain = num('gain');
    }
    if (mode === 'monte_carlo') {
      body.batch_size = num('batch-size');
      body.seed = num('seed');
      body.histogram_bins = num('histogram-bins');
    }
    return { body };
  }

  async function run() {
    const { body, error } = readBody();
    if (error) {
      controller?.abort();
      controller = null;
      $('chart-figure').removeAttribute('aria-busy');
      $('sim-status').textContent = '';
      markStale();
      showProblem(errorRegion, error, { labelFor: fieldLabel });
      return;
    }
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    $('chart-figure').setAttribute('aria-busy', 'true');
    $('sim-status').textContent = 'updating…';
    try {
      const data = await request('/v1/simulations/propagation', { method: 'POST', body, signal: mine.signal });
      if (controller !== mine) return;
      clearProblem(errorRegion);
      $('chart-figure').classList.remove('stale');
      $('verdict').classList.remove('stale');
      lastLayers = { data, backward: body.backward };
      render(data, body.backward);
    } catch (err) {
      if (isAbort(err) || controller !== mine) return;
      markStale();
      // Field names in the problem's `errors` match the controls' name attributes.
      for (const field of showProblem(errorRegion, err, { labelFor: fieldLabel })) {
        const control = controlNamed(field.path[0]);
        if (control) setFieldError(control, field.messages.join(' '));
      }
    } finally {
      if (controller === mine) {
        $('chart-figure').removeAttribute('aria-busy');
        if (!$('chart-figure').classList.contains('stale')) $('sim-status').textContent = '';
      }
    }
  }

  function controlNamed(name) {
    return name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  }

  function fieldLabel(path) {
    const control = controlNamed(path[0]);
    return control ? labelText(control) : path.join('.');
  }

  // After an error the chart still shows the last good result: say so rather than leave it looking current.
  function markStale() {
    if (!lastLayers) return;
    $('chart-figure').classList.add('stale');
    $('verdict').classList.add('stale');
    $('sim-status').textContent = '(showing the last valid result)';
  }

  function render(data, backward) {
    const layers = Array.isArray(data?.layers) ? data.layers : [];
    // A scheme chose the variance: show which, in the controls it disabled.
    const chosen = layers[0]?.weight_variance;
    if ($('init').value !== 'custom' && chosen > 0) showWeightVariance(Number(chosen.toPrecision(6)));
    const forward = layers.map((layer) => ({
      layer: layer.index,
      log10: numberOrNull(layer.log10_preactivation_variance ?? safeLog10(layer.preactivation_variance)),
    }));
    const grads = layers.map((layer) => ({
      layer: layer.index,
      log10: numberOrNull(layer.log10_grad_variance ?? safeLog10(layer.grad_variance)),
    }));
    const showGrad = backward && grads.some((p) => p.log10 !== null);
    const series = [{
      className: 'forward',
      label: 'pre-activation variance',
      points: forward,
      pointAttrs: (p) => ({ 'data-layer': p.layer, 'data-log10': p.log10 }),
    }];
    if (showGrad) {
      series.push({
        className: 'grad',
        label: 'gradient variance',
        square: true,
        points: grads,
        pointAttrs: (p) => ({ 'data-grad-layer': p.layer, 'data-log10': p.log10 }),
      });
    }
    $('legend-grad').hidden = !showGrad;
    drawVarianceChart(svg, series);

    const regime = $('regime');
    regime.textContent = data.regime || '';
    regime.dataset.regime = data.regime || '';
    $('regime-explanation').textContent = REGIME_TEXT[data.regime] || '';
    const finalLog = numberOrNull(data.log10_final_variance ?? safeLog10(data.final_variance));
    $('final-variance').textContent = formatPow10(finalLog);
    $('gain-per-layer').textContent = Number.isFinite(data.gain_per_layer)
      ? `(each layer multiplies it by about ${formatNumber(data.gain_per_layer, 3)})`
      : '';
    const first = forward.find((p) => p.log10 !== null);
    $('chart-desc').textContent = first
      ? `${layers.length} layers. Variance ${formatPow10(first.log10)} at layer ${first.layer}, `
        + `${formatPow10(finalLog)} after the last layer: ${data.regime || 'unknown'}.`
      : 'No finite values to plot.';
    renderTable(layers, showGrad);
    renderHistograms(layers);
  }

  function renderTable(layers, showGrad) {
    const table = $('variance-table');
    const headers = ['layer', 'pre-activation variance', 'activation variance', 'mean'];
    if (showGrad) headers.push('gradient variance');
    const head = `<thead><tr>${headers.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>`;
    table.innerHTML = head;
    const tbody = document.createElement('tbody');
    for (const layer of layers) {
      const row = tbody.insertRow();
      const cells = [
        String(layer.index),
        formatPow10(numberOrNull(layer.log10_preactivation_variance)),
        formatNumber(layer.variance),
        formatNumber(layer.mean),
      ];
      if (showGrad) cells.push(formatNumber(layer.grad_variance));
      cells.forEach((text, i) => {
        const cell = i === 0 ? document.createElement('th') : row.insertCell();
        if (i === 0) {
          cell.scope = 'row';
          row.append(cell);
        }
        cell.textContent = text;
      });
    }
    table.append(tbody);
  }

  function renderHistograms(layers) {
    const container = $('histograms');
    container.replaceChildren();
    const withHist = layers.filter((layer) => layer.histogram);
    $('histograms-note').hidden = withHist.length > 0;
    for (const layer of withHist) {
      const caption = [
        `std ${formatNumber(layer.std, 3)}`,
        `range ${formatNumber(layer.min, 3)} … ${formatNumber(layer.max, 3)}`,
        Number.isFinite(layer.zero_fraction) ? `zeros ${formatPercent(layer.zero_fraction)}` : null,
        Number.isFinite(layer.saturated_fraction) ? `saturated ${formatPercent(layer.saturated_fraction)}` : null,
        outsideRange(layer.histogram),
      ].filter(Boolean).join(' · ');
      const figure = histogramFigure(layer.histogram, { title: `Layer ${layer.index}`, caption });
      if (figure) {
        figure.dataset.layer = layer.index;
        container.append(figure);
      }
    }
  }
}

/** The histogram's edges are fixed so layers compare; say how many values fall outside them. */
function outsideRange(histogram) {
  const below = histogram.below_range || 0;
  const above = histogram.above_range || 0;
  if (!below && !above) return null;
  const total = below + above + histogram.counts.reduce((a, b) => a + b, 0);
  const edges = histogram.edges;
  const parts = [];
  if (below) parts.push(`${formatPercent(below / total)} below ${formatNumber(edges[0], 3)}`);
  if (above) parts.push(`${formatPercent(above / total)} above ${formatNumber(edges[edges.length - 1], 3)}`);
  return `off the chart: ${parts.join(', ')}`;
}

function numberOrNull(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
