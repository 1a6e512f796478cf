// A small DOM builder: text is always set as text, never parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A table inside a scrolling region, with a caption and column headers.
export function table(caption, headers, rows, opts = {}) {
  // Each cell names its column, for the stacked layout of narrow screens.
  for (const row of rows) {
    [...row.children].forEach((cell, i) => { if (headers[i]) cell.setAttribute('data-label', headers[i]); });
  }
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', { class: opts.class },
      h('caption', { class: opts.showCaption ? '' : 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, opts.empty || 'Nothing to show')))));
}

export function fmtTime(unix) {
  if (!unix) return '—';
  const d = new Date(unix * 1000);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
export function fmtNum(x) {
  if (typeof x !== 'number') return String(x ?? '—');
  x = Math.round(x * 100) / 100;
  if (x === 0) x = 0; // never '-0'
  return Number.isInteger(x) ? x.toLocaleString('en') : x.toLocaleString('en', { maximumFractionDigits: 2 });
}
// An amount of usage: small ones keep two significant digits (0.0042
// accelerator-hours is not 0).
export function fmtAmount(x) {
  return typeof x === 'number' && x > 0 && x < 0.01 ? x.toPrecision(2) : fmtNum(x);
}
export function badge(state) {
  return h('span', { class: 'badge s-' + String(state).replace(/[^a-z_-]/g, '') }, state);
}
// A used/total bar with the figures in words for screen readers.
export function meter(used, total, label) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const fill = h('span', { class: 'meter-fill' + (pct >= 90 ? ' full' : '') });
  fill.style.width = pct.toFixed(1) + '%'; // CSSOM: allowed by the CSP, unlike a style attribute
  return h('span', { class: 'meter', role: 'img', 'aria-label': `${label}: ${fmtNum(used)} of ${fmtNum(total)} used` }, fill);
}

export function announce(text) {
  const live = document.getElementById('live');
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 20);
}

// Asks before an action: resolves true when confirmed.
export function confirmAction(title, text, okLabel) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel || 'Confirm';
  dlg.returnValue = '';
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
  });
}

export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err));
}

// Replaces `el`'s content, keeping the keyboard focus on the element of the
// same id when it had it (live refreshes must not steal focus).
export function swap(el, ...children) {
  const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : '';
  clear(el);
  for (const c of children.flat()) if (c) el.append(c);
  if (focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}
