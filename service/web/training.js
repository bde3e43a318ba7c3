// The training tab: settings -> POST /v1/simulations/training as server-sent events -> live views.

import {
  ApiError, clearProblem, invalidSettings, isAbort, labelText, revealProblem, setFieldError, showProblem,
} from './api.js';
import { formatPercent } from './format.js';
import { scrollableByKeyboard } from './scroll.js';
import { postEventStream } from './training-stream.js';
import {
  VARIANT_LABELS, renderBands, renderCurves, renderHistograms, renderLegend, renderResults,
} from './training-view.js';

const $ = (id) => document.getElementById(id);

// The lesson's starting points: the classic small Gaussian (3 × 100 sigmoid learns nothing
// without batch norm), the width-aware schemes, and the two broken extremes of the simulation tab.
const PRESETS = {
  small: { init: 'custom', weight_variance: 0.01 },
  he: { init: 'he_normal' },
  xavier: { init: 'xavier_normal' },
  exploding: { init: 'custom', weight_variance: 1 },
  vanishing: { init: 'custom', weight_variance: 0.001 },
};

export function initTraining() {
  const form = $('train-controls');
  const start = $('train-start');
  const stop = $('train-stop');
  const scrub = $('train-scrub');
  let controller = null;
  let run = null;
  let drawPending = false;
  let announcedQuarter = 0;
  let requested = null; // the run asked for last (shown once its first event arrives)
  let total = 0; // its steps

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    begin();
  });
  form.addEventListener('change', syncControls);
  stop.addEventListener('click', () => controller?.abort());
  for (const button of form.querySelectorAll('[data-train-preset]')) {
    button.addEventListener('click', () => {
      const preset = PRESETS[button.dataset.trainPreset];
      $('train-init').value = preset.init;
      if (preset.weight_variance !== undefined) $('train-weight-variance').value = String(preset.weight_variance);
      syncControls();
    });
  }
  $('train-layer').addEventListener('change', () => draw());
  $('train-track').addEventListener('change', () => draw());
  scrub.addEventListener('input', () => draw());
  $('train-bands-table').closest('details').addEventListener('toggle', () => draw());
  new ResizeObserver(() => run && draw()).observe($('train-bands'));
  scrollableByKeyboard($('train-bands-table').parentElement, 'Percentiles per step (table)');
  setState('idle');
  syncControls();

  function syncControls() {
    const custom = $('train-init').value === 'custom';
    $('train-weight-variance-field').hidden = !custom;
    const main = $('train-normalization').value;
    for (const box of form.querySelectorAll('input[name="compare"]')) {
      // The first run cannot also be a comparison.
      box.disabled = box.value === main;
      if (box.disabled) box.checked = false;
    }
    const variants = [main, ...[...form.querySelectorAll('input[name="compare"]:checked')].map((b) => b.value)];
    $('train-groups-field').hidden = !variants.includes('group');
    $('train-momentum-field').hidden = $('train-optimizer').value !== 'sgd';
    const variance = Number($('train-weight-variance').value);
    for (const button of form.querySelectorAll('[data-train-preset]')) {
      const preset = PRESETS[button.dataset.trainPreset];
      const on = preset.init === $('train-init').value && (!custom || preset.weight_variance === variance);
      button.setAttribute('aria-pressed', String(on));
    }
  }

  function setState(state) {
    form.dataset.state = state;
    const running = state === 'running';
    start.disabled = running;
    stop.disabled = !running;
    $('train-progress').closest('.train-progress').dataset.state = state;
    if (running) $('train-bands').setAttribute('aria-busy', 'true');
    else $('train-bands').removeAttribute('aria-busy');
  }

  function readBody() {
    const error = invalidSettings(form, 'Training did not start: fix the marked fields.');
    if (error) return { error };
    const num = (id) => Number($(id).value);
    const optimizer = { name: $('train-optimizer').value, learning_rate: num('train-learning-rate') };
    if (optimizer.name === 'sgd') optimizer.momentum = num('train-momentum');
    const body = {
      dataset: { name: $('train-dataset').value },
      hidden_widths: Array(num('train-depth')).fill(num('train-width')),
      activation: $('train-activation').value,
      init: $('train-init').value,
      normalization: $('train-normalization').value,
      compare: [...form.querySelectorAll('input[name="compare"]:checked')].map((box) => box.value),
      optimizer,
      batch_size: num('train-batch-size'),
      steps: num('train-steps'),
      log_every: Math.min(num('train-log-every'), num('train-steps')),
      seed: num('train-seed'),
    };
    if (body.init === 'custom') body.weight_variance = num('train-weight-variance');
    if (!$('train-groups-field').hidden) body.groups = num('train-groups');
    return { body };
  }

  async function begin() {
    controller?.abort();
    const { body, error } = readBody();
    if (error) {
      requested = null;
      fail(error);
      return;
    }
    const mine = new AbortController();
    controller = mine;
    clearProblem($('train-error'));
    const next = {
      variants: [body.normalization, ...body.compare],
      steps: body.steps,
      layers: body.hidden_widths.length,
      loggedSteps: [],
      edges: [],
      records: new Map(),
      summary: null,
    };
    requested = next;
    total = body.steps;
    announcedQuarter = 0;
    progress(0, 'starting…');
    setState('running');
    stop.focus();
    announce(`Training started: ${body.steps} steps, ${next.variants.map((v) => VARIANT_LABELS[v]).join(' and ')}.`);
    try {
      await postEventStream('/v1/simulations/training', body, {
        signal: mine.signal,
        onEvent: (type, data) => {
          if (controller !== mine) return;
          if (run !== next) adopt(next); // the last run stays on screen until this one answers
          receive(type, data);
        },
      });
      if (controller !== mine) return;
      if (run !== next || !run.summary) throw new ApiError({ title: 'The run ended early', detail: 'The connection closed before the last step.' });
      finish();
    } catch (err) {
      if (controller !== mine) return;
      if (isAbort(err)) {
        stopped();
      } else {
        mine.abort(); // an error event or a broken stream: let go of the response too
        fail(err);
      }
    } finally {
      if (controller === mine) controller = null;
    }
  }

  function adopt(next) {
    run = next;
    scrub.max = '0';
    scrub.value = '0';
    setLayers(run.layers);
    $('train-idle').hidden = true;
    $('train-views').hidden = false;
    $('train-views').classList.remove('stale');
    $('train-verdict').classList.remove('stale');
  }

  function receive(type, data) {
    if (type === 'start') {
      run.loggedSteps = data.logged_steps || [];
      run.edges = data.histogram_edges || [];
      if (Array.isArray(data.variants)) run.variants = data.variants;
      renderLegend(run);
    } else if (type === 'step') {
      if (!run.records.has(data.variant)) run.records.set(data.variant, []);
      run.records.get(data.variant).push(data);
      progress(data.step, `step ${data.step} of ${total}`);
      const quarter = Math.floor((4 * data.step) / total);
      if (quarter > announcedQuarter && quarter < 4) {
        announcedQuarter = quarter;
        announce(`Step ${data.step} of ${total}.`);
      }
      schedule();
    } else if (type === 'summary') {
      run.summary = data;
    } else if (type === 'error') {
      throw new ApiError(data);
    }
  }

  function finish() {
    setState('finished');
    progress(total, 'finished');
    draw();
    const words = run.summary.variants.map((v) => `${VARIANT_LABELS[v.variant] || v.variant}: test accuracy `
      + `${formatPercent(v.final_test_accuracy)}${v.diverged_at_step !== null ? `, diverged at step ${v.diverged_at_step}` : ''}`);
    announce(`Training finished. ${words.join('; ')}.`);
    start.focus();
  }

  function stopped() {
    const last = Number($('train-progress').getAttribute('aria-valuenow'));
    setState('stopped');
    progress(last, `stopped at step ${last} of ${total}`);
    markStale();
    draw();
    announce(`Training stopped at step ${last}.`);
    start.focus();
  }

  function fail(err) {
    setState('failed');
    progress(Number($('train-progress').getAttribute('aria-valuenow')), 'failed: nothing more was computed');
    markStale();
    for (const field of showProblem($('train-error'), err, { labelFor: fieldLabel })) {
      const control = controlNamed(field.path.join('.')) || controlNamed(field.path[0]);
      if (control) setFieldError(control, field.messages.join(' '));
    }
    revealProblem($('train-error'));
    if (document.activeElement === stop || document.activeElement === document.body) start.focus();
  }

  // A request that never answered leaves the last run on screen: say it is not this one.
  function markStale() {
    if (!run || run === requested) return;
    $('train-views').classList.add('stale');
    $('train-verdict').classList.add('stale');
  }

  function controlNamed(name) {
    return name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  }

  function fieldLabel(path) {
    const control = controlNamed(path.join('.')) || controlNamed(path[0]);
    return control ? labelText(control) : path.join('.');
  }

  function progress(step, text) {
    const bar = $('train-progress');
    bar.setAttribute('aria-valuemax', String(total));
    bar.setAttribute('aria-valuenow', String(step));
    bar.setAttribute('aria-valuetext', text);
    bar.style.setProperty('--done', `${total ? (100 * step) / total : 0}%`);
    $('train-status').textContent = text;
  }

  function announce(text) {
    $('train-announcer').textContent = text;
  }

  function setLayers(count) {
    const select = $('train-layer');
    select.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(`layer ${i + 1}`, String(i + 1))));
    select.value = String(count); // the last hidden layer drifts most
  }

  // Events may arrive faster than the page can redraw: draw at most once per frame.
  function schedule() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      draw();
    });
  }

  function draw() {
    if (!run) return;
    const layer = Number($('train-layer').value) || run.layers;
    const received = [...new Set([...run.records.values()].flatMap((list) => list.map((r) => r.step)))]
      .sort((a, b) => a - b);
    // The scrubber follows the newest step until the learner moves it back.
    const following = Number(scrub.value) >= Number(scrub.max);
    scrub.max = String(Math.max(received.length - 1, 0));
    if (following) scrub.value = scrub.max;
    scrub.disabled = received.length === 0;
    const step = received[Number(scrub.value)] ?? 0;
    $('train-scrub-output').textContent = String(step);
    scrub.setAttribute('aria-valuetext', `step ${step}`);
    renderResults(run);
    renderCurves(run);
    renderBands(run, layer, $('train-track').value);
    renderHistograms(run, layer, step);
  }
}
