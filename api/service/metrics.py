"""The counters of one process (answers, fallbacks, guard trips, jobs, latency), as Prometheus text.

The text exposition format (version 0.0.4), written out by hand.

A handful of counters, one gauge family and one latency histogram; label sets are bounded (route templates,
not raw paths), so the exposition stays small however many requests the server sees.
"""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Thread-safe counters and the request latency histogram of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, str] = {}
        self._hist: dict[Labels, list[float]] = {}  # labels -> bucket counts (+Inf last), then sum
        self.describe("vtrag_pages_indexed_total", "Pages written to the index by upload jobs.")
        self.describe("vtrag_documents_indexed_total", "Documents finished by upload jobs, by outcome.")
        self.describe("vtrag_answers_total", "Answers served, by the path that produced them.")
        self.describe("vtrag_answer_fallbacks_total", "Answers that fell back to full OCR, by reason.")
        self.describe("vtrag_guard_trips_total", "Generations in which the n-gram repetition guard fired.")
        self.describe("vtrag_jobs_total", "Upload jobs finished, by final status.")

    def describe(self, name: str, help_text: str) -> None:
        self._help[name] = help_text
        self._counters[name]  # noqa: B018 - create the family so it is exported at 0

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += value

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (("method", method), ("route", route), ("status", str(status)))
        with self._lock:
            counts = self._hist.get(key)
            if counts is None:
                counts = self._hist[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[len(LATENCY_BUCKETS)] += 1  # +Inf
            counts[-1] += seconds

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> str:
        """The exposition text. `gauges`: name -> (help, value), sampled by the caller at scrape time."""
        out: list[str] = []
        with self._lock:
            for name in sorted(self._counters):
                out.append(f"# HELP {name} {self._help.get(name, name)}")
                out.append(f"# TYPE {name} counter")
                series = self._counters[name]
                if not series:
                    out.append(f"{name} 0")
                for labels, value in sorted(series.items()):
                    out.append(f"{name}{_labels(labels)} {_num(value)}")
            name = "vtrag_http_request_duration_seconds"
            out.append(f"# HELP {name} Latency of HTTP requests, by method, route template and status.")
            out.append(f"# TYPE {name} histogram")
            for labels, counts in sorted(self._hist.items()):
                for i, bound in enumerate(LATENCY_BUCKETS):
                    out.append(f"{name}_bucket{_labels(labels + (('le', _num(bound)),))} {_num(counts[i])}")
                total = counts[len(LATENCY_BUCKETS)]
                out.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {_num(total)}")
                out.append(f"{name}_sum{_labels(labels)} {counts[-1]:.6f}")
                out.append(f"{name}_count{_labels(labels)} {_num(total)}")
        for gname, (help_text, value) in sorted((gauges or {}).items()):
            out.append(f"# HELP {gname} {help_text}")
            out.append(f"# TYPE {gname} gauge")
            out.append(f"{gname} {_num(value)}")
        return "\n".join(out) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
