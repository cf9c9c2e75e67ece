// A workflow's graph as SVG, built with DOM APIs from the stored definition: nodes in
// layers (longest path from `start`, loops' back edges set aside), edges as curves with
// their labels, back edges around the right side. Nodes take a status class as a run
// goes: running, retrying, ok (green), error (red).

import { s } from './dom.js';

const W = 168;
const H = 48;
const GAP_X = 36;
const GAP_Y = 74;
const PAD = 24;

export function layout(def) {
  const nodes = (def.nodes || []).map((n) => n.id);
  const edges = (def.edges || []).map((e, i) => ({ ...e, i }));
  const out = new Map(nodes.map((n) => [n, []]));
  for (const e of edges) if (out.has(e.source) && out.has(e.target)) out.get(e.source).push(e);

  // Back edges: edges to a node on the DFS stack.
  const state = new Map();
  const order = [];
  const back = new Set();
  const visit = (root) => {
    const stack = [[root, 0]];
    state.set(root, 1);
    order.push(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [v, k] = top;
      const list = out.get(v);
      if (k >= list.length) {
        state.set(v, 2);
        stack.pop();
        continue;
      }
      top[1]++;
      const e = list[k];
      const st = state.get(e.target);
      if (st === 1) back.add(e.i);
      else if (!st) {
        state.set(e.target, 1);
        order.push(e.target);
        stack.push([e.target, 0]);
      }
    }
  };
  const start = (def.nodes || []).find((n) => n.type === 'start');
  if (start) visit(start.id);
  for (const n of nodes) if (!state.has(n)) visit(n);

  // Longest-path layers over the forward edges (Kahn's order).
  const indeg = new Map(nodes.map((n) => [n, 0]));
  for (const e of edges) if (!back.has(e.i) && indeg.has(e.target) && out.has(e.source)) indeg.set(e.target, indeg.get(e.target) + 1);
  const layer = new Map(nodes.map((n) => [n, 0]));
  const queue = order.filter((n) => indeg.get(n) === 0);
  while (queue.length) {
    const v = queue.shift();
    for (const e of out.get(v)) {
      if (back.has(e.i)) continue;
      layer.set(e.target, Math.max(layer.get(e.target), layer.get(v) + 1));
      indeg.set(e.target, indeg.get(e.target) - 1);
      if (indeg.get(e.target) === 0) queue.push(e.target);
    }
  }
  // `end` on the last layer.
  const maxLayer = Math.max(0, ...layer.values());
  const end = (def.nodes || []).find((n) => n.type === 'end');
  if (end) layer.set(end.id, Math.max(layer.get(end.id), maxLayer));

  const layers = [];
  for (const n of order) {
    const l = layer.get(n);
    (layers[l] ||= []).push(n);
  }
  // Two barycentre sweeps to untangle crossings a little.
  const pos = new Map();
  const setPos = () => layers.forEach((ls) => ls?.forEach((n, i) => pos.set(n, i - (ls.length - 1) / 2)));
  setPos();
  const preds = new Map(nodes.map((n) => [n, []]));
  for (const e of edges) if (!back.has(e.i) && preds.has(e.target)) preds.get(e.target).push(e.source);
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let l = 1; l < layers.length; l++) {
      if (!layers[l]) continue;
      const bary = (n) => {
        const p = preds.get(n).filter((x) => pos.has(x));
        return p.length ? p.reduce((a, x) => a + pos.get(x), 0) / p.length : pos.get(n);
      };
      layers[l].sort((a, b) => bary(a) - bary(b));
      setPos();
    }
  }
  const widest = Math.max(1, ...layers.map((ls) => (ls ? ls.length : 0)));
  const width = widest * W + (widest - 1) * GAP_X + 2 * PAD + 120;
  const coords = new Map();
  layers.forEach((ls, l) => {
    if (!ls) return;
    const rowWidth = ls.length * W + (ls.length - 1) * GAP_X;
    const x0 = (width - 120 - rowWidth) / 2;
    ls.forEach((n, i) => coords.set(n, { x: x0 + i * (W + GAP_X), y: PAD + l * (H + GAP_Y) }));
  });
  const height = PAD * 2 + layers.length * H + Math.max(0, layers.length - 1) * GAP_Y;
  return { coords, edges, back, width, height, layer, layers };
}

export function workflowGraph(def, { onSelect } = {}) {
  const { coords, edges, back, width, height, layer, layers } = layout(def);
  const types = new Map((def.nodes || []).map((n) => [n.id, n.type]));
  const svg = s('svg', {
    class: 'wf-graph',
    role: 'img',
    'aria-label': `Workflow graph of ${def.name || 'the workflow'}: ${(def.nodes || []).length} nodes, ${edges.length} edges`,
    testid: 'wf-graph',
  });
  const defs = s('defs');
  for (const [id, cls] of [
    ['wf-arrow', 'arrow'],
    ['wf-arrow-error', 'arrow arrow-error'],
    ['wf-arrow-taken', 'arrow arrow-taken'],
  ]) {
    defs.append(
      s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 11, markerHeight: 11, orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: cls })),
    );
  }
  svg.append(defs);
  const edgeLayer = s('g', { class: 'wf-edges' });
  const labelLayer = s('g', { class: 'wf-labels' });
  const nodeLayer = s('g', { class: 'wf-nodes' });
  svg.append(edgeLayer, nodeLayer, labelLayer);

  const edgeEls = [];
  let backOffset = 0;
  let maxX = width;
  let maxY = height;
  for (const e of edges) {
    const a = coords.get(e.source);
    const b = coords.get(e.target);
    if (!a || !b) continue;
    let d;
    let mid;
    const isBack = back.has(e.i) || b.y <= a.y;
    if (isBack) {
      // Around the outside: down into the gap under the source, right past every node of
      // the layers spanned, up to the gap over the target, and into it from above.
      backOffset += 12;
      const lt = layer.get(e.target);
      const ls = layer.get(e.source);
      const spanned = [];
      for (let l = Math.min(lt, ls); l <= Math.max(lt, ls); l++) for (const n of layers[l] || []) spanned.push(coords.get(n));
      const lane = Math.max(...spanned.map((c) => c.x + W)) + 18 + backOffset;
      const x1 = a.x + W * 0.78;
      const y1 = a.y + H;
      const yS = a.y + H + GAP_Y * 0.3 + (backOffset % 24);
      const x2 = b.x + W * 0.78;
      const yT = b.y - GAP_Y * 0.3 - (backOffset % 24);
      const r = 8;
      d = `M ${x1} ${y1} L ${x1} ${yS - r} Q ${x1} ${yS} ${x1 + r} ${yS} L ${lane - r} ${yS} Q ${lane} ${yS} ${lane} ${yS - r} L ${lane} ${yT + r} Q ${lane} ${yT} ${lane - r} ${yT} L ${x2 + r} ${yT} Q ${x2} ${yT} ${x2} ${yT + r} L ${x2} ${b.y - 2}`;
      mid = { x: lane, y: (yS + yT) / 2 };
      maxX = Math.max(maxX, lane + 20);
      maxY = Math.max(maxY, yS + 12);
    } else {
      const x1 = a.x + W / 2;
      const y1 = a.y + H;
      const x2 = b.x + W / 2;
      const y2 = b.y - 2;
      const my = (y1 + y2) / 2;
      // An edge over several layers goes around the nodes in between, not through them.
      const between = [];
      for (let l = layer.get(e.source) + 1; l < layer.get(e.target); l++) for (const n of layers[l] || []) between.push(coords.get(n));
      const lo = Math.min(x1, x2) - 12;
      const hi = Math.max(x1, x2) + 12;
      if (between.length && between.some((c) => c.x < hi && c.x + W > lo)) {
        const left = Math.min(...between.map((c) => c.x)) - 22;
        const right = Math.max(...between.map((c) => c.x + W)) + 22;
        const vx = Math.abs(left - (x1 + x2) / 2) <= Math.abs(right - (x1 + x2) / 2) ? left : right;
        const yA = Math.min(...between.map((c) => c.y));
        const yB = Math.max(...between.map((c) => c.y + H));
        d = `M ${x1} ${y1} C ${x1} ${yA}, ${vx} ${y1}, ${vx} ${yA} L ${vx} ${yB} C ${vx} ${y2}, ${x2} ${yB}, ${x2} ${y2}`;
        mid = { x: vx, y: (yA + yB) / 2 };
      } else {
        d = `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`;
        mid = { x: (x1 + x2) / 2, y: my };
      }
    }
    const cond = e.condition ?? null;
    const cls = ['wf-edge', isBack ? 'wf-edge-back' : '', cond === 'error' ? 'wf-edge-error' : ''].filter(Boolean).join(' ');
    const path = s('path', { d, class: cls, 'marker-end': `url(#${cond === 'error' ? 'wf-arrow-error' : 'wf-arrow'})`, testid: `wf-edge-${e.i}`, 'data-source': e.source, 'data-target': e.target });
    edgeLayer.append(path);
    edgeEls.push({ e, path });
    if (cond !== null && cond !== '') {
      const text = String(cond);
      const shown = text.length > 28 ? `${text.slice(0, 27)}…` : text;
      const w = shown.length * 6.6 + 10;
      labelLayer.append(
        s(
          'g',
          { class: `wf-edge-label${cond === 'error' ? ' wf-edge-label-error' : ''}`, transform: `translate(${mid.x - w / 2} ${mid.y - 9})`, testid: `wf-edge-label-${e.i}` },
          s('title', { text }),
          s('rect', { width: w, height: 18, rx: 4 }),
          s('text', { x: w / 2, y: 13, 'text-anchor': 'middle', text: shown }),
        ),
      );
    }
  }

  svg.setAttribute('viewBox', `0 0 ${maxX} ${maxY}`);
  svg.setAttribute('width', String(maxX));
  svg.setAttribute('height', String(maxY));

  const nodeEls = new Map();
  for (const n of def.nodes || []) {
    const c = coords.get(n.id);
    if (!c) continue;
    const label = n.id.length > 20 ? `${n.id.slice(0, 19)}…` : n.id;
    const sub = n.type === 'code' && n.config?.language ? `code · ${n.config.language}` : n.type;
    const g = s(
      'g',
      {
        class: `wf-node type-${n.type}`,
        transform: `translate(${c.x} ${c.y})`,
        tabindex: 0,
        role: 'button',
        'aria-label': `node ${n.id} (${n.type})`,
        testid: `wf-node-${n.id}`,
        'data-node': n.id,
        'data-status': 'idle',
      },
      s('title', { text: `${n.id} (${n.type})` }),
      s('rect', { width: W, height: H, rx: n.type === 'start' || n.type === 'end' ? 24 : 8 }),
      s('text', { x: W / 2, y: 20, 'text-anchor': 'middle', class: 'wf-node-id', text: label }),
      s('text', { x: W / 2, y: 37, 'text-anchor': 'middle', class: 'wf-node-type', text: sub }),
      s('text', { x: W - 10, y: 15, 'text-anchor': 'end', class: 'wf-node-badge', text: '' }),
    );
    const pick = () => onSelect && onSelect(n.id);
    g.addEventListener('click', pick);
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        pick();
      }
    });
    nodeLayer.append(g);
    nodeEls.set(n.id, g);
  }

  const api = {
    el: svg,
    types,
    setStatus(id, status, badge) {
      const g = nodeEls.get(id);
      if (!g) return;
      for (const c of [...g.classList]) if (c.startsWith('st-')) g.classList.remove(c);
      g.classList.add(`st-${status}`);
      g.setAttribute('data-status', status);
      if (badge !== undefined) g.querySelector('.wf-node-badge').textContent = badge;
    },
    markTaken(source, target) {
      for (const { e, path } of edgeEls) {
        if (e.source === source && e.target === target) {
          path.classList.add('wf-edge-taken');
          if (e.condition !== 'error') path.setAttribute('marker-end', 'url(#wf-arrow-taken)');
        }
      }
    },
    reset() {
      for (const id of nodeEls.keys()) api.setStatus(id, 'idle', '');
      for (const { e, path } of edgeEls) {
        path.classList.remove('wf-edge-taken');
        path.setAttribute('marker-end', `url(#${e.condition === 'error' ? 'wf-arrow-error' : 'wf-arrow'})`);
      }
    },
    select(id) {
      for (const [nid, g] of nodeEls) g.classList.toggle('selected', nid === id);
    },
  };
  return api;
}
