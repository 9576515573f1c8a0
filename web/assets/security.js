// callscope dashboard: the Security page (#/security). Reads GET /api/v1/security
// ({"events": [EVENT]}) and GET /api/v1/security/top?n=10 ({"sources": [...]}); a server
// without security detection answers 404 and the page says so. Uses h(), s(), api(),
// cut(), fmtTime(), parseTime(), timeTicks(), fmtClock(), tzName() and every() of app.js.
'use strict';

const SEC_SEVERITY = { critical: 0, high: 1, warning: 2, medium: 2, low: 3, info: 4 };
const SEC_COLORS = { critical: '#c0392b', high: '#d35400', warning: '#c77c00', medium: '#c77c00', low: '#1f5fbf', info: '#1f5fbf' };

function secLink(callID) {
  return h('a', { href: '#/calls?' + new URLSearchParams({ call_id: callID }), class: 'sec-call', title: 'search calls with this Call-ID' }, callID);
}

// secTimeline draws each event as a bar from its first to its last time, one lane per
// type, coloured by severity, on a real time axis in the display zone.
function secTimeline(events) {
  const types = [...new Set(events.map(e => e.type))].sort();
  const W = 900, L = 130, R = 10, T = 8, lane = 22, B = 30, H = T + Math.max(1, types.length) * lane + B;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart wide', id: 'sec-timeline', role: 'img', 'aria-label': 'security events over time' });
  const times = events.flatMap(e => [parseTime(e.first), parseTime(e.last)]).filter(x => !isNaN(x));
  if (!times.length) { svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'no events')); return svg; }
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  const px = t => L + (t - t0) / (t1 - t0) * (W - L - R);
  types.forEach((ty, i) => svg.append(s('text', { x: L - 6, y: T + i * lane + 15, 'text-anchor': 'end', class: 'axis' }, ty),
    s('line', { x1: L, y1: T + (i + 1) * lane, x2: W - R, y2: T + (i + 1) * lane, class: 'grid-line' })));
  const base = T + types.length * lane;
  svg.append(s('line', { x1: L, y1: base, x2: W - R, y2: base, class: 'axis-line' }));
  for (const t of timeTicks(t0, t1, 8).ticks) {
    svg.append(s('line', { x1: px(t), y1: base, x2: px(t), y2: base + 4, class: 'axis-line' }),
      s('text', { x: px(t), y: base + 16, 'text-anchor': px(t) > W - R - 20 ? 'end' : 'middle', class: 'axis tick' }, fmtClock(t)));
  }
  for (const e of events) {
    const a = parseTime(e.first), b = parseTime(e.last);
    if (isNaN(a)) continue;
    const y = T + types.indexOf(e.type) * lane + 4;
    const x = px(a), w = Math.max(3, px(isNaN(b) ? a : b) - x);
    svg.append(s('rect', { x, y, width: w, height: lane - 8, rx: 2, fill: SEC_COLORS[e.severity] || '#8a94a3', class: 'sec-ev', 'data-id': e.id },
      s('title', {}, e.type + ' (' + e.severity + ') from ' + e.source + (e.target ? ' → ' + e.target : '') + ': ' + e.count + ' times, ' +
        fmtTime(e.first) + ' – ' + fmtTime(e.last) + ' ' + tzName())));
  }
  return svg;
}

async function securityPage(main, params) {
  main.append(h('h2', {}, 'Security'));
  const body = h('div', { id: 'sec-body' }, h('p', { class: 'muted loading' }, 'Loading…'));
  main.append(body);
  const source = params.get('source') || '';
  const load = async () => {
    let ev, top;
    try {
      [ev, top] = await Promise.all([api('/security'), api('/security/top?n=10')]);
    } catch (e) {
      if (e.status === 404) {
        (main.querySelector('#sec-body') || body).replaceWith(h('div', { id: 'sec-body' },
          h('p', { class: 'muted', id: 'sec-unavailable' }, 'Security detection is not available on this server (the API has no /api/v1/security). ' +
            'Upgrade callscope or enable it to see scanners, brute-force registrations and toll-fraud attempts here.')));
        return false;
      }
      throw e;
    }
    const events = (ev.events || []).filter(e => !source || e.source === source)
      .sort((a, b) => parseTime(b.last) - parseTime(a.last) || (SEC_SEVERITY[a.severity] ?? 9) - (SEC_SEVERITY[b.severity] ?? 9));
    const out = h('div', { id: 'sec-body' });
    const srcLink = src => h('a', { href: '#/security?' + new URLSearchParams({ source: src }), class: 'sec-src' }, src);
    out.append(h('h3', {}, 'Top offending sources'));
    const sources = top.sources || [];
    out.append(sources.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'sec-top' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Source'), h('th', { class: 'num' }, 'Events'), h('th', { class: 'num' }, 'Count'), h('th', {}, 'Types'))),
      h('tbody', {}, sources.map(x => h('tr', {}, h('td', {}, srcLink(x.source)), h('td', { class: 'num' }, x.events), h('td', { class: 'num' }, x.count),
        cut((x.types || []).join(', '))))))) : h('p', { class: 'muted', id: 'sec-top-none' }, 'No offending sources.'));
    out.append(h('h3', {}, 'Timeline (' + tzName() + ')' + (source ? ' for ' + source + ' ' : ''),
      source ? h('a', { href: '#/security', id: 'sec-all' }, 'show all sources') : null));
    out.append(secTimeline(events));
    out.append(h('h3', {}, 'Events (' + events.length + ')'));
    if (!events.length) out.append(h('p', { class: 'muted', id: 'sec-none' }, 'No security events: nothing scanned, guessed or dialled out of bounds.'));
    else {
      out.append(h('div', { class: 'table-wrap' }, h('table', { id: 'sec-events' },
        h('thead', {}, h('tr', {}, ['Last (' + tzName() + ')', 'First', 'Severity', 'Type', 'Rule', 'Source', 'Target', 'Count', 'Distinct', 'User agent', 'Sample calls']
          .map(t => h('th', { class: t === 'Count' || t === 'Distinct' ? 'num' : '' }, t)))),
        h('tbody', {}, events.map(e => h('tr', { class: 'sev-' + e.severity, 'data-id': e.id },
          h('td', {}, fmtTime(e.last)), h('td', {}, fmtTime(e.first)),
          h('td', {}, h('span', { class: 'sev sev-' + e.severity }, e.severity)), h('td', {}, e.type), cut(e.rule),
          h('td', {}, srcLink(e.source)), cut(e.target), h('td', { class: 'num' }, e.count), h('td', { class: 'num' }, e.distinct ?? '–'),
          cut(e.user_agent), h('td', { class: 'sec-calls' }, (e.sample_call_ids || []).slice(0, 5).flatMap((id, i) => i ? [' ', secLink(id)] : [secLink(id)]))))))));
    }
    (main.querySelector('#sec-body') || body).replaceWith(out);
    return true;
  };
  if (await load()) every(5000, () => load().catch(() => {}));
}
