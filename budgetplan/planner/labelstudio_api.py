"""Talk to a running Label Studio over its REST API: create a project, import tasks, export answers.

Standard library only (``urllib``). Authentication follows Label Studio's two token kinds: a
legacy token is sent as ``Authorization: Token <token>``; a personal access token (a JWT refresh
token, three dot-separated parts) is first exchanged at ``/api/token/refresh`` for an access token
sent as ``Authorization: Bearer <access>``. Endpoints: ``POST /api/projects`` (title,
``label_config``), ``POST /api/projects/<id>/import`` (a JSON list of tasks; sent in batches),
``GET /api/projects/<id>`` (``task_number``), ``GET /api/projects/<id>/export?exportType=JSON``.

Every failure is one :class:`LabelStudioAPIError` line naming the address, the call and Label
Studio's own message. The address is the user's; nothing else is contacted.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from budgetplan.errors import BudgetplanError

IMPORT_BATCH = 1000
TIMEOUT_S = 120.0


class LabelStudioAPIError(BudgetplanError):
    """Label Studio could not be reached or refused a call."""


@dataclass(frozen=True)
class PushResult:
    """A project made by :func:`push_tasks`: its id, tasks imported, and where to open it."""

    project_id: int
    n_tasks: int
    project_url: str


class LabelStudioClient:
    """A few REST calls to one Label Studio (``url`` like ``http://127.0.0.1:8080``)."""

    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_S) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LabelStudioAPIError(
                f"Label Studio address {url!r} is not an http(s) URL, e.g. http://localhost:8080"
            )
        if not token.strip():
            raise LabelStudioAPIError(
                "no Label Studio token: pass --token (Account & Settings in Label Studio)"
            )
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token.strip()
        self._auth: str | None = None

    # ------------------------------------------------------------------ plumbing
    def _authorization(self) -> str:
        if self._auth is None:
            if self._token.count(".") == 2:  # a personal access token (JWT refresh token)
                reply = self._call("POST", "/api/token/refresh", {"refresh": self._token}, auth="")
                access = reply.get("access") if isinstance(reply, dict) else None
                if not access:
                    raise LabelStudioAPIError(
                        f"{self.url}: /api/token/refresh gave no access token"
                    )
                self._auth = f"Bearer {access}"
            else:
                self._auth = f"Token {self._token}"
        return self._auth

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One authenticated call; the JSON reply (None when empty)."""
        return self._call(method, path, body, auth=self._authorization())

    def _call(self, method: str, path: str, body: Any, *, auth: str) -> Any:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = auth
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        what = f"{method} {path.split('?')[0]}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - user's URL
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = _detail(exc.read())
            hint = " (check --token)" if exc.code in (401, 403) else ""
            raise LabelStudioAPIError(
                f"Label Studio at {self.url} refused {what}: HTTP {exc.code} {detail}{hint}"
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioAPIError(
                f"cannot reach Label Studio at {self.url} ({what}: {reason})"
            ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise LabelStudioAPIError(
                f"Label Studio at {self.url} answered {what} with something other than JSON"
            ) from None

    # ------------------------------------------------------------------ calls
    def create_project(self, title: str, label_config: str, description: str = "") -> int:
        reply = self.request(
            "POST",
            "/api/projects",
            {"title": title, "label_config": label_config, "description": description},
        )
        if not isinstance(reply, dict) or not isinstance(reply.get("id"), int):
            raise LabelStudioAPIError(f"{self.url}: creating the project returned no id")
        return int(reply["id"])

    def import_tasks(
        self, project_id: int, tasks: Sequence[dict[str, Any]], batch: int = IMPORT_BATCH
    ) -> int:
        """Import ``tasks`` in batches; the number Label Studio says it created."""
        created = 0
        for start in range(0, len(tasks), batch):
            reply = self.request(
                "POST", f"/api/projects/{project_id}/import", list(tasks[start : start + batch])
            )
            created += int((reply or {}).get("task_count", 0))
        return created

    def task_count(self, project_id: int) -> int:
        reply = self.request("GET", f"/api/projects/{project_id}")
        return int((reply or {}).get("task_number", 0))

    def export_tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Label Studio's JSON export of the project (tasks with their annotations)."""
        reply = self.request(
            "GET", f"/api/projects/{project_id}/export?exportType=JSON&download_all_tasks=true"
        )
        if not isinstance(reply, list):
            raise LabelStudioAPIError(f"{self.url}: the JSON export is not a list of tasks")
        return reply


def push_tasks(
    client: LabelStudioClient,
    tasks: Sequence[dict[str, Any]],
    label_config: str,
    title: str,
    description: str = "",
) -> PushResult:
    """Create a project with ``label_config`` and import ``tasks``; checks the count arrived."""
    project = client.create_project(title, label_config, description)
    client.import_tasks(project, tasks)
    n = client.task_count(project)
    if n != len(tasks):
        raise LabelStudioAPIError(
            f"{client.url}: project {project} holds {n} tasks, {len(tasks)} were sent"
        )
    return PushResult(project, n, f"{client.url}/projects/{project}/data")


def _detail(raw: bytes) -> str:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace").strip()
    if isinstance(obj, dict):
        for key in ("detail", "validation_errors", "message", "error"):
            if key in obj:
                return json.dumps(obj[key])[:300]
    return json.dumps(obj)[:300]
