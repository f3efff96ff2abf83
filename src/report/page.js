// fer-rt report: draws the results embedded in #fer-rt-data on canvases. No libraries, no
// network. Each video keeps a time range (drag on any time chart to zoom, double-click or
// "whole video" to reset) and a set of hidden tracks; every chart of the video redraws
// from them. The numbers in the tables come from the data as computed by fer-rt (the same
// as `fer-rt summary --json`); the charts draw the binned series.
'use strict';
(function () {
  const started = performance.now();
  const errors = [];
  window.addEventListener('error', (e) => {
    errors.push(String(e.message || e));
    document.body.dataset.errors = String(errors.length);
  });
  const R = JSON.parse(document.getElementById('fer-rt-data').textContent);
  window.ferReport = { data: R, errors: errors, renderMs: null };

  // ---- small helpers -------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'style') e.style.cssText = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids.flat()) {
      if (k == null) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  const num = (x, d = 2) => (x == null || !isFinite(x) ? '–' : Number(x).toFixed(d));
  const signed = (x, d = 2) => (x == null || !isFinite(x) ? '–' : (x >= 0 ? '+' : '') + Number(x).toFixed(d));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  function clock(s, unit) {
    if (s == null) return '–';
    if (unit !== 's') return 'frame ' + Math.round(s);
    if (s < 0) return '-' + clock(-s, unit);
    s = Math.round(s * 10) / 10; // so that 59.96 s reads 1:00.0, not 0:60.0
    const m = Math.floor(s / 60), r = s - 60 * m;
    const h = Math.floor(m / 60);
    const mm = h ? String(m % 60).padStart(2, '0') : String(m);
    return (h ? h + ':' : '') + mm + ':' + r.toFixed(1).padStart(4, '0');
  }
  function shares(labels) {
    const total = Object.values(labels).reduce((a, b) => a + b, 0) || 1;
    return Object.entries(labels).map(([k, v]) => [k, v / total]).sort((a, b) => b[1] - a[1]);
  }
  function dominant(labels, n = 2) {
    return shares(labels).slice(0, n).map(([k, s]) => k + ' ' + Math.round(100 * s) + '%').join(', ') || '–';
  }
  // index of the first t >= x (t ascending, nulls skipped by the callers' data)
  function lower(t, x) {
    let lo = 0, hi = t.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t[mid] == null || t[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  function nearest(t, x) {
    const i = lower(t, x);
    if (i <= 0) return 0;
    if (i >= t.length) return t.length - 1;
    return x - t[i - 1] <= t[i] - x ? i - 1 : i;
  }

  const tip = document.getElementById('tip');
  function showTip(ev, html) {
    tip.innerHTML = html;
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - 14;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - 14;
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }

  // ---- charts --------------------------------------------------------------------------
  const PAD_L = 58, PAD_R = 14;

  // A chart over time: panels stacked vertically, one x axis. spec.panels[i] = {h, lo, hi,
  // name, paint(ctx, X, Y, range)}; spec.tip(t) gives the hover text for time t.
  function TimeChart(V, spec) {
    const canvas = el('canvas', { class: 'chart' });
    const axisH = 22;
    const GAP = 7;
    const height = spec.panels.reduce((a, p) => a + p.h + GAP, 0) + axisH + 6;
    canvas.style.height = height + 'px';
    const chart = { canvas, drag: null };
    function geometry() {
      const w = canvas.clientWidth || 800;
      const r = V.range || V.full;
      const span = r[1] - r[0] || 1;
      const X = (t) => PAD_L + ((t - r[0]) / span) * (w - PAD_L - PAD_R);
      const T = (x) => r[0] + ((x - PAD_L) / (w - PAD_L - PAD_R)) * span;
      return { w, r, X, T };
    }
    chart.draw = function () {
      const dpr = window.devicePixelRatio || 1;
      const { w, r, X } = geometry();
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(height * dpr);
      const ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, height);
      ctx.font = '11px system-ui, sans-serif';
      let top = 4;
      for (const p of spec.panels) {
        const Y = (v) => top + p.h - ((v - p.lo) / (p.hi - p.lo || 1)) * p.h;
        ctx.save();
        ctx.beginPath();
        ctx.rect(PAD_L, top, w - PAD_L - PAD_R, p.h);
        ctx.clip();
        ctx.fillStyle = '#fcfcfd';
        ctx.fillRect(PAD_L, top, w - PAD_L - PAD_R, p.h);
        if (p.grid !== false) {
          ctx.strokeStyle = '#ececf0';
          ctx.lineWidth = 1;
          for (const g of p.grid || [p.lo, (p.lo + p.hi) / 2, p.hi]) {
            ctx.beginPath(); ctx.moveTo(PAD_L, Y(g) + 0.5); ctx.lineTo(w - PAD_R, Y(g) + 0.5); ctx.stroke();
          }
        }
        p.paint(ctx, X, Y, r);
        ctx.restore();
        ctx.fillStyle = '#6b6b70';
        ctx.textAlign = 'right';
        ctx.textBaseline = 'middle';
        if (p.ticks !== false) {
          for (const g of p.ticks || [p.lo, p.hi]) ctx.fillText(p.fmt ? p.fmt(g) : String(+g.toFixed(2)), PAD_L - 4, Y(g));
        }
        if (p.h < 30) {
          // a strip: its name level with it
          ctx.textAlign = 'right';
          ctx.fillText(p.name, PAD_L - 4, top + p.h / 2);
        } else {
          ctx.save();
          ctx.translate(10, top + p.h / 2);
          ctx.rotate(-Math.PI / 2);
          ctx.textAlign = 'center';
          ctx.fillText(p.name, 0, 0);
          ctx.restore();
        }
        top += p.h + GAP;
      }
      // the time axis
      ctx.fillStyle = '#6b6b70';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      const n = Math.max(2, Math.floor((w - PAD_L - PAD_R) / 110));
      let prev = null;
      for (let i = 0; i <= n; i++) {
        const t = r[0] + ((r[1] - r[0]) * i) / n;
        const label = clock(t, V.v.time_unit);
        if (label === prev) continue; // a short range of whole frames
        prev = label;
        ctx.textAlign = i === 0 ? 'left' : i === n ? 'right' : 'center';
        ctx.fillText(label, X(t), top + 2);
      }
      if (chart.drag) {
        ctx.fillStyle = 'rgba(10,110,189,0.15)';
        const [a, b] = chart.drag;
        ctx.fillRect(Math.min(a, b), 0, Math.abs(b - a), top);
      }
    };
    canvas.addEventListener('mousedown', (ev) => {
      const x = ev.offsetX;
      chart.drag = [x, x];
    });
    canvas.addEventListener('mousemove', (ev) => {
      const { T, r } = geometry();
      if (chart.drag) {
        chart.drag[1] = ev.offsetX;
        chart.draw();
        return;
      }
      const t = T(ev.offsetX);
      if (t < r[0] || t > r[1]) return hideTip();
      const html = spec.tip(t, ev.offsetY);
      if (html) showTip(ev, html); else hideTip();
    });
    canvas.addEventListener('mouseleave', () => { hideTip(); if (chart.drag) { chart.drag = null; chart.draw(); } });
    canvas.addEventListener('mouseup', () => {
      if (!chart.drag) return;
      const [a, b] = chart.drag;
      chart.drag = null;
      if (Math.abs(b - a) > 4) {
        const { T } = geometry();
        V.zoom([T(Math.min(a, b)), T(Math.max(a, b))]);
      } else {
        chart.draw();
      }
    });
    canvas.addEventListener('dblclick', () => V.zoom(null));
    return chart;
  }

  // a line through (t[i], y[i]) within the range, broken at nulls
  function line(ctx, X, Y, t, y, colour, width, r) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    let on = false;
    const [i0, i1] = visible(t, r);
    for (let i = i0; i < i1; i++) {
      if (y[i] == null || t[i] == null) { on = false; continue; }
      if (on) ctx.lineTo(X(t[i]), Y(y[i])); else ctx.moveTo(X(t[i]), Y(y[i]));
      on = true;
    }
    ctx.stroke();
  }
  function visible(t, r) {
    return [Math.max(0, lower(t, r[0]) - 1), Math.min(t.length, lower(t, r[1]) + 1)];
  }
  function band(ctx, X, Y, t, lo, hi, colour, r) {
    ctx.fillStyle = colour;
    const [i0, i1] = visible(t, r);
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        ctx.beginPath();
        run.forEach((i, k) => (k ? ctx.lineTo(X(t[i]), Y(hi[i])) : ctx.moveTo(X(t[i]), Y(hi[i]))));
        for (let k = run.length - 1; k >= 0; k--) ctx.lineTo(X(t[run[k]]), Y(lo[run[k]]));
        ctx.closePath();
        ctx.fill();
      }
      run = [];
    };
    for (let i = i0; i < i1; i++) {
      if (t[i] == null || lo[i] == null || hi[i] == null) flush(); else run.push(i);
    }
    flush();
  }
  // each bin as a bar from its time to the next bin's
  function strip(ctx, X, t, r, paint) {
    const [i0, i1] = visible(t, r);
    for (let i = i0; i < i1; i++) {
      if (t[i] == null) continue;
      const a = i > 0 && t[i - 1] != null ? (t[i - 1] + t[i]) / 2 : t[i];
      const b = i + 1 < t.length && t[i + 1] != null ? (t[i] + t[i + 1]) / 2 : t[i];
      const x0 = Math.floor(X(a)), x1 = Math.max(Math.ceil(X(b)), x0 + 1);
      paint(i, x0, x1 - x0);
    }
  }

  // ---- one video -----------------------------------------------------------------------
  function videoSection(v) {
    const V = { v, charts: [], hidden: new Set(), range: null };
    const ts = v.tracks.flatMap((t) => t.series.t).concat(v.face_counts.flatMap((c) => c.t)).filter((x) => x != null);
    let lo = Math.min(...ts), hi = Math.max(...ts);
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
    V.full = [lo, hi];
    const rangeLabel = el('span', { class: 'range' });
    V.zoom = (r) => {
      V.range = r;
      rangeLabel.textContent = r ? 'showing ' + clock(r[0], v.time_unit) + ' – ' + clock(r[1], v.time_unit) + ' (double-click a chart for the whole video)' : 'whole video (drag across a chart to zoom)';
      V.redraw();
    };
    V.redraw = () => V.charts.forEach((c) => c.draw());
    const unit = v.time_unit;
    const cls = v.labels;
    const colours = v.colours;
    const rawTracks = v.raw.tracks, filtTracks = v.filtered.tracks;

    const sec = el('section', { class: 'video', id: v.id });
    sec.append(el('h2', { text: v.key }));
    const dur = v.duration_s != null ? clock(v.duration_s, 's') + (v.fps ? ' at ' + num(v.fps, 2) + ' fps' : '') : '–';
    const meta = el('table', { class: 'meta' },
      row('input', v.input),
      row('results', v.read_from + ' (' + v.format + (v.schema_version ? ', schema ' + v.schema_version : '') + ')'),
      row('model', (v.classifier || '–') + ' · filter: ' + (v.filter || '–')),
      row('classes (order)', v.classes.length ? el('span', { class: 'chips' }, v.classes.map((c, i) => el('span', { style: 'background:' + colours[i], text: c }))) : '– (no face was classified, so the results do not name them)'),
      row('frames', v.frames + (v.all_frames_listed ? '' : ' (through the last frame with a face: this format lists faces only)') + (v.dropped_frames ? ' · ' + v.dropped_frames + ' dropped by the live source' : '') + ' · duration ' + dur),
      row('faces', v.filtered.faces + ' in ' + v.tracks.length + ' track(s) · low quality (< ' + R.low_quality + '): ' + (v.low_quality_share == null ? '–' : num(100 * v.low_quality_share, 1) + ' %')),
      row('labels (filtered)', dominant(v.filtered.labels, 4) + ' · mean V ' + signed(v.filtered.mean_valence) + ', A ' + signed(v.filtered.mean_arousal)));
    sec.append(meta);
    for (const w of v.warnings) sec.append(el('div', { class: 'warn', text: '⚠ ' + w }));
    function row(k, val) { return el('tr', {}, el('td', { text: k }), el('td', {}, val)); }

    // toolbar: tracks on/off, zoom state
    const bar = el('div', { class: 'toolbar' });
    v.tracks.forEach((t, j) => {
      const box = el('input', { type: 'checkbox', checked: 'checked', 'data-track': t.id });
      box.addEventListener('change', () => {
        if (box.checked) V.hidden.delete(j); else V.hidden.add(j);
        document.getElementById(t.id).classList.toggle('hidden', !box.checked);
        V.redraw();
      });
      bar.append(el('label', {}, box, el('span', { class: 'swatch', style: 'background:' + t.colour }), t.name));
    });
    bar.append(el('button', { text: 'whole video', onclick: () => V.zoom(null) }), rangeLabel);
    sec.append(bar);

    // faces per frame, and every track's valence together
    const fc = v.face_counts;
    const maxFaces = Math.max(1, ...fc.flatMap((c) => c.max));
    const overview = TimeChart(V, {
      panels: [
        { h: 70, lo: 0, hi: maxFaces + 0.3, name: 'faces', ticks: [0, maxFaces], fmt: (g) => String(Math.round(g)), grid: [0, maxFaces],
          paint(ctx, X, Y, r) {
            fc.forEach((c) => {
              ctx.fillStyle = '#d6e6f3';
              strip(ctx, X, c.t, r, (i, x, w) => ctx.fillRect(x, Y(c.max[i]), w, Y(0) - Y(c.max[i])));
              line(ctx, X, Y, c.t, c.mean, '#0a6ebd', 1.5, r);
            });
          } },
        { h: 90, lo: -1, hi: 1, name: 'valence', ticks: [-1, 0, 1],
          paint(ctx, X, Y, r) {
            v.tracks.forEach((t, j) => { if (!V.hidden.has(j)) line(ctx, X, Y, t.series.t, t.series.v, t.colour, 1.5, r); });
          } },
      ],
      tip(t, y) {
        const parts = [];
        fc.forEach((c) => {
          if (!c.t.length) return;
          const i = nearest(c.t, t);
          parts.push((c.stream ? esc(c.stream) + ': ' : '') + 'frames ' + c.f0[i] + (c.f1[i] !== c.f0[i] ? '–' + c.f1[i] : '') + ' at ' + clock(c.t[i], unit) + ' · faces ' + num(c.mean[i], 2) + (c.f1[i] !== c.f0[i] ? ' (most ' + c.max[i] + ')' : ''));
        });
        v.tracks.forEach((tr, j) => {
          if (V.hidden.has(j) || !tr.series.t.length) return;
          const i = nearest(tr.series.t, t);
          if (Math.abs(tr.series.t[i] - t) > (V.range ? V.range[1] - V.range[0] : V.full[1] - V.full[0]) / 50) return;
          parts.push('<span style="color:' + tr.colour + '">■</span> ' + esc(tr.name) + ': valence ' + signed(tr.series.v[i]));
        });
        return parts.join('<br>');
      },
    });
    V.charts.push(overview);
    sec.append(el('div', { class: 'note', text: 'Faces per frame (line: mean per bin, shade: most) and every track\'s filtered valence.' }), overview.canvas);

    if (R.videos.length > 1 || R.failed.length) sec.append(el('p', {}, el('a', { href: '#index', text: '↑ index' })));
    const tracksBox = el('div');
    sec.append(tracksBox);
    if (!v.tracks.length) tracksBox.append(el('p', { class: 'note', text: v.filtered.faces ? 'No tracked faces (faces without a track id, e.g. a folder of photos): the numbers above count them.' : 'No face in these results.' }));
    v.tracks.forEach((t, j) => tracksBox.append(trackCard(V, t, filtTracks[j], rawTracks[j], cls, colours, unit)));
    return { sec, V };
  }

  function labelBar(name, labels, cls, colours) {
    const total = Object.values(labels).reduce((a, b) => a + b, 0) || 1;
    const bar = el('div', { class: 'bar' });
    cls.forEach((c, i) => {
      const n = labels[c] || 0;
      if (!n) return;
      bar.append(el('div', { style: 'width:' + (100 * n) / total + '%;background:' + colours[i], title: c + ': ' + ((100 * n) / total).toFixed(1) + ' % (' + n + ' faces)' }));
    });
    return el('div', { class: 'bars' }, el('div', { class: 'barname', text: name + ': ' + dominant(labels, 3) }), bar);
  }

  function trackCard(V, t, f, raw, cls, colours, unit) {
    const s = t.series;
    const card = el('div', { class: 'track', id: t.id });
    const thumb = t.thumb
      ? el('img', { class: 'thumb', src: t.thumb, alt: t.name, title: 'best face: frame ' + t.best.frame + (t.best.quality != null ? ', quality ' + num(t.best.quality) : ''), style: 'border-color:' + t.colour })
      : el('div', { class: 'thumb none', style: 'border-color:' + t.colour, text: 'no thumbnail (report --video CLIP adds one)' });
    const span = f.seconds != null ? clock(s.t[0], unit) + ' – ' + clock(s.t[s.t.length - 1], unit) : 'frames ' + f.first_frame + '–' + f.last_frame;
    const stats = el('div', { class: 'stats' },
      el('h3', {}, el('span', { style: 'color:' + t.colour, text: '■ ' }), t.name),
      el('div', { text: 'on screen ' + (t.on_screen_s != null ? num(t.on_screen_s, 1) + ' s' : f.faces + ' faces') + ' (' + span + ', frames ' + f.first_frame + '–' + f.last_frame + ', ' + f.faces + ' faces)' }),
      el('div', { text: 'label flips per minute: raw ' + num(raw.flips_per_minute, 1) + ' → filtered ' + num(f.flips_per_minute, 1) + ' (' + raw.flips + ' → ' + f.flips + ' flips)' }),
      el('div', { text: 'mean valence ' + signed(f.mean_valence) + ', arousal ' + signed(f.mean_arousal) + ' (filtered; raw ' + signed(raw.mean_valence) + ', ' + signed(raw.mean_arousal) + ')' }),
      labelBar('raw', raw.labels, cls, colours),
      labelBar('filtered', f.labels, cls, colours));
    card.append(el('div', { class: 'head' }, thumb, stats));

    if (f.faces < 2) {
      card.append(el('div', { class: 'note', text: 'One face: nothing to draw over time.' }));
      return card;
    }
    const k = s.p.length;
    const binTip = (i) => 'frames ' + s.f0[i] + (s.f1[i] !== s.f0[i] ? '–' + s.f1[i] + ' (' + s.n[i] + ' faces, means)' : '') + ' · ' + clock(s.t[i], unit);
    const top = (i, arr) => (arr[i] == null ? '–' : cls[arr[i]]);
    const timeline = TimeChart(V, {
      panels: [
        { h: 120, lo: 0, hi: 1, name: 'expression', ticks: [0, 1],
          paint(ctx, X, Y, r) {
            const [i0, i1] = visible(s.t, r);
            const below = new Float64Array(s.t.length);
            for (let c = 0; c < k; c++) {
              const p = s.p[c];
              ctx.fillStyle = colours[c];
              ctx.beginPath();
              let first = true;
              for (let i = i0; i < i1; i++) {
                if (s.t[i] == null) continue;
                const y = below[i] + (p[i] || 0);
                if (first) { ctx.moveTo(X(s.t[i]), Y(y)); first = false; } else ctx.lineTo(X(s.t[i]), Y(y));
              }
              for (let i = i1 - 1; i >= i0; i--) if (s.t[i] != null) ctx.lineTo(X(s.t[i]), Y(below[i]));
              ctx.closePath();
              ctx.fill();
              for (let i = i0; i < i1; i++) below[i] += p[i] || 0;
            }
          } },
        { h: 14, lo: 0, hi: 1, name: 'raw', grid: false, ticks: false,
          paint(ctx, X, Y, r) { strip(ctx, X, s.t, r, (i, x, w) => { if (s.raw_top[i] != null) { ctx.fillStyle = colours[s.raw_top[i]]; ctx.fillRect(x, Y(1), w, Y(0) - Y(1)); } }); } },
        { h: 14, lo: 0, hi: 1, name: 'filtered', grid: false, ticks: false,
          paint(ctx, X, Y, r) { strip(ctx, X, s.t, r, (i, x, w) => { if (s.filt_top[i] != null) { ctx.fillStyle = colours[s.filt_top[i]]; ctx.fillRect(x, Y(1), w, Y(0) - Y(1)); } }); } },
      ],
      tip(time) {
        const i = nearest(s.t, time);
        const probs = s.p.map((p, c) => [cls[c], p[i]]).filter((x) => x[1] != null).sort((a, b) => b[1] - a[1]);
        return '<b>' + esc(t.name) + '</b><br>' + binTip(i) + '<br>raw label ' + esc(top(i, s.raw_top)) + ' · filtered ' + esc(top(i, s.filt_top)) +
          (s.raw_flips[i] || s.filt_flips[i] ? '<br>flips here: raw ' + s.raw_flips[i] + ', filtered ' + s.filt_flips[i] : '') +
          '<br>' + probs.slice(0, 4).map(([c, p]) => esc(c) + ' ' + (100 * p).toFixed(1) + '%').join(' · ');
      },
    });

    const vaPanel = (name, m, sd, rawv) => ({ h: 80, lo: -1, hi: 1, name, ticks: [-1, 0, 1],
      paint(ctx, X, Y, r) {
        const lo = m.map((x, i) => (x == null ? null : Math.max(-1, x - (sd[i] || 0))));
        const hi = m.map((x, i) => (x == null ? null : Math.min(1, x + (sd[i] || 0))));
        band(ctx, X, Y, s.t, lo, hi, t.colour + '30', r);
        line(ctx, X, Y, s.t, rawv, 'rgba(120,120,120,0.55)', 1, r);
        line(ctx, X, Y, s.t, m, t.colour, 2, r);
      } });
    const affect = TimeChart(V, {
      panels: [vaPanel('valence', s.v, s.v_sd, s.rv), vaPanel('arousal', s.a, s.a_sd, s.ra)],
      tip(time) {
        const i = nearest(s.t, time);
        return '<b>' + esc(t.name) + '</b><br>' + binTip(i) + '<br>valence ' + signed(s.v[i]) + ' ± ' + num(s.v_sd[i]) + ' (raw ' + signed(s.rv[i]) + ')<br>arousal ' + signed(s.a[i]) + ' ± ' + num(s.a_sd[i]) + ' (raw ' + signed(s.ra[i]) + ')';
      },
    });

    const maxOf = (a, floor) => Math.max(floor, ...a.filter((x) => x != null).map(Math.abs));
    const pxMax = maxOf(s.face_px, 1), blurMax = maxOf(s.blur, 1), degMax = Math.max(maxOf(s.yaw, 5), maxOf(s.pitch, 5));
    const lowShade = (ctx, X, Y, r) => {
      strip(ctx, X, s.t, r, (i, x, w) => { if (s.low[i]) { ctx.fillStyle = 'rgba(255,120,120,' + 0.35 * s.low[i] + ')'; ctx.fillRect(x, 0, w, 10000); } });
    };
    const absArr = (a) => a.map((x) => (x == null ? null : Math.abs(x)));
    const quality = TimeChart(V, {
      panels: [
        { h: 46, lo: 0, hi: pxMax * 1.05, name: 'face px', ticks: [0, pxMax], fmt: (g) => String(Math.round(g)),
          paint(ctx, X, Y, r) { lowShade(ctx, X, Y, r); line(ctx, X, Y, s.t, s.face_px, '#1f77b4', 1.5, r); } },
        { h: 46, lo: 0, hi: blurMax * 1.05, name: 'sharp', ticks: [0, blurMax], fmt: (g) => String(Math.round(g)),
          paint(ctx, X, Y, r) { lowShade(ctx, X, Y, r); line(ctx, X, Y, s.t, s.blur, '#1f77b4', 1.5, r); } },
        { h: 46, lo: 0, hi: degMax * 1.05, name: '|pose|°', ticks: [0, degMax], fmt: (g) => String(Math.round(g)),
          paint(ctx, X, Y, r) { lowShade(ctx, X, Y, r); line(ctx, X, Y, s.t, absArr(s.yaw), '#1f77b4', 1.5, r); line(ctx, X, Y, s.t, absArr(s.pitch), '#e67800', 1.5, r); } },
        { h: 56, lo: 0, hi: 1, name: 'scores', ticks: [0, 1],
          paint(ctx, X, Y, r) {
            lowShade(ctx, X, Y, r);
            line(ctx, X, Y, s.t, s.quality, '#1f77b4', 1.5, r);
            line(ctx, X, Y, s.t, s.confidence, '#e67800', 1.5, r);
            if (s.disagreement.length) line(ctx, X, Y, s.t, s.disagreement, '#2ca02c', 1.5, r);
          } },
      ],
      tip(time) {
        const i = nearest(s.t, time);
        return '<b>' + esc(t.name) + '</b><br>' + binTip(i) + '<br>face ' + num(s.face_px[i], 0) + ' px · sharpness ' + num(s.blur[i], 0) +
          '<br>yaw ' + num(s.yaw[i], 1) + '° · pitch ' + num(s.pitch[i], 1) + '° · roll ' + num(s.roll[i], 1) + '°' +
          '<br><span style="color:#7fb8e6">quality ' + num(s.quality[i]) + '</span> · <span style="color:#f0a050">confidence ' + num(s.confidence[i]) + '</span>' +
          (s.disagreement.length ? ' · <span style="color:#7fd07f">disagreement ' + num(s.disagreement[i], 3) + '</span>' : '') +
          (s.low[i] ? '<br>low quality: ' + Math.round(100 * s.low[i]) + ' % of these faces' : '');
      },
    });
    V.charts.push(timeline, affect, quality);

    // the circumplex: the trajectory within the time range shown
    const circ = el('canvas', { class: 'chart', style: 'height:300px;cursor:default' });
    const circle = {
      canvas: circ,
      draw() {
        const dpr = window.devicePixelRatio || 1;
        const w = circ.clientWidth || 300, h = 300;
        circ.width = Math.round(w * dpr); circ.height = Math.round(h * dpr);
        const ctx = circ.getContext('2d');
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        const R0 = Math.min(w, h) / 2 - 18, cx = w / 2, cy = h / 2;
        const P = (va, ar) => [cx + va * R0, cy - ar * R0];
        ctx.strokeStyle = '#d0d0d6'; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.arc(cx, cy, R0, 0, 2 * Math.PI); ctx.stroke();
        ctx.beginPath(); ctx.moveTo(cx - R0, cy); ctx.lineTo(cx + R0, cy); ctx.moveTo(cx, cy - R0); ctx.lineTo(cx, cy + R0); ctx.stroke();
        ctx.fillStyle = '#8a8a90'; ctx.font = '11px system-ui, sans-serif'; ctx.textAlign = 'center';
        ctx.fillText('arousal +', cx, cy - R0 - 5); ctx.fillText('valence +', cx + R0 - 22, cy - 5);
        ctx.fillText('−', cx - R0 + 6, cy - 5);
        const r = V.range || V.full;
        const [i0, i1] = visible(s.t, r);
        const n = Math.max(1, i1 - i0 - 1);
        ctx.lineWidth = 1.8;
        for (let i = i0 + 1; i < i1; i++) {
          if (s.v[i] == null || s.v[i - 1] == null || s.a[i] == null || s.a[i - 1] == null) continue;
          ctx.strokeStyle = t.colour;
          ctx.globalAlpha = 0.2 + (0.8 * (i - i0)) / n;
          ctx.beginPath(); ctx.moveTo(...P(s.v[i - 1], s.a[i - 1])); ctx.lineTo(...P(s.v[i], s.a[i])); ctx.stroke();
        }
        ctx.globalAlpha = 1;
        const ends = [...Array(i1 - i0).keys()].map((k) => i0 + k).filter((i) => s.v[i] != null && s.a[i] != null);
        if (ends.length) {
          const a = ends[0], b = ends[ends.length - 1];
          ctx.fillStyle = '#fff'; ctx.strokeStyle = t.colour; ctx.lineWidth = 2;
          ctx.beginPath(); ctx.arc(...P(s.v[a], s.a[a]), 4, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
          ctx.fillStyle = t.colour;
          ctx.beginPath(); ctx.arc(...P(s.v[b], s.a[b]), 4, 0, 2 * Math.PI); ctx.fill();
        }
        circle.points = ends.map((i) => [i, ...P(s.v[i], s.a[i])]);
      },
    };
    circ.addEventListener('mousemove', (ev) => {
      let best = null, d = 100;
      for (const [i, x, y] of circle.points || []) {
        const dd = Math.hypot(x - ev.offsetX, y - ev.offsetY);
        if (dd < d) { d = dd; best = i; }
      }
      if (best == null || d > 12) return hideTip();
      showTip(ev, '<b>' + esc(t.name) + '</b><br>' + binTip(best) + '<br>valence ' + signed(s.v[best]) + ', arousal ' + signed(s.a[best]));
    });
    circ.addEventListener('mouseleave', hideTip);
    V.charts.push(circle);

    card.append(el('div', { class: 'grid' },
      el('div', {},
        el('div', { class: 'note', text: 'Expression over time: filtered probabilities stacked; beneath, the raw top label and the filtered one per ' + (s.n.some((n) => n > 1) ? 'bin (most frequent)' : 'frame') + '.' }), timeline.canvas,
        el('div', { class: 'note', text: 'Valence and arousal: filtered with ±1 σ band, raw in grey.' }), affect.canvas,
        el('div', { class: 'note', text: 'Quality and uncertainty: face size, sharpness, |yaw| (blue) and |pitch| (orange), quality (blue), confidence (orange)' + (s.disagreement.length ? ', ensemble disagreement (green)' : '') + '; red: faces below the low-quality threshold.' }), quality.canvas),
      el('div', {}, el('div', { class: 'note', text: 'Circumplex (filtered V/A; ring: start, dot: end of the range shown)' }), circ)));
    return card;
  }

  // ---- the page ------------------------------------------------------------------------
  const main = document.getElementById('report');
  const sections = [];
  if (R.videos.length > 1 || R.failed.length) {
    const t = el('table', { class: 'index', id: 'index' },
      el('tr', {}, ['video', 'duration', 'people', 'dominant labels (filtered)', 'mean V', 'mean A', 'low quality'].map((h, i) => el('th', { class: i > 3 || i === 1 || i === 2 ? 'num' : null, text: h }))));
    for (const v of R.videos) {
      t.append(el('tr', {},
        el('td', {}, el('a', { href: '#' + v.id, text: v.key })),
        el('td', { class: 'num', text: v.duration_s != null ? clock(v.duration_s, 's') : v.frames + ' frames' }),
        el('td', { class: 'num', text: String(v.tracks.length) }),
        el('td', { text: dominant(v.filtered.labels, 2) }),
        el('td', { class: 'num', text: signed(v.filtered.mean_valence) }),
        el('td', { class: 'num', text: signed(v.filtered.mean_arousal) }),
        el('td', { class: 'num', text: v.low_quality_share == null ? '–' : num(100 * v.low_quality_share, 1) + ' %' })));
    }
    main.append(el('h2', { text: 'Index: ' + R.videos.length + ' video(s)' }), t);
    for (const f of R.failed) main.append(el('div', { class: 'warn', text: 'failed: ' + f.key + ' (' + (f.error || 'no error recorded') + ')' }));
  }
  for (const v of R.videos) {
    const { sec, V } = videoSection(v);
    main.append(sec);
    sections.push(V);
    V.zoom(null);
  }
  let pending = null;
  window.addEventListener('resize', () => {
    clearTimeout(pending);
    pending = setTimeout(() => sections.forEach((V) => V.redraw()), 100);
  });
  const ms = performance.now() - started;
  window.ferReport.renderMs = ms;
  document.body.dataset.renderMs = ms.toFixed(1);
  document.body.dataset.rendered = '1';
})();
