// callscope dashboard: the Alerts page (#/alerts) and the banner shown on every page
// while a built-in alert fires. Uses h(), api() and fmtTime() of app.js.
'use strict';

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
const ALERT_UNITS = { asr: ' %', ner: ' %', '5xx_ratio': ' %', loss_pct: ' %', dropped_ratio: ' %', one_way_ratio: ' %', pdd_p95: ' s', mos_p50: '' };

// alertCallsLink opens the call search prefilled with the calls of an alert's window
// that made its metric bad.
function alertCallsLink(a) {
  const q = new URLSearchParams({ from: a.window_start, to: a.at });
  if (a.peer && a.peer !== 'all') q.set('peer', a.peer); // a rule over all traffic has no peer filter
  switch (a.metric) {
    case 'asr': case 'ner': q.set('state', 'failed'); break;
    case '5xx_ratio': q.set('state', 'failed'); break;
    case 'mos_p50': case 'loss_pct': q.set('mos_below', String(a.metric === 'mos_p50' ? a.threshold : 3.6)); q.set('sort', 'mos'); q.set('desc', 'false'); break;
    case 'pdd_p95': q.set('sort', 'pdd'); q.set('desc', 'true'); break;
    case 'dropped_ratio': q.set('dropped', 'true'); break;
  }
  return '#/calls?' + q.toString();
}

function alertValue(a) {
  const u = ALERT_UNITS[a.metric] || '';
  const v = Math.round(a.value * 100) / 100;
  return v + u + ' ' + (a.op === 'below' ? '<' : '>') + ' ' + a.threshold + u;
}

function alertRow(a, withLink) {
  return h('tr', { class: 'alert-' + a.state + ' sev-' + a.severity, 'data-rule': a.rule, 'data-peer': a.peer },
    h('td', {}, h('span', { class: 'sev sev-' + a.severity }, a.severity)),
    h('td', {}, a.state), h('td', {}, a.rule), h('td', {}, a.peer),
    h('td', { class: 'num' }, alertValue(a)), h('td', { class: 'num' }, a.calls),
    h('td', {}, fmtTime(withLink ? a.since : a.at)), h('td', {}, a.summary),
    h('td', {}, h('a', { href: alertCallsLink(a), class: 'alert-calls' }, 'calls')));
}

async function alertsPage(main) {
  const render = async () => {
    const r = await api('/alerts?limit=200');
    const nu = h('div', { id: 'alerts-body' }, alertsBody(r));
    const old = main.querySelector('#alerts-body');
    if (old) old.replaceWith(nu); else main.append(nu);
  };
  await render();
  every(5000, () => render().catch(() => {})); // the live wall: app.js pauses it while hidden
}

function alertsBody(r) {
  const active = r.active.slice().sort((x, y) => (x.state === 'firing' ? 0 : 1) - (y.state === 'firing' ? 0 : 1) ||
    (SEVERITY_ORDER[x.severity] ?? 3) - (SEVERITY_ORDER[y.severity] ?? 3));
  const head = (since) => h('thead', {}, h('tr', {}, ['Severity', 'State', 'Rule', 'Peer', 'Value', 'Calls', since, 'Summary', ''].map(t => h('th', {}, t))));
  return [h('h2', {}, 'Alerts'),
    active.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'alerts', id: 'alerts-active' }, head('Since (' + tzName() + ')'), h('tbody', {}, active.map(a => alertRow(a, true)))))
      : h('p', { id: 'alerts-none' }, 'Nothing is firing.'),
    h('h3', {}, 'History'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'alerts', id: 'alerts-history' }, head('At (' + tzName() + ')'), h('tbody', {}, r.history.map(a => alertRow(a, false)))))];
}

// The banner: polled every 5 s (not while the tab is hidden), shown above the page while
// anything fires.
async function alertBanner() {
  let r;
  if (document.hidden) return;
  try { r = await api('/alerts?state=firing&limit=1', { signal: null }); } catch (e) { return; }
  let b = document.getElementById('alert-banner');
  const firing = r.active.filter(a => a.state === 'firing');
  if (!firing.length) { if (b) b.remove(); return; }
  const worst = firing.slice().sort((x, y) => (SEVERITY_ORDER[x.severity] ?? 3) - (SEVERITY_ORDER[y.severity] ?? 3))[0];
  const text = firing.length + ' alert' + (firing.length > 1 ? 's' : '') + ' firing: ' + firing.slice(0, 3).map(a => a.rule + ' (' + a.peer + ')').join(', ');
  const nb = h('div', { id: 'alert-banner', class: 'banner sev-' + worst.severity }, h('a', { href: '#/alerts' }, text));
  if (b) b.replaceWith(nb); else document.querySelector('header').after(nb);
}
alertBanner();
setInterval(alertBanner, 5000);
