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

/** Write a problem into an alert region; `skipFields` drops field errors shown elsewhere. Returns field errors. */
export function showProblem(region, err, { skipFields = () => false } = {}) {
  const problem = problemOf(err);
  const fields = flattenErrors(problem.errors);
  region.replaceChildren();
  const heading = document.createElement('p');
  const title = document.createElement('strong');
  title.textContent = problem.title || 'Error';
  heading.append(title);
  if (problem.status) heading.append(` (${problem.status})`);
  if (problem.detail && problem.detail !== problem.title) heading.append(`: ${problem.detail}`);
  region.append(heading);
  const listed = fields.filter((field) => !skipFields(field));
  if (listed.length) {
    const list = document.createElement('ul');
    for (const field of listed) {
      const item = document.createElement('li');
      const name = field.path.join('.');
      item.textContent = name ? `${name}: ${field.messages.join(' ')}` : field.messages.join(' ');
      list.append(item);
    }
    region.append(list);
  }
  return fields;
}

export function clearProblem(region) {
  region.replaceChildren();
}

export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
