// The hypothesis graph on the board: diagnoses, ideas by tier, verdict tickets, relations.
// Input is /api/runs/{id}/graph (and the board's results, for a ticket's result value).
// Every agent-written string (claims, titles, reasons) goes through textContent.
"use strict";
window.AutodsGraph = (function () {
  const TIERS = ["NOW", "NEXT", "LATER", "PARKED", "CUT"];
  let seen = new Map(), first = true;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fill(id, nodes, emptyText) {
    const box = document.getElementById(id);
    box.replaceChildren(...(nodes.length ? nodes : [el("div", "empty", emptyText)]));
  }
  function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
  function plural(n, word, many) { return n + " " + (n === 1 ? word : (many || word + "s")); }
  // A card flashes when it is new or its state (tier, status, answer) changed since the last render.
  function mark(card, key, state) {
    if (!first && seen.get(key) !== state) card.classList.add("new");
    seen.set(key, state);
    card.dataset.key = key;
  }

  function diagnosisCard(d, ideas, who) {
    const c = el("div", "card diagnosis");
    mark(c, "d" + d.id, d.status + "|" + d.finding_ids.length + "|" + d.result_ids.length);
    c.dataset.diagnosisId = d.id;
    c.appendChild(el("span", "kind dstatus-" + d.status, d.status));
    c.appendChild(el("span", "title", "D" + d.id + " " + d.claim));
    const n = d.finding_ids.length + d.result_ids.length;
    const parts = ["evidence " + n + " (" + plural(d.finding_ids.length, "finding") + ", " +
                   plural(d.result_ids.length, "result") + ")", plural(ideas.length, "idea"), "by " + who(d.author)];
    c.appendChild(el("div", "meta evidence", parts.join(" · ")));
    if (d.status_reason) c.appendChild(el("div", "body", (d.merged_into ? "merged into D" + d.merged_into + ": " : "")
                                                           + d.status_reason));
    return c;
  }

  function ideaCard(i, openOn, diag) {
    const c = el("div", "card idea" + (openOn.has(i.id) ? " owed" : ""));
    mark(c, "i" + i.id, i.tier + "|" + i.status + "|" + openOn.has(i.id));
    c.dataset.ideaId = i.id;
    c.appendChild(el("span", "title", "#" + i.id + " " + i.title));
    if (openOn.has(i.id)) c.appendChild(el("span", "kind ticket-flag", "verdict owed"));
    c.appendChild(el("div", "meta", i.family + " · D" + i.diagnosis_id + (diag ? " " + short(diag.claim, 40) : "")
                                      + " · expected " + Number(i.expected_effect).toFixed(3)));
    c.appendChild(el("div", "body", "if it works: " + i.if_works));
    c.appendChild(el("div", "body", "if it fails: " + i.if_fails));
    if (i.tier_reason) c.appendChild(el("div", "meta", "why " + i.tier + ": " + i.tier_reason));
    if (i.tier === "CUT" && i.resurrect_if) c.appendChild(el("div", "meta", "back if: " + i.resurrect_if));
    return c;
  }

  function renderIdeas(view, openOn, diags) {
    const nodes = TIERS.map(tier => {
      const list = view.ideas.filter(i => i.tier === tier);
      const col = el("div", "tier tier-" + tier);
      col.dataset.tier = tier;
      const cap = tier === "NOW" ? " (" + list.length + " of " + view.now_capacity + ")" : " (" + list.length + ")";
      col.appendChild(el("div", "tier-name", tier + cap));
      if (!list.length) col.appendChild(el("div", "empty", "none"));
      list.forEach(i => col.appendChild(ideaCard(i, openOn, diags.get(i.diagnosis_id))));
      return col;
    });
    document.getElementById("graph-ideas").replaceChildren(...nodes);
  }

  function ticketCard(k, ideas, results, who) {
    const c = el("div", "card ticket " + k.status);
    mark(c, "k" + k.id, k.status);
    c.dataset.ticketId = k.id;
    const idea = ideas.get(k.idea_id), r = results.get(k.result_id);
    c.appendChild(el("span", "kind ticket-" + k.status, k.status === "open" ? "open" : k.answer));
    c.appendChild(el("span", "title", "ticket " + k.id + " on #" + k.idea_id + (idea ? " " + idea.title : "")));
    c.appendChild(el("div", "meta", "opened by result #" + k.result_id +
                                    (r ? " (" + r.metric + " " + Number(r.value).toFixed(3) + ")" : "")));
    if (k.status === "answered") c.appendChild(el("div", "body", k.answer + " by " + who(k.answered_by) + ": " + k.reason));
    return c;
  }

  function relationRow(r, ideas) {
    const c = el("div", "card relation");
    mark(c, "r" + r.id, r.kind);
    const name = id => "#" + id + (ideas.has(id) ? " " + ideas.get(id).title : "");
    c.appendChild(el("span", null, name(r.src_id) + " "));
    c.appendChild(el("span", "kind rel", r.kind));
    c.appendChild(el("span", null, " " + name(r.dst_id)));
    c.appendChild(el("div", "meta", "because " + r.reason));
    return c;
  }

  function render(view, board, who) {
    const ideas = new Map(view.ideas.map(i => [i.id, i]));
    const diags = new Map(view.diagnoses.map(d => [d.id, d]));
    const results = new Map(board.results.map(r => [r.id, r]));
    const open = view.tickets.filter(k => k.status === "open");
    const openOn = new Set(open.map(k => k.idea_id));
    fill("graph-diagnoses", view.diagnoses.map(d =>
      diagnosisCard(d, view.ideas.filter(i => i.diagnosis_id === d.id), who)), "no diagnosis yet");
    renderIdeas(view, openOn, diags);
    // Open tickets first: while any is open the server refuses new dispatch (423).
    const tickets = open.concat(view.tickets.filter(k => k.status !== "open").reverse());
    fill("graph-tickets", tickets.map(k => ticketCard(k, ideas, results, who)), "no verdict tickets");
    fill("graph-relations", view.relations.map(r => relationRow(r, ideas)), "no relations");
    const summary = document.getElementById("graph-summary");
    summary.textContent = plural(view.diagnoses.length, "diagnosis", "diagnoses") + " · " +
      plural(view.ideas.length, "idea") + " · " + (open.length ? plural(open.length, "open ticket") +
      ": new dispatch waits for a verdict" : "no open ticket");
    summary.className = "meta" + (open.length ? " locked" : "");
    first = false;
  }
  return { render: render };
})();
