// The quiz tab: list quizzes, start/resume an attempt, submit answers, show results and progress.

import {
  ApiError, clearProblem, getLearner, learnerRequest, request, revealProblem, showProblem, uuid,
} from './api.js';
import { scrollableByKeyboard } from './scroll.js';

const $ = (id) => document.getElementById(id);

export function initQuiz({ autoStartSlug = null } = {}) {
  const select = $('quiz-select');
  const startButton = $('quiz-start');
  const form = $('quiz-form');
  const errorRegion = $('quiz-error');
  let quizzes = [];
  let attempt = null;
  let submitting = false;

  select.addEventListener('change', describe);
  startButton.addEventListener('click', () => start(select.value));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });

  const ready = loadQuizzes().then(() => {
    if (autoStartSlug) {
      if (![...select.options].some((option) => option.value === autoStartSlug)) {
        select.append(new Option(autoStartSlug, autoStartSlug));
      }
      select.value = autoStartSlug;
      describe();
      return start(autoStartSlug);
    }
    return undefined;
  });
  if (getLearner()) loadProgress();
  return ready;

  async function loadQuizzes() {
    try {
      const data = await request('/v1/quizzes');
      quizzes = Array.isArray(data) ? data : data?.items || [];
      select.replaceChildren(...quizzes.map((quiz) => {
        const count = quiz.question_count ? ` (${quiz.question_count} questions)` : '';
        return new Option(`${quiz.title || quiz.slug}${count}`, quiz.slug);
      }));
      if (!quizzes.length) $('quiz-description').textContent = 'No quizzes are available yet.';
      startButton.disabled = !quizzes.length && !autoStartSlug;
      describe();
    } catch (err) {
      showProblem(errorRegion, err);
    }
  }

  function describe() {
    const quiz = quizzes.find((item) => item.slug === select.value);
    $('quiz-description').textContent = quiz?.description || '';
  }

  async function start(slug) {
    if (!slug) return;
    clearProblem(errorRegion);
    startButton.disabled = true;
    $('quiz-status').textContent = 'Starting…';
    try {
      const { data, status } = await learnerRequest(
        `/v1/quizzes/${encodeURIComponent(slug)}/attempts`, { method: 'POST', body: {}, full: true },
      );
      attempt = data;
      renderQuestions(data.questions || []);
      $('quiz-results').replaceChildren();
      $('quiz-score').textContent = '';
      const title = data.quiz?.title || quizzes.find((q) => q.slug === slug)?.title || slug;
      $('quiz-status').textContent = status === 200
        ? `Resumed your open attempt ${data.attempt_number ?? ''} of “${title}”.`
        : `Attempt ${data.attempt_number ?? ''} of “${title}”: answer the questions, then submit.`;
      form.hidden = false;
      $('quiz-submit').disabled = false;
      form.querySelector('input')?.focus();
      loadProgress();
    } catch (err) {
      $('quiz-status').textContent = '';
      showProblem(errorRegion, err);
    } finally {
      startButton.disabled = false;
    }
  }

  function renderQuestions(questions) {
    const container = $('quiz-questions');
    container.replaceChildren();
    questions.forEach((question, index) => {
      const fieldset = document.createElement('fieldset');
      fieldset.className = 'question';
      fieldset.dataset.questionId = question.id;
      fieldset.dataset.type = question.type;
      const legend = document.createElement('legend');
      legend.textContent = `${index + 1}. ${question.prompt}`;
      if (question.points) {
        const points = document.createElement('span');
        points.className = 'points';
        points.textContent = ` (${question.points} ${question.points === 1 ? 'point' : 'points'})`;
        legend.append(points);
      }
      fieldset.append(legend);
      const name = `q-${question.id}`;
      const errorId = `quiz-error-${question.id}`;
      if (question.type === 'numeric') {
        const label = document.createElement('label');
        label.htmlFor = name;
        label.textContent = 'Your answer';
        const input = document.createElement('input');
        // A plain text keyboard: a decimal keypad on phones has no ^, e or / for answers like 2^20.
        Object.assign(input, { type: 'text', id: name, name, autocomplete: 'off', spellcheck: false });
        const help = document.createElement('p');
        help.className = 'help';
        help.id = `quiz-help-${question.id}`;
        help.textContent = 'A number or a short calculation, e.g. 0.25, 3.2e-5, 10^6 or 3/4.';
        input.setAttribute('aria-describedby', `${help.id} ${errorId}`);
        fieldset.append(label, input, help);
      } else {
        const choices = question.type === 'true_false'
          ? [{ id: 'true', text: 'True' }, { id: 'false', text: 'False' }]
          : question.choices || [];
        const type = question.type === 'multiple_choice' ? 'checkbox' : 'radio';
        if (type === 'checkbox') appendHint(fieldset, 'Select all that apply.');
        choices.forEach((choice, i) => {
          const label = document.createElement('label');
          label.className = 'choice';
          const input = document.createElement('input');
          Object.assign(input, { type, name, value: String(choice.id), id: `${name}-${i}` });
          input.setAttribute('aria-describedby', errorId);
          label.append(input, ` ${choice.text}`);
          fieldset.append(label);
        });
      }
      const error = document.createElement('p');
      error.className = 'field-error';
      error.id = errorId;
      fieldset.append(error);
      container.append(fieldset);
    });
  }

  function collectAnswers() {
    const answers = {};
    for (const question of attempt?.questions || []) {
      const name = `q-${question.id}`;
      const inputs = [...form.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
      if (question.type === 'numeric') {
        const text = inputs[0]?.value.trim();
        if (text) answers[question.id] = text;
      } else if (question.type === 'multiple_choice') {
        const picked = inputs.filter((input) => input.checked).map((input) => choiceValue(question, input.value));
        if (picked.length) answers[question.id] = picked;
      } else {
        const picked = inputs.find((input) => input.checked);
        if (!picked) continue;
        answers[question.id] = question.type === 'true_false' ? picked.value === 'true' : choiceValue(question, picked.value);
      }
    }
    return answers;
  }

  async function submit() {
    if (!attempt || submitting) return;
    submitting = true;
    clearProblem(errorRegion);
    form.querySelectorAll('.field-error').forEach((node) => { node.textContent = ''; });
    form.querySelectorAll('fieldset[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
    const submitButton = $('quiz-submit');
    submitButton.disabled = true;
    const answers = collectAnswers();
    const unanswered = (attempt.questions || []).length - Object.keys(answers).length;
    try {
      const result = await learnerRequest(`/v1/attempts/${encodeURIComponent(attempt.id)}/submission`, {
        method: 'POST', body: { answers }, headers: { 'Idempotency-Key': uuid() },
      }, { retry: false });
      renderResults(result);
      form.querySelectorAll('input').forEach((input) => { input.disabled = true; });
      startButton.textContent = 'Try again';
      $('quiz-status').textContent = unanswered
        ? `Submitted with ${unanswered} unanswered ${unanswered === 1 ? 'question' : 'questions'}.`
        : 'Submitted.';
      attempt = null;
      loadProgress();
    } catch (err) {
      submitButton.disabled = false;
      if (err instanceof ApiError && err.status === 401) {
        showProblem(errorRegion, new ApiError({
          title: 'Your session has ended', status: 401,
          detail: 'Your learner token is no longer valid. Start the quiz again to continue.',
        }));
      } else {
        const placed = new Set();
        const fields = showProblem(errorRegion, err, { skipFields: (field) => placeFieldError(field, placed) });
        if (fields.length && placed.size) {
          const numbers = (attempt?.questions || [])
            .map((question, index) => (placed.has(question.id) ? index + 1 : null)).filter(Boolean);
          const hint = document.createElement('p');
          hint.textContent = `Fix the ${numbers.length === 1 ? 'answer to question' : 'answers to questions'} `
            + `${numbers.join(', ')} (marked below) and submit again.`;
          errorRegion.append(hint);
          form.querySelector('fieldset[aria-invalid] input')?.focus();
        } else {
          revealProblem(errorRegion);
        }
      }
    } finally {
      submitting = false;
    }
  }

  /** Put an error naming a question next to it; returns true when it was placed. */
  function placeFieldError(field, placed) {
    const question = (attempt?.questions || []).find((q) => field.path.includes(String(q.id)));
    if (!question) return false;
    const fieldset = form.querySelector(`fieldset[data-question-id="${CSS.escape(String(question.id))}"]`);
    if (!fieldset) return false;
    fieldset.setAttribute('aria-invalid', 'true');
    const slot = fieldset.querySelector('.field-error');
    const messages = question.type === 'numeric' && !slot.textContent
      ? [`This answer could not be read: ${field.messages.join(' ')}.`]
      : field.messages;
    slot.textContent = [slot.textContent, ...messages].filter(Boolean).join(' ');
    placed.add(question.id);
    return true;
  }

  function renderResults(result) {
    const questions = new Map((attempt?.questions || []).map((q) => [String(q.id), q]));
    const list = $('quiz-results');
    list.replaceChildren();
    for (const item of result.results || []) {
      const question = questions.get(String(item.question_id));
      const li = document.createElement('li');
      li.dataset.resultFor = item.question_id;
      li.className = item.correct ? 'correct' : 'incorrect';
      const head = document.createElement('p');
      const verdict = document.createElement('strong');
      verdict.textContent = item.correct ? 'Correct' : 'Incorrect';
      head.append(verdict, ` (${item.points ?? 0} / ${item.max_points ?? '?'})`);
      if (question) head.append(` — ${question.prompt}`);
      li.append(head);
      if (item.feedback) appendPara(li, item.feedback);
      if (item.misconception) li.append(misconceptionNote(item.misconception));
      if (!item.correct && item.correct_answer !== undefined && item.correct_answer !== null) {
        appendPara(li, `Correct answer: ${answerText(question, item.correct_answer)}`);
      }
      if (item.explanation) appendPara(li, item.explanation, 'explanation');
      list.append(li);
      const fieldset = form.querySelector(`fieldset[data-question-id="${CSS.escape(String(item.question_id))}"]`);
      if (fieldset) {
        fieldset.dataset.outcome = item.correct ? 'correct' : 'incorrect';
        if (item.misconception) showBesideAnswer(fieldset, item.misconception);
      }
    }
    const score = $('quiz-score');
    score.replaceChildren();
    const total = document.createElement('strong');
    total.textContent = `Score: ${result.score} / ${result.max_score}`;
    score.append(total, result.passed ? ' — passed.' : ' — not passed yet; read the explanations and try again.');
    score.className = result.passed ? 'passed' : 'not-passed';
    score.tabIndex = -1;
    score.focus();
  }

  // The targeted feedback beside the learner's wrong answer: after the numeric input or the
  // picked choice, and read out with the answer (aria-describedby).
  function showBesideAnswer(fieldset, misconception) {
    const note = misconceptionNote(misconception);
    note.id = `quiz-misconception-${fieldset.dataset.questionId}`;
    const picked = [...fieldset.querySelectorAll('input:checked')];
    const anchor = fieldset.dataset.type === 'numeric'
      ? fieldset.querySelector('.help')
      : picked.length === 1 ? picked[0].closest('label') : null;
    if (anchor) anchor.after(note);
    else fieldset.querySelector('.field-error').before(note);
    for (const input of fieldset.querySelectorAll('input')) {
      const described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      input.setAttribute('aria-describedby', [...described, note.id].join(' '));
    }
  }

  async function loadProgress() {
    const learner = getLearner();
    if (!learner?.id) return;
    try {
      const data = await learnerRequest((current) => `/v1/learners/${encodeURIComponent(current.id)}/progress`);
      // Progress counts submitted attempts only; the open one is known here.
      renderProgress(data, attempt?.status === 'open' ? attempt.quiz : null);
    } catch (err) {
      const region = $('progress');
      region.replaceChildren();
      appendPara(region, `Progress is unavailable: ${err.message}`, 'help');
    }
  }
}

function renderProgress(data, openSlug) {
  const region = $('progress');
  region.replaceChildren();
  const done = data?.lessons_completed ?? 0;
  const total = data?.lessons_total ?? 0;
  if (total) {
    const label = document.createElement('label');
    label.htmlFor = 'progress-bar';
    label.textContent = `Lessons completed: ${done} of ${total} `;
    const bar = document.createElement('progress');
    Object.assign(bar, { id: 'progress-bar', max: total, value: done });
    region.append(label, bar);
  }
  const quizzes = data?.quizzes || [];
  if (!quizzes.length) return;
  const table = document.createElement('table');
  table.className = 'stats';
  table.createCaption().textContent = 'Quizzes in this module';
  const head = table.createTHead().insertRow();
  for (const text of ['quiz', 'attempts', 'best score', 'last score', 'status']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    // Narrow screens drop the last score to keep the status in view.
    if (text === 'last score') th.className = 'optional';
    head.append(th);
  }
  const body = table.createTBody();
  for (const quiz of quizzes) {
    const row = body.insertRow();
    row.dataset.quiz = quiz.slug;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = quiz.title || quiz.slug;
    row.append(th);
    const outOf = (value) => (value === null || value === undefined ? '—' : `${value} / ${quiz.max_score ?? '?'}`);
    row.insertCell().textContent = String(quiz.attempts ?? 0);
    row.insertCell().textContent = outOf(quiz.best_score);
    const last = row.insertCell();
    last.textContent = outOf(quiz.last_score);
    last.className = 'optional';
    let status = quiz.passed ? 'passed' : quiz.attempts ? 'not passed yet' : 'not started';
    if (quiz.slug === openSlug && !quiz.passed) status = 'in progress';
    row.insertCell().textContent = status;
  }
  const scroll = document.createElement('div');
  scroll.className = 'table-scroll';
  scroll.append(table);
  region.append(scrollableByKeyboard(scroll, 'Quizzes in this module'));
}

/** Choice ids may be numbers in the API; send them back with the type they came with. */
function choiceValue(question, raw) {
  const choice = (question.choices || []).find((c) => String(c.id) === raw);
  return choice ? choice.id : raw;
}

function answerText(question, answer) {
  const textOf = (id) => (question?.choices || []).find((c) => String(c.id) === String(id))?.text ?? String(id);
  if (Array.isArray(answer)) return answer.map(textOf).join('; ');
  if (typeof answer === 'boolean') return answer ? 'True' : 'False';
  return textOf(answer);
}

function misconceptionNote(misconception) {
  const note = document.createElement('p');
  note.className = 'misconception';
  note.dataset.misconception = misconception.id;
  const label = document.createElement('strong');
  label.textContent = 'Likely mistake: ';
  note.append(label, misconception.feedback);
  return note;
}

function appendPara(parent, text, className) {
  const p = document.createElement('p');
  p.textContent = text;
  if (className) p.className = className;
  parent.append(p);
}

function appendHint(parent, text) {
  const p = document.createElement('p');
  p.className = 'help';
  p.textContent = text;
  parent.append(p);
}
