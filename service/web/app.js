// Entry point: tabs, LTI launch hand-off, and the four sections.

import { setLearner } from './api.js';
import { initBatchSize } from './batchsize.js';
import { initPlayground } from './playground.js';
import { initQuiz } from './quiz.js';
import { initSimulation } from './simulation.js';
import { initTraining } from './training.js';

/**
 * LTI launches open `/?quiz=<slug>#token=<token>&learner=<id>`. Keep the token, then remove the
 * fragment so it is not left in the address bar, the history or a shared link.
 */
function takeLaunchParameters() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const token = fragment.get('token');
  if (token) {
    setLearner({ id: fragment.get('learner'), token });
    history.replaceState(history.state, '', window.location.pathname + window.location.search);
  }
  return new URLSearchParams(window.location.search).get('quiz');
}

function initTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus = true) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute('aria-controls')).hidden = !selected;
    }
    if (focus) tab.focus();
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length]);
    });
  });
  return (id) => select(document.getElementById(id), false);
}

function main() {
  const quizSlug = takeLaunchParameters();
  const showTab = initTabs();
  initSimulation();
  initTraining();
  initPlayground();
  initBatchSize();
  if (quizSlug) showTab('tab-quiz');
  initQuiz({ autoStartSlug: quizSlug });
}

main();
