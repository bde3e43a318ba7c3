// HTTP helpers: API base, problem details (RFC 9457), the anonymous learner token.

const LEARNER_KEY = 'activation-lab.learner';
let memoryLearner = null; // used when localStorage is unavailable (private mode, sandboxed iframes)
let pendingRegistration = null;

export function apiBase() {
  const meta = document.querySelector('meta[name="api-base"]');
  return (meta?.getAttribute('content') || '').trim().replace(/\/+$/, '');
}

/** Error thrown for any failed call; `problem` holds {type, title, status, detail, instance, errors}. */
export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || 'Request failed');
    this.name = 'ApiError';
    this.problem = problem;
    this.status = problem.status;
  }
}

export const isAbort = (err) => err?.name === 'AbortError';

function toProblem(response, data) {
  if (data && typeof data === 'object' && !Array.isArray(data) && (data.title || data.detail)) {
    return { ...data, status: data.status ?? response.status };
  }
  const status = response.status;
  return {
    title: response.statusText || `HTTP ${status}`,
    status,
    detail: status >= 500
      ? 'The service ran into a problem. Please try again in a moment.'
      : `The service answered ${status}.`,
  };
}

/**
 * Call the API. Returns the parsed JSON body (or {data, status} when `full` is set).
 * Throws ApiError for HTTP errors and network failures, and the AbortError unchanged.
 */
export async function request(path, { method = 'GET', body, headers = {}, signal, token, full = false } = {}) {
  const sent = { Accept: 'application/json, application/problem+json', ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  if (token) sent.Authorization = `Bearer ${token}`;
  let response;
  let data = null;
  try {
    response = await fetch(apiBase() + path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const type = response.headers.get('Content-Type') || '';
    if (response.status !== 204 && type.includes('json')) data = await response.json();
  } catch (err) {
    if (isAbort(err)) throw err;
    if (!response) {
      throw new ApiError({
        title: 'Network error',
        status: 0,
        detail: 'Could not reach the service. Check your connection and try again.',
      });
    }
    data = null; // a body that is not valid JSON: fall back to the status line
  }
  if (!response.ok) throw new ApiError(toProblem(response, data));
  return full ? { data, status: response.status } : data;
}

// ── learner token ─────────────────────────────────────────────

export function getLearner() {
  try {
    const raw = localStorage.getItem(LEARNER_KEY);
    return raw ? JSON.parse(raw) : memoryLearner;
  } catch {
    return memoryLearner;
  }
}

export function setLearner(learner) {
  memoryLearner = learner;
  try {
    localStorage.setItem(LEARNER_KEY, JSON.stringify(learner));
  } catch {
    /* storage blocked: keep it in memory for this page */
  }
}

export function clearLearner() {
  memoryLearner = null;
  try {
    localStorage.removeItem(LEARNER_KEY);
  } catch {
    /* nothing stored */
  }
}

/** The stored learner, registering an anonymous one first if needed (one registration at a time). */
export async function ensureLearner() {
  const stored = getLearner();
  if (stored?.token) return stored;
  if (!pendingRegistration) {
    pendingRegistration = request('/v1/learners', { method: 'POST', body: {} })
      .then((created) => {
        const learner = { id: created.id, token: created.token, display_name: created.display_name };
        setLearner(learner);
        return learner;
      })
      .finally(() => {
        pendingRegistration = null;
      });
  }
  return pendingRegistration;
}

/**
 * A call on behalf of the learner. A 401 with a stored token means the token is gone or expired:
 * drop it, register again and retry once (unless `retry` is false, e.g. for calls tied to the old learner).
 */
export async function learnerRequest(pathOrFn, options = {}, { retry = true } = {}) {
  let learner = await ensureLearner();
  const path = () => (typeof pathOrFn === 'function' ? pathOrFn(learner) : pathOrFn);
  try {
    return await request(path(), { ...options, token: learner.token });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    // Concurrent calls may all get 401: only the first drops the token, the rest reuse the new one.
    if (getLearner()?.token === learner.token) clearLearner();
    if (!retry) throw err;
    learner = await ensureLearner();
    return request(path(), { ...options, token: learner.token });
  }
}

// ── showing problems ─────────────────────────────────────────

/** Flatten marshmallow-style `errors` ({field: [msg]} or nested) into [{path: [...], messages: [...]}]. */
export function flattenErrors(errors, prefix = []) {
  if (errors == null) return [];
  if (typeof errors === 'string') return [{ path: prefix, messages: [errors] }];
  if (Array.isArray(errors)) {
    if (errors.every((item) => typeof item === 'string')) return [{ path: prefix, messages: errors }];
    return errors.flatMap((item, index) => flattenErrors(item, [...prefix, String(index)]));
  }
  if (typeof errors === 'object') {
    return Object.entries(errors).flatMap(([key, value]) => flattenErrors(value, [...prefix, key]));
  }
  return [{ path: prefix, messages: [String(errors)] }];
}

export function problemOf(err) {
  if (err instanceof ApiError) return err.problem;
  return { title: 'Something went wrong', detail: err?.message || String(err) };
}

// The API uses the bare HTTP reason phrase as the title of generic problems; say it plainly.
const PLAIN_TITLES = {
  400: 'The request could not be read',
  401: 'You are not signed in',
  403: 'This is not allowed',
  404: 'Not found',
  409: 'This clashes with an earlier change',
  413: 'Too much data',
  415: 'Unsupported format',
  422: 'Please check the values',
  429: 'Too many requests: wait a moment and try again',
  500: 'The service ran into a problem',
  502: 'The service is unreachable',
  503: 'The service is unavailable right now',
  504: 'The service took too long to answer',
};
const REASON_PHRASES = new Set([
  'Bad Request', 'Unauthorized', 'Forbidden', 'Not Found', 'Conflict', 'Payload Too Large',
  'Content Too Large', 'Request Entity Too Large', 'Unsupported Media Type', 'Unprocessable Entity',
  'Unprocessable Content', 'Too Many Requests', 'Internal Server Error', 'Bad Gateway',
  'Service Unavailable', 'Gateway Timeout',
]);

function plainTitle(problem) {
  const title = problem.title || '';
  if (title && !REASON_PHRASES.has(title)) return title;
  return PLAIN_TITLES[problem.status] || title || 'Error';
}

/**
 * Write a problem into an alert region: a plain title, the API's detail, then one line per field
 * error, each named by `labelFor(path)` (default: the API's field path). Field errors for which
 * `skipFields(field)` is true are shown elsewhere (next to their control) and left out here.
 * Returns every field error.
 */
export function showProblem(region, err, { skipFields = () => false, labelFor = (path) => path.join('.') } = {}) {
  const problem = problemOf(err);
  const fields = flattenErrors(problem.errors);
  region.replaceChildren();
  const heading = document.createElement('p');
  const title = document.createElement('strong');
  title.textContent = plainTitle(problem);
  heading.append(title);
  if (problem.status) heading.append(` (${problem.status})`);
  const fieldMessages = new Set(fields.flatMap((field) => field.messages));
  // A detail that only repeats a field message, or lists the fields, adds nothing to the list.
  const detailRepeats = fieldMessages.has(problem.detail) || (fields.length && /^Invalid or missing fields\b/.test(problem.detail || ''));
  if (problem.detail && problem.detail !== problem.title && !detailRepeats) heading.append(`: ${problem.detail}`);
  region.append(heading);
  const listed = fields.filter((field) => !skipFields(field));
  if (listed.length) {
    const list = document.createElement('ul');
    for (const field of listed) {
      const item = document.createElement('li');
      const name = field.path.length ? labelFor(field.path) : '';
      item.textContent = name ? `${name}: ${field.messages.join(' ')}` : field.messages.join(' ');
      list.append(item);
    }
    region.append(list);
  }
  if (problem.status >= 500 && problem.request_id) {
    const reference = document.createElement('p');
    reference.className = 'help';
    reference.textContent = `If this keeps happening, quote reference ${problem.request_id}.`;
    region.append(reference);
  }
  return fields;
}

export function clearProblem(region) {
  region.replaceChildren();
}

/** Bring an alert into view when it is off screen (on a phone the controls and outputs are stacked). */
export function revealProblem(region) {
  const box = region.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) region.scrollIntoView({ block: 'nearest' });
}

// ── errors next to form controls ─────────────────────────────

/** The visible label text of a control (without nested help text). */
export function labelText(control) {
  const label = control?.labels?.[0];
  if (!label) return control?.getAttribute('aria-label') || control?.id || '';
  const copy = label.cloneNode(true);
  copy.querySelectorAll('.help, output').forEach((node) => node.remove());
  return copy.textContent.replace(/[:\s]+$/, '').trim();
}

/** Mark a control invalid and put `message` under it (announced with the control). */
export function setFieldError(control, message) {
  control.setAttribute('aria-invalid', 'true');
  // A control folded away in a closed <details> would hide its own error.
  for (let box = control.closest('details:not([open])'); box; box = box.parentElement?.closest('details:not([open])')) {
    box.open = true;
  }
  const field = control.closest('.field') || control.parentElement;
  let slot = field.querySelector(':scope > .field-error');
  if (!slot) {
    slot = document.createElement('p');
    slot.className = 'field-error';
    slot.id = `${control.id}-error`;
    field.append(slot);
  }
  slot.textContent = message;
  const described = (control.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
  if (!described.includes(slot.id)) control.setAttribute('aria-describedby', [...described, slot.id].join(' '));
}

/** Undo every setFieldError inside `container`. */
export function clearFieldErrors(container) {
  for (const control of container.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const slot of container.querySelectorAll('.field > .field-error')) slot.textContent = '';
}

export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Marks each invalid visible input of `form` next to itself and returns them as one ApiError
 * ("Check the settings" with `detail`), or null when every input is valid. */
export function invalidSettings(form, detail) {
  const invalid = [...form.querySelectorAll('input')].filter((input) => !input.disabled
    && !input.closest('[hidden]') && !input.checkValidity());
  clearFieldErrors(form);
  if (!invalid.length) return null;
  invalid.forEach((input) => setFieldError(input, input.validationMessage));
  return new ApiError({
    title: 'Check the settings',
    detail,
    errors: Object.fromEntries(invalid.map((input) => [input.name, [input.validationMessage]])),
  });
}
