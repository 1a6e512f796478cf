// Usage over time from the store (GET /v1/accounting?group_by=day,KEY), so
// the charts survive a restart of the daemon, and grants' burn-down
// (GET /v1/accounting/grants).
import uPlot from 'uplot';
import { get } from '../api.js';
import { h, table, fmtNum, fmtAmount, fmtTime, meter, swap } from '../dom.js';

export const DAYS = 30;
const DAY = 86400;
// Distinct, readable on white (WCAG AA for lines of width 2), then repeated dashed.
const COLOURS = ['#1f5fbf', '#b3401a', '#1b7a3a', '#7a3db8', '#8a6100', '#0f7a86', '#a3265e', '#4a5160'];
const MAX_SERIES = 8; // more keys than this: the largest 7 and "others"

// The period: whole UTC days, today's included. `until` is tomorrow's
// midnight, so that the daemon reads every day from its daily sums (today's
// hold the segments ended so far; running ones are counted up to now) and
// no day from the records (docs/benchmarks.md, "Console").
export function period(now = Date.now() / 1000) {
  const today = Math.floor(now / DAY) * DAY;
  return { from: today - (DAYS - 1) * DAY, until: today + DAY };
}

// {days: [unix midnights], keys: [...], values: {key: [accelerator-hours per day]}, totals: {key: units}}.
export async function usageByDay(key, tenant) {
  const { from, until } = period();
  const q = new URLSearchParams({ group_by: `day,${key}`, from: String(from), until: String(until) });
  if (tenant) q.set('tenant', tenant);
  const r = await get('/v1/accounting?' + q);
  const days = [];
  for (let t = from; t < until; t += DAY) days.push(t);
  const index = new Map(days.map((t, i) => [new Date(t * 1000).toISOString().slice(0, 10), i]));
  const values = {}, totals = {}, units = {};
  for (const row of r.rows) {
    const k = row[key] || '(none)';
    const i = index.get(row.day);
    if (i === undefined) continue;
    if (!values[k]) { values[k] = new Array(days.length).fill(0); totals[k] = 0; units[k] = 0; }
    values[k][i] += row.accelerator_hours;
    totals[k] += row.accelerator_hours;
    units[k] += row.charged_units;
  }
  let keys = Object.keys(values).sort((a, b) => totals[b] - totals[a]);
  if (keys.length > MAX_SERIES) {
    const rest = keys.slice(MAX_SERIES - 1);
    const others = new Array(days.length).fill(0);
    let ot = 0, ou = 0;
    for (const k of rest) { values[k].forEach((v, i) => { others[i] += v; }); ot += totals[k]; ou += units[k]; }
    keys = keys.slice(0, MAX_SERIES - 1).concat(['others']);
    values.others = others; totals.others = ot; units.others = ou;
  }
  return { days, keys, values, totals, units, total: r.total };
}

// A chart of accelerator-hours per day, one line per key, with a table of
// the period's totals beside it for screen readers (the chart is hidden from them).
export function usageChart(holder, title, keyLabel) {
  let plot = null;
  let shape = '';
  const box = h('div', { class: 'chart', 'aria-hidden': 'true' });
  const figures = h('div');
  holder.append(box, figures);
  const width = () => Math.max(260, box.clientWidth - 8);
  const onResize = () => plot && plot.setSize({ width: width(), height: 220 });
  window.addEventListener('resize', onResize);
  return {
    update(u) {
      const data = [u.days, ...u.keys.map((k) => u.values[k])];
      const now = u.keys.join('\u0000');
      if (!plot || now !== shape) {
        if (plot) plot.destroy();
        shape = now;
        plot = new uPlot({
          width: width(),
          height: 220,
          title,
          scales: { x: { time: true } },
          series: [{}, ...u.keys.map((k, i) => ({
            label: k, stroke: COLOURS[i % COLOURS.length], width: 2,
            dash: i >= COLOURS.length ? [6, 4] : undefined, points: { show: true, size: 5 },
          }))],
          axes: [{}, { label: 'accelerator-hours per day', size: 60 }],
          legend: { live: false },
        }, data, box);
      } else {
        plot.setData(data);
      }
      swap(figures, table(`${title}: totals over the last ${DAYS} days`, [keyLabel, 'Accelerator-hours', 'Charged units'],
        u.keys.map((k) => h('tr', {}, h('th', { scope: 'row' }, k),
          h('td', { class: 'num' }, fmtAmount(u.totals[k])), h('td', { class: 'num' }, fmtAmount(u.units[k])))),
        { empty: `No usage recorded in the last ${DAYS} days.`, class: 'usage-totals' }));
    },
    destroy() { window.removeEventListener('resize', onResize); if (plot) plot.destroy(); },
  };
}

// Grants' burn-down: used, left, the recent rate and when it runs out.
export async function burnDownTable(tenant) {
  const r = await get('/v1/accounting/grants' + (tenant ? '?tenant=' + encodeURIComponent(tenant) : ''));
  return table('Grants: units used and left, and when they run out at the rate of the last 7 days',
    ['Grant', 'Used / granted', 'Left', 'Rate (units a day)', 'Projected exhaustion', 'Valid until'],
    r.grants.map((g) => h('tr', { id: `grant-${g.tenant}-${g.grant}` },
      h('th', { scope: 'row' }, `${g.tenant}/${g.grant}`, g.quota_class ? h('div', { class: 'reason' }, g.quota_class) : null),
      h('td', {}, `${fmtAmount(g.used_units)} of ${fmtNum(g.granted_units)} `, meter(g.used_units, g.granted_units, `grant ${g.grant} used`)),
      h('td', { class: 'num' }, fmtNum(g.left_units)),
      h('td', { class: 'num' }, fmtAmount(g.units_per_day)),
      h('td', {}, g.left_units <= 0 ? 'spent' : g.projected_exhaustion ? fmtTime(g.projected_exhaustion) : 'not before it ends'),
      h('td', {}, fmtTime(g.valid_until)))),
    { empty: 'No grants in your part of the tree.', class: 'grants' });
}
