// Grid overview: sites by region and operator, pools' accelerators by model,
// admin drain/down/up behind a confirmation; and a pool's page.
import uPlot from 'uplot';
import { get, post } from '../api.js';
import { h, table, fmtNum, badge, meter, swap, confirmAction, announce, errorBox } from '../dom.js';
import { live, may, session } from '../main.js';
import { usageByDay, usageChart, DAYS } from './usage.js';

// Figures of this session, for the chart (kept while the tab lives, 30 min).
const history = { t: [], used: [], pending: [], running: [] };
function remember(g) {
  const now = Date.now() / 1000;
  if (history.t.length && now - history.t[history.t.length - 1] < 1) return;
  history.t.push(now);
  history.used.push(g.pools.reduce((a, p) => a + p.used, 0));
  history.pending.push(g.jobs_pending);
  history.running.push(g.jobs_running);
  while (history.t.length > 900) for (const k of Object.keys(history)) history[k].shift();
}

function chart(holder) {
  const width = () => Math.max(280, holder.clientWidth - 8);
  const u = new uPlot({
    width: width(),
    height: 200,
    title: 'Accelerators used and jobs pending (this session)',
    scales: { x: { time: true } },
    series: [
      {},
      { label: 'Accelerators used', stroke: '#1f5fbf', width: 2 },
      { label: 'Jobs running', stroke: '#1b7a3a', width: 2 },
      { label: 'Jobs pending', stroke: '#b3401a', width: 2, dash: [6, 4] },
    ],
    axes: [{}, { label: 'count' }],
    legend: { live: false },
  }, [history.t, history.used, history.running, history.pending], holder);
  const onResize = () => u.setSize({ width: width(), height: 200 });
  window.addEventListener('resize', onResize);
  return { update: () => u.setData([history.t, history.used, history.running, history.pending]),
    destroy: () => { window.removeEventListener('resize', onResize); u.destroy(); } };
}

// Drain as Slurm's DRAIN and a Kubernetes cordon: no new work, running jobs
// stay until they end. "Drain and move jobs" also requeues the running jobs
// (as `scontrol requeue` or a drain's evictions): each is stopped and queued
// again, to restart elsewhere (a job that checkpoints resumes from its checkpoint).
async function setState(kind, id, action) {
  const verbs = { draining: 'Drain', move: 'Drain and move jobs', down: 'Take down', up: 'Bring up' };
  const what = kind === 'sites' ? `site ${id}` : `node ${id}`;
  const effect = {
    draining: 'No new jobs will be placed there; running jobs keep their accelerators until they end.',
    move: 'No new jobs will be placed there, and its running jobs are stopped now and queued again, ' +
      'to restart elsewhere; work since each job\u2019s last checkpoint is lost.',
    down: 'It is out of service: its running jobs are stopped and queued again elsewhere.',
    up: 'It takes new jobs again.',
  }[action];
  if (!(await confirmAction(`${verbs[action]}: ${what}?`, effect, verbs[action]))) return;
  const state = action === 'move' ? 'draining' : action;
  try {
    await post(`/v1/admin/${kind}/${encodeURIComponent(id)}/state`, action === 'move' ? { state, requeue: true } : { state });
    announce(`${what} is now ${state}${action === 'move' ? '; its jobs are being requeued' : ''}`);
  } catch (e) {
    alertError(e);
  }
}
function alertError(e) {
  const main = document.getElementById('main');
  main.prepend(errorBox(e));
}

function stateButtons(kind, id, state, label) {
  if (!may('admin')) return null;
  return h('span', { class: 'buttons', role: 'group', 'aria-label': `Set the state of ${label}` },
    [['draining', 'Drain'], ['move', 'Move jobs'], ['down', 'Down'], ['up', 'Up']].map(([s, text]) =>
      h('button', { type: 'button', id: `set-${kind}-${id.replace(/[^A-Za-z0-9_-]/g, '_')}-${s}`,
        disabled: s === state || (s === 'move' && state === 'down'),
        'aria-label': s === 'move' ? `Drain ${label} and move its jobs` : `${text} ${label}`,
        onclick: () => setState(kind, id, s) }, text)));
}

export async function gridView(main) {
  const sc = session.scenario;
  const summary = h('div', { class: 'cards', 'aria-label': 'Grid totals', role: 'group' });
  const holder = h('div', { class: 'chart', 'aria-hidden': 'true' });
  const models = h('div');
  const sites = h('div');
  const history = h('div');
  main.append(h('h1', {}, 'Grid overview'),
    h('p', { class: 'sub' }, `${sc.name}: ${sc.description}`),
    summary, holder,
    h('h2', {}, 'Accelerators by model'), models,
    h('h2', {}, 'Sites by region and operator'), sites,
    h('h2', {}, `Usage per pool, last ${DAYS} days`), history);
  const poolChart = usageChart(history, 'Accelerator-hours per day by pool', 'Pool');
  let plot = null;
  const siteMeta = Object.fromEntries(sc.sites.map((s) => [s.id, s]));
  live(async () => {
    const g = await get('/v1/grid');
    remember(g);
    const total = g.pools.reduce((a, p) => a + p.accelerators, 0);
    const used = g.pools.reduce((a, p) => a + p.used, 0);
    swap(summary, [['Accelerators', total], ['Used', used], ['Free', total - used],
      ['Jobs running', g.jobs_running], ['Jobs pending', g.jobs_pending]].map(([k, v]) =>
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, k), h('span', { class: 'v' }, fmtNum(v)))));
    if (!plot && holder.isConnected) plot = chart(holder);
    else if (plot) plot.update();

    const byModel = new Map();
    for (const p of g.pools) {
      const m = byModel.get(p.accelerator) || { total: 0, used: 0 };
      m.total += p.accelerators; m.used += p.used;
      byModel.set(p.accelerator, m);
    }
    swap(models, table('Accelerators by model', ['Model', 'Total', 'Used', 'Free', ''],
      [...byModel].sort().map(([name, m]) => h('tr', {}, h('th', { scope: 'row' }, name),
        h('td', { class: 'num' }, fmtNum(m.total)), h('td', { class: 'num' }, fmtNum(m.used)),
        h('td', { class: 'num' }, fmtNum(m.total - m.used)), h('td', {}, meter(m.used, m.total, name))))));

    const stateOf = Object.fromEntries(g.sites.map((s) => [s.id, s]));
    const poolsOf = new Map();
    for (const p of g.pools) (poolsOf.get(p.site) || poolsOf.set(p.site, []).get(p.site)).push(p);
    const regions = new Map();
    for (const s of sc.sites) {
      const key = s.region || '—';
      (regions.get(key) || regions.set(key, []).get(key)).push(s);
    }
    const sections = [];
    for (const [region, list] of [...regions].sort()) {
      list.sort((a, b) => (a.operator + a.id).localeCompare(b.operator + b.id));
      const rows = list.map((s) => {
        const st = stateOf[s.id] || { state: 'up' };
        const label = `site ${s.name || s.id}`;
        return h('tr', { id: `site-${s.id}` },
          h('th', { scope: 'row' }, h('span', { class: 'name' }, s.name || s.id), h('br'), h('code', {}, s.id)),
          h('td', {}, s.operator),
          h('td', {}, s.jurisdiction),
          h('td', { class: 'num' }, `Tier ${s.tier}`, s.edge ? ' · edge' : ''),
          h('td', {}, badge(st.state), st.reason ? h('div', { class: 'reason' }, st.reason) : null),
          h('td', {}, h('ul', { class: 'pools' }, (poolsOf.get(s.id) || []).map((p) => h('li', {},
            h('a', { href: `#/pool/${encodeURIComponent(p.id)}` }, p.id), ` ${p.accelerator} `,
            meter(p.used, p.accelerators, `${p.id} ${p.accelerator}`),
            ` ${fmtNum(p.used)} used, ${fmtNum(p.free)} free`)))),
          may('admin') ? h('td', {}, stateButtons('sites', s.id, st.state, label)) : null);
      });
      const headers = ['Site', 'Operator', 'Jurisdiction', 'Tier', 'Health', 'Pools: accelerators used / free'];
      if (may('admin')) headers.push('Actions');
      sections.push(h('h3', {}, `Region ${region}`), table(`Sites in region ${region}`, headers, rows, { class: 'sites' }));
    }
    swap(sites, sections);
    void siteMeta;
    poolChart.update(await usageByDay('pool'));
  });
}

export async function poolView(main, poolId) {
  const sc = session.scenario;
  const meta = sc.pools.find((p) => p.id === poolId);
  if (!meta) {
    main.append(h('h1', {}, 'No such pool'), h('p', {}, h('a', { href: '#/grid' }, 'Back to the grid')));
    return;
  }
  const site = sc.sites.find((s) => s.id === meta.site) || { id: meta.site };
  const facts = h('div');
  const nodes = h('div');
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/grid' }, 'Grid'), ' / ', poolId),
    h('h1', {}, `Pool ${poolId}`),
    h('p', { class: 'sub' }, `${meta.nodes} nodes × ${meta.accelerators_per_node} ${meta.accelerator} at ${site.name || site.id} (${site.operator || ''}, ${site.region || ''}, ${site.jurisdiction || ''}, tier ${site.tier ?? ''})`),
    facts, h('h2', {}, 'Nodes and the jobs running on them'), nodes);
  let offset = 0;
  const PAGE = 256;
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of nodes' });
  main.append(pager);
  const load = async () => {
    const [g, r] = await Promise.all([get('/v1/grid'), get(`/v1/pools/${encodeURIComponent(poolId)}/nodes?offset=${offset}&limit=${PAGE}`)]);
    const p = g.pools.find((x) => x.id === poolId);
    const counts = { up: 0, draining: 0, down: 0 };
    for (const n of r.nodes) counts[n.state] = (counts[n.state] || 0) + 1;
    swap(facts, h('div', { class: 'cards' },
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Site health'), h('span', { class: 'v' }, badge(r.site_state))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Accelerators'), h('span', { class: 'v' }, fmtNum(p.accelerators))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Used'), h('span', { class: 'v' }, fmtNum(p.used))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Free'), h('span', { class: 'v' }, fmtNum(p.free))),
      h('div', { class: 'card stat' }, h('span', { class: 'k' }, 'Nodes up / draining / down'),
        h('span', { class: 'v small', id: 'node-counts' }, `${counts.up} up · ${counts.draining} draining · ${counts.down} down`))));
    const rows = r.nodes.map((n) => h('tr', { id: `node-${n.name.replace(/[^A-Za-z0-9_-]/g, '_')}` },
      h('th', { scope: 'row' }, h('code', {}, n.name)),
      h('td', {}, badge(n.state)),
      h('td', { class: 'num' }, `${fmtNum(n.used)} of ${n.accelerators} `, meter(n.used, n.accelerators, `${n.name} accelerators`)),
      h('td', {}, n.jobs.length || n.other_jobs ? [
        ...n.jobs.map((j) => h('div', {},
          h('a', { href: `#/jobs/${encodeURIComponent(j.tenant)}/${encodeURIComponent(j.id)}` }, `${j.tenant}/${j.id}`),
          ` on ${j.accelerators.length > 1 ? 'accelerators' : 'accelerator'} ${j.accelerators.join(', ')}${j.share < 1 ? ` (share ${j.share})` : ''}`)),
        n.other_jobs ? h('div', { class: 'reason' }, `${n.other_jobs} job${n.other_jobs > 1 ? 's' : ''} of tenants you may not see`) : null]
        : h('span', { class: 'reason' }, 'idle')),
      may('admin') ? h('td', {}, stateButtons('nodes', n.name, n.state, `node ${n.name}`)) : null));
    const headers = ['Node', 'Health', 'Accelerators used', 'Jobs on it'];
    if (may('admin')) headers.push('Actions');
    swap(nodes, table(`Nodes of pool ${poolId}`, headers, rows, { class: 'nodes' }));
    const last = Math.min(offset + PAGE, r.node_count);
    swap(pager, r.node_count > PAGE ? [
      h('button', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, '← Previous nodes'),
      h('span', {}, ` Nodes ${offset + 1}–${last} of ${r.node_count} `),
      h('button', { type: 'button', disabled: last >= r.node_count, onclick: () => { offset += PAGE; load(); } }, 'Next nodes →')] : []);
  };
  live(load);
}
