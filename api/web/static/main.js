// The page's entry point: tabs (arrow keys move between them), the API key form, and each section.
import { getKey, setKey } from "./api.js";
import { setupAsk } from "./ask.js";
import { refresh, setupDocs } from "./docs.js";
import { setupViewer } from "./page.js";
import { setupSearch } from "./search.js";

function select(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const on = other === tab;
    other.setAttribute("aria-selected", String(on));
    other.tabIndex = on ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
  }
  if (tab.id === "tab-docs") refresh();
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
}

function showKeyState() {
  document.getElementById("key-state").textContent = getKey() ? "key set for this tab" : "no key";
}

function setupKey() {
  const input = document.getElementById("key-input");
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    input.value = "";
    showKeyState();
  });
  document.getElementById("key-forget").addEventListener("click", () => {
    setKey("");
    input.value = "";
    showKeyState();
  });
  showKeyState();
}

setupTabs();
setupKey();
setupViewer();
setupSearch();
setupAsk();
setupDocs();
