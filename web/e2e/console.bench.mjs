// Benchmark of the web console with 100,000 jobs in the store (issue 19's
// targets, docs/benchmarks.md "Console"): the daemon on loopback (twin
// backend, small scenario, SQLite), filled through the API with 100,000 jobs
// (most of them pending; a few thousand run and finish while it goes on);
// then
//  * latency of every API call the console makes, N sequential calls each
//    on one kept-alive connection: p50, p99, max;
//  * Debian's chromium (playwright-core) navigating to the grid overview and
//    to the job list: time from the navigation to the view's content drawn
//    (the elements the user acts on exist, and the browser's main thread is
//    idle: no long task pending), median and max of R runs.
// Not a test: it asserts nothing and prints a Markdown table.
//   node web/e2e/console.bench.mjs --binary build/release/sovgrid --source . [--jobs 100000] [--calls 200] [--runs 10]
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const binary = args.binary;
const source = args.source;
const JOBS = Number(args.jobs || 100000);
const CALLS = Number(args.calls || 200);
const RUNS = Number(args.runs || 10);
const browserPath = process.env.SOVGRID_CHROMIUM || '/usr/bin/chromium';
if (!binary || !source) {
  console.error('usage: console.bench.mjs --binary SOVGRID --source SOURCE_DIR [--jobs N] [--calls N] [--runs N]');
  process.exit(2);
}
if (!existsSync(browserPath)) {
  console.error(`console.bench: ${browserPath} not found`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'sovgrid-console-bench-'));
let daemon = null;
let browser = null;
const log = (...a) => console.error('console.bench:', ...a);

function startDaemon() {
  const argv = ['serve', '--scenario', join(source, 'scenarios/small.toml'), '--data-dir', join(dir, 'data'),
    '--listen', '127.0.0.1:0', '--backend', 'twin', '--speedup', '100'];
  daemon = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the daemon did not listen within 30 s:\n' + text)), 30000);
    const onData = (d) => {
      text += d;
      const m = text.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    };
    daemon.stdout.on('data', onData);
    daemon.stderr.on('data', onData);
    daemon.once('exit', (code) => reject(new Error(`the daemon exited (${code}):\n${text}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function request(base, token, method, path, body) {
  const u = new URL(base + path);
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent,
      headers: { Authorization: 'Bearer ' + token, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 400) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
        else resolve(text);
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const ms = (x) => x.toFixed(1);

async function main() {
  const base = await startDaemon();
  const admin = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
  const call = async (method, path, body) => JSON.parse(await request(base, admin, method, path, body));

  // Fill: JOBS jobs in batches of 10,000 for three tenants. One in 20 fits
  // now (1 accelerator, 10 simulated minutes: they run and finish while the
  // bench goes on, so the store holds every state); the rest ask for more
  // L4s than the grid has and wait with a reason.
  const t0 = Date.now();
  const tenants = ['research', 'startup', 'acme'];
  for (let b = 0; b * 10000 < JOBS; b++) {
    const jobs = [];
    for (let i = 0; i < 10000 && b * 10000 + i < JOBS; i++) {
      const n = b * 10000 + i;
      const tenant = tenants[n % 3];
      jobs.push(n % 20 === 0
        ? { id: `job-${n}`, tenant, accelerators: 1, runtime_s: 600 }
        : { id: `job-${n}`, tenant, accelerators: 16, models: ['L4'] });
    }
    await call('POST', '/v1/jobs:batch', { jobs });
  }
  const fill = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 5000)); // a few cycles: starts, ends, usage records
  const grid = await call('GET', '/v1/grid');
  log(`filled ${JOBS} jobs in ${fill.toFixed(1)} s; pending ${grid.jobs_pending}, running ${grid.jobs_running}`);

  // The calls the console makes (views: grid, pool, queues, jobs, job, tokens, audit).
  const first = await call('GET', '/v1/jobs?limit=100');
  const deep = await call('GET', `/v1/jobs?limit=100&after=${Math.floor(JOBS / 2)}`);
  const calls = [
    ['GET /v1/scenario', '/v1/scenario'],
    ['GET /v1/grid', '/v1/grid'],
    ['GET /v1/jobs?limit=100 (first page)', '/v1/jobs?limit=100'],
    ['GET /v1/jobs?limit=100&after= (a page in the middle)', `/v1/jobs?limit=100&after=${deep.next_after}`],
    ['GET /v1/jobs?limit=1000', '/v1/jobs?limit=1000'],
    ['GET /v1/jobs?state=pending&tenant=startup&limit=100', '/v1/jobs?state=pending&tenant=startup&limit=100'],
    ['GET /v1/jobs?state=finished&limit=100', '/v1/jobs?state=finished&limit=100'],
    ['GET /v1/jobs?q=job-9999&limit=100 (search, one request)', '/v1/jobs?q=job-9999&limit=100'],
    ['GET /v1/jobs/{id}', `/v1/jobs/${first.jobs[0].id}?tenant=${first.jobs[0].tenant}`],
    ['GET /v1/queue/summary', '/v1/queue/summary'],
    ['GET /v1/accounting?group_by=day,tenant (30 days)', `/v1/accounting?group_by=day,tenant&from=${Math.floor(Date.now() / 86400000) * 86400 - 29 * 86400}&until=${Math.floor(Date.now() / 86400000) * 86400 + 86400}`],
    ['GET /v1/accounting?group_by=day,pool (30 days)', `/v1/accounting?group_by=day,pool&from=${Math.floor(Date.now() / 86400000) * 86400 - 29 * 86400}&until=${Math.floor(Date.now() / 86400000) * 86400 + 86400}`],
    ['GET /v1/accounting/grants', '/v1/accounting/grants'],
    ['GET /v1/tenants/{id}/usage', '/v1/tenants/research/usage'],
    ['GET /v1/pools/{id}/nodes', '/v1/pools/north-b200/nodes?offset=0&limit=256'],
    ['GET /v1/tokens', '/v1/tokens'],
    ['GET /v1/audit?limit=100', '/v1/audit?limit=100'],
  ];
  const rows = [];
  // From here the control loop counts the queue every second (it is being read),
  // as while a console shows it: the other calls are measured under that work.
  await request(base, admin, 'GET', '/v1/queue/summary');
  for (const [name, path] of calls) {
    await request(base, admin, 'GET', path); // warm
    const t = [];
    for (let i = 0; i < CALLS; i++) {
      const s = process.hrtime.bigint();
      await request(base, admin, 'GET', path);
      t.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    t.sort((a, b) => a - b);
    rows.push([name, pct(t, 50), pct(t, 99), t[t.length - 1]]);
    log(name, ms(pct(t, 50)), ms(pct(t, 99)));
  }

  // The queue summary: every pending job counted by the control loop once a
  // second while someone reads it (slices of 4,096 under the scheduler's lock);
  // one call a second, as a console does, gets a count at most 2 s old.
  {
    const t = [];
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      const s = process.hrtime.bigint();
      await request(base, admin, 'GET', '/v1/queue/summary');
      t.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    t.sort((a, b) => a - b);
    rows.push(['GET /v1/queue/summary, one call a second (a new count each time; 20 calls)', pct(t, 50), pct(t, 99), t[t.length - 1]]);
  }

  // Navigation to interactive in chromium.
  browser = await chromium.launch({ executablePath: browserPath, headless: true, args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript((t) => sessionStorage.setItem('sovgrid.token', t), admin);
  const page = await context.newPage();
  const views = [
    ['grid overview', '#/grid', ['#site-north', '#site-south', 'table.usage-totals']],
    ['job list', '#/jobs', ['table.jobs tbody tr a', '#p-next']],
    ['job list, pending of one tenant', '#/jobs?state=pending&tenant=startup', ['table.jobs tbody tr a', '#p-next']],
    ['queues', '#/queues', ['table.pending-tenants', 'table.reasons', 'table.usage-totals']],
  ];
  const nav = [];
  for (const [name, hash, selectors] of views) {
    const t = [];
    for (let i = 0; i < RUNS; i++) {
      await page.goto('about:blank');
      const s = Date.now();
      await page.goto(base + '/' + hash);
      for (const sel of selectors) await page.locator(sel).first().waitFor({ timeout: 30000 });
      // Interactive: no long task of the main thread pending (a frame comes at once).
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      t.push(Date.now() - s);
    }
    t.sort((a, b) => a - b);
    nav.push([name, t[Math.floor(t.length / 2)], t[t.length - 1]]);
    log(name, t.join(' '));
  }

  const g2 = await call('GET', '/v1/grid');
  console.log(`\nJobs in the store: ${JOBS} (pending ${g2.jobs_pending}, running ${g2.jobs_running} at the end); fill ${fill.toFixed(1)} s; ` +
    `${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(`| API call (${CALLS} sequential, keep-alive) | p50 ms | p99 ms | max ms |\n|---|---|---|---|`);
  for (const [n, a, b, c] of rows) console.log(`| \`${n}\` | ${ms(a)} | ${ms(b)} | ${ms(c)} |`);
  console.log(`\n| view (${RUNS} navigations) | median ms | max ms |\n|---|---|---|`);
  for (const [n, a, b] of nav) console.log(`| ${n} | ${a} | ${b} |`);
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error('console.bench: FAILED:', e.stack || e.message);
}
if (browser) await browser.close().catch(() => {});
if (daemon && daemon.exitCode === null) {
  daemon.kill('SIGTERM');
  await new Promise((r) => { const t = setTimeout(() => { daemon.kill('SIGKILL'); r(); }, 10000); daemon.once('exit', () => { clearTimeout(t); r(); }); });
}
agent.destroy();
rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
