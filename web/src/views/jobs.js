// Jobs: the list (filters, search, cursor paging), a job's page (spec,
// history, where it ran, why it waits, live logs, cancel) and the submit form.
import { get, post, jobPath, ApiError } from '../api.js';
import { h, table, fmtTime, fmtNum, badge, swap, clear, confirmAction, announce, errorBox } from '../dom.js';
import { live, may, session } from '../main.js';

const STATES = ['', 'pending', 'running', 'finished', 'failed', 'cancelled'];
const jobHref = (j) => `#/jobs/${encodeURIComponent(j.tenant)}/${encodeURIComponent(j.id)}`;

function where(assignment) {
  if (!assignment || !assignment.length) return '—';
  return assignment.map((a) => `${a.node} [${(a.accelerators || []).join(',')}]${a.share && a.share < 1 ? ' share ' + a.share : ''}`).join('; ');
}

export async function jobsView(main, params) {
  const sc = session.scenario;
  const state = h('select', { id: 'f-state', name: 'state' }, STATES.map((s) => h('option', { value: s }, s || 'any state')));
  const tenant = h('select', { id: 'f-tenant', name: 'tenant' }, h('option', { value: '' }, 'every tenant I may see'),
    sc.tenants.map((t) => h('option', { value: t.id }, t.id)));
  const search = h('input', { id: 'f-search', name: 'q', type: 'search', placeholder: 'name starts with…', autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'f-search-help' });
  const limit = h('select', { id: 'f-limit', name: 'limit' }, ['50', '100', '500', '1000'].map((n) => h('option', { value: n }, n)));
  state.value = params.get('state') || '';
  tenant.value = params.get('tenant') || '';
  search.value = params.get('q') || '';
  limit.value = '100';
  const list = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of jobs' });
  const cursors = [0]; // cursors of the pages seen: Previous goes back one
  let page = 0;
  let rows = [];
  let next = 0;
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' },
    h('label', { for: 'f-state' }, 'State'), state,
    h('label', { for: 'f-tenant' }, 'Tenant'), tenant,
    h('label', { for: 'f-search' }, 'Name starts with'), search,
    h('label', { for: 'f-limit' }, 'Per page'), limit,
    h('button', { type: 'submit', id: 'f-open' }, 'Open job by exact name'));
  const render = () => {
    const q = search.value.trim();
    const shown = rows;
    swap(list, table(`Jobs, page ${page + 1}`, ['Job', 'Tenant', 'State', 'Submitted', 'Updated', 'Where', 'Reason'],
      shown.map((j) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: jobHref(j) }, j.id)),
        h('td', {}, j.tenant), h('td', {}, badge(j.state)), h('td', {}, fmtTime(j.submitted_at)),
        h('td', {}, fmtTime(j.updated_at)), h('td', { class: 'where' }, where(j.assignment)), h('td', { class: 'reason' }, j.reason))),
      { empty: q ? (next ? 'No match among the jobs searched so far: Next searches on.' : 'No job matches.') : 'No jobs.', class: 'jobs' }));
    swap(pager,
      h('button', { type: 'button', id: 'p-prev', disabled: page === 0, onclick: () => { page--; load(); } }, '← Previous'),
      h('span', {}, ` Page ${page + 1} · ${fmtNum(shown.length)} shown `),
      h('button', { type: 'button', id: 'p-next', disabled: !next, onclick: () => { cursors[page + 1] = next; page++; load(); } }, 'Next →'));
  };
  const query = (after, size) => {
    const p = new URLSearchParams();
    if (state.value) p.set('state', state.value);
    if (tenant.value) p.set('tenant', tenant.value);
    if (search.value.trim()) p.set('q', search.value.trim());
    p.set('limit', String(size));
    if (after) p.set('after', String(after));
    return p.toString();
  };
  const load = async () => {
    const size = Number(limit.value);
    let r = await get('/v1/jobs?' + query(cursors[page], size));
    let found = r.jobs;
    // A search answers after examining 10,000 jobs: go on (up to 200,000
    // jobs examined) until the page is full or the jobs are all searched.
    for (let more = 0; search.value.trim() && found.length < size && r.next_after && more < 19; more++) {
      r = await get('/v1/jobs?' + query(r.next_after, size - found.length));
      found = found.concat(r.jobs);
    }
    rows = found;
    next = r.next_after;
    render();
  };
  const reset = () => { cursors.length = 1; page = 0; load(); };
  state.addEventListener('change', reset);
  tenant.addEventListener('change', reset);
  limit.addEventListener('change', reset);
  // The daemon searches (GET /v1/jobs?q=): a pause in typing starts it.
  let typing = 0;
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(reset, 250); });
  filters.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = search.value.trim();
    if (!name) return;
    try {
      const j = await get(tenant.value ? jobPath(tenant.value, name) : `/v1/jobs/${encodeURIComponent(name)}`);
      location.hash = jobHref(j);
    } catch (e) {
      swap(list, errorBox(e.code === 'ambiguous' || e.status === 409 ? `${e.message}: choose a tenant` : e.message));
    }
  });
  main.append(h('h1', {}, 'Jobs'), filters,
    h('p', { class: 'help', id: 'f-search-help' }, 'Filters and the name search run in the daemon, oldest job first. ',
      'A search examines up to 10,000 jobs a request: a page may show fewer matches than its size, and Next searches on.'),
    list, pager);
  live(load);
}

export async function jobView(main, tenant, name) {
  const head = h('div');
  const why = h('div');
  const body = h('div');
  const logs = h('pre', { id: 'log', class: 'log', tabindex: 0, 'aria-label': `Output of job ${name}` });
  const stream = h('select', { id: 'log-stream' }, h('option', { value: 'stdout' }, 'standard output'), h('option', { value: 'stderr' }, 'standard error'));
  const follow = h('input', { id: 'log-follow', type: 'checkbox', checked: true });
  const logNote = h('p', { class: 'help', id: 'log-note' });
  let offset = 0;
  let state = '';
  stream.addEventListener('change', () => { offset = 0; clear(logs); });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / ', tenant, ' / ', name),
    h('h1', {}, `Job ${name}`), head, why, body,
    h('section', { 'aria-labelledby': 'logs-title' },
      h('h2', { id: 'logs-title' }, 'Logs'),
      h('div', { class: 'filters' }, h('label', { for: 'log-stream' }, 'Stream'), stream,
        h('label', { class: 'check' }, follow, ' Follow live')),
      logs, logNote));
  const cancel = async () => {
    if (!(await confirmAction(`Cancel job ${name}?`, `Job ${tenant}/${name} will stop; its accelerators are freed.`, 'Cancel job'))) return;
    try {
      await post(jobPath(tenant, name, '/cancel'));
      announce(`Job ${name} cancelled`);
    } catch (e) {
      head.prepend(errorBox(e));
    }
  };
  let spec = '';
  live(async () => {
    const j = await get(jobPath(tenant, name));
    state = j.state;
    const ended = ['finished', 'failed', 'cancelled'].includes(j.state);
    swap(head, h('div', { class: 'cards' },
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'State'), h('span', { class: 'v', id: 'job-state' }, badge(j.state))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Tenant'), h('span', { class: 'v' }, j.tenant)),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Submitted'), h('span', { class: 'v small' }, fmtTime(j.submitted_at))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Where'), h('span', { class: 'v small', id: 'job-where' }, where(j.assignment)))),
      may('user') && !ended ? h('button', { type: 'button', id: 'cancel', class: 'danger', onclick: cancel }, 'Cancel job') : null);
    swap(why, j.state === 'pending'
      ? h('div', { class: 'card why', id: 'why' }, h('h2', {}, 'Why it waits'), h('p', {}, j.pending_reason || j.reason))
      : null);
    const specText = JSON.stringify(j.spec, null, 2);
    if (specText !== spec || !body.firstChild) {
      spec = specText;
    }
    swap(body,
      h('h2', {}, 'History'),
      table(`History of job ${name}`, ['Time', 'State', 'Detail'], (j.history || []).map((e) =>
        h('tr', {}, h('td', {}, fmtTime(e.at)), h('td', {}, badge(e.state)), h('td', { class: 'reason' }, e.detail))), { class: 'history' }),
      j.backend_ref ? h('p', {}, 'Backend handle: ', h('code', {}, j.backend_ref)) : null,
      h('details', {}, h('summary', {}, 'Specification'), h('pre', { class: 'spec' }, spec)));
    // Logs: what was written since the last look.
    if (follow.checked || offset === 0) {
      const text = await get(jobPath(tenant, name, '/logs') + `&stream=${stream.value}&offset=${offset}`);
      if (text) {
        offset += new TextEncoder().encode(text).length;
        logs.append(document.createTextNode(text));
        if (follow.checked) logs.scrollTop = logs.scrollHeight;
      }
      logNote.textContent = ended ? `The job ended (${j.state}); ${fmtNum(offset)} bytes of output.` :
        j.state === 'pending' ? 'No output until the job starts.' : `Following: ${fmtNum(offset)} bytes so far.`;
    }
  });
  void state;
}

const FIELD_HELP = {
  id: 'Unique within the tenant: letters, digits, . _ -',
  accelerators: 'Whole accelerators',
  runtime_s: 'Estimated seconds (used for backfill)',
  command: 'What runs (local and Slurm backends): a shell command line',
};

export async function submitView(main) {
  const sc = session.scenario;
  const err = h('div', { id: 'form-error' });
  const field = (key, label, input, help) => h('div', { class: 'field', 'data-field': '$.' + key },
    h('label', { for: 'in-' + key }, label), input,
    help ? h('p', { class: 'help', id: `help-${key}` }, help) : null,
    h('p', { class: 'field-error', id: `err-${key}`, hidden: true }));
  const input = (key, attrs = {}) => h('input', { id: 'in-' + key, name: key, 'aria-describedby': `help-${key} err-${key}`, ...attrs });
  const sel = (key, options, value) => {
    const s = h('select', { id: 'in-' + key, name: key, 'aria-describedby': `err-${key}` }, options.map((o) => h('option', { value: o }, o)));
    if (value) s.value = value;
    return s;
  };
  const leaf = sc.tenants.filter((t) => !sc.tenants.some((c) => c.parent === t.id)).map((t) => t.id);
  const models = h('fieldset', { class: 'field', 'data-field': '$.models' }, h('legend', {}, 'Accepted models (none: any)'),
    sc.accelerators.map((a) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'models', value: a.name }), ` ${a.name}`)),
    h('p', { class: 'field-error', id: 'err-models', hidden: true }));
  const datasets = h('fieldset', { class: 'field', 'data-field': '$.datasets' }, h('legend', {}, 'Datasets touched'),
    sc.datasets.length ? sc.datasets.map((d) => h('label', { class: 'check', title: d.description }, h('input', { type: 'checkbox', name: 'datasets', value: d.id }), ` ${d.id}`)) : h('p', {}, 'None in this scenario.'),
    h('p', { class: 'field-error', id: 'err-datasets', hidden: true }));
  const form = h('form', { class: 'card submit', novalidate: true, 'aria-labelledby': 'submit-title' },
    h('h1', { id: 'submit-title' }, 'Submit a job'), err,
    field('id', 'Name', input('id', { required: true, autocomplete: 'off' }), FIELD_HELP.id),
    field('tenant', 'Tenant', sel('tenant', leaf.length ? leaf : sc.tenants.map((t) => t.id))),
    field('kind', 'Kind', sel('kind', ['batch', 'train', 'finetune', 'service'])),
    field('accelerators', 'Accelerators', input('accelerators', { inputmode: 'numeric', value: '1' }), FIELD_HELP.accelerators),
    field('priority', 'Priority class', sel('priority', sc.priority_classes.length ? sc.priority_classes : ['normal'], 'normal')),
    field('runtime_s', 'Runtime estimate (s)', input('runtime_s', { inputmode: 'numeric' }), FIELD_HELP.runtime_s),
    field('command', 'Command', h('textarea', { id: 'in-command', name: 'command', rows: 3, 'aria-describedby': 'help-command err-command', spellcheck: 'false' }), FIELD_HELP.command),
    models, datasets,
    h('div', { class: 'field', 'data-field': '$.preemptible' }, h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'in-preemptible', checked: true }), ' Preemptible'),
      h('p', { class: 'field-error', id: 'err-preemptible', hidden: true })),
    h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Submit'));
  const num = (v) => (v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const e of form.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    clear(err);
    const f = form.elements;
    const job = { id: f.id.value.trim(), tenant: f.tenant.value, kind: f.kind.value, priority: f.priority.value };
    if (f.accelerators.value.trim() !== '') job.accelerators = num(f.accelerators.value);
    if (f.runtime_s.value.trim() !== '') job.runtime_s = num(f.runtime_s.value);
    if (f.command.value.trim() !== '') job.command = f.command.value;
    const m = [...form.querySelectorAll('input[name=models]:checked')].map((x) => x.value);
    if (m.length) job.models = m;
    const d = [...form.querySelectorAll('input[name=datasets]:checked')].map((x) => x.value);
    if (d.length) job.datasets = d;
    if (!f['in-preemptible'].checked) job.preemptible = false;
    try {
      const r = await post('/v1/jobs', job);
      announce(`Job ${r.id} submitted`);
      location.hash = jobHref({ tenant: r.tenant || job.tenant, id: r.id });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const problems = e.problems.length ? e.problems : [(e.field ? e.field + ': ' : '') + e.message];
      let first = null;
      const general = [];
      for (const p of problems) {
        const at = p.indexOf(': ');
        const path = at > 0 && p.startsWith('$') ? p.slice(0, at) : e.field || '';
        const key = path.replace(/^\$\.?/, '').split(/[.[]/)[0];
        const box = key && form.querySelector(`#err-${CSS.escape(key)}`);
        if (box) {
          box.hidden = false;
          box.textContent = at > 0 ? p.slice(at + 2) : p;
          const control = form.querySelector(`#in-${CSS.escape(key)}`);
          if (control) control.setAttribute('aria-invalid', 'true');
          first = first || control || box;
        } else general.push(p);
      }
      if (general.length || !first) err.append(errorBox(general.join('; ') || e.message));
      (first || err).focus && (first || err).focus();
      announce(`The job was not accepted: ${problems.length} problem(s)`);
    }
  });
  main.append(form);
}
