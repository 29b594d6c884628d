"""Upload job records on disk: one JSON file per job under `<data_dir>/jobs/`, so job ids outlive the process.

Each write goes to a temporary file in the same folder and is moved into place, so a crash leaves the old
record or the new one, never half of one. Unreadable records (a disk that failed mid-write) are skipped, not
fatal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger("vtrag.jobs")
_NAME = re.compile(r"^([0-9a-f]{32})\.json$")


class JobRecords:
    """The folder of job records.

    Args:
        root: the folder (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, record: dict[str, Any]) -> None:
        """Write one job's record (its `job_id` names the file), replacing the previous one."""
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".{uuid.uuid4().hex}.tmp"
        try:
            temp.write_text(json.dumps(record))
            os.replace(temp, self.root / f"{record['job_id']}.json")
        except OSError as exc:  # a record that cannot be written costs its id after a restart, not the job
            temp.unlink(missing_ok=True)
            log.warning("could not write job record %s: %s", record.get("job_id"), exc)

    def load(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first; leftover temporary files are removed."""
        if not self.root.is_dir():
            return []
        records = []
        for path in self.root.iterdir():
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                continue
            if not _NAME.match(path.name):
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable job record %s: %s", path.name, exc)
                continue
            if isinstance(record, dict) and record.get("job_id") == path.stem:
                records.append(record)
        return sorted(records, key=lambda r: float(r.get("created_at", 0.0)))

    def remove(self, job_id: str) -> None:
        (self.root / f"{job_id}.json").unlink(missing_ok=True)
