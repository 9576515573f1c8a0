'use strict';
// "Listen" on the call page (admins only, never with masked numbers): per direction and
// mixed, an <audio> element fed by GET /api/v1/calls/:id/audio, a waveform drawn from
// the same WAV (peak per pixel) on the time axis of that stream's loss/jitter charts,
// and a Download WAV link. Uses h() and s() from app.js.

const AUDIO_CODECS = { PCMU: 1, PCMA: 1, G722: 1 };
const AUDIO_PT = { 0: 1, 8: 1, 9: 1 };

function canListen() { return me && me.role === 'admin' && !me.masked; }

function playable(st) {
  const name = (st.codec || '').toUpperCase();
  return name ? !!AUDIO_CODECS[name] : !!AUDIO_PT[st.payload_type];
}

// streamAxis is the time span lineChart uses for a stream: its first to last interval
// start (ms since the epoch), or null without intervals.
function streamAxis(streams) {
  const ts = streams.flatMap(st => (st.intervals || []).map(x => Date.parse(x.start)));
  if (!ts.length) return null;
  return [Math.min(...ts), Math.max(...ts)];
}

// parseWAV reads the canonical 44-byte-header mono PCM 16-bit WAV the server writes.
function parseWAV(buf) {
  const v = new DataView(buf);
  if (buf.byteLength < 44 || v.getUint32(0) !== 0x52494646 || v.getUint16(34, true) !== 16) return null;
  return { rate: v.getUint32(24, true), samples: new Int16Array(buf.slice(44, 44 + (v.getUint32(40, true) & ~1))) };
}

// waveform draws peaks per pixel with lineChart's geometry (width 420, margins 40/10,
// x = L + (t − t0)/(t1 − t0)·(W − L − R)), so x is the same instant as in the stream's
// charts above. Those end at the last interval's start; the audio after it continues to
// the right on the same scale (the SVG grows, up to 3× as wide), past a dashed mark.
// axis: [t0, t1] ms, or null (then the audio's own span). start: ms of the first sample.
function waveform(title, wav, start, axis) {
  const W = 420, H = 90, L = 40, R = 10, T = 18, B = 20;
  const dur = wav.samples.length / wav.rate * 1000;
  const [t0, t1] = axis && axis[1] > axis[0] ? axis : [start, start + Math.max(dur, 1)];
  const perPx = (t1 - t0) / (W - L - R);
  const W2 = Math.min(3 * W, Math.max(W, Math.ceil(L + (start + dur - t0) / perPx) + R));
  const svg = s('svg', { viewBox: '0 0 ' + W2 + ' ' + H, width: W2, class: 'chart waveform', role: 'img', 'aria-label': title,
    'data-t0': t0, 'data-t1': t1, 'data-start': start, 'data-samples': wav.samples.length, 'data-rate': wav.rate });
  const mid = (H - B + T) / 2, half = (H - B - T) / 2;
  svg.append(s('text', { x: L, y: 12 }, title),
    s('line', { x1: L, y1: mid, x2: W2 - R, y2: mid, class: 'axis-line' }),
    s('text', { x: L, y: H - 4, class: 'axis' }, fmtClock(t0, true)),
    s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, fmtClock(t1, true) + ' ' + tzName()));
  if (W2 > W) svg.append(s('line', { x1: W - R, y1: T, x2: W - R, y2: H - B, stroke: '#888', 'stroke-dasharray': '2 2' }));
  let d = '';
  for (let x = 0; x < W2 - L - R; x++) {
    const a = Math.max(0, Math.floor((t0 + x * perPx - start) / 1000 * wav.rate));
    const b = Math.min(wav.samples.length, Math.floor((t0 + (x + 1) * perPx - start) / 1000 * wav.rate));
    if (b <= a) continue;
    let peak = 0;
    for (let i = a; i < b; i++) { const v = Math.abs(wav.samples[i]); if (v > peak) peak = v; }
    const y = Math.max(0.5, peak / 32768 * half);
    d += 'M' + (L + x + 0.5) + ' ' + (mid - y).toFixed(1) + 'V' + (mid + y).toFixed(1);
  }
  svg.append(s('path', { d, stroke: '#2c6fbb', 'stroke-width': 1, fill: 'none', class: 'peaks' }));
  return svg;
}

// playCursor moves a line over the waveform to the player's position.
function playCursor(svg, player) {
  const t0 = +svg.dataset.t0, t1 = +svg.dataset.t1, start = +svg.dataset.start;
  const px = t => 40 + (t - t0) / (t1 - t0) * (420 - 50);
  const line = s('line', { x1: 0, y1: 18, x2: 0, y2: 70, stroke: '#c0392b', class: 'cursor', visibility: 'hidden' });
  svg.append(line);
  player.addEventListener('timeupdate', () => {
    const x = px(start + player.currentTime * 1000);
    line.setAttribute('x1', x); line.setAttribute('x2', x); line.setAttribute('visibility', 'visible');
  });
}

function listenCard(label, url, axis, key) {
  const box = h('div', { class: 'wave-box' }, h('span', { class: 'muted' }, 'Loading audio…'));
  const player = h('audio', { controls: '', preload: 'metadata', src: url, 'data-key': key });
  const card = h('div', { class: 'card listen', 'data-key': key },
    h('b', {}, label), box, h('div', {}, player, ' ', h('a', { class: 'button', href: url, download: '' }, 'Download WAV')));
  fetch(url, { credentials: 'same-origin' }).then(async r => {
    if (!r.ok) {
      const e = await r.json().catch(() => ({ error: r.statusText }));
      box.replaceChildren(h('span', { class: 'muted' }, 'No audio: ' + (e.error || r.statusText)));
      player.remove();
      return;
    }
    const start = Date.parse(r.headers.get('X-Audio-Start') || '') || (axis ? axis[0] : 0);
    const cut = r.headers.get('X-Audio-Truncated') === 'true';
    const wav = parseWAV(await r.arrayBuffer());
    const svg = wav ? waveform(label + ' waveform', wav, start, axis) : null;
    box.replaceChildren(svg || h('span', { class: 'muted' }, 'unreadable WAV'),
      cut ? h('div', { class: 'muted' }, 'Audio cut at 10 minutes.') : '');
    if (svg) playCursor(svg, player);
  }).catch(e => box.replaceChildren(h('span', { class: 'muted' }, 'No audio: ' + e.message)));
  return card;
}

// listenSection returns the Listen section for call c, or null for anyone but an
// unmasked admin or a call without a playable stream.
function listenSection(c) {
  if (!canListen()) return null;
  const base = '/api/v1/calls/' + encodeURIComponent(c.id) + '/audio?stream=';
  const streams = c.streams.map((st, i) => [st, i]).filter(([st]) => playable(st));
  if (!streams.length) return null;
  const sec = h('section', { id: 'listen' }, h('h3', {}, 'Listen'));
  if (me.keep_rtp !== 'full') {
    sec.append(h('p', { class: 'muted', id: 'listen-none' }, 'Audio needs the RTP payload: serve runs with --keep-rtp ' + me.keep_rtp + ' (full keeps it).'));
    return sec;
  }
  for (const [st, i] of streams)
    sec.append(listenCard(st.src + ' → ' + st.dst + '  ' + (st.codec || 'PT ' + st.payload_type), base + i, streamAxis([st]), String(i)));
  if (streams.length > 1) sec.append(listenCard('Both directions mixed', base + 'mix', streamAxis(streams.map(x => x[0])), 'mix'));
  return sec;
}
