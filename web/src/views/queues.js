// Queues and fairness: pending jobs by tenant and by reason in words, and the
// tenant tree with guarantees, limits and usage.
import { get, jobPath } from '../api.js';
import { h, table, fmtNum, swap, meter } from '../dom.js';
import { live, session } from '../main.js';

const SCAN_PAGES = 10; // pending jobs counted: at most 10 pages of 1,000
const REASON_SAMPLE = 40; // the oldest pending jobs asked why they wait

// "waiting for 8 B200 in research (3 jobs ahead)" and the like: numbers out, so that alike reasons group.
function reasonKey(text) {
  return String(text || 'no reason given').replace(/\d+(\.\d+)?/g, 'N');
}

export async function queuesView(main) {
  const sc = session.scenario;
  const byTenant = h('div');
  const byReason = h('div');
  const tree = h('div');
  main.append(h('h1', {}, 'Queues and fairness'),
    h('h2', {}, 'Pending jobs by tenant'), byTenant,
    h('h2', {}, 'Why jobs wait'), byReason,
    h('h2', {}, 'Tenant tree: guarantees, limits and usage'), tree);
  live(async () => {
    const counts = new Map();
    const oldest = [];
    let after = 0, scanned = 0, more = false;
    for (let page = 0; page < SCAN_PAGES; page++) {
      const r = await get(`/v1/jobs?state=pending&limit=1000${after ? '&after=' + after : ''}`);
      for (const j of r.jobs) {
        counts.set(j.tenant, (counts.get(j.tenant) || 0) + 1);
        if (oldest.length < REASON_SAMPLE) oldest.push(j);
      }
      scanned += r.jobs.length;
      after = r.next_after;
      if (!after) break;
      more = page === SCAN_PAGES - 1;
    }
    const rows = [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => h('tr', {},
      h('th', { scope: 'row' }, t), h('td', { class: 'num' }, fmtNum(n)),
      h('td', {}, h('a', { href: `#/jobs?tenant=${encodeURIComponent(t)}&state=pending` }, 'List'))));
    const grid = await get('/v1/grid');
    swap(byTenant, h('p', {}, `${fmtNum(grid.jobs_pending)} jobs pending and ${fmtNum(grid.jobs_running)} running on the whole grid.`), table('Pending jobs by tenant', ['Tenant', 'Pending', ''], rows, { empty: 'No job is waiting.' }),
      more ? h('p', { class: 'help' }, `Counted over the oldest ${fmtNum(scanned)} pending jobs you may see.`) : null);

    // Why: the scheduler's reason in words for the oldest pending jobs.
    const details = await Promise.all(oldest.map((j) => get(jobPath(j.tenant, j.id)).catch(() => null)));
    const reasons = new Map();
    for (const d of details) {
      if (!d || d.state !== 'pending') continue;
      const key = reasonKey(d.pending_reason);
      const e = reasons.get(key) || { text: d.pending_reason, jobs: [] };
      e.jobs.push(d);
      reasons.set(key, e);
    }
    swap(byReason, table(`Reasons of the oldest ${oldest.length} pending jobs`, ['Reason (an example)', 'Jobs', 'For example'],
      [...reasons.values()].sort((a, b) => b.jobs.length - a.jobs.length).map((e) => h('tr', {},
        h('td', { class: 'reason-text' }, e.text), h('td', { class: 'num' }, fmtNum(e.jobs.length)),
        h('td', {}, e.jobs.slice(0, 3).map((j) => h('div', {},
          h('a', { href: `#/jobs/${encodeURIComponent(j.tenant)}/${encodeURIComponent(j.id)}` }, `${j.tenant}/${j.id}`)))))),
      { empty: 'No job is waiting.' }));

    // The tenant tree the token may see, with usage per quota class.
    const tenants = sc.tenants;
    const usage = await Promise.all(tenants.map((t) => get(`/v1/tenants/${encodeURIComponent(t.id)}/usage`).catch(() => null)));
    const children = new Map();
    for (const t of tenants) (children.get(t.parent) || children.set(t.parent, []).get(t.parent)).push(t);
    const uOf = Object.fromEntries(tenants.map((t, i) => [t.id, usage[i]]));
    const rowsT = [];
    const walk = (parent, depth) => {
      for (const t of children.get(parent) || []) {
        const u = uOf[t.id];
        const classes = (u && u.classes) || [];
        const limits = (m) => Object.entries(m || {}).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ') || '—';
        rowsT.push(h('tr', {},
          h('th', { scope: 'row', class: `depth-${Math.min(depth, 5)}` }, depth ? '└ ' : '', t.name || t.id, h('br'), h('code', {}, t.id)),
          h('td', { class: 'num' }, fmtNum(t.weight)),
          h('td', {}, limits(t.guarantee)),
          h('td', {}, limits(t.borrow_limit)),
          h('td', {}, limits(t.lend_limit)),
          h('td', {}, classes.length ? classes.map((c) => h('div', { class: 'usage' },
            `${c.class}: ${fmtNum(c.used)} used of ${fmtNum(c.guarantee)} guaranteed, up to ${fmtNum(c.maximum)} now `,
            meter(c.used, Math.max(c.guarantee, c.used, 1), `${t.id} ${c.class} against its guarantee`))) : '—'),
          h('td', {}, ((u && u.grants) || []).map((g) => h('div', {}, `${g.id}: ${fmtNum(g.used_units)} of ${fmtNum(g.units)} units`)))));
        walk(t.id, depth + 1);
      }
    };
    walk('', 0);
    swap(tree, table('Tenant tree', ['Tenant', 'Weight', 'Guarantee', 'Borrow limit', 'Lend limit', 'Usage now', 'Grants'], rowsT));
  });
}
