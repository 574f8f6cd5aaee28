// toyheads report pages: the small script that links the views. Charts are plotly's (inlined once in the
// page); this file only decodes the page's data, draws it with Plotly and wires hover, click and selection.
// The page's data is the JSON in #page-data; data.kind names the page (phrenology, probes, compare, formation).
"use strict";

const DATA = JSON.parse(document.getElementById("page-data").textContent);
const APP = document.getElementById("app");
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#393b79", "#e7ba52", "#637939", "#ad494a", "#7b4173", "#3182bd", "#31a354", "#de9ed6"];
const GREY = "#c8c8c8";
const CONFIG = {displaylogo: false, responsive: true};

// ------------------------------------------------------------------ small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function decodeUnit(b64) { // base64 bytes → Float32Array in [0, 1]
  const raw = atob(b64);
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i) / 255;
  return out;
}

function decodeScaled(enc) { // {b64, lo, hi, bits} → values (bits 4: two values a byte, high nibble first)
  if (enc.bits === 4) {
    const raw = atob(enc.b64);
    const out = new Float32Array(enc.n);
    for (let i = 0; i < enc.n; i++) {
      const byte = raw.charCodeAt(i >> 1);
      out[i] = enc.lo + ((i & 1 ? byte & 15 : byte >> 4) / 15) * (enc.hi - enc.lo);
    }
    return out;
  }
  const unit = decodeUnit(enc.b64);
  return unit.map(v => enc.lo + v * (enc.hi - enc.lo));
}

function square(flat) { // [n*n] → n × n rows
  const n = Math.round(Math.sqrt(flat.length));
  const rows = [];
  for (let q = 0; q < n; q++) rows.push(Array.from(flat.slice(q * n, q * n + n)));
  return rows;
}

function fmt(v) {
  if (v === null || v === undefined) return "NaN";
  if (typeof v !== "number") return String(v);
  if (Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0)) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));  // as Python's {:.3g}: 0.005, 0.965, 1
}

function clusterColor(c) { return c === null || c === undefined || c < 0 ? GREY : PALETTE[c % PALETTE.length]; }

function section(title, ...children) {
  const s = el("section", {}, el("h2", {}, title), ...children);
  APP.append(s);
  return s;
}

// ------------------------------------------------------------------ pattern views

// A query × key heatmap of one attention pattern, the prompt's tokens on both axes (numeric axes with tick
// text: plotly would merge repeated tokens on a category axis). Keys after the query are blank (causal mask).
function patternHeatmap(div, flat, tokens, title, opts = {}) {
  const rows = square(flat);
  const n = rows.length;
  const z = rows.map((r, q) => r.map((v, k) => (k <= q ? v : null)));
  const idx = [...Array(n).keys()];
  const labels = tokens ? tokens.slice(0, n).map((t, i) => `${i}:${t}`) : idx.map(String);
  const small = opts.small;
  Plotly.react(div, [{
    z, x: idx, y: idx, type: "heatmap", colorscale: "Blues", reversescale: true, zmin: 0, zmax: 1, showscale: !small,
    colorbar: {title: {text: "attention"}, thickness: 10},
    customdata: idx.map(q => idx.map(k => [labels[q], labels[k]])),
    hovertemplate: "query %{customdata[0]}<br>key %{customdata[1]}<br>attention %{z:.3f}<extra></extra>",
  }], {
    title: {text: title || "", font: {size: small ? 11 : 14}},
    margin: small ? {l: 22, r: 5, t: 24, b: 22} : {l: 110, r: 20, t: 40, b: 50},
    width: opts.width || (small ? 170 : 520), height: opts.height || (small ? 170 : 520),
    xaxis: axis(small, idx, labels, "key", opts.positions), yaxis: Object.assign(axis(small, idx, labels, "query",
            opts.positions), {autorange: "reversed"}),
  }, Object.assign({}, CONFIG, {staticPlot: !!small, displayModeBar: false}));
}

// Every label horizontal: the query axis (rows) names each position's token; the key axis numbers the positions
// (the same tokens, read along the rows); small thumbnails show every 4th position, or none.
function axis(small, idx, labels, title, positions) {
  const every = positions ? idx.filter(i => i % 4 === 0) : [];
  const text = small ? every.map(String) : title === "query" ? labels : idx.map(String);
  return {tickvals: small ? every : idx, ticktext: text, tickangle: 0,
          title: {text: small ? "" : title === "query" ? "query token" : "key position"},
          tickfont: {size: small ? 8 : 10}, zeroline: false, showgrid: false};
}

// CircuitsVis-style tokens: hover (or click) a token to make it the query; every token is shaded by how much
// attention the query gives it.
function tokenStrip(div, flat, tokens, onQuery) {
  const rows = square(flat);
  const n = rows.length;
  div.innerHTML = "";
  const spans = tokens.slice(0, n).map((t, i) => el("span", {class: "tok", "data-pos": i}, t));
  let query = n - 1;
  function paint() {
    spans.forEach((s, k) => {
      const w = k <= query ? rows[query][k] : 0;
      s.style.background = `rgba(31,119,180,${w.toFixed(3)})`;
      s.style.color = w > 0.55 ? "white" : "black";
      s.title = `attention from "${tokens[query]}" (${query}) = ${w.toFixed(3)}`;
      s.classList.toggle("query", k === query);
    });
    if (onQuery) onQuery(query);
  }
  spans.forEach((s, i) => {
    s.addEventListener("mouseenter", () => { query = i; paint(); });
    s.addEventListener("click", () => { query = i; paint(); });
  });
  div.append(el("div", {class: "note"}, "Hover a token to make it the query; shading = attention it receives."),
             ...spans);
  paint();
}

// The head panel: a pattern on a chosen prompt as a heatmap with tokens, and the token strip.
// views: [{label, tokens: [[...]] per prompt, patterns: [b64 per prompt]}]
function showHead(headId, views, extra) {
  let panel = document.getElementById("head-panel");
  if (!panel) {
    panel = el("div", {id: "head-panel"});
    const anchor = document.getElementById("head-anchor") || APP;
    anchor.append(panel);
  }
  panel.style.display = "block";
  panel.innerHTML = "";
  panel.dataset.head = headId;
  panel.append(el("h3", {id: "head-title"}, headId));
  if (extra && extra.text) panel.append(el("div", {class: "note", id: "head-summary"}, extra.text));
  const choices = [];
  views.forEach((v, vi) => v.patterns.forEach((_, pi) => choices.push([vi, pi])));
  const select = el("select", {id: "prompt-select"});
  choices.forEach(([vi, pi], i) => {
    const toks = views[vi].tokens[pi];
    select.append(el("option", {value: i}, `${views[vi].label} ${pi}: ${toks.slice(0, 8).join("").slice(0, 60)}…`));
  });
  const heat = el("div", {id: "head-heatmap"});
  const strip = el("div", {class: "tokens", id: "head-tokens"});
  const row = el("div", {class: "row"}, heat, el("div", {style: "max-width:560px"}, strip));
  panel.append(el("div", {class: "controls"}, "prompt: ", select), row);
  function draw() {
    const [vi, pi] = choices[+select.value];
    const v = views[vi];
    const flat = decodeUnit(v.patterns[pi]);
    patternHeatmap(heat, flat, v.tokens[pi], `${headId} on ${v.label} prompt ${pi}`);
    tokenStrip(strip, flat, v.tokens[pi]);
  }
  select.addEventListener("change", draw);
  if (choices.length) draw();
  if (extra && extra.after) extra.after(panel);
  panel.scrollIntoView({behavior: "smooth", block: "nearest"});
  return panel;
}

// ------------------------------------------------------------------ tables

// Every row, every column: click a header to sort (again to reverse), type to filter rows, click a row's
// first cell to open that head. columns: [{name, title?}]
function sortableTable(container, columns, rows, opts = {}) {
  const filter = el("input", {type: "search", placeholder: "filter rows (text in any cell)", size: 34});
  const count = el("span", {class: "note"});
  const wrap = el("div", {class: "scroll"});
  container.append(el("div", {class: "controls"}, filter, count), wrap);
  let sortKey = opts.sortKey || null, ascending = opts.ascending ?? true;
  function render() {
    const needle = filter.value.trim().toLowerCase();
    let shown = needle ? rows.filter(r => columns.some(c => String(r[c.name] ?? "").toLowerCase().includes(needle)))
                       : rows.slice();
    if (sortKey !== null) {
      shown.sort((a, b) => {
        const x = a[sortKey], y = b[sortKey];
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const d = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? d : -d;
      });
    }
    const table = el("table", {});
    const head = el("tr", {});
    columns.forEach(c => {
      const arrow = c.name === sortKey ? (ascending ? " ▲" : " ▼") : "";
      head.append(el("th", {title: c.title || c.name, onclick: () => {
        ascending = sortKey === c.name ? !ascending : (c.ascending ?? false);
        sortKey = c.name; render();
      }}, c.name + arrow));
    });
    table.append(head);
    for (const r of shown) {
      const tr = el("tr", {});
      columns.forEach((c, i) => {
        const td = el("td", {}, fmt(r[c.name]));
        if (i === 0 && opts.onPick) {
          td.className = "headlink";
          td.addEventListener("click", () => opts.onPick(r));
        }
        tr.append(td);
      });
      table.append(tr);
    }
    wrap.innerHTML = "";
    wrap.append(table);
    count.textContent = ` ${shown.length} of ${rows.length} rows`;
  }
  filter.addEventListener("input", render);
  render();
}

function framedTable(container, frame, opts) { // {columns: [...], rows: [[...]]} → sortable table
  const rows = frame.rows.map(r => Object.fromEntries(frame.columns.map((c, i) => [c, r[i]])));
  sortableTable(container, frame.columns.map(c => ({name: c})), rows, opts);
}

// ------------------------------------------------------------------ a projection of heads with hover info

// points: [{id, x, y, group, color, symbol?, label}] — one trace per group (the legend). Hover fills
// #hover-info via onHover(id); click calls onClick(id).
function projectionPlot(div, points, title, onHover, onClick, axes = ["", ""]) {
  // legend entries in natural order (cluster 2 before cluster 10), whatever order the points come in
  const groups = [...new Set(points.map(p => p.group))].sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
  const traces = groups.map(g => {
    const ps = points.filter(p => p.group === g);
    return {
      x: ps.map(p => p.x), y: ps.map(p => p.y), customdata: ps.map(p => p.id), text: ps.map(p => p.label || p.id),
      name: g, mode: "markers", type: "scatter",
      marker: {color: ps.map(p => p.color), size: ps.map(p => p.size || 9), symbol: ps.map(p => p.symbol || "circle"),
               line: {width: 0.5, color: "#333"}},
      hovertemplate: "%{text}<extra></extra>",
    };
  });
  // the title at the top left, clear of the mode bar at the top right (a long title belongs in the section's note)
  Plotly.react(div, traces, {
    title: {text: title, font: {size: 13}, x: 0.01, xanchor: "left", xref: "container", y: 0.985, yanchor: "top"},
    width: 760, height: 560, hovermode: "closest", margin: {l: 60, r: 10, t: 48, b: 50}, legend: {font: {size: 11}},
    xaxis: {title: {text: axes[0]}}, yaxis: {title: {text: axes[1]}},
  }, CONFIG);
  div.removeAllListeners && div.removeAllListeners("plotly_hover");
  div.removeAllListeners && div.removeAllListeners("plotly_click");
  div.on("plotly_hover", ev => onHover(ev.points[0].customdata));
  div.on("plotly_click", ev => onClick(ev.points[0].customdata));
}

function hoverBox() {
  return el("div", {id: "hover-info"}, el("div", {class: "note"}, "Hover a head to see it here; click it to open it."));
}

// ------------------------------------------------------------------ phrenology page

function phrenologyPage() {
  const D = DATA;
  const byId = Object.fromEntries(D.heads.map(h => [h.id, h]));
  const promptTokens = D.prompts.map(p => p.tokens);
  const views = id => [{label: "held-out", tokens: promptTokens, patterns: D.patterns[id]}];
  const method = el("select", {id: "method"}, ...Object.keys(D.projections).map(m => el("option", {value: m}, m.toUpperCase())));
  const colour = el("select", {id: "colour"}, el("option", {value: "cluster"}, "cluster"), el("option", {value: "model"}, "model"));
  const plot = el("div", {id: "projection"});
  const info = hoverBox();
  section("Heads in 2-D (Attention Phrenology §2.1.5)",
          el("div", {class: "controls"}, "projection: ", method, "colour by: ", colour),
          el("div", {class: "row"}, plot, info), el("div", {id: "head-anchor"}));
  const models = [...new Set(D.heads.filter(h => !h.artificial).map(h => h.model))];
  function hover(id) {
    const h = byId[id];
    info.innerHTML = "";
    info.append(el("b", {class: "hover-id"}, id),
                el("div", {}, h.artificial ? "artificial head (§2.1.5)" : `model ${h.model} · cluster ${h.cluster}`),
                el("div", {class: "note"}, h.description || ""));
    const thumb = el("div", {});
    info.append(thumb);
    patternHeatmap(thumb, decodeUnit(D.mean[id]), null, "mean pattern over all prompts", {small: true, positions: true, width: 200, height: 200});
  }
  function open(id) {
    const h = byId[id];
    showHead(id, views(id), {text: h.artificial ? "artificial head" : `model ${h.model}, cluster ${h.cluster}: ${h.description || ""}`});
  }
  function draw() {
    const coords = D.projections[method.value];
    const points = D.heads.map(h => {
      const [x, y] = coords[h.id];
      const group = h.artificial ? "artificial" : colour.value === "cluster" ? `cluster ${h.cluster}` : h.model;
      const color = h.artificial ? "#000" : colour.value === "cluster" ? clusterColor(h.cluster)
                                                                       : PALETTE[models.indexOf(h.model) % PALETTE.length];
      return {id: h.id, x, y, group, color, symbol: h.artificial ? "star" : "circle", size: h.artificial ? 14 : 9,
              label: `${h.id}${h.artificial ? "" : " · cluster " + h.cluster}`};
    });
    const axisName = {pca: "PC", tsne: "t-SNE ", umap: "UMAP "}[method.value] || `${method.value} `;
    projectionPlot(plot, points, `${method.value.toUpperCase()} of ${D.heads.length} heads`, hover, open,
                   [`${axisName}1`, `${axisName}2`]);
  }
  method.addEventListener("change", draw);
  colour.addEventListener("change", draw);
  draw();

  const gallery = el("div", {class: "gallery", id: "gallery"});
  section("Clusters (Attention Phrenology §2.2.2)", el("p", {class: "note"},
          "Each cluster's mean pattern over all prompts and heads (rows: query position, columns: key position), " +
          "its member heads (click one to open it) and the models they come from."), gallery);
  for (const c of D.clusters) {
    const thumb = el("div", {});
    const ids = el("div", {class: "ids"}, ...c.members.map(id => el("span", {class: "headlink", onclick: () => open(id)}, id + " ")));
    const from = Object.entries(c.models).map(([m, k]) => el("span", {class: "pill"}, `${m}×${k}`));
    gallery.append(el("div", {class: "card", "data-cluster": c.id},
      el("b", {}, `cluster ${c.id}`), ` · ${c.size} head${c.size === 1 ? "" : "s"} · ` +
      `${Object.keys(c.models).length}/${D.n_models} models`,
      el("div", {class: "note"}, c.description), thumb, ids, el("div", {}, ...from)));
    patternHeatmap(thumb, decodeUnit(c.mean), null, "query position × key position", {small: true, positions: true, width: 210, height: 200});
  }

  const sweep = el("div", {id: "sweep"});
  section("Resolution sweep (Attention Phrenology §2.2.2)", sweep, el("div", {class: "verdict"}, D.verdict));
  const S = D.sweep;
  Plotly.react(sweep, [
    {x: S.gamma, y: S.f_score, name: "F-score", mode: "lines", line: {color: "#1f77b4"}},
    {x: S.gamma, y: S.n_clusters, name: "clusters", mode: "lines", yaxis: "y2", line: {color: "#ff7f0e"}},
  ], {
    width: 760, height: 360, margin: {t: 30}, xaxis: {title: {text: "resolution γ"}},
    yaxis: {title: {text: "F-score"}}, yaxis2: {title: {text: "clusters"}, overlaying: "y", side: "right",
                                                 tickmode: "linear", tick0: 0, showgrid: false,
                                                 dtick: Math.max(1, Math.ceil(Math.max(...S.n_clusters) / 8))},
    legend: {x: 1.1, xanchor: "left"},
    shapes: [{type: "line", x0: D.best_gamma, x1: D.best_gamma, yref: "paper", y0: 0, y1: 1, line: {dash: "dot", color: "#d62728"}}],
    annotations: [{x: D.best_gamma, yref: "paper", y: 1, text: `γ* = ${D.best_gamma.toFixed(3)}`, showarrow: false, yanchor: "bottom"}],
  }, CONFIG);
}

// ------------------------------------------------------------------ probes page

function probesPage() {
  const D = DATA;
  const rows = D.rows;
  const byId = Object.fromEntries(rows.map(r => [r.head_id, r]));
  const ranking = D.columns.filter(c => c.direction);
  const select = el("select", {id: "score-select"}, ...ranking.map(c => el("option", {value: c.name}, c.name)));
  const model = el("select", {id: "model-select"}, ...Object.keys(D.models).map(m => el("option", {value: m}, m)));
  const grid = el("div", {id: "grid"});
  const about = el("div", {class: "note", id: "score-about"});
  section("Every head, one score (layer × head)",
          el("div", {class: "controls"}, "score: ", select, Object.keys(D.models).length > 1 ? "model: " : "",
             Object.keys(D.models).length > 1 ? model : ""), about, grid, el("div", {id: "head-anchor"}));
  function openHead(id) {
    const r = byId[id];
    const s = D.samples[id] || {};
    const toks = D.sample_tokens[r.model] || {};
    const views = [];
    if (s.brown) views.push({label: "Brown", tokens: toks.brown, patterns: s.brown});
    if (s.repeat) views.push({label: "repeated random tokens", tokens: toks.repeat, patterns: s.repeat});
    const best = ranking.filter(c => r[c.name] !== null && r[c.name] !== undefined).slice(0, 12)
      .map(c => `${c.name} ${fmt(r[c.name])}`).join(" · ");
    showHead(id, views, {text: best, after: panel => {
      const more = el("div", {class: "row"});
      panel.append(more);
      if (D.ov && D.ov[id]) {
        const words = D.ov_words[r.model];
        const vals = decodeScaled(D.ov[id]);
        const n = words.length;
        const z = [];
        for (let i = 0; i < n; i++) z.push(Array.from(vals.slice(i * n, i * n + n)));
        const div = el("div", {id: "ov-map"});
        more.append(div);
        const idx = [...Array(n).keys()];
        Plotly.react(div, [{z, x: idx, y: idx, type: "heatmap", colorscale: "RdBu", zmid: 0,
          customdata: idx.map(i => idx.map(j => [words[i], words[j]])),
          hovertemplate: "input %{customdata[0]} → logit of %{customdata[1]}: %{z:.2f}<extra></extra>"}],
          {title: {text: "OV map over the word pairs (the antonym-heads post)", font: {size: 13}}, width: 520, height: 520,
           margin: {l: 90, r: 10, t: 40, b: 90},
           xaxis: {tickvals: idx.filter(i => i % Math.ceil(n / 30) === 0), ticktext: words.filter((_, i) => i % Math.ceil(n / 30) === 0), tickfont: {size: 9}, title: {text: "output logit"}},
           yaxis: {tickvals: idx.filter(i => i % Math.ceil(n / 30) === 0), ticktext: words.filter((_, i) => i % Math.ceil(n / 30) === 0), tickfont: {size: 9}, autorange: "reversed", title: {text: "input word"}}}, CONFIG);
      }
      if (D.eigen && D.eigen[id]) {
        const [re, im] = D.eigen[id];
        const div = el("div", {id: "eigen-plot"});
        more.append(div);
        Plotly.react(div, [{x: re, y: im, mode: "markers", type: "scatter", marker: {size: 6}}],
          {title: {text: "OV eigenvalues (complex plane)", font: {size: 13}}, width: 380, height: 380,
           margin: {t: 40}, xaxis: {title: {text: "Re λ"}, zeroline: true}, yaxis: {title: {text: "Im λ"}, zeroline: true}}, CONFIG);
      }
    }});
  }
  function drawGrid() {
    const col = D.columns.find(c => c.name === select.value);
    const m = model.value;
    const shape = D.models[m];
    const z = [], ids = [];
    for (let l = 0; l < shape.n_layers; l++) {
      z.push(new Array(shape.n_heads).fill(null));
      ids.push(new Array(shape.n_heads).fill(""));
    }
    rows.filter(r => r.model === m).forEach(r => { z[r.layer][r.head] = r[col.name]; ids[r.layer][r.head] = r.head_id; });
    const chance = col.chance && col.chance[m];
    about.textContent = `${col.name}: ${col.meaning}. More of the effect: ${col.direction}` +
      (chance !== null && chance !== undefined ? `; chance ${fmt(chance)}` : "") + `. Best: ${(D.best[col.name] || []).join(", ")}.`;
    Plotly.react(grid, [{z, type: "heatmap", customdata: ids, colorscale: "Viridis", reversescale: col.direction === "lower",
      hovertemplate: "%{customdata}<br>" + col.name + " %{z:.4g}<extra></extra>", xgap: 1, ygap: 1,
      // the score's name above the bar (a side title outgrew a one-layer grid); its direction is in the note above
      colorbar: {title: {text: col.name, side: "top"}, thickness: 14}}],
      {width: Math.max(420, Math.min(1200, 160 + 42 * shape.n_heads)),
       height: Math.max(240, Math.min(1400, 120 + 26 * shape.n_layers)),
       margin: {t: 30, l: 60}, xaxis: {title: {text: "head"}, dtick: 1}, yaxis: {title: {text: "layer"}, dtick: 1, autorange: "reversed"}},
      CONFIG);
    grid.removeAllListeners && grid.removeAllListeners("plotly_click");
    grid.on("plotly_click", ev => { const id = ev.points[0].customdata; if (id) openHead(id); });
  }
  select.addEventListener("change", drawGrid);
  model.addEventListener("change", drawGrid);
  drawGrid();

  const tableBox = el("div", {id: "scores-table"});
  section("Every head, every score", el("p", {class: "note"},
    "Click a header to sort (its tooltip gives the direction and chance value), type to filter, click a head id to open it."),
    tableBox);
  const columns = [{name: "head_id"}, {name: "model"}, {name: "layer"}, {name: "head"},
    ...D.columns.map(c => ({name: c.name, ascending: c.direction === "lower",
      title: `${c.meaning}\nmore of the effect: ${c.direction || "— (descriptive)"}` +
             (c.chance_text ? `\nchance: ${c.chance_text}` : "")}))];
  sortableTable(tableBox, columns, rows, {onPick: r => openHead(r.head_id)});
}

// ------------------------------------------------------------------ compare page

function comparePage() {
  const D = DATA;
  const toy = Object.fromEntries(D.toy.heads.map(h => [h.id, h]));
  const theirs = Object.fromEntries(D.theirs.heads.map(h => [h.id, h]));
  const plot = el("div", {id: "projection"});
  const info = hoverBox();
  const controls = Object.entries(D.controls || {}).map(([c, r]) => `${c}: ${r.toy_like} of ${r.n} toy-like`).join("; ");
  section(`${D.pretrained} heads over the fleet's projection`,
          el("p", {class: "note"}, `Fleet heads (circles) by cluster; ${D.pretrained} heads (diamonds): toy-like ones ` +
             `(calibrated p > ${D.alpha}: no farther from the nearest cluster than a left-out seed's heads) in that ` +
             `cluster's colour, the rest grey. Space: ${D.space.replace("_", " ")}. ` +
             (controls ? `Controls: ${controls}. ` : "") + `Hover a head; click it to open it.`),
          el("div", {class: "row"}, plot, info), el("div", {id: "head-anchor"}));
  function landed(h) { return h.toy_like ? h.cluster : null; }
  const points = [
    ...D.toy.heads.map(h => ({id: h.id, x: h.x, y: h.y, group: `fleet cluster ${h.cluster}`, color: clusterColor(h.cluster),
                              label: `${h.id} · cluster ${h.cluster}`})),
    ...D.theirs.heads.map(h => ({id: h.id, x: h.x, y: h.y, group: D.pretrained, color: clusterColor(landed(h)), symbol: "diamond",
                                 size: 8, label: `${h.id} → cluster ${h.cluster}, calibrated p = ${fmt(h.p)}`})),
  ];
  function small(container, id, tokens, b64, title) {
    const div = el("div", {});
    container.append(div);
    patternHeatmap(div, decodeUnit(b64), tokens, title, {small: true, width: 210, height: 210});
  }
  function hover(id) {
    info.innerHTML = "";
    if (toy[id]) {
      const h = toy[id];
      info.append(el("b", {class: "hover-id"}, id), el("div", {}, `fleet head, cluster ${h.cluster}: ${D.clusters[h.cluster] || ""}`));
      small(info, id, D.toy.prompts[0], D.toy.patterns[id][0], "prompt 0");
      return;
    }
    const h = theirs[id];
    info.append(el("b", {class: "hover-id"}, id),
      el("div", {}, `calibrated p = ${fmt(h.p)}: ${h.toy_like ? "toy-like" : "not toy-like"}`),
      el("div", {}, `nearest cluster ${h.cluster} (${D.clusters[h.cluster] || ""}), distance ${fmt(h.distance)}; ` +
                    `first-token mass ${fmt(h.sink)}`),
      el("div", {class: "note"}, `nearest fleet heads: ${h.nearest.slice(0, 3).join(", ")}`));
    small(info, id, D.theirs.prompts[0], D.theirs.patterns[id][0], `${id}, prompt 0`);
    const near = h.nearest[0];
    if (near && D.toy.patterns[near]) small(info, near, D.toy.prompts[0], D.toy.patterns[near][0], `nearest: ${near}, prompt 0`);
  }
  function open(id) {
    if (toy[id]) {
      showHead(id, [{label: "fleet prompt", tokens: D.toy.prompts, patterns: D.toy.patterns[id]}], {text: `fleet head, cluster ${toy[id].cluster}`});
      return;
    }
    const h = theirs[id];
    const near = h.nearest[0];
    const views = [{label: D.pretrained, tokens: D.theirs.prompts, patterns: D.theirs.patterns[id]}];
    if (near) views.push({label: `nearest fleet head ${near}`, tokens: D.toy.prompts, patterns: D.toy.patterns[near]});
    showHead(id, views, {text: `${h.toy_like ? "toy-like" : "not toy-like"} (calibrated p = ${fmt(h.p)}); nearest cluster ${h.cluster} (${D.clusters[h.cluster] || ""}); ` +
                                `nearest fleet heads ${h.nearest.join(", ")}`});
  }
  projectionPlot(plot, points, `PCA of the fleet's heads, ${D.pretrained}'s projected`, hover, open,
                 ["PC1 of the fleet's heads", "PC2"]);

  const grid = el("div", {id: "grid"});
  section("Every head's calibrated p (layer × head)", el("p", {class: "note"},
          `Colour: log10 of the calibrated p; above ${D.alpha} (log10 ${fmt(Math.log10(D.alpha))}) a head is toy-like. ` +
          `Hover a cell for the head, its p and its nearest cluster; click to open it.`), grid);
  const z = [], text = [], ids = [];
  for (let l = 0; l < D.n_layers; l++) { z.push(new Array(D.n_heads).fill(null)); text.push(new Array(D.n_heads).fill("")); ids.push(new Array(D.n_heads).fill("")); }
  let lowest = 0;
  D.theirs.heads.forEach(h => {
    const lp = Math.log10(Math.max(h.p, 1e-6));
    lowest = Math.min(lowest, lp);
    z[h.layer][h.head] = lp;
    text[h.layer][h.head] = `${h.id}: calibrated p = ${fmt(h.p)}, ${h.toy_like ? "toy-like" : "not toy-like"}; ` +
                            `nearest cluster ${h.cluster} (${D.clusters[h.cluster] || ""})`;
    ids[h.layer][h.head] = h.id;
  });
  Plotly.react(grid, [{z, text, customdata: ids, type: "heatmap", zmin: Math.min(lowest, Math.log10(D.alpha) - 1), zmax: 0,
    colorscale: "Viridis", colorbar: {title: {text: "log10 calibrated p", side: "right"}},
    hovertemplate: "%{text}<extra></extra>", xgap: 1, ygap: 1}],
    {width: Math.max(460, Math.min(900, 220 + 46 * D.n_heads)), height: Math.max(240, Math.min(1200, 120 + 24 * D.n_layers)), margin: {t: 20},
     xaxis: {title: {text: "head"}, dtick: 1}, yaxis: {title: {text: "layer"}, dtick: 1, autorange: "reversed"}}, CONFIG);
  grid.on("plotly_click", ev => { const id = ev.points[0].customdata; if (id) open(id); });

  for (const [name, frame] of Object.entries(D.tables)) {
    const box = el("div", {id: `table-${name}`});
    section(frame.title, el("p", {class: "note"}, frame.note || ""), box);
    framedTable(box, frame, {onPick: r => { const id = r[frame.columns[0]]; if (theirs[id] || toy[id]) open(id); }});
  }
}

// ------------------------------------------------------------------ formation page

function formationPage() {
  const D = DATA;
  const byId = Object.fromEntries(D.heads.map(h => [h.id, h]));
  const stepsOf = Object.fromEntries(D.models.map(m => [m.name, m.steps]));
  const score = el("select", {id: "score"}, ...D.scores.map(s => el("option", {value: s}, s.replace(/_/g, " "))));
  const model = el("select", {id: "model"}, el("option", {value: ""}, "all seeds"),
                   ...D.models.map(m => el("option", {value: m.name}, m.name)));
  const plot = el("div", {id: "curves"});
  const info = hoverBox();
  const inCluster = h => h.cluster !== null && h.cluster !== undefined;
  const clustered = D.heads.some(inCluster);
  const layered = !clustered && D.heads.some(h => h.layer > 0);  // a deep fleet without clusters: its layers
  section("Score curves per head", el("p", {class: "note"},
          `Each line is one head's score at the recorded steps (log axis)` +
          (clustered ? `, coloured by its final phrenology cluster (grey without one). `
                     : layered ? `, coloured by layer (no phrenology clusters given). ` : `. `) +
          `Dashed: ${D.k} × a uniform head's score, the line a head crosses to show the type. ` +
          `Hover a point to see that head's mean pattern at that step.`),
          el("div", {class: "controls"}, "score: ", score, "seeds: ", model), el("div", {class: "row"}, plot, info));
  info.firstChild.textContent = "Hover a point to see that head's mean pattern at that step.";
  function colour(h) { return clusterColor(layered ? h.layer : h.cluster); }  // grey without a cluster
  function hover(id, k) {
    const h = byId[id];
    const step = stepsOf[h.model][k];
    info.innerHTML = "";
    info.append(el("b", {class: "hover-id"}, id), el("div", {}, `step ${step}` +
                (inCluster(h) ? ` · final cluster ${h.cluster}` : ` · layer ${h.layer}`)),
                el("div", {class: "note", id: "hover-scores"},
                   D.scores.map(s => `${s.replace(/_/g, " ")} ${fmt(h.curves[s][k])}`).join(" · ")));
    const thumb = el("div", {});
    info.append(thumb);
    patternHeatmap(thumb, decodeUnit(h.patterns[k]), null, `mean pattern at step ${step}`,
                   {small: true, positions: true, width: 220, height: 220});
  }
  function draw() {
    const s = score.value;
    const heads = D.heads.filter(h => !model.value || h.model === model.value);
    const traces = heads.map(h => ({
      x: stepsOf[h.model].map(v => v + 1), y: h.curves[s], mode: "lines+markers", type: "scatter", name: h.id,
      line: {color: colour(h), width: 1.2}, marker: {size: 4, color: colour(h)}, showlegend: false,
      customdata: stepsOf[h.model].map((_, k) => [h.id, k]),
      hovertemplate: `${h.id}<br>step %{customdata[1]}<br>${s} %{y:.3f}<extra></extra>`,
    }));
    const shapes = D.thresholds[s] === undefined ? [] : [{type: "line", xref: "paper", x0: 0, x1: 1, y0: D.thresholds[s],
      y1: D.thresholds[s], line: {dash: "dash", color: "#333", width: 1}}];
    Plotly.react(plot, traces, {width: 760, height: 480, hovermode: "closest", margin: {l: 60, r: 10, t: 30, b: 50},
      xaxis: {type: "log", title: {text: "step + 1"}, dtick: "D2"}, yaxis: {title: {text: s.replace(/_/g, " ")}}, shapes},
      CONFIG);
    plot.removeAllListeners && plot.removeAllListeners("plotly_hover");
    plot.on("plotly_hover", ev => { const [id, k] = ev.points[0].customdata; hover(id, k); });
  }
  score.addEventListener("change", draw);
  model.addEventListener("change", draw);
  draw();

  const timeline = el("div", {id: "timeline"});
  section("When each seed grows each type", el("p", {class: "note"},
          "One row per seed: the step at which its first head shows each type (hover for the head)."), timeline);
  const names = D.models.map(m => m.name);
  const lastStep = Math.max(...D.models.map(m => m.steps[m.steps.length - 1]));
  const logAxis = {type: "log", title: {text: "step + 1"}, dtick: "D2", range: [-0.05, Math.log10(lastStep + 1) + 0.05]};
  const typeColour = t => PALETTE[D.types.indexOf(t) % PALETTE.length];
  Plotly.react(timeline, D.types.map(t => {
    const rows = D.emergence.filter(r => r.type === t && r.step !== null);
    return {x: rows.map(r => r.step + 1), y: rows.map(r => r.model), mode: "markers", type: "scatter",
            name: t.replace(/_/g, " "), marker: {size: 11, color: typeColour(t), line: {width: 0.5, color: "#333"}},
            text: rows.map(r => `${r.model}: ${t} from step ${r.step} (${r.head})`), hovertemplate: "%{text}<extra></extra>"};
  }), {width: 760, height: 120 + 28 * names.length, margin: {l: 60, r: 10, t: 20, b: 50}, hovermode: "closest",
       xaxis: logAxis, yaxis: {type: "category", categoryorder: "array", categoryarray: names.slice().reverse(),
                               range: [-0.5, names.length - 0.5], title: {text: "seed"}}}, CONFIG);

  const loss = el("div", {id: "loss"});
  section("Held-out loss", el("p", {class: "note"}, "Shaded: plateaus (a drop per doubling of the step count below " +
          "a quarter of the steepest drop so far). Markers: the step at which a seed's first head of each type " +
          "appears, on that seed's curve."), loss);
  const plateaus = D.events.filter(e => e.kind === "plateau");
  const lossAt = Object.fromEntries(D.models.map(m => [m.name, Object.fromEntries(m.steps.map((s, i) => [s, m.loss[i]]))]));
  const marks = D.types.map(t => {  // each seed's emergence of each type, on its own loss curve
    const rows = D.emergence.filter(r => r.type === t && r.step !== null);
    return {x: rows.map(r => r.step + 1), y: rows.map(r => lossAt[r.model][r.step]), mode: "markers", type: "scatter",
            name: `${t.replace(/_/g, " ")} appears`, marker: {size: 9, color: typeColour(t), line: {width: 0.5, color: "#333"}},
            text: rows.map(r => `${r.model}: ${t} from step ${r.step} (${r.head})`), hovertemplate: "%{text}<extra></extra>"};
  });
  Plotly.react(loss, [...D.models.map(m => ({x: m.steps.map(v => v + 1), y: m.loss, mode: "lines", name: m.name,
                                             line: {width: 1.2}})), ...marks],
    {width: 760, height: 360, margin: {l: 60, r: 10, t: 20, b: 50}, xaxis: logAxis,
     yaxis: {title: {text: "held-out loss (nats)"}},
     shapes: plateaus.map(e => ({type: "rect", xref: "x", yref: "paper", x0: e.start + 1, x1: e.end + 1, y0: 0, y1: 1,
                                 fillcolor: "#f0e0a0", opacity: 0.25, line: {width: 0}}))}, CONFIG);

  for (const [name, frame] of Object.entries(D.tables)) {
    const box = el("div", {id: `table-${name}`});
    section(frame.title, el("p", {class: "note"}, frame.note || ""), box);
    framedTable(box, frame, {});
  }
}

({phrenology: phrenologyPage, probes: probesPage, compare: comparePage, formation: formationPage})[DATA.kind]();
