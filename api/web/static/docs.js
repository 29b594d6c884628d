// Documents: upload (drag and drop, several files), the job's progress, the list with page counts, delete.
import { ApiError, call, describe, upload } from "./api.js";

const POLL_MS = 500;
let chosen = [];

function showChosen() {
  const names = chosen.map((f) => f.name).join(", ");
  document.getElementById("upload-chosen").textContent = chosen.length ? `${chosen.length} chosen: ${names}` : "";
}

function askForKey(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    document.getElementById("key-input").focus();
  }
}

function showJob(job) {
  const box = document.getElementById("job");
  box.hidden = false;
  const p = job.progress;
  document.getElementById("job-status").textContent =
    `Job ${job.status}: ${p.files_done}/${p.files_total} files, ${p.pages_done}/${p.pages_total} pages`;
  const bar = document.getElementById("job-progress");
  bar.max = Math.max(1, p.pages_total || p.files_total);
  bar.value = p.pages_total ? p.pages_done : p.files_done;
  document.getElementById("job-files").replaceChildren(
    ...job.files.map((f) => {
      const li = document.createElement("li");
      li.className = f.status === "failed" ? "error" : "";
      li.textContent = `${f.filename}: ${f.status}${f.pages ? `, ${f.pages} page${f.pages === 1 ? "" : "s"}` : ""}${f.error ? ` — ${f.error}` : ""}`;
      return li;
    }),
  );
}

async function follow(jobId) {
  for (;;) {
    const job = await call("GET", `/v1/jobs/${jobId}`);
    showJob(job);
    if (!["queued", "running"].includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function submit(event) {
  event.preventDefault();
  const error = document.getElementById("upload-error");
  error.textContent = "";
  if (!chosen.length) {
    error.textContent = "Choose or drop one or more files first.";
    return;
  }
  try {
    const accepted = await upload(chosen);
    chosen = [];
    document.getElementById("upload-input").value = "";
    showChosen();
    await follow(accepted.job_id);
  } catch (failure) {
    error.textContent = describe(failure);
    askForKey(failure);
  }
  await refresh();
}

function confirmDelete(doc, cell) {
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "danger";
  yes.textContent = `Yes, delete ${doc.filename || doc.source}`;
  const no = document.createElement("button");
  no.type = "button";
  no.textContent = "Cancel";
  no.addEventListener("click", () => refresh());
  yes.addEventListener("click", async () => {
    try {
      await call("DELETE", `/v1/documents/${doc.doc_id}`);
      await refresh(`Deleted ${doc.filename || doc.source}.`);
    } catch (failure) {
      await refresh();
      const status = document.getElementById("docs-status");
      status.textContent = describe(failure);
      status.classList.add("error");
      askForKey(failure);
    }
  });
  cell.replaceChildren(yes, no);
  yes.focus();
}

function docRow(doc) {
  const row = document.createElement("tr");
  row.dataset.docId = doc.doc_id;
  const name = doc.filename || doc.source;
  const cells = [name, String(doc.pages), doc.status + (doc.error ? `: ${doc.error}` : "")];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }
  row.cells[0].title = doc.source;
  const actions = document.createElement("td");
  const del = document.createElement("button");
  del.type = "button";
  del.textContent = "Delete";
  del.setAttribute("aria-label", `Delete ${name}`);
  del.addEventListener("click", () => confirmDelete(doc, actions));
  actions.append(del);
  row.append(actions);
  return row;
}

// Reload the list; `note` (what just happened) goes before the count.
export async function refresh(note = "") {
  const status = document.getElementById("docs-status");
  try {
    const listed = await call("GET", "/v1/documents?limit=1000");
    document.querySelector("#docs tbody").replaceChildren(...listed.documents.map(docRow));
    const count = `${listed.total} document${listed.total === 1 ? "" : "s"}`;
    status.textContent = note ? `${note} ${count}` : count;
    status.classList.remove("error");
  } catch (failure) {
    status.textContent = describe(failure);
    status.classList.add("error");
  }
}

export function setupDocs() {
  const drop = document.getElementById("drop");
  const input = document.getElementById("upload-input");
  input.addEventListener("change", () => {
    chosen = [...input.files];
    showChosen();
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    chosen = [...event.dataTransfer.files];
    input.value = ""; // the dropped files replace any chosen through the picker
    showChosen();
  });
  document.getElementById("upload-form").addEventListener("submit", submit);
}
