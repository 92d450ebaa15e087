"""Which Wistia Data API a run speaks: the frozen v1, or the current API at one release.

Wistia serves two APIs from one account. v1 (`https://api.wistia.com/v1`, paths ending in
`.json`) is frozen: no breaking change ever, no new features. The current API
(`https://api.wistia.com/modern`, paths without a suffix) is versioned by a request header,
`X-Wistia-Api-Version: <release>`, with a dated release every other month (2026-01, 2026-03,
2026-05, ...). Wistia serves a request without the header the newest release, and a release that
does not exist the one before it, so the tap always sends the release its user chose: an
upgrade is then a setting changed on purpose, never a surprise.

The statistics endpoints keep their parameters and fields in the current API; medias change
(folders instead of projects, cursor pagination). This module knows only where each endpoint
lives and which header goes with it; `medias.py` knows the shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

V1_URL = "https://api.wistia.com/v1"
CURRENT_URL = "https://api.wistia.com/modern"
VERSION_HEADER = "X-Wistia-Api-Version"
FIRST_RELEASE = "2026-01"
"""The current API's first release (Wistia's migration guide: "API v1 to API 2026-01")."""
EXAMPLE_RELEASE = "2026-03"
"""The release Wistia's own TypeScript SDK sends, used in help texts."""
_RELEASE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def is_release(text: str) -> bool:
    """Whether `text` names a release of the current API: a month `YYYY-MM` from 2026-01 on."""
    return bool(_RELEASE.fullmatch(text)) and text >= FIRST_RELEASE


def api_of_url(url: str) -> str | None:
    """`"v1"` or `"modern"` when the URL's path ends there (as Wistia's own URLs do), else None.

    A proxy or sandbox URL may end elsewhere; it is then taken as the user gives it.
    """
    last = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return last if last in {"v1", "modern"} else None


@dataclass(frozen=True)
class ApiVersion:
    """The API a run reads, and where each endpoint the tap uses lives in it.

    `release` is None for v1, else the release sent in `X-Wistia-Api-Version`.
    """

    release: str | None = None

    @property
    def current(self) -> bool:
        """Whether this is the current (header-versioned) API rather than v1."""
        return self.release is not None

    @property
    def default_url(self) -> str:
        """Wistia's base URL for this API."""
        return CURRENT_URL if self.current else V1_URL

    @property
    def headers(self) -> dict[str, str]:
        """Headers every request of the run carries besides auth."""
        return {VERSION_HEADER: self.release} if self.release is not None else {}

    def path(self, resource: str) -> str:
        """The path of a resource such as `stats/events`: v1 adds `.json`, the current API not."""
        return resource if self.current else f"{resource}.json"

    @property
    def events_path(self) -> str:
        """Viewing-session events (`GET /stats/events`)."""
        return self.path("stats/events")

    @property
    def medias_path(self) -> str:
        """The media list (`GET /medias`)."""
        return self.path("medias")

    @property
    def visitors_path(self) -> str:
        """The visitor list (`GET /stats/visitors`)."""
        return self.path("stats/visitors")

    def describe(self) -> str:
        """How a log line or an error names this API."""
        return f"the current Wistia API, release {self.release}" if self.current else "Wistia v1"
