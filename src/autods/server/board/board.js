// The board renders only what /api returns (posts, schemas, aggregates), never data rows.
// Every agent-written string goes through textContent: posts are untrusted input.
"use strict";
(function () {
  const cfg = window.AUTODS;
  const headers = cfg.token ? { Authorization: "Bearer " + cfg.token } : {};
  let lastSeq = 0, seenPosts = new Set(), firstRender = true, timer = null, names = new Map();
  // Authors are agent ids as text; show "name (role)" instead.
  function who(key) { return key === null || key === undefined ? "" : (names.get(String(key)) || String(key)); }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v, d) { return (v === null || v === undefined) ? "–" : Number(v).toFixed(d === undefined ? 3 : d); }
  function when(t) { return new Date(t * 1000).toLocaleTimeString(); }
  function fill(id, nodes, emptyText) {
    const box = document.getElementById(id);
    box.replaceChildren(...(nodes.length ? nodes : [el("div", "empty", emptyText)]));
  }
  function table(cols, rows) {
    const t = el("table"), head = el("tr");
    cols.forEach(c => head.appendChild(el("th", null, c)));
    t.appendChild(head);
    rows.forEach(r => {
      const tr = el("tr");
      r.forEach(c => tr.appendChild(c instanceof Node ? wrapTd(c) : el("td", null, c)));
      t.appendChild(tr);
    });
    return t;
  }
  function wrapTd(node) { const td = el("td"); td.appendChild(node); return td; }

  function postCard(p, isReply) {
    const c = el("div", "card" + (isReply ? " reply" : ""));
    c.dataset.postId = p.id;
    if (!firstRender && !seenPosts.has(p.id)) c.classList.add("new");
    seenPosts.add(p.id);
    c.appendChild(el("span", "kind " + p.kind, p.kind));
    c.appendChild(el("span", "title", p.title));
    c.appendChild(el("div", "meta", "#" + p.id + " by " + who(p.author) + " at " + when(p.created_at)));
    if (p.body) c.appendChild(el("div", "body", p.body));
    return c;
  }
  function renderForum(posts) {
    const replies = new Map();
    posts.forEach(p => { if (p.thread_id !== null) {
      if (!replies.has(p.thread_id)) replies.set(p.thread_id, []);
      replies.get(p.thread_id).push(p); } });
    const roots = posts.filter(p => p.thread_id === null || !posts.some(q => q.id === p.thread_id));
    roots.sort((a, b) => b.id - a.id);
    const nodes = [];
    roots.forEach(r => {
      nodes.push(postCard(r, false));
      (replies.get(r.id) || []).forEach(q => { if (q !== r) nodes.push(postCard(q, true)); });
    });
    fill("forum", nodes, "no posts yet");
  }
  function renderProposals(props) {
    fill("proposals", props.slice().reverse().map(entry => {
      const p = entry.proposal, c = el("div", "card");
      c.appendChild(el("span", "kind proposal", p.status));
      c.appendChild(el("span", "title", "#" + p.id + " " + p.title));
      c.appendChild(el("div", "meta", "family " + p.family + " · expected " + fmt(p.expected_effect) + " · by " + who(p.author)));
      c.appendChild(el("div", "body", p.hypothesis));
      entry.critiques.forEach(k => {
        const d = el("div", "reply card");
        d.appendChild(el("span", "verdict-" + k.verdict, k.verdict));
        d.appendChild(el("span", "meta", " by " + who(k.author) + ": "));
        d.appendChild(el("span", null, k.reasons));
        c.appendChild(d);
      });
      return c;
    }), "no proposals yet");
  }
  function renderQueues(items, teams) {
    const names = new Map(teams.map(t => [t.id, t.name]));
    const groups = new Map();
    items.forEach(i => { const k = i.team_id === null ? "run-wide" : (names.get(i.team_id) || "team " + i.team_id);
      if (!groups.has(k)) groups.set(k, []); groups.get(k).push(i); });
    const nodes = [];
    groups.forEach((list, name) => {
      nodes.push(el("div", "meta", name + " (" + list.length + ")"));
      nodes.push(table(["item", "proposal", "seed", "status", "by", "tries"], list.slice().reverse().map(i =>
        [String(i.id), String(i.proposal_id), String(i.seed), el("span", "status-" + i.status, i.status),
         who(i.claimed_by), String(i.attempts)])));
    });
    fill("queues", nodes, "queues are empty");
  }
  function renderExperiments(results) {
    fill("experiments", results.length ? [table(["#", "proposal", "seed", "metric", "value", "95% CI", "s"],
      results.slice().reverse().map(r => [String(r.id), String(r.proposal_id), String(r.seed), r.metric,
        fmt(r.value), r.ci_low === null ? "–" : fmt(r.ci_low) + "–" + fmt(r.ci_high), fmt(r.duration_s, 1)]))] : [],
      "no results yet");
  }
  function renderChart(results, champs) {
    const box = document.getElementById("chart");
    const NS = "http://www.w3.org/2000/svg", W = 400, H = 170, L = 40, R = 8, T = 10, B = 22;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("preserveAspectRatio", "none");
    const mk = (tag, attrs, text) => { const e = document.createElementNS(NS, tag);
      Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v)); if (text) e.textContent = text;
      svg.appendChild(e); return e; };
    const vals = results.map(r => r.value).concat(champs.map(c => c.value));
    if (!vals.length) { box.replaceChildren(el("div", "empty", "no results yet")); return; }
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi - lo < 1e-9) { lo -= 0.01; hi += 0.01; }
    const n = Math.max(results.length, 2), ids = results.map(r => r.id);
    const x = i => L + (W - L - R) * i / (n - 1), y = v => T + (H - T - B) * (hi - v) / (hi - lo);
    mk("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
    mk("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
    mk("text", { x: 2, y: T + 8 }, fmt(hi)); mk("text", { x: 2, y: H - B }, fmt(lo));
    mk("text", { x: L, y: H - 6 }, "experiments in order (" + results.length + ")");
    results.forEach((r, i) => mk("circle", { class: "trial", cx: x(i), cy: y(r.value), r: 2.5 }));
    // The champion is a step line: it holds its value until the next promotion.
    let d = "", pts = [];
    champs.forEach(c => { const i = Math.max(0, ids.indexOf(c.result_id)); pts.push([x(i), y(c.value)]); });
    pts.forEach((p, k) => { d += (k ? " H" + p[0] + " V" + p[1] : "M" + p[0] + " " + p[1]); });
    if (pts.length) { d += " H" + (W - R); mk("path", { class: "champ", d: d });
      pts.forEach(p => mk("circle", { class: "champ-pt", cx: p[0], cy: p[1], r: 3.5 })); }
    box.replaceChildren(svg);
  }
  function renderSmall(id, rows, cols, empty) {
    fill(id, rows.length ? [table(cols, rows)] : [], empty);
  }
  function render(s) {
    names = new Map(s.agents.map(a => [String(a.id), a.name + " (" + a.role + ")"]));
    names.set("system", "system");
    document.getElementById("run-name").textContent = s.run.name;
    const champ = s.champions[s.champions.length - 1];
    document.getElementById("champion-badge").textContent = champ
      ? "champion " + champ.metric + " " + fmt(champ.value) + " (result #" + champ.result_id + ")" : "no champion yet";
    renderForum(s.posts);
    renderProposals(s.proposals);
    renderQueues(s.queue, s.teams);
    renderExperiments(s.results);
    renderChart(s.results, s.champions);
    renderSmall("dead-ends", s.dead_ends.map(d => [d.family, JSON.stringify(d.region), d.reason]),
      ["family", "region", "reason"], "no dead ends registered");
    renderSmall("findings", s.findings.map(f => [f.check, el("span", "sev-" + f.severity, f.severity), f.message]),
      ["check", "severity", "message"], "no guardrail findings");
    lastSeq = Math.max(lastSeq, s.last_seq);
    firstRender = false;
  }
  async function refresh() {
    // Both reads start together; every graph write is an audit event, so the stream covers both.
    const base = cfg.api + "/runs/" + cfg.run_id;
    const [resp, graph] = await Promise.all([fetch(base + "/board", { headers }), fetch(base + "/graph", { headers })]);
    if (!resp.ok) return;
    const s = await resp.json();
    render(s);
    if (graph.ok) window.AutodsGraph.render(await graph.json(), s, who);
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 150); }
  function live() {
    const q = new URLSearchParams({ run_id: cfg.run_id, since: lastSeq });
    if (cfg.token) q.set("token", cfg.token);
    const es = new EventSource(cfg.api + "/events/stream?" + q.toString());
    const badge = document.getElementById("live");
    es.onopen = () => { badge.className = "live on"; badge.textContent = "● live"; };
    es.onerror = () => { badge.className = "live off"; badge.textContent = "● reconnecting"; };
    es.addEventListener("event", schedule);
  }
  refresh().then(live);
})();
