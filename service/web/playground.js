// The normalization playground: parse or generate an array, POST /v1/normalize/{variant}, show before/after.

import {
  ApiError, clearFieldErrors, clearProblem, labelText, request, revealProblem, setFieldError, showProblem,
} from './api.js';
import { histogramFigure, histogramOf } from './chart.js';
import { formatNumber } from './format.js';
import { scrollableByKeyboard } from './scroll.js';

const MAX_VALUES = 10000;
const VARIANT_HELP = {
  batch: 'Per feature, across the batch: every column gets mean 0 and variance 1.',
  layer: 'Per example, across its features: every row gets mean 0 and variance 1.',
  rms: 'Per example, divided by the root mean square of its features; the mean is not subtracted.',
  group: 'Per example, over groups of channels: the channels are split into the given number of groups.',
  instance: 'Per example and per channel, over the positions after the second axis (needs 3 or more axes).',
  compare: 'Runs every variant on the same input and lists the results side by side.',
};
// The API's field names, and the control each belongs to.
const FIELD_CONTROLS = { input: 'norm-input', eps: 'norm-eps', num_groups: 'norm-groups' };
const $ = (id) => document.getElementById(id);

/** Parse JSON, or rows of numbers separated by commas/whitespace (one row per line). Returns nested lists. */
export function parseArray(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error('The input is empty.');
  let value;
  if (trimmed.startsWith('[')) {
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`This is not valid JSON: ${err.message}`);
    }
  } else {
    value = trimmed.split(/\n+/).filter((line) => line.trim()).map((line, row) => line.trim().split(/[\s,;]+/)
      .map((cell, col) => {
        const number = Number(cell);
        if (cell === '' || !Number.isFinite(number)) throw new Error(`Row ${row + 1}, column ${col + 1}: “${cell}” is not a number.`);
        return number;
      }));
  }
  shapeOf(value);
  return value;
}

/** The shape of a rectangular nested list of finite numbers; throws a readable error otherwise. */
export function shapeOf(value, where = 'the array') {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${where} holds a value that is not a finite number.`);
    return [];
  }
  if (!Array.isArray(value) || value.length === 0) throw new Error(`${where} must be a non-empty list of numbers.`);
  const shapes = value.map((item, i) => shapeOf(item, `item ${i + 1} of ${where}`));
  const first = JSON.stringify(shapes[0]);
  const bad = shapes.findIndex((shape) => JSON.stringify(shape) !== first);
  if (bad >= 0) throw new Error(`Rows must have the same length: item ${bad + 1} of ${where} differs from item 1.`);
  return [value.length, ...shapes[0]];
}

function randomNormal() {
  // Box–Muller; 1 - random() avoids log(0).
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

function generate(shape, mean, std) {
  if (shape.length === 0) return Number((mean + std * randomNormal()).toFixed(3));
  return Array.from({ length: shape[0] }, () => generate(shape.slice(1), mean, std));
}

function formatArray(value) {
  if (!Array.isArray(value)) return String(value);
  if (value.every((item) => !Array.isArray(item))) return `[${value.map((v) => formatNumber(v, 4)).join(', ')}]`;
  return `[${value.map(formatArray).join(',\n ')}]`;
}

const flatten = (value) => (Array.isArray(value) ? value.flat(Infinity) : [value]);

export function initPlayground() {
  const form = $('norm-form');
  const variant = $('norm-variant');
  const errorRegion = $('norm-error');
  const stats = $('norm-stats');

  const syncFields = () => {
    $('norm-groups-field').hidden = !['group', 'compare'].includes(variant.value);
    $('norm-variant-help').textContent = VARIANT_HELP[variant.value] || '';
  };
  variant.addEventListener('change', syncFields);
  syncFields();

  $('norm-generate').addEventListener('click', () => {
    try {
      const shape = $('norm-shape').value.split(/[\s,x×]+/).filter(Boolean).map(Number);
      if (!shape.length || shape.some((n) => !Number.isInteger(n) || n < 1)) {
        throw new Error('The shape must be whole numbers of at least 1, for example 8, 4.');
      }
      if (shape.reduce((a, b) => a * b, 1) > MAX_VALUES) throw new Error(`Keep it to at most ${MAX_VALUES} values.`);
      const mean = Number($('norm-gen-mean').value);
      const std = Number($('norm-gen-std').value);
      if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) throw new Error('Mean and std must be numbers (std ≥ 0).');
      $('norm-input').value = formatArray(generate(shape, mean, std));
      clearProblem(errorRegion);
    } catch (err) {
      showProblem(errorRegion, new ApiError({ title: 'Cannot generate', detail: err.message }));
      revealProblem(errorRegion);
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let input;
    clearFieldErrors(form);
    try {
      input = parseArray($('norm-input').value);
    } catch (err) {
      setFieldError($('norm-input'), err.message);
      showProblem(errorRegion, new ApiError({ title: 'Cannot read the array', detail: err.message }));
      markStale(stats);
      revealProblem(errorRegion);
      return;
    }
    const body = { input };
    const eps = $('norm-eps').value;
    if (eps !== '') body.eps = Number(eps);
    if (['group', 'compare'].includes(variant.value)) body.num_groups = Number($('norm-groups').value);
    const button = $('norm-run');
    button.disabled = true;
    stats.setAttribute('aria-busy', 'true');
    try {
      const data = await request(`/v1/normalize/${variant.value}`, { method: 'POST', body });
      clearProblem(errorRegion);
      stats.classList.remove('stale');
      if (variant.value === 'compare') renderCompare(stats, input, data);
      else renderSingle(stats, input, data);
    } catch (err) {
      const controlOf = (path) => $(FIELD_CONTROLS[path[0]]);
      const fields = showProblem(errorRegion, err, {
        labelFor: (path) => (controlOf(path) ? labelText(controlOf(path)) : path.join('.')),
      });
      for (const field of fields) {
        const control = controlOf(field.path);
        if (control && !control.closest('[hidden]')) setFieldError(control, field.messages.join(' '));
      }
      markStale(stats);
      revealProblem(errorRegion);
    } finally {
      button.disabled = false;
      stats.removeAttribute('aria-busy');
    }
  });
}

/** Results of an earlier run stay visible after an error, labelled as such. */
function markStale(stats) {
  if (!stats.children.length || stats.classList.contains('stale')) return;
  stats.classList.add('stale');
  const note = document.createElement('p');
  note.className = 'status';
  note.textContent = 'These are the results of the last run that worked.';
  stats.prepend(note);
}

function summaryOf(values) {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return {};
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const variance = finite.reduce((a, b) => a + (b - mean) ** 2, 0) / finite.length;
  return { mean, std: Math.sqrt(variance), min: Math.min(...finite), max: Math.max(...finite) };
}

function statsTable(caption, rowHeader, rows) {
  const table = document.createElement('table');
  table.className = 'stats';
  table.createCaption().textContent = caption;
  const head = table.createTHead().insertRow();
  for (const text of [rowHeader, 'mean', 'std', 'min', 'max']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    head.append(th);
  }
  const body = table.createTBody();
  for (const { label, summary, error } of rows) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = label;
    row.append(th);
    if (error) {
      const cell = row.insertCell();
      cell.colSpan = 4;
      cell.className = 'cell-error';
      cell.textContent = error;
      continue;
    }
    for (const key of ['mean', 'std', 'min', 'max']) row.insertCell().textContent = formatNumber(summary?.[key]);
  }
  const scroll = document.createElement('div');
  scroll.className = 'table-scroll';
  scroll.append(table);
  return scrollableByKeyboard(scroll, caption);
}

function renderSingle(stats, input, data) {
  const output = data?.output;
  const inputSummary = data?.summary?.input || summaryOf(flatten(input));
  const outputSummary = data?.summary?.output || summaryOf(flatten(output ?? []));
  stats.replaceChildren(statsTable('Before and after', 'values', [
    { label: 'before', summary: inputSummary },
    { label: 'after', summary: outputSummary },
  ]));
  const details = [];
  if (data?.shape) details.push(`shape ${JSON.stringify(data.shape)}`);
  if (data?.dtype) details.push(`dtype ${data.dtype}`);
  if (details.length) appendText(stats, 'p', details.join(' · '), 'help');
  for (const [key, label] of [['mean', 'Means subtracted'], ['var', 'Variances used (the output is divided by √(var + ε))'],
    ['running_mean', 'Running mean'], ['running_var', 'Running variance']]) {
    if (data?.[key] != null) appendText(stats, 'p', `${label}: ${formatArray(data[key])}`, 'mono');
  }
  const grid = document.createElement('div');
  grid.className = 'histograms two';
  const before = histogramFigure(histogramOf(flatten(input)), { title: 'Before' });
  const after = histogramFigure(histogramOf(flatten(output ?? [])), { title: 'After' });
  if (before) grid.append(before);
  if (after) grid.append(after);
  stats.append(grid);
  if (output != null) {
    const box = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'Output array';
    const pre = document.createElement('pre');
    pre.textContent = formatArray(output);
    scrollableByKeyboard(pre, 'Output array');
    box.append(summary, pre);
    stats.append(box);
  }
}

/** The compare endpoint's shape is loose: accept a list of results, or a map keyed by variant. */
function variantResults(data) {
  if (Array.isArray(data)) {
    return data.map((item, i) => [item?.variant || item?.name || `variant ${i + 1}`, item]);
  }
  if (data && typeof data === 'object') {
    for (const key of ['results', 'variants', 'items']) {
      if (data[key] && typeof data[key] === 'object') return variantResults(data[key]);
    }
    return Object.entries(data).filter(([, value]) => value && typeof value === 'object' && !Array.isArray(value));
  }
  return [];
}

function renderCompare(stats, input, data) {
  const rows = [{ label: 'input', summary: summaryOf(flatten(input)) }];
  for (const [name, result] of variantResults(data)) {
    const problem = result.error || (result.title && !result.output ? result : null);
    if (problem) {
      const text = typeof problem === 'string' ? problem
        : [problem.title, problem.detail].filter((part, i, all) => part && all.indexOf(part) === i).join(': ');
      rows.push({ label: name, error: text });
    } else {
      rows.push({ label: name, summary: result.summary?.output || summaryOf(flatten(result.output ?? [])) });
    }
  }
  stats.replaceChildren(statsTable('Output of each variant', 'variant', rows));
  if (rows.length === 1) appendText(stats, 'p', 'The service returned no variant results.', 'help');
}

function appendText(parent, tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  parent.append(node);
}
