// Queues and fairness: pending jobs by tenant and by reason in words (totals
// from GET /v1/queue/summary), usage over time per tenant and grants'
// burn-down (from the store), and the tenant tree with guarantees, limits and usage.
import { get } from '../api.js';
import { h, table, fmtNum, swap, meter } from '../dom.js';
import { live, session } from '../main.js';
import { usageByDay, usageChart, burnDownTable, DAYS } from './usage.js';

const jobHref = (tenant, id) => `#/jobs/${encodeURIComponent(tenant)}/${encodeURIComponent(id)}`;

export async function queuesView(main) {
  const sc = session.scenario;
  const byTenant = h('div');
  const byReason = h('div');
  const chartHolder = h('div');
  const grants = h('div');
  const tree = h('div');
  main.append(h('h1', {}, 'Queues and fairness'),
    h('h2', {}, 'Pending jobs by tenant'), byTenant,
    h('h2', {}, 'Why jobs wait'), byReason,
    h('h2', {}, `Usage per tenant, last ${DAYS} days`), chartHolder,
    h('h2', {}, 'Grants: burn-down'), grants,
    h('h2', {}, 'Tenant tree: guarantees, limits and usage'), tree);
  const chart = usageChart(chartHolder, 'Accelerator-hours per day by tenant', 'Tenant');
  live(async () => {
    if (!chartHolder.isConnected) return chart.destroy();
    // Every pending job the token may see, counted by the daemon.
    const q = await get('/v1/queue/summary');
    const rows = q.by_tenant.slice().sort((a, b) => b.pending - a.pending).map((t) => h('tr', {},
      h('th', { scope: 'row' }, t.tenant), h('td', { class: 'num' }, fmtNum(t.pending)),
      h('td', {}, h('a', { href: `#/jobs?tenant=${encodeURIComponent(t.tenant)}&state=pending` }, `List ${t.tenant}'s pending jobs`))));
    swap(byTenant, h('p', {}, q.pending === 1 ? 'One job you may see is pending.' : `${fmtNum(q.pending)} jobs you may see are pending.`),
      table('Pending jobs by tenant', ['Tenant', 'Pending', ''], rows, { empty: 'No job is waiting.', class: 'pending-tenants' }));
    swap(byReason, table('Pending jobs by reason', ['Reason', 'Jobs', 'By tenant', 'For example'],
      q.by_reason.map((r) => h('tr', {},
        h('td', { class: 'reason-text' }, h('strong', {}, r.words), h('div', { class: 'reason' }, h('code', {}, r.reason))),
        h('td', { class: 'num' }, fmtNum(r.pending)),
        h('td', {}, Object.entries(r.tenants).map(([t, n]) => h('div', {}, `${t}: ${fmtNum(n)}`))),
        h('td', {}, h('a', { href: jobHref(r.example.tenant, r.example.id) }, `${r.example.tenant}/${r.example.id}`),
          h('div', { class: 'reason' }, r.example.reason)))),
      { empty: 'No job is waiting.', class: 'reasons' }));

    const [byDay, burn] = await Promise.all([usageByDay('tenant'), burnDownTable()]);
    chart.update(byDay);
    swap(grants, burn);

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
