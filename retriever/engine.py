"""Every fact that differs between the Milvus engines vtrag runs on, in one place.

Three engines speak the same pymilvus API:
- milvus-lite 2.5.x: Milvus' C++ core (knowhere, segcore) as a child process on a Unix socket; the `.db` is a
  file, its lock `.<name>.lock` beside it (POSIX lockf). Local mode builds only FLAT and IVF_FLAT dense
  indexes (HNSW is refused). The embedded default: 9x faster than 3.x at 20k pages, 76x at 100k
  (docs/BENCHMARKS.md).
- milvus-lite 3.x: a pure-Python rewrite "for prototyping" running in our process (LSM storage, Parquet
  segments, FAISS per segment, BM25 in Python); the `.db` is a directory, its lock `<db>/LOCK` (flock).
  HNSW works.
- a Milvus server (standalone, cluster, `milvus-lite server`, or a 2.5 core on TCP: retriever/lite_server.py):
  HNSW, or IVF_FLAT where the server is the 2.5 Lite core (it refuses HNSW: LOCAL_MODE_REFUSAL);
  acknowledged writes are in its WAL already, and flush is rate-limited, so we never flush there.

An existing index is searched with the parameters of the index type it was built with (schema.py reads it
back on open), whatever engine built it.

`engine_for(uri)` says which one a URI opens; schema.py, search.py and connection.py ask it instead of
testing versions themselves.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from retriever import lite_core

_SERVER_SCHEMES = ("http://", "https://", "tcp://")

# HNSW build parameters for the dense legs: M=16/efConstruction=200 is the usual recall/size balance.
HNSW_BUILD = {"M": 16, "efConstruction": 200}
# HNSW's ef must be at least the number of results asked for; 64 is a sensible floor for recall.
MIN_EF = 64
# IVF_FLAT (milvus-lite 2.5). Measured there (bench/search_scale.py --recall, docs/BENCHMARKS.md): the core
# builds no per-segment index in local mode and searches sealed segments through Milvus' interim IVF index,
# whose nprobe is fixed in the binary, so these parameters change nothing there (nprobe 1..128: identical
# results; dense recall@10 0.91 at 100k pages). They are Milvus' usual values, for a server that honours them.
# FLAT would be exact but turns the interim index off: 134 ms per dense search at 100k pages.
IVF_BUILD = {"nlist": 128}
IVF_NPROBE = 32
DENSE_BUILD: dict[str, Mapping[str, Any]] = {"HNSW": HNSW_BUILD, "IVF_FLAT": IVF_BUILD, "FLAT": {}}
# What milvus-lite 2.5 answers to an HNSW index, served over TCP as much as embedded (GetVersion is not
# implemented there, so this refusal is how a server URI tells the Lite core apart from Milvus proper).
LOCAL_MODE_REFUSAL = "local mode only support"
# What the 2.5 core answers to a BM25 search over a corpus without a single term (an empty index, or pages
# without text): its average document length is 0 and the scores NaN. Such a leg can match nothing.
BM25_WITHOUT_TERMS = "Invalid sparse row: NaN or Inf value"


def is_server_uri(uri: str | os.PathLike[str]) -> bool:
    """Whether `uri` names a Milvus server rather than a Milvus Lite file.

    Args:
        uri: a `.db` path or an http(s)/tcp URI.

    Returns:
        True for http://, https:// and tcp:// URIs.
    """
    return str(uri).lower().startswith(_SERVER_SCHEMES)


def is_loopback_uri(uri: str) -> bool:
    """True for a server URI on this machine (127.0.0.0/8, ::1, localhost)."""
    host = urlsplit(uri).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Engine:
    """What vtrag needs to know about one Milvus engine.

    Attributes:
        name: for messages and benchmark tables ("milvus-lite 2.5.1", "milvus server").
        embedded: a Lite engine opened from a `.db` path (one process per file).
        in_process: the engine's threads run inside our process (milvus-lite 3.x), sharing our heap.
        dense_index: index type of the dense vector fields.
        dense_build: its build parameters.
        flush_writes: seal segments on document completion (Lite); a server keeps writes in its WAL.
    """

    name: str
    embedded: bool
    in_process: bool
    dense_index: str
    dense_build: Mapping[str, Any] = field(default_factory=dict)
    flush_writes: bool = True

    def dense_search_params(self, limit: int) -> dict[str, Any]:
        """Search parameters of a dense leg that returns `limit` candidates.

        Args:
            limit: candidates asked for.

        Returns:
            The `search_params`/`param` dict for this engine's dense index.
        """
        if self.dense_index == "HNSW":
            return {"ef": max(limit, MIN_EF)}
        if self.dense_index == "IVF_FLAT":
            return {"nprobe": IVF_NPROBE}
        return {}

    def with_dense_index(self, index_type: str) -> Engine:
        """This engine with another dense index type (the one an existing index was built with, or the
        fallback when a server refuses HNSW).

        Args:
            index_type: "HNSW", "IVF_FLAT" or "FLAT".

        Returns:
            The Engine.
        """
        return replace(self, dense_index=index_type, dense_build=DENSE_BUILD.get(index_type, {}))

    def lock_held_elsewhere(self, db_path: str) -> bool:
        """Whether another process holds the advisory lock this Lite engine takes for `db_path`.

        Args:
            db_path: the resolved `.db` path.

        Returns:
            True when the lock file exists and cannot be taken now (always False for a server).
        """
        if not self.embedded:
            return False
        if self.in_process:  # 3.x: flock on <db dir>/LOCK
            return _taken(Path(db_path) / "LOCK", fcntl.flock)
        return _taken(lite_core.lock_path(Path(db_path)), fcntl.lockf)  # 2.5: lockf beside the file


SERVER = Engine("milvus server", embedded=False, in_process=False, dense_index="HNSW",
                dense_build=HNSW_BUILD, flush_writes=False)  # fmt: skip


def lite_engine(version: str | None = None) -> Engine:
    """The Lite engine of the installed (or given) milvus-lite release.

    Args:
        version: a milvus-lite version string; None reads the installed package's.

    Returns:
        The Engine: 2.x is the C++ core, 3.x and later the pure-Python rewrite.

    Raises:
        RuntimeError: milvus-lite is not installed (a server-only install must use a server URI).
    """
    if version is None:
        try:
            version = metadata.version("milvus-lite")
        except metadata.PackageNotFoundError as exc:
            raise RuntimeError(
                "milvus-lite is not installed: use a Milvus server URI (--milvus-uri http://host:19530)"
            ) from exc
    major = int(version.split(".")[0])
    name = f"milvus-lite {version}"
    if major <= 2:
        return Engine(name, embedded=True, in_process=False, dense_index="IVF_FLAT", dense_build=IVF_BUILD)
    return Engine(name, embedded=True, in_process=True, dense_index="HNSW", dense_build=HNSW_BUILD)


def engine_for(uri: str | os.PathLike[str]) -> Engine:
    """The engine a URI opens.

    Args:
        uri: a `.db` path or a server URI.

    Returns:
        SERVER for server URIs, else the installed Lite engine.
    """
    return SERVER if is_server_uri(uri) else lite_engine()


def _taken(lock_file: Path, lock: Any) -> bool:
    if not lock_file.exists():
        return False
    try:
        fd = os.open(lock_file, os.O_RDWR)
    except OSError:
        return False
    try:
        lock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        lock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
