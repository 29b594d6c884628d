// The REST calls the page makes, with the API key the user typed (kept in sessionStorage only).
const KEY = "vtrag.apiKey";

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
  imageUrls.forEach((url) => URL.revokeObjectURL(url));
  imageUrls.clear();
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `the server answered ${status}`);
    this.status = status;
    this.type = err.type || "";
    this.detail = err.detail ?? null;
  }
}

function headers(extra) {
  const out = { ...extra };
  const key = getKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body);
}

// JSON in, JSON out; a non-2xx answer throws ApiError with the server's message.
export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function upload(files) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const response = await fetch("/v1/documents", { method: "POST", headers: headers({}), body: form });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// Page images go through fetch (an <img src> cannot send the key) and are shown from blob: URLs.
const imageUrls = new Map();

export async function pageImageUrl(pageId) {
  if (imageUrls.has(pageId)) return imageUrls.get(pageId);
  const response = await fetch(`/v1/pages/${encodeURIComponent(pageId)}/image`, { headers: headers({}) });
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  imageUrls.set(pageId, url);
  return url;
}

// A one-line description of an error, with per-file reasons when the server gave them.
export function describe(error) {
  if (!(error instanceof ApiError)) return `cannot reach the server: ${error.message}`;
  const lines = [`${error.message} (${error.status})`];
  const detail = error.detail;
  if (Array.isArray(detail)) {
    for (const item of detail) {
      if (item && typeof item === "object") {
        const where = item.filename || item.file || (item.loc ? item.loc.join(".") : "");
        const why = item.error || item.message || item.msg || JSON.stringify(item);
        lines.push(where ? `${where}: ${why}` : why);
      }
    }
  }
  return lines.join(" — ");
}

// A one-field form that runs `run(text)` on submit, saying `busy` meanwhile and the error when it fails.
export function onQuery(formId, inputId, statusId, busy, run) {
  const input = document.getElementById(inputId);
  const status = document.getElementById(statusId);
  document.getElementById(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    status.textContent = busy;
    status.classList.remove("error");
    try {
      status.textContent = await run(text);
    } catch (error) {
      status.textContent = describe(error);
      status.classList.add("error");
    }
  });
}
