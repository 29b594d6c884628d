"""/v1/documents: upload (queued for indexing), list, get, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Path, Query, UploadFile

from api.client.schemas import (
    DOC_ID_PATTERN,
    DeleteResponse,
    DocumentListResponse,
    DocumentResponse,
    ErrorResponse,
    UploadedFile,
    UploadResponse,
)
from api.rest.deps import ReadAccess, State, WriteAccess
from api.rest.errors import ApiError
from api.rest.jobs import QueueFullError
from api.rest.state import ServerState
from api.rest.uploads import StoredUpload, UploadError
from api.service.listing import document_response
from retriever.records import DocRecord

router = APIRouter(prefix="/v1/documents", tags=["documents"])
DocIdPath = Annotated[str, Path(pattern=DOC_ID_PATTERN, description="sha256 hex of the document's bytes.")]
DELETE_WAIT_S = 30.0  # a delete waits this long for a running upload job before answering 409
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 415, 422, 429, 507)
}


@router.post("", status_code=202, response_model=UploadResponse, responses=_ERRORS)
def upload(
    files: Annotated[list[UploadFile], File(description="One or more PDF/PNG/JPEG/TIFF/BMP/WebP files.")],
    state: State,
    _: WriteAccess,
) -> UploadResponse:
    """Store the files under the data dir and queue a job that indexes them; poll GET /v1/jobs/{id}."""
    limit = state.settings.max_files_per_request
    if len(files) > limit:
        raise ApiError(
            413,
            f"{len(files)} files in one request, over the limit of {limit}",
            detail={"files": len(files), "limit_files": limit},
        )
    if state.jobs.queued() >= state.settings.max_pending_jobs:
        raise _queue_full()
    try:
        stored = state.uploads.save_all((f.filename, f.file) for f in files)
    except UploadError as exc:
        if exc.status == 507:
            state.disk.full()
        raise ApiError(exc.status, exc.message, detail=exc.detail) from None
    try:
        job = state.jobs.submit(stored)
    except QueueFullError:
        _discard_unindexed(state, stored)
        raise _queue_full() from None
    return UploadResponse(
        job_id=job.job_id,
        files=[
            UploadedFile(filename=u.filename, doc_id=u.doc_id, bytes=u.bytes, pages=u.pages) for u in stored
        ],
    )


def _queue_full() -> ApiError:
    return ApiError(429, "too many upload jobs are waiting; retry later", headers={"Retry-After": "5"})


def _discard_unindexed(state: ServerState, stored: list[StoredUpload]) -> None:
    pending = state.jobs.pending_paths()
    store = state.service.store()
    for upload in stored:
        if upload.path not in pending and store.get_doc(upload.doc_id) is None:
            state.uploads.remove(upload.doc_id)


@router.get("", response_model=DocumentListResponse, responses=_ERRORS)
def list_documents(
    state: State,
    _: ReadAccess,
    status: Annotated[Literal["indexing", "complete", "failed", "deleting"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DocumentListResponse:
    """Documents in the index, ordered by source."""
    docs = state.service.store().list_docs(status)
    return DocumentListResponse(
        documents=[_document(state, d) for d in docs[offset : offset + limit]], total=len(docs)
    )


@router.get("/{doc_id}", response_model=DocumentResponse, responses=_ERRORS)
def get_document(doc_id: DocIdPath, state: State, _: ReadAccess) -> DocumentResponse:
    """One document's manifest record."""
    doc = state.service.store().get_doc(doc_id)
    if doc is None:
        raise ApiError(404, f"no document {doc_id}")
    return _document(state, doc)


@router.delete("/{doc_id}", response_model=DeleteResponse, responses=_ERRORS)
def delete_document(doc_id: DocIdPath, state: State, _: WriteAccess) -> DeleteResponse:
    """Remove a document, its pages, its tokens and its stored upload (a failed document too).

    A tombstone is written first, so a delete cut short by a crash is finished at the next start, never undone
    by re-indexing the stored upload."""
    if not state.write_lock.acquire(timeout=DELETE_WAIT_S):
        raise ApiError(
            409, "an upload job is writing to the index; retry later", headers={"Retry-After": "5"}
        )
    try:
        if any(state.uploads.owns(p) == doc_id for p in state.jobs.pending_paths()):
            raise ApiError(409, "this document is queued for indexing; retry once its job has run")
        known = state.service.store().get_doc(doc_id) is not None or state.uploads.has(doc_id)
        if not known:
            raise ApiError(404, f"no document {doc_id}")
        state.uploads.mark_deleting(doc_id)
        state.service.delete(doc_id)
        state.uploads.remove(doc_id)
    finally:
        state.write_lock.release()
    return DeleteResponse(deleted=[doc_id])


def _document(state: ServerState, doc: DocRecord) -> DocumentResponse:
    uploaded = state.uploads.owns(doc.source)
    return document_response(
        doc,
        display=state.uploads.display,
        filename=lambda doc_id: state.uploads.filename(doc_id) if uploaded else None,
    )
