// Server-sent events from a POST: fetch + a ReadableStream reader (EventSource can only GET).

import { ApiError, apiBase, isAbort } from './api.js';

/**
 * Split an SSE byte stream into events (WHATWG HTML §9.2.6): lines end in LF, CR or CRLF, a blank
 * line dispatches; `event:` names it (default "message"), `data:` lines are joined with "\n",
 * lines starting with ":" are comments (heartbeats) and are skipped.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.type = '';
    this.data = [];
  }

  push(text) {
    this.buffer += text;
    // A trailing CR may be the first half of a CRLF split across chunks: hold it back.
    const end = this.buffer.endsWith('\r') ? this.buffer.length - 1 : this.buffer.length;
    const lines = this.buffer.slice(0, end).split(/\r\n|\r|\n/);
    this.buffer = lines.pop() + this.buffer.slice(end);
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent(this.type || 'message', this.data.join('\n'));
      this.type = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
  }
}

/**
 * POST `body` as JSON to `path` asking for text/event-stream, and call `onEvent(type, data)` with
 * each event's parsed JSON data as it arrives. Resolves when the stream ends; rejects with
 * ApiError when the service refuses the request (problem+json 4xx/5xx) or cannot be reached,
 * and with the AbortError when `signal` aborts (the Stop button), which also ends the request so
 * the service stops computing.
 */
export async function postEventStream(path, body, { signal, onEvent }) {
  let response;
  try {
    response = await fetch(apiBase() + path, {
      method: 'POST',
      headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError({
      title: 'Network error', status: 0, detail: 'Could not reach the service. Check your connection and try again.',
    });
  }
  const type = response.headers.get('Content-Type') || '';
  if (!response.ok || !type.startsWith('text/event-stream')) {
    let problem = null;
    try {
      problem = type.includes('json') ? await response.json() : null;
    } catch {
      /* not JSON: the status line says enough */
    }
    throw new ApiError({
      title: response.statusText || `HTTP ${response.status}`,
      detail: `The service answered ${response.status}.`,
      ...(problem && typeof problem === 'object' ? problem : {}),
      status: problem?.status ?? response.status,
    });
  }
  const parser = new SseParser((name, data) => onEvent(name, JSON.parse(data)));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  // An event cut off before its blank line is dropped, as EventSource does.
}
