// Ask: the answer, the path that produced it, and each citation's box drawn over its page.
import { call, onQuery } from "./api.js";
import { openPage, pageFigure } from "./page.js";

const REASONS = {
  guard_fired: "the generation repeated itself (n-gram guard)",
  empty: "the generation was empty",
  low_confidence: "the generation's confidence was too low",
  no_tokens: "the pages have no stored vision tokens",
  requested: "full OCR was requested",
};

// What produced the answer, in words: stored tokens, OCR fallback (and why), or extractive.
export function answerPath(answer) {
  const fallback = answer.fallback || {};
  if (answer.mode === "generate") return "Decoded from the pages' stored vision tokens.";
  if (answer.mode === "ocr-fallback") {
    const why = REASONS[fallback.reason] || fallback.reason || "unknown reason";
    const engine = fallback.engine ? ` by ${fallback.engine}` : "";
    return `OCR fallback: the top pages were re-read in full${engine}, because ${why}.`;
  }
  if (answer.mode === "extractive") return "Extractive: read from the stored page text (no decoder).";
  return `Answered by: ${answer.mode}.`;
}

function citationItem(citation, index) {
  const item = document.createElement("li");
  item.className = "citation";
  const title = `${citation.source} — page ${citation.page}`;
  const boxes = citation.bbox ? [citation.bbox] : [];
  const caption = document.createElement("p");
  caption.className = "meta";
  caption.textContent = `[${index + 1}] ${title}${citation.bbox ? "" : " (whole page)"}`;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "thumb wide";
  open.setAttribute("aria-label", `Open ${title} with the cited box`);
  open.append(pageFigure(citation.page_id, `Cited page ${citation.page} of ${citation.source}`, boxes));
  open.addEventListener("click", () => openPage(citation.page_id, title, boxes));
  item.append(caption, open);
  return item;
}

export function setupAsk() {
  const panel = document.getElementById("answer");
  onQuery("ask-form", "ask-input", "ask-status", "Reading the top pages…", async (question) => {
    panel.hidden = true;
    const answer = await call("POST", "/v1/answer", { question });
    document.getElementById("answer-text").textContent = answer.answer || "(no answer found)";
    document.getElementById("answer-path").textContent = answerPath(answer);
    const trail = (answer.fallback && answer.fallback.trail) || [];
    document.getElementById("answer-trail").replaceChildren(
      ...trail.map((step) => Object.assign(document.createElement("li"), { textContent: step })),
    );
    document.getElementById("citations").replaceChildren(...answer.citations.map(citationItem));
    panel.hidden = false;
    return "";
  });
}
