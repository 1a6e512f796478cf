// Every call goes to the daemon's own API (same origin) with the signed-in
// token: the console shows exactly what that token may see.
const KEY = 'sovgrid.token';

export function token() {
  return sessionStorage.getItem(KEY) || '';
}
export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
    this.problems = (error && error.problems) || [];
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const type = r.headers.get('content-type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, data && data.error);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const del = (path) => api('DELETE', path);

// "/v1/jobs/NAME?tenant=T" for a job.
export function jobPath(tenant, name, suffix = '') {
  return `/v1/jobs/${encodeURIComponent(name)}${suffix}?tenant=${encodeURIComponent(tenant)}`;
}
