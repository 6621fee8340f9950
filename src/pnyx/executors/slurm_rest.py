"""One slurmrestd session: JWT headers, the API version spoken (chosen once), and Slurm's errors.

Slurm reports errors in the body, often with status 500, so a call returns the body whenever it is a
JSON object and the caller classifies its ``errors``; an unreachable server, refused credentials or a
body that is not JSON raise ``EngineUnavailable`` (try again later).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from pnyx.executors.slurm_api import (
    SUPPORTED_VERSIONS,
    SlurmCall,
    SlurmDialect,
    SlurmError,
    dialect_for,
    newest_supported,
)
from pnyx.jobs.model import EngineUnavailable


class SlurmRest:
    def __init__(
        self,
        *,
        base_url: str,
        user: str,
        token: str,
        timeout_s: float,
        api_version: str | None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, self.api_version = base_url, api_version
        headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token, "Content-Type": "application/json"}
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport, headers=headers)
        self._dialect: SlurmDialect | None = None

    def close(self) -> None:
        self._http.close()

    def dialect(self) -> SlurmDialect:
        """The API dialect, chosen once: configured, or the newest the server offers."""
        if self._dialect is None:
            self._dialect = dialect_for(self.api_version or self._negotiate())
        return self._dialect

    def send(self, call: SlurmCall) -> dict[str, Any]:
        return self.call(call.method, call.path, params=dict(call.params) or None, json=call.body)

    def call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One request; the body whenever it is a JSON object (Slurm's errors are in it)."""
        return self._body(self._request(method, url, **kwargs), method, url)

    def get_since(self, url: str, update_time: int | None) -> tuple[int, dict[str, Any]]:
        """A GET that may answer "not modified since ``update_time``" (304, no body): status and body."""
        params = {"update_time": str(update_time)} if update_time is not None else None
        response = self._request("GET", url, params=params)
        return response.status_code, ({} if response.status_code == 304 else self._body(response, "GET", url))

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"slurmrestd at {self.base_url} unreachable: {exc}") from exc

    def _body(self, response: httpx.Response, method: str, url: str) -> dict[str, Any]:
        if response.status_code in {401, 403}:
            raise EngineUnavailable(f"slurmrestd refused our credentials ({response.status_code})")
        try:
            body = response.json()
        except ValueError as exc:
            raise EngineUnavailable(
                f"slurmrestd answered {response.status_code} without JSON to {method} {url}"
            ) from exc
        if not isinstance(body, dict):
            raise EngineUnavailable(f"slurmrestd answered {method} {url} with {type(body).__name__}")
        if response.status_code >= 400 and not body.get("errors"):
            raise EngineUnavailable(f"slurmrestd answered {response.status_code} to {method} {url}")
        return body

    def _negotiate(self) -> str:
        offered = self._offered_versions()
        version = newest_supported(offered)
        if version is None:
            raise EngineUnavailable(
                f"slurmrestd at {self.base_url} offers {sorted(offered)}, none of {SUPPORTED_VERSIONS}"
            )
        return version

    def _offered_versions(self) -> list[str]:
        """Versions with a ``/slurm/<v>/ping`` in the server's OpenAPI document, or, where the
        document is not served, those whose ping answers."""
        response = self._get("/openapi/v3")
        if response.status_code == 200:
            # 24.11 writes its paths with a trailing slash ("/slurm/v0.0.42/ping/"), 22.05 without
            paths = {str(p).rstrip("/") for p in response.json().get("paths") or {}}
            return [v for v in SUPPORTED_VERSIONS if f"/slurm/{v}/ping" in paths]
        return [v for v in SUPPORTED_VERSIONS if self._get(f"/slurm/{v}/ping").status_code == 200]

    def _get(self, url: str) -> httpx.Response:
        try:
            return self._http.get(url)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"slurmrestd at {self.base_url} unreachable: {exc}") from exc


def describe(errors: Sequence[SlurmError]) -> str:
    return "; ".join(f"{e.message} [{e.number}]" for e in errors)
