// callscope dashboard: vanilla JS, SVG charts, no network beyond this server.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const OUTCOMES = ['answered', 'busy', 'cancelled', 'no_answer', 'redirected', 'failed', 'in_progress'];
const COLORS = { answered: '#218a3c', busy: '#c77c00', cancelled: '#8a94a3', no_answer: '#b5a000',
  redirected: '#6a5acd', failed: '#c0392b', in_progress: '#1f5fbf' };
let me = { masked: false, keep_rtp: 'headers' };
let timers = [];

// h builds an HTML element: h('td', {class: 'num'}, 'text', child...).
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
// s builds an SVG element.
function s(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// Every page render gets an AbortController: navigating aborts the previous page's
// requests, and a page renders into its own container, so a late answer of a page left
// behind never lands under the new one.
let routeCtl = new AbortController();

async function api(path, opts) {
  const signal = opts && 'signal' in opts ? opts.signal : routeCtl.signal;
  const r = await fetch('/api/v1' + path, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal });
  if (r.status === 401) { location.href = '/login'; throw new Error('login required'); }
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) { const e = new Error(body.error || r.statusText); e.status = r.status; throw e; }
  return body;
}

// ---- time: one display zone for the whole UI ------------------------------------------
// UTC by default; the header button switches to the browser's zone, remembered in
// localStorage. Tables, ladder, charts and date pickers all use it and say which it is.

const TZ_KEY = 'callscope.tz';
let tzMode = (() => { try { return localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'utc'; } catch (e) { return 'utc'; } })();
function tzName() {
  if (tzMode === 'utc') return 'UTC';
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'; } catch (e) { return 'local'; }
}
function setTZ(mode) {
  tzMode = mode === 'local' ? 'local' : 'utc';
  try { localStorage.setItem(TZ_KEY, tzMode); } catch (e) { /* private mode: not remembered */ }
  showTZ();
  route();
}
function showTZ() {
  const b = document.getElementById('tz');
  if (!b) return;
  b.textContent = 'Times: ' + tzName();
  b.title = tzMode === 'utc' ? 'Times are UTC. Click to show them in this browser\'s zone.' : 'Times are in this browser\'s zone. Click to show them in UTC.';
}
// parseTime reads an RFC 3339 time (ns precision is cut to ms) as epoch ms, NaN if bad.
function parseTime(iso) {
  if (!iso) return NaN;
  return Date.parse(String(iso).replace(/(\.\d{3})\d+/, '$1'));
}
// zparts splits epoch ms into [y, mon, d, h, min, s, ms] in the display zone.
function zparts(ms) {
  const d = new Date(ms);
  return tzMode === 'utc'
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
}
const p2 = n => String(n).padStart(2, '0');
function fmtDate(ms) { const p = zparts(ms); return p[0] + '-' + p2(p[1]) + '-' + p2(p[2]); }
function fmtClock(ms, secs) { const p = zparts(ms); return p2(p[3]) + ':' + p2(p[4]) + (secs ? ':' + p2(p[5]) : ''); }
function fmtTime(t) {
  const ms = typeof t === 'number' ? t : parseTime(t);
  if (!t || isNaN(ms)) return '–';
  return fmtDate(ms) + ' ' + fmtClock(ms, true) + '.' + String(zparts(ms)[6]).padStart(3, '0');
}
// zoneOffset is how far the display zone is ahead of UTC at ms, in ms.
function zoneOffset(ms) { return tzMode === 'utc' ? 0 : -new Date(ms).getTimezoneOffset() * 60000; }
// toInput renders an RFC 3339 time for a datetime-local picker in the display zone.
function toInput(iso) {
  const ms = parseTime(iso);
  if (isNaN(ms)) return '';
  const p = zparts(ms);
  return fmtDate(ms) + 'T' + p2(p[3]) + ':' + p2(p[4]) + (p[5] || p[6] ? ':' + p2(p[5]) : '');
}
// fromInput reads a datetime-local value typed in the display zone as RFC 3339 UTC.
function fromInput(v) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?$/.exec(v || '');
  if (!m) return '';
  const n = m.slice(1, 7).map(x => +(x || 0)), ms = +((m[7] || '0') + '00').slice(0, 3);
  const d = tzMode === 'utc' ? new Date(Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms)) : new Date(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms);
  return isNaN(d) ? '' : d.toISOString();
}
// timeInput is a labelled datetime-local picker in the display zone.
function timeInput(label, name, iso) {
  return h('label', {}, label + ' (' + tzName() + ')', h('input', { type: 'datetime-local', name, value: toInput(iso), step: 1, 'aria-label': label + ' time, ' + tzName() }));
}
// QUICK are the quick ranges of the time filters.
const QUICK = [['15m', 15], ['1h', 60], ['6h', 360], ['24h', 1440], ['7d', 10080]];
function quickRanges(onPick) {
  return h('span', { class: 'quick', role: 'group', 'aria-label': 'quick ranges' }, QUICK.map(([label, min]) =>
    h('button', { type: 'button', class: 'secondary small', 'data-range': label, onclick: () => {
      const to = new Date(), from = new Date(to - min * 60000);
      onPick(from.toISOString(), to.toISOString());
    } }, label)));
}

// every runs fn every ms while the page is shown and the tab is visible; route() stops it.
function every(ms, fn) {
  timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
}

function fmtMs(v) { return v === null || v === undefined ? '–' : Math.round(v).toLocaleString(); }
function fmtDur(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = ms / 1000;
  return s < 60 ? s.toFixed(1) + ' s' : Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}
function fmtMOS(v) { return v === null || v === undefined ? '–' : v.toFixed(2); }
function fmtPct(v) { return v === null || v === undefined ? '–' : v.toFixed(1) + ' %'; }
function q850Text(c) {
  const t = { 16: 'normal clearing', 17: 'user busy', 18: 'no user responding', 19: 'no answer from user',
    21: 'call rejected', 27: 'destination out of order', 31: 'normal, unspecified', 34: 'no circuit available',
    38: 'network out of order', 41: 'temporary failure', 42: 'switching equipment congestion',
    47: 'resource unavailable', 102: 'recovery on timer expiry', 127: 'interworking, unspecified' };
  return t[c] ? c + ' (' + t[c] + ')' : String(c);
}

function route() {
  for (const t of timers) clearInterval(t);
  timers = [];
  routeCtl.abort();
  routeCtl = new AbortController();
  const hash = location.hash || '#/calls';
  const [path, qs] = hash.slice(1).split('?');
  const params = new URLSearchParams(qs || '');
  for (const a of document.querySelectorAll('header nav a')) {
    const on = hash.startsWith(a.getAttribute('href')) || (a.id === 'nav-calls' && path.startsWith('/call/')) ||
      (a.id === 'nav-registrations' && path.startsWith('/registration/'));
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  const page = h('div', { class: 'page', 'aria-busy': 'true' });
  main.replaceChildren(page);
  let p;
  if (path.startsWith('/call/')) p = callPage(page, decodeURIComponent(path.slice(6)), params);
  else if (path === '/overview') p = overviewPage(page, params);
  else if (path === '/registrations') p = regPage(page, params);
  else if (path.startsWith('/registration/')) p = regLadderPage(page, decodeURIComponent(path.slice(14)));
  else if (path === '/alerts') p = alertsPage(page, params); // alerts.js
  else if (path === '/security') p = securityPage(page, params); // security.js
  else p = searchPage(page, params);
  p.then(() => page.removeAttribute('aria-busy'), e => {
    page.removeAttribute('aria-busy');
    if (e.name === 'AbortError' || !page.isConnected) return;
    page.append(h('p', { class: 'err', id: 'error', role: 'alert' }, 'Error: ' + e.message));
  });
}

// ---- call search -------------------------------------------------------------------

const FILTERS = ['from', 'to', 'number', 'ip', 'call_id', 'state', 'code', 'dropped', 'mos_below', 'sort', 'desc', 'limit'];

// mosClass is a MOS band: good (≥ 4.0), fair (3.6-4.0), poor (< 3.6), as the charts use.
function mosClass(v) { return v === null || v === undefined ? '' : v >= 4 ? 'mos-good' : v >= 3.6 ? 'mos-fair' : 'mos-poor bad'; }

// CSV_MAX bounds a CSV export of a search (rows).
const CSV_MAX = 10000;
const CSV_COLS = ['start', 'call_id', 'from', 'to', 'caller', 'callee', 'state', 'final_code', 'pdd_ms', 'duration_ms', 'ended_by', 'end_reason', 'dropped', 'drop_reason', 'mos_min'];
function csvCell(v) {
  if (v === null || v === undefined) return '';
  const t = String(v);
  return /[",\r\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
}
// exportCSV pages through the search q (without cursor) and downloads it as CSV, at
// most CSV_MAX rows; times stay RFC 3339 UTC as the API gives them.
async function exportCSV(q, btn) {
  const n = new URLSearchParams(q);
  n.delete('cursor'); n.set('limit', '1000');
  const lines = [CSV_COLS.join(',')];
  btn.disabled = true;
  try {
    for (let cur = ''; lines.length - 1 < CSV_MAX;) {
      if (cur) n.set('cursor', cur);
      const page = await api('/calls?' + n, { signal: null });
      for (const c of page.calls) lines.push(CSV_COLS.map(k => csvCell(c[k])).join(','));
      btn.textContent = 'CSV (' + (lines.length - 1) + ')…';
      if (!page.next) break;
      cur = page.next;
    }
    const a = h('a', { href: URL.createObjectURL(new Blob([lines.slice(0, CSV_MAX + 1).join('\r\n') + '\r\n'], { type: 'text/csv' })), download: 'callscope-calls.csv' });
    document.body.append(a); a.click(); a.remove();
    btn.textContent = 'CSV (' + Math.min(CSV_MAX, lines.length - 1) + ' rows)';
  } catch (e) {
    btn.textContent = 'CSV failed: ' + e.message;
  } finally { btn.disabled = false; }
}

function openCall(id) { location.hash = '#/call/' + encodeURIComponent(id); }

// onActivate makes a non-button element act like one: click, Enter and Space.
function onActivate(el, fn) {
  el.addEventListener('click', fn);
  el.addEventListener('keydown', ev => {
    if (ev.target !== el || (ev.key !== 'Enter' && ev.key !== ' ')) return;
    ev.preventDefault();
    fn();
  });
  return el;
}

// cut is a cell for a long value: ellipsis in the table, the whole text on hover.
function cut(text, cls) { return h('td', { class: 'trunc' + (cls ? ' ' + cls : ''), title: text || '' }, text || '–'); }

// liveDuration is an in-progress call's duration so far (from its answer, else start).
function liveDuration(c) {
  const t0 = parseTime(c.answer) || parseTime(c.start);
  return isNaN(t0) ? null : Math.max(0, Date.now() - t0);
}

function callRow(c, live) {
  live = live && !c.end; // an ended call waiting to be stored keeps its final duration
  const cls = 'state-' + c.state;
  const dur = live ? liveDuration(c) : c.duration_ms;
  const row = h('tr', { class: 'row', 'data-id': c.id, tabindex: 0, 'aria-label': 'call ' + c.call_id + ', ' + c.state },
    h('td', {}, fmtTime(c.start)), cut(c.call_id, 'callid'),
    cut(c.from_user || c.from), cut(c.to_user || c.to), h('td', { class: cls }, c.state),
    h('td', { class: 'num' }, c.final_code || '–'), h('td', { class: 'num' }, fmtMs(c.pdd_ms)),
    h('td', { class: 'num' + (live ? ' live-dur' : ''), 'data-t0': live ? (parseTime(c.answer) || parseTime(c.start)) : null }, fmtDur(dur)),
    h('td', {}, c.ended_by || '–'),
    h('td', { class: c.dropped ? 'bad' : '' }, c.dropped ? (c.drop_reason || 'dropped') : ''),
    h('td', { class: 'num ' + mosClass(c.mos_min) }, fmtMOS(c.mos_min)));
  return onActivate(row, () => openCall(c.id));
}

// replaceKeepingFocus swaps old for nu, refocusing the row that had focus.
function replaceKeepingFocus(old, nu) {
  const a = document.activeElement, id = a && old.contains(a) && a.dataset ? a.dataset.id : null;
  old.replaceWith(nu);
  if (id) { const r = nu.querySelector('tr[data-id="' + CSS.escape(id) + '"]'); if (r) r.focus(); }
}

async function searchPage(main, params) {
  const v = k => params.get(k) || '';
  const sel = (name, opts, cur) => h('select', { name }, opts.map(o => h('option', { value: o[0], selected: o[0] === cur }, o[1])));
  const form = h('form', { class: 'filters', id: 'search' },
    timeInput('From', 'from', v('from')), timeInput('To', 'to', v('to')),
    h('label', {}, 'Number / URI', h('input', { name: 'number', value: v('number'), size: 14 })),
    h('label', {}, 'IP', h('input', { name: 'ip', value: v('ip'), size: 12 })),
    h('label', {}, 'Call-ID', h('input', { name: 'call_id', value: v('call_id'), size: 18 })),
    h('label', {}, 'State', sel('state', [['', 'any']].concat(OUTCOMES.map(o => [o, o])), v('state'))),
    h('label', {}, 'Final code', h('input', { name: 'code', value: v('code'), size: 4, inputmode: 'numeric' })),
    h('label', {}, 'Dropped', sel('dropped', [['', 'any'], ['true', 'yes'], ['false', 'no']], v('dropped'))),
    h('label', {}, 'MOS below', h('input', { name: 'mos_below', value: v('mos_below'), size: 4, inputmode: 'decimal' })),
    h('label', {}, 'Sort', sel('sort', [['start', 'start'], ['duration', 'duration'], ['pdd', 'PDD'], ['mos', 'MOS']], v('sort') || 'start')),
    h('label', {}, 'Order', sel('desc', [['', 'default'], ['true', 'descending'], ['false', 'ascending']], v('desc'))),
    h('label', {}, 'Per page', sel('limit', [['50', '50'], ['100', '100'], ['500', '500']], v('limit') || '50')),
    h('button', { type: 'submit', id: 'search-btn' }, 'Search'),
    quickRanges((from, to) => { form.elements.from.value = toInput(from); form.elements.to.value = toInput(to); form.requestSubmit(); }));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const fd = new FormData(form), q = new URLSearchParams();
    for (const k of FILTERS) {
      let val = fd.get(k);
      if (!val) continue;
      if (k === 'from' || k === 'to') val = fromInput(val);
      if (val) q.set(k, val);
    }
    location.hash = '#/calls?' + q.toString();
  });
  main.append(h('h2', {}, 'Calls'), form);

  const live = h('div', { id: 'live' });
  main.append(live);
  let liveCalls = [];
  const refreshLive = async () => {
    const q = new URLSearchParams();
    for (const k of ['number', 'ip', 'call_id']) if (v(k)) q.set(k, v(k));
    const r = await api('/active?' + q.toString()).catch(() => ({ calls: [] }));
    liveCalls = r.calls || [];
    const nu = h('div', { id: 'live' });
    const ended = liveCalls.filter(c => c.end).length; // ended, not stored yet
    if (liveCalls.length) nu.append(h('h3', {}, 'In progress (' + (liveCalls.length - ended) + ', live)' + (ended ? ' · ' + ended + ' ended, being stored' : '')), table(liveCalls, false, true));
    replaceKeepingFocus(main.querySelector('#live') || live, nu);
  };
  // Durations of calls in progress tick every second between polls.
  const tick = () => {
    for (const td of main.querySelectorAll('td.live-dur')) td.textContent = fmtDur(Math.max(0, Date.now() - +td.dataset.t0));
  };

  const q = new URLSearchParams(params);
  const cursors = (params.get('prev') || '').split(',').filter(Boolean);
  q.delete('prev');
  const sortKey = params.get('sort') || 'start';
  const desc = params.get('desc') ? params.get('desc') === 'true' : sortKey === 'start';
  const setSort = key => {
    const n = new URLSearchParams(params);
    n.delete('cursor'); n.delete('prev');
    if (sortKey === key) n.set('desc', desc ? 'false' : 'true');
    else { n.set('sort', key); n.delete('desc'); }
    location.hash = '#/calls?' + n.toString();
  };
  function table(calls, sortable, isLive) {
    const th = (label, key, num) => {
      const on = sortable && key;
      const cur = on && key === sortKey;
      const e = h('th', { class: (num ? 'num ' : '') + (on ? 'sortable' : ''), tabindex: on ? 0 : null, 'data-sort': on ? key : null,
        'aria-sort': cur ? (desc ? 'descending' : 'ascending') : null, title: on ? 'sort by ' + label : null },
      label, cur ? (desc ? ' ▼' : ' ▲') : '');
      return on ? onActivate(e, () => setSort(key)) : e;
    };
    return h('div', { class: 'table-wrap' }, h('table', { class: 'calls' + (isLive ? ' live' : '') },
      h('thead', {}, h('tr', {}, th('Start (' + tzName() + ')', 'start'), th('Call-ID'), th('From'), th('To'),
        th('State'), th('Code', null, true), th('PDD ms', 'pdd', true), th('Duration', 'duration', true), th('Ended by'),
        th('Drop'), th('MOS min', 'mos', true))), h('tbody', {}, calls.map(c => callRow(c, isLive)))));
  }
  refreshLive();
  every(2000, refreshLive);
  every(1000, tick);
  main.append(h('h3', {}, 'Finished calls'));
  const finished = h('div', { id: 'finished' }, h('p', { class: 'muted loading' }, 'Loading…'));
  main.append(finished);
  const nav = h('div', { class: 'pager' });
  main.append(nav);
  const render = page => {
    const nu = h('div', { id: 'finished' }, table(page.calls, true, false),
      page.calls.length ? null : h('p', { class: 'muted', id: 'no-calls' }, 'No calls match. Widen the time range or clear a filter.'));
    replaceKeepingFocus(main.querySelector('#finished') || finished, nu);
    nav.replaceChildren();
    if (cursors.length || params.get('cursor')) {
      nav.append(h('button', { class: 'secondary', id: 'prev', type: 'button', onclick: () => {
        const n = new URLSearchParams(params), c = cursors.slice();
        const back = c.pop();
        if (back && back !== '-') n.set('cursor', back); else n.delete('cursor');
        if (c.length) n.set('prev', c.join(',')); else n.delete('prev');
        location.hash = '#/calls?' + n.toString();
      } }, '‹ Previous'));
    }
    const csv = h('button', { id: 'csv', type: 'button', class: 'secondary', title: 'download this search as CSV (at most ' + CSV_MAX + ' rows)',
      onclick: () => exportCSV(q, csv) }, 'CSV');
    if (page.calls.length) nav.append(csv);
    // One pcap of the search's calls (the server caps it at 100 calls and says so).
    const pq = new URLSearchParams(q); pq.delete('cursor'); pq.delete('limit');
    if (page.calls.length && !me.masked) nav.append(h('a', { id: 'search-pcap', class: 'button secondary', href: '/api/v1/calls/pcap?' + pq.toString(), download: '', title: 'download the calls of this search as one pcap (at most 100 calls)' }, 'pcap'));
    if (page.next) {
      nav.append(h('button', { id: 'next', type: 'button', onclick: () => {
        const n = new URLSearchParams(params);
        n.set('prev', cursors.concat([params.get('cursor') || '-']).join(','));
        n.set('cursor', page.next);
        location.hash = '#/calls?' + n.toString();
      } }, 'Next ›'));
    }
  };
  render(await api('/calls?' + q.toString()));
  // The live wall: the first page follows new calls as they are stored.
  if (!params.get('cursor')) {
    every(5000, async () => {
      const page = await api('/calls?' + q.toString()).catch(() => null);
      if (page && main.isConnected) render(page);
    });
  }
}

// ---- call detail --------------------------------------------------------------------

function diagnosis(c) {
  const who = c.ended_by ? 'the ' + c.ended_by : 'nobody (no BYE seen)';
  const parts = [];
  switch (c.state) {
    case 'answered':
      parts.push('Answered' + (c.pdd_ms !== null ? ' after ' + fmtMs(c.pdd_ms) + ' ms post-dial delay' : '') + ', talked ' + fmtDur(c.duration_ms) + '.');
      break;
    case 'busy': parts.push('The callee was busy (' + c.final_code + ' ' + c.final_reason + ').'); break;
    case 'cancelled': parts.push('The caller gave up before the call was answered (CANCEL).'); break;
    case 'no_answer': parts.push('Nobody answered (' + (c.final_code || 'no final response') + ').'); break;
    case 'redirected': parts.push('The call was redirected (' + c.final_code + ' ' + c.final_reason + ').'); break;
    case 'failed': parts.push('The call failed with ' + c.final_code + ' ' + c.final_reason + '.'); break;
    default: parts.push('The call is still in progress.');
  }
  const ends = { bye: 'It ended with a BYE from ' + who + '.', cancel: 'It ended with a CANCEL.',
    error_response: 'It ended with an error response.', rtp_timeout: 'It ended because media stopped and no BYE came (RTP timeout).',
    sip_timeout: 'It ended because SIP stopped without a final answer (SIP timeout).', capture_end: 'The capture ended before the call did.' };
  if (c.state === 'answered' && ends[c.end_reason]) parts.push(ends[c.end_reason]);
  if (c.q850_cause !== null && c.q850_cause !== undefined) parts.push('Q.850 cause ' + q850Text(c.q850_cause) + '.');
  if (c.dropped) {
    const why = { abnormal_q850_cause: 'the Reason header carried an abnormal Q.850 cause',
      rtp_timeout: 'media stopped and the call was never hung up — typical of a lost network path or a crashed endpoint',
      media_stopped_before_bye: 'media stopped well before the BYE — the user likely hung up on silence',
      in_dialog_408: 'an in-dialog request timed out (408) — a peer became unreachable',
      in_dialog_481: 'a peer no longer knew the dialog (481) — it restarted or lost state' };
    parts.push('DROPPED: ' + (why[c.drop_reason] || c.drop_reason || 'abnormal end') + '.');
  }
  if (c.auth_challenges) parts.push('The INVITE was challenged for credentials ' + c.auth_challenges + ' time(s) (401/407) before this outcome; PDD counts from the last INVITE.');
  if (c.transferred_to) parts.push('The call was transferred to ' + c.transferred_to + ' (REFER accepted); media stopping before the BYE is expected.');
  if (c.one_way_audio) parts.push('One-way audio: media flowed in one direction only.');
  for (const st of (c.streams || [])) {
    const dir = st.src + ' → ' + st.dst;
    const probs = st.problems || [];
    const lossPct = st.expected ? 100 * st.lost / st.expected : 0;
    if (lossPct >= 1) parts.push(dir + ': ' + lossPct.toFixed(1) + '% packet loss.');
    if (probs.includes('network_stall')) parts.push(dir + ': ' + (st.network_stalls || 'a') + ' network stall(s), the longest ' + fmtMs(st.longest_stall_ms) + ' ms — packets held then delivered in a burst (Wi-Fi, congested uplink).');
    if (probs.includes('clock_drift')) parts.push(dir + ': the sender clock runs at ' + (st.measured_clock_rate ? st.measured_clock_rate.toFixed(0) + ' Hz' : 'an off rate') + ' against ' + st.clock_rate + ' Hz (clock drift).');
    if (st.mos !== null && st.mos !== undefined && st.mos < 3.6) parts.push(dir + ': MOS ' + fmtMOS(st.mos) + (st.jitter_max_ms > 40 ? ', driven by jitter up to ' + fmtMs(st.jitter_max_ms) + ' ms' : '') + '.');
  }
  if (c.streams && c.streams.some(x => x.media_address_mismatch)) parts.push('Media came from an address other than the SDP said (NAT?).');
  if (c.retransmissions) parts.push(c.retransmissions + ' SIP retransmission(s): a peer was slow or messages were lost.');
  return parts.join(' ');
}

async function callPage(main, id, params) {
  const linked = params.get('linked') === '1';
  main.append(h('p', { class: 'muted loading' }, 'Loading call…'));
  const [c, ladder] = await Promise.all([api('/calls/' + encodeURIComponent(id)),
    api('/calls/' + encodeURIComponent(id) + '/ladder' + (linked ? '?linked=1' : ''))]);
  main.replaceChildren();
  const pcapURL = '/api/v1/calls/' + encodeURIComponent(id) + '/pcap' + (linked ? '?linked=1' : '');
  const cell = (label, value, cls) => h('div', { class: cls }, h('span', {}, label), value);
  const up = !c.end; // in progress: served from the live correlator until stored
  main.append(h('h2', {}, 'Call ', h('code', {}, c.call_id)),
    up ? h('p', { id: 'in-progress', class: 'state-in_progress' }, 'In progress: the ladder and the pcap hold what was captured so far.') : '',
    h('div', { class: 'card' },
      h('p', { class: 'diagnosis', id: 'diagnosis' }, diagnosis(c)),
      h('div', { class: 'summary', id: 'summary' },
        cell('Outcome', c.state + (c.final_code ? ' (' + c.final_code + ' ' + c.final_reason + ')' : ''), 'state-' + c.state),
        cell('From', c.from), cell('To', c.to), cell('Caller', c.caller), cell('Callee', c.callee),
        cell('Start (' + tzName() + ')', fmtTime(c.start)), cell('Answer (' + tzName() + ')', fmtTime(c.answer)), cell('End (' + tzName() + ')', fmtTime(c.end)),
        cell('PDD', fmtMs(c.pdd_ms) + ' ms'), cell('Setup', fmtMs(c.setup_ms) + ' ms'), up ? h('div', {}, h('span', {}, 'Duration (so far)'), h('output', { class: 'live-dur', id: 'live-duration', 'data-t0': parseTime(c.answer) || parseTime(c.start) }, fmtDur(liveDuration(c)))) : cell('Duration', fmtDur(c.duration_ms)),
        cell('Hung up by', c.ended_by || '–'), cell('End reason', c.end_reason || '–'),
        cell('Q.850 cause', c.q850_cause === null || c.q850_cause === undefined ? '–' : q850Text(c.q850_cause)),
        cell('Dropped', c.dropped ? 'yes: ' + (c.drop_reason || '') : 'no', c.dropped ? 'bad' : ''),
        cell('One-way audio', c.one_way_audio ? 'yes' : 'no', c.one_way_audio ? 'bad' : ''),
        cell('Transport', c.transport), cell('SIP messages', c.sip_messages + ' (' + c.retransmissions + ' retransmitted)'),
        cell('DTMF', c.dtmf || '–'), cell('MOS min', fmtMOS(c.mos_min), mosClass(c.mos_min)), cell('User agents', (c.user_agents || []).join(', ') || '–'),
        cell('Linked legs', (c.linked_call_ids || []).join(', ') || '–')),
      h('p', {},
        me.masked ? h('span', { class: 'muted' }, 'pcap export is not available with masked numbers') :
          h('a', { class: 'button', id: 'pcap', href: pcapURL, download: '' }, 'Download pcap'), ' ',
        h('label', {}, h('input', { type: 'checkbox', id: 'linked', checked: linked, disabled: !(c.linked_call_ids || []).length,
          onchange: ev => { location.hash = '#/call/' + encodeURIComponent(id) + (ev.target.checked ? '?linked=1' : ''); } }),
        ' show linked legs'), ' ',
        h('span', { class: 'muted' }, 'RTP in pcap: ' + me.keep_rtp))));

  main.append(h('h3', {}, 'Ladder (' + ladder.messages.length + ' messages' + (ladder.calls.length > 1 ? ', ' + ladder.calls.length + ' legs' : '') + ')'));
  const raw = h('pre', { id: 'raw', tabindex: 0, 'aria-live': 'polite' }, 'Click an arrow (or Tab to it and press Enter) to see the message. Times ' + tzName() + '.');
  main.append(h('div', { class: 'ladder-wrap' }, h('div', { class: 'ladder-box' }, drawLadder(ladder, raw)), raw));

  if (up) {
    // A call in progress: its duration ticks, and the page reloads when it has new
    // messages or ends (then its ladder, media and pcap are the final ones).
    every(1000, () => { const e = main.querySelector('#live-duration'); if (e) e.textContent = fmtDur(Math.max(0, Date.now() - +e.dataset.t0)); });
    every(5000, async () => {
      const n = await api('/calls/' + encodeURIComponent(id)).catch(() => null);
      if (n && (n.end || n.sip_messages !== c.sip_messages) && main.isConnected) route();
    });
  }
  main.append(h('h3', {}, 'Media'));
  if (!c.streams.length) main.append(h('p', { class: 'muted' }, 'No RTP streams.'));
  for (const st of c.streams) main.append(streamCard(st));
  if (typeof listenSection === 'function') { const ls = listenSection(c); if (ls) main.append(ls); } // audio.js
  if (c.streams.length) main.append(h('h3', {}, 'Streams'), h('div', { class: 'table-wrap' }, streamsTable(c.streams)));
}

// msgClass names a ladder arrow's colour: requests, BYE/CANCEL, and responses by class
// (1xx, 2xx, 3xx, 401/407 challenges, 4xx-6xx).
function msgClass(m) {
  const code = /^(\d{3})\b/.exec(m.label || '');
  if (!code) return /^(BYE|CANCEL)\b/.test(m.label) ? 'm-end' : 'm-req';
  const c = +code[1];
  if (c === 401 || c === 407) return 'm-auth';
  return c < 200 ? 'm-1xx' : c < 300 ? 'm-2xx' : c < 400 ? 'm-3xx' : 'm-err';
}

// sdpDirection is the media direction an SDP offers (a=sendonly/recvonly/inactive, or a
// 0.0.0.0 connection address: hold), "" for sendrecv.
function sdpDirection(sdp) {
  if (!sdp) return '';
  const m = /^a=(sendonly|recvonly|inactive)\s*$/m.exec(sdp);
  if (m) return m[1];
  return /^c=IN IP4 0\.0\.0\.0\s*$/m.test(sdp) ? 'inactive' : '';
}

function drawLadder(lad, raw) {
  const colW = 190, rowH = 30, top = 40, left = 90;
  const width = left + Math.max(1, lad.hosts.length - 1) * colW + 120;
  const height = top + lad.messages.length * rowH + 20;
  const svg = s('svg', { width, height, id: 'ladder', viewBox: '0 0 ' + width + ' ' + height, role: 'list', 'aria-label': 'SIP ladder' });
  svg.append(s('defs', {}, s('marker', { id: 'ah', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'ah' }))));
  const x = i => left + i * colW;
  lad.hosts.forEach((host, i) => {
    svg.append(s('text', { x: x(i), y: 16, 'text-anchor': 'middle', class: 'host' }, host),
      s('line', { x1: x(i), y1: 24, x2: x(i), y2: height - 5, class: 'lifeline', 'stroke-dasharray': '4 3' }));
  });
  // With several legs the line colour tells the leg; the label colour tells the message.
  const legColor = ['', '#1f5fbf', '#8e44ad', '#16a085'];
  const multi = lad.calls.length > 1;
  const legOf = {};
  lad.calls.forEach((c, i) => { legOf[c.id] = i; });
  let lastSDP = {}, invites = 0;
  lad.messages.forEach((m, i) => {
    const y = top + i * rowH + 12, x1 = x(m.from_col), x2 = x(m.to_col);
    const leg = legOf[m.call] || 0;
    const stroke = multi && leg ? legColor[leg % legColor.length] : null;
    const mid = (x1 + x2) / 2;
    // Re-INVITEs with a hold direction, and SDP that changed since the last one of the
    // same sender, are marked.
    let note = '';
    if (m.label === 'INVITE' && !m.retransmission) {
      invites++;
      const dir = sdpDirection(m.sdp);
      if (invites > 1) note = dir === 'sendonly' || dir === 'inactive' ? ' hold' : m.sdp ? ' resume?' : ' re-INVITE';
    }
    const changed = m.sdp && lastSDP[m.src] !== undefined && lastSDP[m.src] !== m.sdp && !m.retransmission;
    if (m.sdp) lastSDP[m.src] = m.sdp;
    const cls = msgClass(m);
    const lbl = m.label + note + (m.retransmission ? ' (retransmission)' : '') + (m.sdp ? (changed ? ' +SDP Δ' : ' +SDP') : '');
    const g = s('g', { class: 'arrow ' + cls + (m.retransmission ? ' retrans' : '') + (note.includes('hold') ? ' hold' : '') + (changed ? ' sdp-changed' : ''),
      'data-i': i, tabindex: 0, role: 'listitem', 'aria-label': m.label + ' from ' + m.src + ' to ' + m.dst });
    g.append(s('text', { x: 4, y: y + 4, class: 'axis' }, '+' + m.delta_ms.toFixed(1) + ' ms'));
    if (x1 === x2) {
      g.append(s('path', { d: `M${x1},${y} h40 v10 h-40`, fill: 'none', class: 'shaft', stroke, 'stroke-width': 1.5, 'marker-end': 'url(#ah)' }));
    } else {
      g.append(s('line', { x1, y1: y, x2, y2: y, class: 'shaft', stroke, 'stroke-width': 1.5, 'marker-end': 'url(#ah)',
        'stroke-dasharray': m.retransmission ? '5 3' : null }));
    }
    g.append(s('rect', { x: Math.min(x1, x2), y: y - 14, width: Math.max(Math.abs(x2 - x1), 40), height: 20, fill: 'transparent' }));
    g.append(s('text', { x: mid, y: y - 4, 'text-anchor': 'middle', class: 'lbl' }, lbl));
    g.append(s('title', {}, fmtTime(m.ts) + ' ' + tzName() + ' ' + m.src + ' → ' + m.dst + ' ' + m.transport));
    const show = () => {
      for (const o of svg.querySelectorAll('.arrow.selected')) o.classList.remove('selected');
      g.classList.add('selected');
      const head = fmtTime(m.ts) + ' ' + tzName() + '  ' + m.src + ' → ' + m.dst + ' (' + m.transport + ')' + (m.retransmission ? '  RETRANSMISSION' : '') + '\n\n';
      const copy = h('button', { type: 'button', class: 'secondary small copy', id: 'copy-msg', title: 'copy this SIP message',
        onclick: () => navigator.clipboard && navigator.clipboard.writeText(m.raw).then(() => { copy.textContent = 'Copied'; }, () => { copy.textContent = 'Copy failed'; }) }, 'Copy');
      raw.replaceChildren(copy, document.createTextNode(head));
      if (m.sdp) {
        raw.append(document.createTextNode(m.raw.slice(0, m.raw.length - m.sdp.length)), h('span', { class: 'sdp' + (changed ? ' changed' : ''), id: 'sdp' }, m.sdp));
      } else raw.append(document.createTextNode(m.raw));
    };
    g.addEventListener('click', show);
    g.addEventListener('keydown', ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); show(); } });
    svg.append(g);
  });
  return svg;
}

// lineChart draws series [{name, color, points: [[t, v]]}] over a shared time axis.
function lineChart(title, series, opts) {
  const W = 420, H = 130, L = 40, R = 10, T = 18, B = 20;
  const all = series.flatMap(x => x.points);
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart small', role: 'img', 'aria-label': title });
  svg.append(s('text', { x: L, y: 12 }, title));
  if (!all.length) { svg.append(s('text', { x: L, y: H / 2, class: 'axis' }, 'no data')); return svg; }
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0])) || t0 + 1;
  const vmin = opts.min !== undefined ? opts.min : Math.min(0, ...all.map(p => p[1]));
  const vmax = Math.max(opts.max !== undefined ? opts.max : 0, ...all.map(p => p[1])) || 1;
  const px = t => L + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - L - R);
  const py = v => H - B - (v - vmin) / (vmax - vmin || 1) * (H - T - B);
  svg.append(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis-line' }),
    s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis-line' }),
    s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end', class: 'axis' }, +vmax.toFixed(2)),
    s('text', { x: L - 4, y: H - B, 'text-anchor': 'end', class: 'axis' }, +vmin.toFixed(2)),
    s('text', { x: L, y: H - 4, class: 'axis' }, fmtClock(t0, true)),
    s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, fmtClock(t1, true) + ' ' + tzName() + ' (' + ((t1 - t0) / 1000).toFixed(0) + ' s)'));
  for (const sr of series) {
    if (!sr.points.length) continue;
    svg.append(s('polyline', { points: sr.points.map(p => px(p[0]) + ',' + py(p[1])).join(' '), fill: 'none', stroke: sr.color, 'stroke-width': 1.5 }));
    for (const p of sr.points) svg.append(s('circle', { cx: px(p[0]), cy: py(p[1]), r: 2, fill: sr.color }));
  }
  for (const m of opts.marks || []) {
    if (m[0] < t0 || m[0] > t1) continue;
    svg.append(s('line', { x1: px(m[0]), y1: T, x2: px(m[0]), y2: H - B, stroke: '#8e44ad', 'stroke-dasharray': '2 2' }),
      s('text', { x: px(m[0]) + 2, y: T + 10, fill: '#8e44ad' }, m[1]));
  }
  return svg;
}

function streamCard(st) {
  const iv = st.intervals || [];
  const t = x => Date.parse(x.start);
  // DTMF marks at the time each RFC 4733 key press started.
  const marks = (st.dtmf_events || []).map(e => [Date.parse(e.start), e.digit]);
  const lossPct = iv.map(x => [t(x), x.packets + x.lost ? 100 * x.lost / (x.packets + x.lost) : 0]);
  const rt = st.rtcp;
  const rtcpText = rt ? 'RTCP: RTT ' + (rt.rtt_ms === null ? '–' : rt.rtt_ms.toFixed(1) + ' ms') +
    ', reported loss ' + fmtPct(rt.reported_fraction_lost) + ' (' + (rt.reported_cumulative_lost ?? '–') + ' packets)' +
    ', reported jitter ' + (rt.reported_jitter_ms === null ? '–' : rt.reported_jitter_ms.toFixed(2) + ' ms') : 'RTCP: none';
  return h('div', { class: 'card stream' },
    h('b', {}, st.ssrc + '  ' + st.src + ' → ' + st.dst + '  ' + st.codec),
    h('span', { class: 'muted' }, '  ' + st.packets + ' packets, ' + st.lost + ' lost, MOS ' + fmtMOS(st.mos) + (st.dtmf ? ', DTMF ' + st.dtmf : '')),
    h('div', {}, lineChart('loss % per interval', [{ color: '#c0392b', points: lossPct }], { min: 0, max: 1, marks }),
      lineChart('jitter ms', [{ color: '#c77c00', points: iv.map(x => [t(x), x.jitter_ms]) }], { min: 0, marks }),
      lineChart('MOS', [{ color: '#218a3c', points: iv.filter(x => x.mos !== null).map(x => [t(x), x.mos]) }], { min: 1, max: 4.5, marks })),
    h('div', { class: 'muted' }, rtcpText),
    (st.problems || []).length ? h('div', { class: 'problems' }, 'Problems: ' + st.problems.map(p => problemText[p] || p).join('; ')) : null);
}

const problemText = {
  silent: 'silent (no audio or DTMF packets)',
  ssrc_change: 'the source changed SSRC mid-call',
  sequence_restart: 'RTP sequence restarted',
  timestamp_jump: 'RTP timestamps jumped (more than 1 s off the arrival time)',
};

function streamsTable(streams) {
  const cols = ['SSRC', 'Source', 'Destination', 'Codec', 'Packets', 'Expected', 'Lost', 'Dup', 'Out of order', 'Jitter mean/max ms', 'Max delta ms', 'MOS', 'MOS min', 'R', 'DTMF', 'Addr mismatch'];
  return h('table', { id: 'streams' }, h('thead', {}, h('tr', {}, cols.map(c => h('th', {}, c)))),
    h('tbody', {}, streams.map(x => h('tr', {}, h('td', {}, x.ssrc), h('td', {}, x.src), h('td', {}, x.dst), h('td', {}, x.codec),
      h('td', { class: 'num' }, x.packets), h('td', { class: 'num' }, x.expected), h('td', { class: 'num' + (x.lost ? ' bad' : '') }, x.lost),
      h('td', { class: 'num' }, x.duplicates), h('td', { class: 'num' }, x.out_of_order),
      h('td', { class: 'num' }, x.jitter_mean_ms.toFixed(2) + ' / ' + x.jitter_max_ms.toFixed(2)), h('td', { class: 'num' }, x.max_delta_ms.toFixed(1)),
      h('td', { class: 'num' }, fmtMOS(x.mos)), h('td', { class: 'num' }, fmtMOS(x.mos_min)),
      h('td', { class: 'num' }, x.r_factor === null ? '–' : x.r_factor.toFixed(1)), h('td', {}, x.dtmf || ''),
      h('td', { class: x.media_address_mismatch ? 'bad' : '' }, x.media_address_mismatch ? 'yes' : 'no')))));
}

// ---- overview -----------------------------------------------------------------------

const STEPS = { '1m': 60e3, '5m': 300e3, '15m': 900e3, '1h': 3600e3 };

async function overviewPage(main, params) {
  const step = STEPS[params.get('step')] ? params.get('step') : '1m';
  const fixed = !!params.get('to');
  const form = h('form', { class: 'filters', id: 'range' },
    timeInput('From', 'from', params.get('from')), timeInput('To', 'to', params.get('to')),
    h('label', {}, 'Step', h('select', { name: 'step' }, Object.keys(STEPS).map(o => h('option', { selected: o === step }, o)))),
    h('button', { type: 'submit' }, 'Show'),
    quickRanges((from, to) => { location.hash = '#/overview?' + new URLSearchParams({ from, to, step: form.elements.step.value }); }));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const fd = new FormData(form), q = new URLSearchParams({ step: fd.get('step') });
    if (fromInput(fd.get('from'))) q.set('from', fromInput(fd.get('from')));
    if (fromInput(fd.get('to'))) q.set('to', fromInput(fd.get('to')));
    location.hash = '#/overview?' + q;
  });
  main.append(h('h2', {}, 'Overview'), form);
  const body = h('div', { id: 'ov-body' }, h('p', { class: 'muted loading' }, 'Loading…'));
  main.append(body);

  const load = async () => {
    let to = params.get('to'), from = params.get('from');
    if (!to) {
      // Default: the hour up to the newest stored call (captures replayed from the past too).
      const newest = await api('/calls?limit=1');
      // A capture from the past shows the hour up to its newest call, a live feed the last hour.
      const newestMs = newest.calls.length ? parseTime(newest.calls[0].start) : NaN;
      const end = !isNaN(newestMs) && newestMs < Date.now() - 3600000 ? newestMs + 60000 : Date.now();
      to = new Date(Math.ceil(end / STEPS[step]) * STEPS[step]).toISOString();
      if (!from) from = new Date(Date.parse(to) - 3600000).toISOString();
    }
    if (!from) from = new Date(parseTime(to) - 3600000).toISOString();
    const rng = 'from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to);
    const [st, dest, peers, destMOS] = await Promise.all([api('/stats?' + rng + '&step=' + step),
      api('/top?' + rng + '&by=destination&metric=asr&n=10'), api('/top?' + rng + '&by=peer&metric=asr&n=10'),
      api('/top?' + rng + '&by=destination&metric=mos&n=10')]);
    const out = h('div', { id: 'ov-body' });
    const kpi = (label, val) => h('div', { class: 'kpi' }, h('span', { class: 'muted' }, label), h('b', {}, val));
    out.append(h('p', { class: 'muted', id: 'ov-range' }, fmtTime(st.from) + ' – ' + fmtTime(st.to) + ' ' + tzName() + (fixed ? '' : ' (live, refreshed every 5 s)')));
    out.append(h('div', { class: 'kpis', id: 'kpis' }, kpi('Calls', st.total.calls), kpi('ASR', fmtPct(st.asr)), kpi('NER', fmtPct(st.ner)),
      kpi('SCR', fmtPct(st.scr)), kpi('ACD', st.acd_s.toFixed(1) + ' s'), kpi('Dropped', st.total.dropped),
      kpi('MOS median', fmtMOS(st.mos_p50)), kpi('MOS 95 % above', fmtMOS(st.mos_p95))));
    out.append(h('h3', {}, 'Calls per ' + fmtStep(st.step_s) + ' by outcome (' + tzName() + ')'), stackedBars(st), legend());
    const codes = Object.entries(st.total.codes || {}).sort((a, b) => b[1] - a[1]).slice(0, 10);
    const topTable = (rows, keyName, id) => h('table', { id }, h('thead', {}, h('tr', {}, h('th', {}, keyName), h('th', { class: 'num' }, 'Calls'),
      h('th', { class: 'num' }, 'ASR'), h('th', { class: 'num' }, 'MOS'))),
    h('tbody', {}, rows.map(r => h('tr', {}, cut(r.key), h('td', { class: 'num' }, r.calls), h('td', { class: 'num' }, fmtPct(r.asr)), h('td', { class: 'num' }, fmtMOS(r.mos))))));
    out.append(h('div', { class: 'grid2' },
      h('div', {}, h('h3', {}, 'MOS distribution'), histogram(st.mos_histogram || [])),
      h('div', {}, h('h3', {}, 'Top response codes'), h('table', { id: 'codes' }, h('thead', {}, h('tr', {}, h('th', {}, 'Code'), h('th', { class: 'num' }, 'Calls'))),
        h('tbody', {}, codes.map(([k, n]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, n)))))),
      h('div', {}, h('h3', {}, 'Worst destinations (ASR)'), topTable(dest.rows, 'Destination', 'top-dest')),
      h('div', {}, h('h3', {}, 'Worst peers (ASR)'), topTable(peers.rows, 'Peer', 'top-peer')),
      h('div', {}, h('h3', {}, 'Worst destinations (MOS)'), topTable(destMOS.rows, 'Destination', 'top-dest-mos'))));
    (main.querySelector('#ov-body') || body).replaceWith(out);
    // The pickers show the range in view (unless the user is typing in them).
    for (const [k, v] of [['from', st.from], ['to', st.to]]) {
      const el = form.elements[k];
      if (el && document.activeElement !== el && !params.get(k)) el.value = toInput(v);
    }
  };
  await load();
  if (!fixed) every(5000, () => load().catch(() => {}));
}

function fmtStep(sec) {
  return sec % 3600 === 0 ? (sec / 3600) + ' h' : sec % 60 === 0 ? (sec / 60) + ' min' : sec + ' s';
}

function legend() {
  return h('div', { class: 'legend' }, OUTCOMES.map(o => {
    const sw = h('span', { class: 'sw' });
    sw.style.background = COLORS[o];
    return h('span', {}, sw, o);
  }));
}

// TICKS are the candidate spacings of time-axis labels, in ms.
const TICKS = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 7 * 86400e3];

// timeTicks returns about n label times between t0 and t1 (ms), on round times of the
// display zone.
function timeTicks(t0, t1, n) {
  const iv = TICKS.find(x => (t1 - t0) / x <= n) || TICKS[TICKS.length - 1];
  const out = [];
  const off = zoneOffset(t0);
  for (let t = Math.ceil((t0 + off) / iv) * iv - off; t <= t1 && out.length < 50; t += iv) out.push(t);
  return { iv, ticks: out };
}

// stackedBars draws the stats buckets on a real time axis from st.from to st.to: each
// bucket at its start, as wide as the step; a time with no calls is an empty gap.
function stackedBars(st) {
  const W = 900, H = 200, L = 36, R = 8, B = 34, T = 8;
  const buckets = st.buckets || [];
  const t0 = parseTime(st.from), t1 = parseTime(st.to), stepMs = st.step_s * 1000;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart wide', id: 'cpm', role: 'img', 'aria-label': 'calls per interval by outcome',
    'data-from': t0, 'data-to': t1 });
  const max = Math.max(1, ...buckets.map(b => b.outcomes.calls));
  const span = Math.max(1, t1 - t0);
  const px = t => L + (t - t0) / span * (W - L - R);
  const bw = Math.max(1, stepMs / span * (W - L - R));
  svg.append(s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end', class: 'axis' }, max), s('text', { x: L - 4, y: H - B, 'text-anchor': 'end', class: 'axis' }, 0),
    s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis-line' }));
  const { iv, ticks } = timeTicks(t0, t1, 8);
  // Labels at the edges stay inside the chart.
  const anchor = x => x < L + 20 ? 'start' : x > W - R - 20 ? 'end' : 'middle';
  let lastDay = '';
  for (const t of ticks) {
    const day = fmtDate(t);
    svg.append(s('line', { x1: px(t), y1: H - B, x2: px(t), y2: H - B + 4, class: 'axis-line' }),
      s('line', { x1: px(t), y1: T, x2: px(t), y2: H - B, class: 'grid-line' }),
      s('text', { x: px(t), y: H - B + 15, 'text-anchor': anchor(px(t)), class: 'axis tick' }, iv >= 86400e3 ? day.slice(5) : fmtClock(t)));
    if (day !== lastDay && iv < 86400e3) svg.append(s('text', { x: px(t), y: H - B + 28, 'text-anchor': anchor(px(t)), class: 'axis' }, day));
    lastDay = day;
  }
  if (!buckets.length) svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'no calls in this range'));
  for (const b of buckets) {
    const bs = parseTime(b.start);
    if (isNaN(bs)) continue;
    const x = px(bs);
    let y = H - B;
    const g = s('g', { class: 'bucket', 'data-start': bs });
    const lines = [];
    for (const o of OUTCOMES) {
      const n = b.outcomes[o] || 0;
      if (!n) continue;
      lines.push(n + ' ' + o);
      const hh = n / max * (H - B - T);
      y -= hh;
      g.append(s('rect', { x: x + (bw > 3 ? 0.5 : 0), y, width: Math.max(1, bw - (bw > 3 ? 1 : 0)), height: hh, fill: COLORS[o] }));
    }
    // One tooltip per bucket: its time and every outcome in it.
    g.append(s('rect', { x, y: T, width: bw, height: H - B - T, fill: 'transparent' }),
      s('title', {}, fmtTime(bs) + ' + ' + fmtStep(st.step_s) + ' (' + tzName() + '): ' + b.outcomes.calls + ' calls' + (lines.length ? '\n' + lines.join('\n') : '')));
    svg.append(g);
  }
  return svg;
}

function histogram(bins) {
  const W = 420, H = 150, L = 30, B = 20;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart small', id: 'mos-hist', role: 'img', 'aria-label': 'MOS distribution' });
  const max = Math.max(1, ...bins);
  const bw = (W - L) / Math.max(1, bins.length);
  bins.forEach((n, i) => {
    const hh = n / max * (H - B - 10), lo = 1 + i * 0.5;
    svg.append(s('rect', { x: L + i * bw + 2, y: H - B - hh, width: bw - 4, height: hh, fill: lo < 3 ? '#c0392b' : lo < 3.5 ? '#c77c00' : '#218a3c' },
      s('title', {}, lo.toFixed(1) + '–' + (lo + 0.5).toFixed(1) + ': ' + n + ' calls')),
    s('text', { x: L + i * bw + bw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, lo.toFixed(1)));
  });
  svg.append(s('text', { x: L - 4, y: 18, 'text-anchor': 'end', class: 'axis' }, max));
  return svg;
}

// ---- registrations ------------------------------------------------------------------

// plus1ns is an RFC 3339 time one nanosecond later (the API's to is exclusive).
function plus1ns(iso) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(iso || '');
  if (!m) return iso;
  let base = Date.parse(m[1] + 'Z'), ns = Number((m[2] || '').padEnd(9, '0')) + 1;
  if (ns >= 1e9) { base += 1000; ns -= 1e9; }
  return new Date(base).toISOString().slice(0, 19) + '.' + String(ns).padStart(9, '0') + 'Z';
}

const REG_PAGE = 100;

// regPage lists registrations newest first, REG_PAGE a page. The API pages by time: the
// next page ends (exclusively) 1 ns after the last row shown, skipping the rows of that
// same instant already shown (skip), so equal timestamps are neither lost nor repeated.
async function regPage(main, params) {
  const form = h('form', { class: 'filters', id: 'regsearch' },
    h('label', {}, 'AOR', h('input', { name: 'aor', value: params.get('aor') || '' })),
    timeInput('From', 'from', params.get('from')), timeInput('To', 'to', params.get('to')),
    h('button', { type: 'submit' }, 'Search'),
    quickRanges((from, to) => { form.elements.from.value = toInput(from); form.elements.to.value = toInput(to); form.requestSubmit(); }));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const fd = new FormData(form), q = new URLSearchParams();
    if (fd.get('aor')) q.set('aor', fd.get('aor'));
    if (fromInput(fd.get('from'))) q.set('from', fromInput(fd.get('from')));
    if (fromInput(fd.get('to'))) q.set('to', fromInput(fd.get('to')));
    location.hash = '#/registrations?' + q.toString();
  });
  main.append(h('h2', {}, 'Registrations'), form);
  const skip = Math.min(1000 - REG_PAGE - 1, Math.max(0, +params.get('skip') || 0));
  const pageNo = Math.max(1, +params.get('page') || 1);
  const q = new URLSearchParams();
  for (const k of ['aor', 'from', 'to']) if (params.get(k)) q.set(k, params.get(k));
  q.set('limit', String(REG_PAGE + skip + 1));
  const r = await api('/registrations?' + q.toString());
  const all = r.registrations.slice(skip);
  const more = all.length > REG_PAGE;
  const rows = all.slice(0, REG_PAGE);
  const first = (pageNo - 1) * REG_PAGE;
  main.append(h('p', { class: 'muted', id: 'reg-count' }, rows.length ? 'Rows ' + (first + 1) + '–' + (first + rows.length) + (more ? ' (more older)' : '') : ''));
  main.append(h('div', { class: 'table-wrap' }, h('table', { id: 'regs' }, h('thead', {}, h('tr', {}, ['Time (' + tzName() + ')', 'AOR', 'Contact', 'Source', 'Expires s', 'Outcome', 'Code', 'Ladder', 'Call-ID'].map(c => h('th', {}, c)))),
    h('tbody', {}, rows.map(x => h('tr', {}, h('td', {}, fmtTime(x.time)), cut(x.aor), cut(x.contact), h('td', {}, x.source),
      h('td', { class: 'num' }, x.expires ?? '–'), h('td', { class: x.outcome === 'registered' || x.outcome === 'unregistered' ? 'state-answered' : 'bad' }, x.outcome),
      h('td', { class: 'num' }, x.final_code || '–'),
      h('td', {}, x.ladder ? h('a', { class: 'reg-ladder', href: '#/registration/' + encodeURIComponent(x.id) }, 'ladder') : '–'),
      cut(x.call_id, 'callid')))))));
  if (!rows.length) main.append(h('p', { class: 'muted' }, 'No registrations. Widen the time range or clear the AOR filter.'));
  const nav = h('div', { class: 'pager' });
  if (pageNo > 1) nav.append(h('button', { type: 'button', class: 'secondary', id: 'reg-newest', onclick: () => {
    const n = new URLSearchParams(params); n.delete('to'); n.delete('skip'); n.delete('page');
    if (params.get('orig_to')) n.set('to', params.get('orig_to'));
    n.delete('orig_to');
    location.hash = '#/registrations?' + n;
  } }, '« Newest'));
  if (more) {
    const last = rows[rows.length - 1].time;
    const same = rows.concat(r.registrations.slice(0, skip)).filter(x => x.time === last).length;
    nav.append(h('button', { type: 'button', id: 'reg-older', onclick: () => {
      const n = new URLSearchParams(params);
      if (pageNo === 1 && params.get('to')) n.set('orig_to', params.get('to'));
      n.set('to', plus1ns(last)); n.set('skip', String(same)); n.set('page', String(pageNo + 1));
      location.hash = '#/registrations?' + n;
    } }, 'Older ›'));
  }
  main.append(nav);
}

// regLadderPage shows the ladder of a recent REGISTER flow (REGISTER, 401, REGISTER, 200)
// like a call's; only recent flows keep their messages.
async function regLadderPage(main, id) {
  const lad = await api('/registrations/' + encodeURIComponent(id) + '/ladder');
  const c = lad.calls[0] || {};
  main.append(h('h2', {}, 'Registration ', h('code', {}, c.from || id)),
    h('p', { class: 'muted', id: 'reg-summary' }, (c.state || '') + ' · Call-ID ' + (c.call_id || '')),
    h('h3', {}, 'Ladder (' + lad.messages.length + ' messages)'));
  const raw = h('pre', { id: 'raw', tabindex: 0, 'aria-live': 'polite' }, 'Click an arrow (or Tab to it and press Enter) to see the message. Times ' + tzName() + '.');
  main.append(h('div', { class: 'ladder-wrap' }, h('div', { class: 'ladder-box' }, drawLadder(lad, raw)), raw));
}

// Theme: auto (prefers-color-scheme), dark or light, remembered per browser.
const THEME_KEY = 'callscope.theme';
function applyTheme(t) {
  if (t === 'dark' || t === 'light') document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
  const b = document.getElementById('theme');
  if (b) b.textContent = 'Theme: ' + (t === 'dark' || t === 'light' ? t : 'auto');
}
function storedTheme() { try { return localStorage.getItem(THEME_KEY) || 'auto'; } catch (e) { return 'auto'; } }

async function start() {
  applyTheme(storedTheme());
  const thb = document.getElementById('theme');
  if (thb) thb.addEventListener('click', () => {
    const next = { auto: 'dark', dark: 'light', light: 'auto' }[storedTheme()] || 'auto';
    try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* not remembered */ }
    applyTheme(next);
  });
  showTZ();
  const tzb = document.getElementById('tz');
  if (tzb) tzb.addEventListener('click', () => setTZ(tzMode === 'utc' ? 'local' : 'utc'));
  me = await api('/me', { signal: null }).catch(() => me);
  if (me.login_required) {
    document.getElementById('who').textContent = me.name + ' (' + me.role + ')';
    document.getElementById('logout').hidden = false;
  }
  window.addEventListener('hashchange', route);
  route();
  if (typeof alertBanner === 'function') alertBanner(); // alerts.js, loaded before api() existed
}
start();
