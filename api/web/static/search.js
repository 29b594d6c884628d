// Search: result cards with the page thumbnail, source, page and the snippet with the query terms marked.
import { call, onQuery } from "./api.js";
import { openPage, pageFigure } from "./page.js";

// The query's words (2+ letters or digits), longest first so "lighthouse" wins over "light".
export function queryTerms(query) {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) || [];
  return [...new Set(words)].sort((a, b) => b.length - a.length);
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The snippet as text nodes and <mark>s (never innerHTML: snippets are document text).
export function markedSnippet(snippet, terms) {
  const out = document.createElement("p");
  out.className = "snippet";
  if (!terms.length) {
    out.textContent = snippet;
    return out;
  }
  const pattern = new RegExp(`(${terms.map(escapeRegExp).join("|")})`, "giu");
  let last = 0;
  for (const match of snippet.matchAll(pattern)) {
    out.append(snippet.slice(last, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    out.append(mark);
    last = match.index + match[0].length;
  }
  out.append(snippet.slice(last));
  return out;
}

function card(hit, terms) {
  const item = document.createElement("li");
  item.className = "card";
  const title = `${hit.source} — page ${hit.page}`;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "thumb";
  open.setAttribute("aria-label", `Open ${title}`);
  open.append(pageFigure(hit.page_id, `Page ${hit.page} of ${hit.source}`));
  open.addEventListener("click", () => openPage(hit.page_id, title));
  const body = document.createElement("div");
  body.className = "card-body";
  const head = document.createElement("h3");
  head.className = "source";
  head.textContent = hit.source;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = `page ${hit.page} · score ${hit.score.toFixed(3)}`;
  body.append(head, meta, markedSnippet(hit.snippet, terms));
  item.append(open, body);
  return item;
}

export function setupSearch() {
  const list = document.getElementById("results");
  onQuery("search-form", "search-input", "search-status", "Searching…", async (query) => {
    list.replaceChildren();
    const found = await call("POST", "/v1/search", { query, top_k: 10 });
    const terms = queryTerms(query);
    list.replaceChildren(...found.results.map((hit) => card(hit, terms)));
    return found.results.length ? `${found.results.length} pages` : "No pages found.";
  });
}
