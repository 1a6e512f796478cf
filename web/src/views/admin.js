// The audit log (admin) and tokens (tenant-admin and admin).
import { get, post, del } from '../api.js';
import { h, table, fmtTime, swap, confirmAction, announce, errorBox, clear } from '../dom.js';
import { live, session } from '../main.js';

export async function auditView(main) {
  const list = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of the audit log' });
  const cursors = [0];
  let page = 0;
  const load = async () => {
    const r = await get(`/v1/audit?limit=100${cursors[page] ? '&after=' + cursors[page] : ''}`);
    const entries = r.entries;
    swap(list, table(`Audit log, page ${page + 1}`, ['#', 'Time', 'Actor', 'Action', 'Target', 'Detail'],
      entries.map((e) => h('tr', {}, h('td', { class: 'num' }, e.seq), h('td', {}, fmtTime(e.at)), h('td', {}, h('code', {}, e.actor)),
        h('td', {}, e.action), h('td', {}, e.target), h('td', { class: 'reason' }, e.detail))), { class: 'audit' }));
    const last = entries.length ? entries[entries.length - 1].seq : 0;
    swap(pager,
      h('button', { type: 'button', id: 'a-prev', disabled: page === 0, onclick: () => { page--; load(); } }, '← Previous'),
      h('span', {}, ` Page ${page + 1} `),
      h('button', { type: 'button', id: 'a-next', disabled: entries.length < 100, onclick: () => { cursors[page + 1] = last; page++; load(); } }, 'Next →'));
  };
  main.append(h('h1', {}, 'Audit log'), h('p', { class: 'sub' }, 'Every change and every refused attempt, oldest first.'), list, pager);
  live(load);
}

export async function tokensView(main) {
  const sc = session.scenario;
  const list = h('div');
  const created = h('div', { 'aria-live': 'polite' });
  const tenant = h('select', { id: 't-tenant', name: 'tenant' },
    session.tenant ? null : h('option', { value: '' }, 'the whole grid'),
    sc.tenants.map((t) => h('option', { value: t.id }, t.id)));
  const role = h('select', { id: 't-role', name: 'role' }, ['read-only', 'user', 'tenant-admin', 'admin'].map((r) => h('option', { value: r }, r)));
  role.value = 'user';
  const form = h('form', { class: 'filters', 'aria-label': 'Create a token' },
    h('label', { for: 't-tenant' }, 'Tenant'), tenant, h('label', { for: 't-role' }, 'Role'), role,
    h('button', { type: 'submit', class: 'primary', id: 't-create' }, 'Create token'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(created);
    try {
      const r = await post('/v1/tokens', { tenant: tenant.value, role: role.value });
      created.append(h('div', { class: 'card secret' }, h('p', {}, `Token ${r.id} (${r.role} for ${r.tenant || 'the whole grid'}). Its secret is shown once:`),
        h('code', { id: 'new-secret', class: 'secret-text' }, r.token)));
      announce(`Token ${r.id} created`);
      await load();
    } catch (e) {
      created.append(errorBox(e));
    }
  });
  const revoke = async (t) => {
    if (!(await confirmAction(`Revoke token ${t.id}?`, `Every call with it will be refused from now on.`, 'Revoke'))) return;
    try {
      await del(`/v1/tokens/${encodeURIComponent(t.id)}`);
      announce(`Token ${t.id} revoked`);
      await load();
    } catch (e) {
      created.append(errorBox(e));
    }
  };
  const load = async () => {
    const r = await get('/v1/tokens');
    swap(list, table('Tokens', ['Id', 'Tenant', 'Role', 'Created', 'State', ''],
      r.tokens.map((t) => h('tr', {}, h('th', { scope: 'row' }, h('code', {}, t.id)), h('td', {}, t.tenant || 'whole grid'),
        h('td', {}, t.role), h('td', {}, fmtTime(t.created_at)), h('td', {}, t.revoked ? 'revoked' : 'active'),
        h('td', {}, t.revoked || t.id === sc.token.id ? null : h('button', { type: 'button', id: `revoke-${t.id}`, onclick: () => revoke(t) }, 'Revoke'))))));
  };
  main.append(h('h1', {}, 'Tokens'), h('p', { class: 'sub' }, 'Secrets are shown once, at creation; the daemon keeps only their hashes.'),
    form, created, list);
  live(load);
}
