// The instructor's class page: opened by an instructor's LTI launch as
// /lti/instructor#token=<instructor token>; reads GET /v1/lti/instructor/class.

import { ApiError, request } from './api.js';

const TOKEN_KEY = 'activation-lab.instructor';
let memoryToken = null;

const $ = (id) => document.getElementById(id);
const PROGRESS = { not_started: 'Not started', in_progress: 'In progress', submitted: 'Submitted' };

/** Keep the launch's token (session storage, else memory) and drop it from the address bar. */
function takeToken() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const token = fragment.get('token');
  if (token) {
    memoryToken = token;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* storage blocked in the LMS frame: memory only */
    }
    history.replaceState(history.state, '', window.location.pathname);
    return token;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
  } catch {
    return memoryToken;
  }
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

const score = (value, max) => (value === null || value === undefined ? '—' : `${value} of ${max}`);
const percent = (value) => (value === null || value === undefined ? '—' : `${Math.round(value)}%`);

function showError(err) {
  const box = $('class-error');
  box.textContent = err instanceof ApiError ? err.message : 'Something went wrong. Reload the page to try again.';
  box.hidden = false;
}

function renderSummary(view) {
  const learners = view.members.filter((m) => m.role === 'learner');
  const submitted = learners.filter((m) => m.state === 'submitted').length;
  const items = [
    ['Learners', learners.length],
    ['Submitted', submitted],
    ['Not started', view.not_started.length],
    ['Mean first score', view.analytics.mean_score === null ? '—' : `${view.analytics.mean_score.toFixed(1)} of ${view.max_score}`],
  ];
  $('class-summary').replaceChildren(...items.map(([term, value]) => {
    const group = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = String(value);
    group.append(dt, dd);
    return group;
  }));
  const synced = view.roster_synced_at ? new Date(view.roster_synced_at).toLocaleString() : 'never';
  $('roster-note').textContent = view.roster_error || `Roster read from your LMS: ${synced}.`;
}

function resendButton(member, token) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'resend';
  button.textContent = 'Send grade again';
  button.setAttribute('aria-label', `Send ${member.name || member.user_id}'s grade again`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const queued = await request('/v1/lti/instructor/grades', {
        method: 'POST',
        body: { user_id: member.user_id },
        token,
      });
      $('class-status').textContent =
        `${member.name || member.user_id}'s grade (${queued.score_given} of ${queued.score_maximum}) is queued for your LMS.`;
    } catch (err) {
      $('class-status').textContent = `Could not queue the grade: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function renderRoster(view, token) {
  const rows = view.members.map((member) => {
    const row = document.createElement('tr');
    const name = document.createElement('th');
    name.scope = 'row';
    name.textContent = member.name || member.user_id;
    row.append(name);
    cell(row, member.role === 'staff' ? 'Staff' : 'Learner');
    cell(row, member.role === 'staff' ? '—' : PROGRESS[member.state] || member.state);
    cell(row, String(member.attempts), 'number');
    cell(row, score(member.best_score, view.max_score), 'number');
    const action = cell(row, member.state === 'submitted' ? '' : '—');
    if (member.state === 'submitted') action.append(resendButton(member, token));
    return row;
  });
  $('roster-table').tBodies[0].replaceChildren(...rows);
  const waiting = view.not_started.map((member) => {
    const item = document.createElement('li');
    item.textContent = member.name || member.user_id;
    return item;
  });
  if (!waiting.length) {
    const item = document.createElement('li');
    item.textContent = 'Every learner on the roster has started.';
    waiting.push(item);
  }
  $('not-started').replaceChildren(...waiting);
}

/** A cell listing `{id: count}` as "id: count" items (data-kind/data-id for tests), or "—". */
function countsCell(row, counts, kind) {
  const entries = Object.entries(counts || {});
  const td = cell(row, entries.length ? '' : '—');
  if (!entries.length) return td;
  const list = document.createElement('ul');
  list.className = `counts counts-${kind}`;
  list.append(...entries.map(([id, count]) => {
    const item = document.createElement('li');
    item.dataset.kind = kind;
    item.dataset.id = id;
    const name = document.createElement('span');
    name.textContent = `${id}: `;
    const number = document.createElement('span');
    number.className = 'count';
    number.textContent = String(count);
    item.append(name, number);
    return item;
  }));
  td.append(list);
  return td;
}

function renderAnalysis(view) {
  const rows = view.analytics.questions.map((question, index) => {
    const row = document.createElement('tr');
    const label = document.createElement('th');
    label.scope = 'row';
    label.textContent = `${index + 1}. ${question.id}`;
    row.append(label);
    cell(row, String(question.attempts), 'number');
    cell(row, percent(question.facility_index), 'number');
    cell(row, percent(question.discrimination_index), 'number');
    countsCell(row, question.choices, 'choice');
    countsCell(row, question.misconceptions, 'misconception');
    cell(row, Object.values(question.reasons)[0] || '');
    return row;
  });
  $('analysis-table').tBodies[0].replaceChildren(...rows);
}

async function load() {
  const token = takeToken();
  if (!token) {
    $('class-status').textContent = 'Open this page from your LMS: follow the quiz link as an instructor.';
    return;
  }
  try {
    const view = await request('/v1/lti/instructor/class', { token });
    $('class-subtitle').textContent = `${view.quiz_title} in ${view.course_title || view.context_id}.`;
    renderSummary(view);
    renderRoster(view, token);
    renderAnalysis(view);
    $('class-view').hidden = false;
    $('class-status').textContent = `Class loaded: ${view.members.length} members.`;
  } catch (err) {
    $('class-status').textContent = '';
    showError(err);
  }
}

load();
// Another launch in the same tab changes only the fragment: load that class.
window.addEventListener('hashchange', () => {
  if (window.location.hash) load();
});
