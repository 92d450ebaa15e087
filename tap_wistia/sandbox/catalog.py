"""The cast of a sandbox account: its medias and its visitors, drawn from realistic pools.

Realism here is what exercises the pipeline downstream: unicode titles and cities, the three
region styles ("WA", "Florida" and numeric codes such as "34"), ISP organisations, browsers as
Wistia names them ("iOS (iPhone)", "Unknown Browser" version "0"), visitor keys in today's form
and the older one, documents and images among the medias, people whose names are not ASCII.
Every profile also carries its pre-encoded JSON fragments, because an event is rendered by joining
fragments (a few hundred nanoseconds) rather than by encoding a dict per event.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, NamedTuple

import msgspec

ACCOUNT_HOST = "sandbox-account.wistia.com"
"""The (fictional) account subdomain the media and heatmap URLs point at."""

HASHED_ID_ALPHABET = string.ascii_lowercase + string.digits


class Place(NamedTuple):
    """Where a viewer watches from, as Wistia's geo-IP lookup reports it."""

    country: str
    region: str
    city: str
    lat: float
    lon: float
    orgs: tuple[str, ...]


PLACES: tuple[Place, ...] = (
    Place("US", "WA", "Seattle", 47.6062, -122.3321, ("Comcast Cable", "Amazon.com, Inc.")),
    Place("US", "Florida", "Miami", 25.7617, -80.1918, ("AT&T Services, Inc.", "Spectrum")),
    Place("US", "CA", "San Francisco", 37.7749, -122.4194, ("Comcast Cable", "Sonic Telecom")),
    Place("US", "New York", "New York", 40.7128, -74.006, ("Verizon Business", "Spectrum")),
    Place("US", "TX", "Austin", 30.2672, -97.7431, ("AT&T Services, Inc.", "Google Fiber Inc.")),
    Place("US", "Massachusetts", "Boston", 42.3601, -71.0589, ("Comcast Cable", "RCN")),
    Place("CA", "ON", "Toronto", 43.6532, -79.3832, ("Rogers Communications", "Bell Canada")),
    Place("BR", "São Paulo", "São Paulo", -23.5505, -46.6333, ("Vivo", "Claro S.A.")),
    Place("MX", "CMX", "Ciudad de México", 19.4326, -99.1332, ("Telmex", "Totalplay")),
    Place("GB", "England", "London", 51.5074, -0.1278, ("British Telecommunications", "Sky")),
    Place("DE", "BE", "Berlin", 52.52, 13.405, ("Deutsche Telekom AG", "Vodafone GmbH")),
    Place("CH", "Zurich", "Zürich", 47.3769, 8.5417, ("Swisscom (Schweiz) AG", "Sunrise GmbH")),
    Place("FR", "Île-de-France", "Paris", 48.8566, 2.3522, ("Orange S.A.", "Free SAS")),
    Place("ES", "MD", "Madrid", 40.4168, -3.7038, ("Telefonica de Espana", "Vodafone Spain")),
    Place("NL", "North Holland", "Amsterdam", 52.3676, 4.9041, ("KPN B.V.", "Ziggo B.V.")),
    Place("PL", "14", "Kraków", 50.0647, 19.945, ("Orange Polska S.A.", "UPC Polska")),
    Place("SE", "AB", "Stockholm", 59.3293, 18.0686, ("Telia Company AB", "Bahnhof AB")),
    Place("TR", "34", "İstanbul", 41.0082, 28.9784, ("Turk Telekom", "Superonline")),
    Place("IT", "07", "Roma", 41.9028, 12.4964, ("Telecom Italia", "Fastweb SpA")),
    Place("IN", "MH", "Mumbai", 19.076, 72.8777, ("Reliance Jio Infocomm", "Bharti Airtel")),
    Place("JP", "13", "東京", 35.6762, 139.6503, ("NTT Communications", "KDDI Corporation")),
    Place("KR", "Seoul", "서울", 37.5665, 126.978, ("Korea Telecom", "SK Broadband")),
    Place("AU", "NSW", "Sydney", -33.8688, 151.2093, ("Telstra Corporation", "TPG Telecom")),
    Place("ZA", "Western Cape", "Cape Town", -33.9249, 18.4241, ("Vodacom", "Afrihost")),
    Place("NG", "LA", "Lagos", 6.5244, 3.3792, ("MTN Nigeria", "Airtel Networks")),
)

USER_AGENTS: tuple[dict[str, Any], ...] = (
    {"browser": "Chrome", "browser_version": "120", "platform": "windows", "mobile": False},
    {"browser": "Chrome", "browser_version": "121", "platform": "mac", "mobile": False},
    {"browser": "Safari", "browser_version": "17", "platform": "mac", "mobile": False},
    {
        "browser": "Mobile Safari",
        "browser_version": "17",
        "platform": "iOS (iPhone)",
        "mobile": True,
    },
    {"browser": "Chrome", "browser_version": "119", "platform": "android", "mobile": True},
    {"browser": "Firefox", "browser_version": "121", "platform": "linux", "mobile": False},
    {"browser": "Edge", "browser_version": "120", "platform": "windows", "mobile": False},
    {"browser": "Unknown Browser", "browser_version": "0", "platform": "unknown", "mobile": False},
)
"""Browsers as Wistia's stats name them (platforms in lower case, iOS devices spelled out)."""

MEDIA_TITLES: tuple[str, ...] = (
    "Product tour 2025",
    "Getting started in 5 minutes",
    "Démo de la plateforme",
    "Kundenstimmen – Müller & Söhne",  # noqa: RUF001 - a real title's en dash
    "Podcast ep. 12 — Data at scale",
    "製品紹介ビデオ",
    "Team offsite photo",
    "Customer story: Açaí Co. (PDF)",
    "Webinar: scaling your pipeline 🚀",
    "Onboarding, part 1",
    "Onboarding, part 2",
    "Pricing explained (slides)",
    "年度总结 2024",
    "¿Qué hay de nuevo?",
    "Feature deep dive: reports",
    "Behind the scenes 🎬",
    "How to connect your CRM",
    "Release notes — März",
    "Case study: Zürich Insurance",
    "Live Q&A recording",
)

PROJECTS: tuple[str, ...] = ("Marketing", "Produkt & Technik", "Customer Success")
"""The account's folders (v1 calls them projects)."""
TAGS: tuple[str, ...] = ("product", "onboarding", "webinar", "2025", "customer-story")

FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Ana", "ana"),
    ("Björn", "bjorn"),
    ("美咲", "misaki"),
    ("Chloé", "chloe"),
    ("Liam", "liam"),
    ("Ngozi", "ngozi"),
    ("Łukasz", "lukasz"),
    ("Sofía", "sofia"),
    ("Ömer", "omer"),
    ("Priya", "priya"),
)

LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Silva", "silva"),
    ("Müller", "mueller"),
    ("O'Brien", "obrien"),
    ("García", "garcia"),
    ("田中", "tanaka"),
    ("Kowalski", "kowalski"),
    ("Nguyễn", "nguyen"),
    ("Smith", "smith"),
    ("Dubois", "dubois"),
    ("Okafor", "okafor"),
    ("Andersson", "andersson"),
    ("Yılmaz", "yilmaz"),  # noqa: RUF001 - Turkish dotless i, on purpose
)

COMPANIES: tuple[str, ...] = ("Acme Corp", "Globex", "Initech", "Umbrella GmbH", "Soylent S.A.")
TITLES: tuple[str, ...] = ("Marketing Manager", "CTO", "Head of Growth", "Analyst", "Founder")
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "mail.example.net")
EMBED_PAGES: tuple[str, ...] = (
    "https://www.example.com/products/{slug}",
    "https://blog.example.com/2025/{slug}",
    "https://help.example.com/articles/{number}",
    "https://www.example.com/webinars/{slug}?utm_source=newsletter&lang=de",
)
PUBLIC_FIRST_OCTETS: tuple[int, ...] = (24, 50, 67, 73, 81, 88, 92, 98, 104, 126, 177, 185, 201)
MEDIA_TYPES = {4: "Audio", 6: "Image", 7: "PdfDocument", 11: "MicrosoftOfficeDocument"}
"""Medias that are not videos, by index: a podcast, a still image (no duration), a PDF and a
slide deck (their duration is a page count). Accounts of 8 medias or more have the first three."""
ARCHIVED_MEDIAS = frozenset({2})
"""Medias archived after they were watched, by index: their events stay, and a client that
lists only active medias loses their duration. Accounts of 3 medias or more have one."""
PAGES = (4, 40)
"""The page counts documents are drawn from."""
OLD_VISITOR_SHARE = 0.2
"""Visitors first seen before Wistia's current key form, whose keys are 40 hex digits."""
VISITOR_HISTORY_MS = 400 * 86_400_000
"""How long before the data a visitor of today's key form may have been first seen."""
MAX_ACTIVITY = 40.0
"""Cap on how much more often the keenest viewer shows up than the average one."""
_IPV6_SHARE = 0.08
_NEW_LEAD_SHARE = 0.6


def fragment(fields: dict[str, Any]) -> str:
    """JSON members (no braces) for splicing into an event, escaped exactly like a full encode."""
    return msgspec.json.encode(fields).decode()[1:-1]


def json_text(value: Any) -> str:
    """One JSON value as text, for splicing."""
    return msgspec.json.encode(value).decode()


def hashed_id(rng: Random) -> str:
    """A Wistia hashed id: 10 lowercase alphanumerics."""
    return "".join(rng.choices(HASHED_ID_ALPHABET, k=10))


def iso_seconds(moment: datetime) -> str:
    """Wistia's media timestamp style, e.g. ``2024-01-02T03:04:05+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """A media as the API shows it, plus what events say about it, pre-encoded."""

    api: dict[str, Any]
    hashed_id: str
    popularity: float
    event_fields: str
    """``"media_id":..,"media_name":..,"media_url":..`` for events."""
    event_thumbnail: str
    """``"thumbnail":{...}`` as events carry it (with fileSize, contentType, type)."""
    embed_urls: tuple[str, ...]
    """Pages the media is embedded on, each already a JSON string literal."""


class Person(NamedTuple):
    """Who a converted visitor turns out to be, as typed into an email gate."""

    first_name: str
    last_name: str
    email: str
    company: str
    title: str
    is_new_lead: bool


@dataclass(frozen=True, slots=True)
class VisitorProfile:
    """A returning viewer: one browser, a home place (mostly), favourite medias, maybe a lead."""

    key: str
    favourites: tuple[int, ...]
    home: str
    """``"ip":..,"org":..,"country":..,"region":..,"city":..,"lat":..,"lon":..``."""
    away: str
    """The same members for the occasional session from elsewhere (travel, phone)."""
    agent_fields: str
    """``"user_agent_details":{...}``: one browser per visitor."""
    converts_at_ms: int | None = None
    person: Person | None = None
    emails: tuple[str, ...] = ()
    """JSON text of the email as typed in different sessions (clean, capitalised, padded)."""
    conversions: tuple[str, ...] = ()
    """JSON text of ``conversion_data`` matching each entry of ``emails``."""


def build_medias(
    rng: Random, count: int, before: datetime, titles: tuple[str, ...] = MEDIA_TITLES
) -> list[MediaProfile]:
    """The account's medias: mostly videos, some audio, image, documents, made before the data.

    v1 files each in a project written ``{id, name, hashedId}`` (as Wistia's v1 OpenAPI spec
    writes it; the current API calls the same object a folder).
    """
    projects = [
        {"id": 4_000_000 + rng.randrange(900_000), "name": name, "hashedId": hashed_id(rng)}
        for name in PROJECTS
    ]
    seen: set[str] = set()
    return [
        _media(rng, index, projects=projects, before=before, seen=seen, titles=titles)
        for index in range(count)
    ]


def _media_type(index: int) -> str:
    return MEDIA_TYPES.get(index, "Video")


def _media(  # noqa: PLR0913 - one call site, all inputs of one media
    rng: Random,
    index: int,
    *,
    projects: list[dict[str, Any]],
    before: datetime,
    seen: set[str],
    titles: tuple[str, ...],
) -> MediaProfile:
    identifier = hashed_id(rng)
    while identifier in seen:
        identifier = hashed_id(rng)
    seen.add(identifier)
    title = titles[index % len(titles)]
    if index >= len(titles):
        title = f"{title} #{index // len(titles) + 1}"
    kind = _media_type(index)
    created = before - timedelta(days=rng.uniform(20, 700))
    updated = created + timedelta(days=rng.uniform(0, 19))
    delivery = f"{rng.getrandbits(160):040x}"
    api: dict[str, Any] = {
        "id": 100_000_000 + rng.randrange(50_000_000),
        "hashed_id": identifier,
        "name": title,
        "type": kind,
        "duration": round(rng.uniform(30, 3600), 3),
        "created": iso_seconds(created),
        "updated": iso_seconds(updated),
        "status": "ready",
        "progress": 1.0,
        "archived": index in ARCHIVED_MEDIAS,
        "description": "",
        "project": rng.choice(projects),
        "thumbnail": {
            "url": f"https://embed-ssl.wistia.com/deliveries/{delivery}.jpg?image_crop_resized=200x120",
            "width": 200,
            "height": 120,
        },
        "tags": [{"name": tag} for tag in rng.sample(TAGS, k=rng.randint(0, 2))],
    }
    if kind.endswith("Document"):
        api["duration"] = rng.randint(*PAGES)  # Wistia: "number of pages in the document"
    elif kind == "Image":
        del api["duration"]
    media_url = f"https://{ACCOUNT_HOST}/medias/{identifier}"
    thumbnail = {
        **api["thumbnail"],
        "fileSize": rng.randrange(8_000, 60_000),
        "contentType": "image/jpeg",
        "type": "StillImageFile",
    }
    slug = f"video-{index + 1}"
    pages = rng.sample(EMBED_PAGES, k=rng.randint(1, 3))
    embeds = tuple(json_text(page.format(slug=slug, number=1000 + index)) for page in pages)
    return MediaProfile(
        api=api,
        hashed_id=identifier,
        popularity=rng.paretovariate(1.5) * (0.2 if kind != "Video" else 1.0),
        event_fields=fragment(
            {"media_id": identifier, "media_name": title, "media_url": media_url}
        ),
        event_thumbnail=fragment({"thumbnail": thumbnail}),
        embed_urls=embeds,
    )


def ghost_medias(rng: Random, before: datetime) -> list[MediaProfile]:
    """Medias deleted from the account whose old events still reference them."""
    return build_medias(rng, 2, before, ("Spring promo 2023", "Old teaser (v1)"))


def seeded(*parts: object) -> Random:
    """A generator seeded from named parts, identical in every process (unlike ``hash()``).

    Seeding from a 128-bit integer is ten times cheaper than from a string, which matters when
    tens of thousands of visitors each get their own generator.
    """
    text = ":".join(str(part) for part in ("wistia-sandbox", *parts))
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")
    return Random(seed)  # noqa: S311 - reproducible sample data, not secrets


def _index(rng: Random, size: int) -> int:
    """A uniform index below ``size``; cheaper than ``randrange`` on the hot path."""
    return int(rng.random() * size)


def _ip(rng: Random) -> str:
    if rng.random() < _IPV6_SHARE:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
        return f"2001:db8:{groups}::{rng.getrandbits(16):x}"
    first = PUBLIC_FIRST_OCTETS[_index(rng, len(PUBLIC_FIRST_OCTETS))]
    rest = rng.getrandbits(24)
    return f"{first}.{rest >> 16}.{(rest >> 8) & 255}.{1 + _index(rng, 254)}"


def _place_fields(rng: Random) -> str:
    place = PLACES[_index(rng, len(PLACES))]
    org = _PLACE_ORGS[place][_index(rng, len(place.orgs))]
    lat = round(place.lat + (rng.random() - 0.5) / 10, 4)
    lon = round(place.lon + (rng.random() - 0.5) / 10, 4)
    return f'"ip":"{_ip(rng)}","org":{org},{_PLACE_FIELDS[place]},"lat":{lat!r},"lon":{lon!r}'


_PLACE_FIELDS = {
    place: fragment({"country": place.country, "region": place.region, "city": place.city})
    for place in PLACES
}
_PLACE_ORGS = {place: tuple(json_text(org) for org in place.orgs) for place in PLACES}
_AGENT_FIELDS = tuple(fragment({"user_agent_details": agent}) for agent in USER_AGENTS)


def _person(rng: Random) -> Person:
    first, first_ascii = FIRST_NAMES[_index(rng, len(FIRST_NAMES))]
    last, last_ascii = LAST_NAMES[_index(rng, len(LAST_NAMES))]
    domain = EMAIL_DOMAINS[_index(rng, len(EMAIL_DOMAINS))]
    return Person(
        first_name=first,
        last_name=last,
        email=f"{first_ascii}.{last_ascii}{_index(rng, 100)}@{domain}",
        company=COMPANIES[_index(rng, len(COMPANIES))],
        title=TITLES[_index(rng, len(TITLES))],
        is_new_lead=rng.random() < _NEW_LEAD_SHARE,
    )


def _typed_emails(person: Person) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The email as typed across sessions: clean, capitalised, and padded with spaces."""
    local, _, domain = person.email.partition("@")
    spellings = (person.email, f"{local.title()}@{domain.upper()}", f"  {person.email} ")
    emails = tuple(json_text(spelling) for spelling in spellings)
    conversions = tuple(
        json_text(
            {
                "email": spelling,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "is_new_lead": person.is_new_lead,
            }
        )
        for spelling in spellings
    )
    return emails, conversions


def _favourites(rng: Random, media_cumulative: list[float]) -> tuple[int, ...]:
    if not media_cumulative:
        return ()
    picks = {
        bisect.bisect_right(media_cumulative, rng.random() * media_cumulative[-1])
        for _ in range(1 + _index(rng, 3))
    }
    return tuple(sorted(min(pick, len(media_cumulative) - 1) for pick in picks))


class Audience:
    """The account's viewers, each built on first sight from its own seed.

    A million-event account has tens of thousands of visitors; building them lazily keeps start-up
    instant, and per-visitor seeds keep a visitor identical whichever day meets them first.
    """

    def __init__(
        self,
        seed: int,
        count: int,
        media_weights: list[float],
        window_ms: tuple[int, int],
        conversion_rate: float,
    ) -> None:
        """Draw how active each viewer is; everything else waits until they are met."""
        rng = seeded(seed, "audience")
        self.cumulative = list(
            itertools.accumulate(min(rng.paretovariate(1.2), MAX_ACTIVITY) for _ in range(count))
        )
        self._seed = seed
        self._media_cumulative = list(itertools.accumulate(media_weights))
        self._window_ms = window_ms
        self._rate = conversion_rate
        self._profiles: list[VisitorProfile | None] = [None] * count
        self._by_key: dict[str, int] | None = None

    def __len__(self) -> int:
        """How many visitors the account has."""
        return len(self._profiles)

    def pick(self, rng: Random) -> VisitorProfile:
        """A visitor, the active ones more often."""
        cumulative = self.cumulative
        index = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.profile(min(index, len(cumulative) - 1))

    def profile(self, index: int) -> VisitorProfile:
        """The visitor at ``index`` (built once)."""
        built = self._profiles[index]
        if built is None:
            rng = seeded(self._seed, "visitor", index)
            key = _visitor_key(rng, self._window_ms[0])
            built = self._profiles[index] = self._build(rng, key)
        return built

    def find(self, key: str) -> VisitorProfile | None:
        """The account's visitor with this key, or None."""
        if self._by_key is None:
            self._by_key = {
                _visitor_key(seeded(self._seed, "visitor", index), self._window_ms[0]): index
                for index in range(len(self._profiles))
            }
        index = self._by_key.get(key)
        return None if index is None else self.profile(index)

    def keys(self) -> list[str]:
        """Every visitor key, in index order."""
        return [self.profile(index).key for index in range(len(self._profiles))]

    def newcomer(self, key: str) -> VisitorProfile:
        """A viewer outside the generated audience (a live event for an unknown key)."""
        return self._build(seeded(self._seed, "newcomer", key), key)

    def _build(self, rng: Random, key: str) -> VisitorProfile:
        """A viewer's profile, maybe converting during the range or a little before it.

        Converting a little before the range makes a known lead come back, so most converting
        visitors do show their email somewhere in the data.
        """
        favourites = _favourites(rng, self._media_cumulative)
        agent_fields = _AGENT_FIELDS[_index(rng, len(_AGENT_FIELDS))]
        home, away = _place_fields(rng), _place_fields(rng)
        if rng.random() >= self._rate:
            return VisitorProfile(key, favourites, home, away, agent_fields)
        start, end = self._window_ms
        lead_time = (end - start) // 4
        person = _person(rng)
        emails, conversions = _typed_emails(person)
        return VisitorProfile(
            key=key,
            favourites=favourites,
            home=home,
            away=away,
            agent_fields=agent_fields,
            converts_at_ms=start - lead_time + _index(rng, end - start + 1),
            person=person,
            emails=emails,
            conversions=conversions,
        )


def _visitor_key(rng: Random, data_start_ms: int) -> str:
    """A Wistia visitor key, from the first draws of a visitor's seed.

    Today's form is the kilosecond the visitor was first seen and a UUID,
    ``1760721_33d184e1-0ad6-4cc2-9d5b-7e0b2a3cf4ea``; visitors older than that form keep 40
    upper-case hex digits, ``B6D1F47963577AF26697138FAB75BD1B7086697B``.
    """
    if rng.random() < OLD_VISITOR_SHARE:
        return f"{rng.getrandbits(160):040X}"
    first_seen_ms = data_start_ms - int(rng.random() * VISITOR_HISTORY_MS)
    digits = rng.randbytes(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return (
        f"{first_seen_ms // 1_000_000}_{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{variant}{digits[17:20]}-{digits[20:]}"
    )
