"""A bounded journal of the requests the mock answered, secrets redacted."""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

# Body fields and headers never shown: device signatures, PINs, refresh
# tokens, PKCE secrets and the API secret key.
SECRET_FIELDS = frozenset(
    {
        "code",
        "current_code",
        "new_code",
        "reset_code",
        "signature",
        "refresh_token",
        "code_verifier",
        "authorization_code",
    }
)
SECRET_HEADERS = frozenset({"api_secret_key", "authorization", "cookie"})
REDACTED = "[redacted]"
# Bodies are kept up to this size; the journal must stay small.
MAX_BODY = 64 * 1024


@dataclass
class Entry:
    id: int
    time: float
    api_key: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str]
    request_body: bytes
    status: int
    response_body: bytes
    duration_ms: float
    scenario: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "api_key": self.api_key,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": {
                # Werkzeug spells API_SECRET_KEY as Api-Secret-Key.
                name: REDACTED
                if name.lower().replace("-", "_") in SECRET_HEADERS
                else value
                for name, value in self.headers.items()
            },
            "request": _redacted_body(self.request_body),
            "status": self.status,
            "response": _redacted_body(self.response_body),
            "duration_ms": round(self.duration_ms, 3),
            "scenario": self.scenario,
            "fault": self.fault,
        }


def _redacted_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return redact(json.loads(raw))
    except (ValueError, RecursionError):
        return raw[:200].decode("utf-8", "replace")


def redact(value: Any) -> Any:
    """``value`` with every secret field's value replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key in SECRET_FIELDS and value[key] else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


class Journal:
    """The last ``size`` requests, oldest dropped first. Redaction happens
    when entries are read, so recording stays cheap on every request."""

    def __init__(self, size: int):
        self.size = size
        self._entries: deque[Entry] = deque(maxlen=size or None)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        if not self.size:
            return
        for name in ("request_body", "response_body"):
            fields[name] = fields[name][:MAX_BODY]
        with self._lock:
            self._entries.append(Entry(id=next(self._ids), **fields))

    def entries(
        self,
        *,
        path: str | None = None,
        method: str | None = None,
        api_key: str | None = None,
    ) -> list[Entry]:
        """Matching entries, oldest first. ``path`` is a glob."""
        with self._lock:
            entries = list(self._entries)
        return [
            entry
            for entry in entries
            if (path is None or fnmatch.fnmatchcase(entry.path, path))
            and (method is None or entry.method == method.upper())
            and (api_key is None or entry.api_key == api_key)
        ]

    def clear(self, api_key: str | None = None) -> None:
        with self._lock:
            if api_key is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.api_key != api_key]
                self._entries.clear()
                self._entries.extend(kept)

    def __len__(self) -> int:
        return len(self._entries)
