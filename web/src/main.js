// The sovgrid web console: sign-in, navigation, live refresh.
import { get, token, setToken } from './api.js';
import { h, clear, errorBox } from './dom.js';
import { gridView, poolView } from './views/grid.js';
import { queuesView } from './views/queues.js';
import { jobsView, jobView, submitView } from './views/jobs.js';
import { auditView, tokensView } from './views/admin.js';

const RANK = { admin: 0, 'tenant-admin': 1, user: 2, 'read-only': 3 };
export const session = { scenario: null, role: '', tenant: '' };
export const may = (role) => RANK[session.role] !== undefined && RANK[session.role] <= RANK[role];

// Live refresh: at most every 2 s, never two refreshes of a view at once, and
// stopped when the view changes.
let generation = 0;
export function live(fn, ms = 2000) {
  const mine = generation;
  const tick = async () => {
    if (mine !== generation) return;
    try {
      await fn();
    } catch (e) {
      if (mine === generation) console.warn('refresh failed:', e.message);
    }
    if (mine === generation) setTimeout(tick, Math.max(ms, 2000));
  };
  tick();
}
export function current() {
  return generation;
}

const SECTIONS = [
  ['#/grid', 'Grid', () => true],
  ['#/queues', 'Queues', () => true],
  ['#/jobs', 'Jobs', () => true],
  ['#/submit', 'Submit', () => may('user')],
  ['#/tokens', 'Tokens', () => may('tenant-admin')],
  ['#/audit', 'Audit', () => may('admin')],
];

function renderNav() {
  const nav = document.getElementById('nav');
  clear(nav);
  const route = location.hash.split('?')[0].split('/').slice(0, 2).join('/').replace('#/pool', '#/grid');
  nav.append(h('ul', {}, SECTIONS.filter(([, , ok]) => ok()).map(([href, label]) =>
    h('li', {}, h('a', { href, 'aria-current': route === href ? 'page' : undefined }, label)))));
  nav.hidden = false;
  const who = document.getElementById('who');
  clear(who).append(
    h('span', { class: 'role' }, `${session.role}${session.tenant ? ' · ' + session.tenant : ' · whole grid'}`),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
}

function signOut() {
  setToken('');
  session.scenario = null;
  location.hash = '#/signin';
  route();
}

function signInView(main, message) {
  document.getElementById('nav').hidden = true;
  clear(document.getElementById('who'));
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'token-help', spellcheck: 'false' });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to the sovgrid console'),
    message ? errorBox(message) : null,
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'help' },
      'A bearer token of this control plane (admin.token in the data directory for the first admin). ',
      'It is kept in this tab only (sessionStorage) and sent to this daemon alone.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    location.hash = '#/grid';
    await route();
  });
  clear(main).append(form);
  input.focus();
}

async function ensureSession() {
  if (session.scenario) return true;
  if (!token()) return false;
  const sc = await get('/v1/scenario');
  session.scenario = sc;
  session.role = sc.token.role;
  session.tenant = sc.token.tenant;
  return true;
}

export async function route() {
  generation++;
  const main = document.getElementById('main');
  // A token handed over in the URL fragment: kept in sessionStorage, removed from the address.
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    session.scenario = null;
    history.replaceState(null, '', location.pathname + '#/grid');
  }
  try {
    if (!(await ensureSession())) return signInView(main);
  } catch (e) {
    setToken('');
    return signInView(main, e.status === 401 ? 'That token was not accepted.' : e.message);
  }
  if (!location.hash || location.hash === '#/signin') history.replaceState(null, '', location.pathname + '#/grid');
  renderNav();
  const [path, qs] = location.hash.slice(2).split('?');
  const params = new URLSearchParams(qs || '');
  const parts = path.split('/').map(decodeURIComponent);
  clear(main);
  const view = {
    grid: () => gridView(main),
    pool: () => poolView(main, parts[1]),
    queues: () => queuesView(main),
    jobs: () => (parts.length >= 3 ? jobView(main, parts[1], parts.slice(2).join('/')) : jobsView(main, params)),
    submit: () => submitView(main),
    tokens: () => tokensView(main),
    audit: () => auditView(main),
  }[parts[0]];
  if (!view) {
    main.append(h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, h('a', { href: '#/grid' }, 'Back to the grid')));
    return;
  }
  await view();
  const title = main.querySelector('h1');
  if (title) {
    document.title = `${title.textContent} · sovgrid console`;
    title.setAttribute('tabindex', '-1');
    if (!main.contains(document.activeElement) || document.activeElement === main) title.focus();
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);
