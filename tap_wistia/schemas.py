"""JSON schemas of the streams, typed after Wistia's API reference and OpenAPI spec.

Every field Wistia can omit or null is nullable; objects whose members vary between accounts
(`conversion_data`, `thumbnail`, `user_agent_details`) allow extra members.
"""

from __future__ import annotations

from singer_sdk import typing as th

_str = th.StringType
_num = th.NumberType
_int = th.IntegerType
_bool = th.BooleanType
_ts = th.DateTimeType

THUMBNAIL = th.ObjectType(
    th.Property("url", _str),
    th.Property("width", _int),
    th.Property("height", _int),
    th.Property("fileSize", _int),
    th.Property("contentType", _str),
    th.Property("type", _str),
    additional_properties=True,
)

USER_AGENT = th.ObjectType(
    th.Property("browser", _str),
    th.Property("browser_version", _str),
    th.Property("platform", _str),
    th.Property("mobile", _bool),
    additional_properties=True,
)

CONVERSION_DATA = th.ObjectType(
    th.Property("email", _str),
    th.Property("first_name", _str),
    th.Property("last_name", _str),
    th.Property("is_new_lead", _bool),
    additional_properties=True,
)

# `conversion_type` is usually "" but Wistia also sends integers.
STRING_OR_INTEGER = th.CustomType({"type": ["string", "integer", "null"]})

EVENTS = th.PropertiesList(
    th.Property("event_key", _str, required=True, description="Unique id of the viewing session"),
    th.Property("received_at", _ts, required=True, description="When Wistia received it (UTC)"),
    th.Property("visitor_key", _str),
    th.Property("media_id", _str, description="The media's hashed id"),
    th.Property("media_name", _str),
    th.Property("media_url", _str),
    th.Property(
        "percent_viewed",
        _num,
        description="Fraction 0..1 watched in this session (null when Wistia sent no number)",
    ),
    th.Property("embed_url", _str),
    th.Property("ip", _str),
    th.Property("org", _str),
    th.Property("country", _str),
    th.Property("region", _str),
    th.Property("city", _str),
    th.Property("lat", _num),
    th.Property("lon", _num),
    th.Property("email", _str),
    th.Property("conversion_type", STRING_OR_INTEGER),
    th.Property("conversion_data", CONVERSION_DATA),
    th.Property("iframe_heatmap_url", _str),
    th.Property("thumbnail", THUMBNAIL),
    th.Property("user_agent_details", USER_AGENT),
).to_dict()

FILING = th.ObjectType(
    th.Property("id", _int),
    th.Property("name", _str),
    th.Property("hashed_id", _str),
)
"""Where a media is filed: a folder (v1: its project) or a subfolder."""

TAG = th.ObjectType(th.Property("name", _str))

MEDIAS = th.PropertiesList(
    th.Property("hashed_id", _str, required=True),
    th.Property("id", _int),
    th.Property("name", _str),
    th.Property("type", _str, description="Video, Audio, Image, PdfDocument, ..."),
    th.Property(
        "duration",
        _num,
        description="As Wistia sends it: seconds for video and audio, pages for a document",
    ),
    th.Property("created", _ts),
    th.Property("updated", _ts),
    th.Property("status", _str),
    th.Property("archived", _bool),
    th.Property("folder", FILING, description="The folder (v1: the project)"),
    th.Property("subfolder", FILING),
    th.Property("thumbnail", THUMBNAIL),
    th.Property("tags", th.ArrayType(TAG)),
).to_dict()

ORG = th.ObjectType(
    th.Property("name", _str), th.Property("title", _str), additional_properties=True
)

VISITOR_IDENTITY = th.ObjectType(
    th.Property("name", _str),
    th.Property("email", _str),
    th.Property("org", ORG),
    additional_properties=True,
)

VISITORS = th.PropertiesList(
    th.Property("visitor_key", _str, required=True),
    th.Property("created_at", _ts),
    th.Property("last_active_at", _ts),
    th.Property("last_event_key", _str),
    th.Property("identifying_event_key", _str, description="The event that identified them"),
    th.Property("load_count", _int),
    th.Property("play_count", _int),
    th.Property("visitor_identity", VISITOR_IDENTITY, description="As Wistia sends it"),
    th.Property("user_agent_details", USER_AGENT),
    th.Property("email", _str, description="visitor_identity.email, trimmed and lower-cased"),
    th.Property("name", _str, description="visitor_identity.name; null when empty"),
    th.Property("org_name", _str, description="visitor_identity.org.name"),
    th.Property("org_title", _str, description="visitor_identity.org.title"),
).to_dict()

ACTIVITY = th.PropertiesList(
    th.Property("session_id", _str, required=True, description="event_key of the first event"),
    th.Property("visitor_key", _str, required=True),
    th.Property("media_id", _str, required=True),
    th.Property("media_name", _str),
    th.Property(
        "media_duration",
        _num,
        description="Seconds of a video or audio; null when gone, unknown or not playing",
    ),
    th.Property("percent_viewed", _num, description="Highest percent_viewed, 0..1"),
    th.Property("duration_viewed", _num, description="Seconds watched; null without duration"),
    th.Property("started_at", _ts, required=True),
    th.Property("ended_at", _ts, required=True),
    th.Property("event_count", _int, required=True),
    th.Property("country", _str),
    th.Property("region", _str),
    th.Property("city", _str),
    th.Property("org", _str),
    th.Property("lat", _num),
    th.Property("lon", _num),
    th.Property("ip", _str),
    th.Property("embed_url", _str),
    th.Property("user_agent_details", USER_AGENT),
    th.Property("email", _str),
    th.Property("first_name", _str),
    th.Property("last_name", _str),
    th.Property("conversion_type", STRING_OR_INTEGER),
).to_dict()

# -- The streams beyond viewing (not selected by default), after Wistia's OpenAPI spec ----------

_date = th.DateType
_day_figures = (
    th.Property("load_count", _int, description="Loads of the player that day"),
    th.Property("play_count", _int, description="Plays that day"),
    th.Property("hours_watched", _num, description="Hours watched that day"),
)

SUBFOLDER = th.ObjectType(
    th.Property("hashed_id", _str),
    th.Property("name", _str),
    th.Property("description", _str),
    th.Property("position", _int),
    th.Property("created", _ts),
    th.Property("updated", _ts),
)

FOLDERS = th.PropertiesList(
    th.Property("hashed_id", _str, required=True),
    th.Property("id", _int),
    th.Property("name", _str),
    th.Property("description", _str),
    th.Property("media_count", _int, description="Medias in the folder (v1: mediaCount)"),
    th.Property("created", _ts),
    th.Property("updated", _ts),
    th.Property("public", _bool),
    th.Property("public_id", _str),
    th.Property("anonymous_can_upload", _bool),
    th.Property("anonymous_can_download", _bool),
    th.Property(
        "subfolders",
        th.ArrayType(SUBFOLDER),
        description="The current API's subfolders; null through v1, which does not list them",
    ),
).to_dict()

TAGS = th.PropertiesList(
    th.Property("name", _str, required=True),
    th.Property("taggings_count", _int, description="Medias carrying the tag (taggingsCount)"),
    th.Property("created", _ts),
    th.Property("updated", _ts),
).to_dict()

CAPTIONS = th.PropertiesList(
    th.Property("media_id", _str, required=True, description="The media's hashed id"),
    th.Property("language", _str, required=True, description="ISO 639-2 code, e.g. eng"),
    th.Property("english_name", _str),
    th.Property("native_name", _str),
    th.Property("text", _str, description="The captions in SRT format"),
    th.Property("is_draft", _bool),
    th.Property("id", _str, description="The transcript's hashed id (current API)"),
).to_dict()

ACTION = th.ObjectType(
    th.Property("type", _str, description="Call to Action, Annotation, Turnstile..."),
    th.Property("action_count", _int),
    th.Property("impression_count", _int),
    th.Property("rate", _num),
    additional_properties=True,
)

READ_AT = th.Property("read_at", _ts, required=True, description="When the reading run began")

MEDIA_STATS = th.PropertiesList(
    th.Property("media_id", _str, required=True, description="The media's hashed id"),
    th.Property("load_count", _int, description="Times the media was loaded"),
    th.Property("play_count", _int, description="Times it was played"),
    th.Property("play_rate", _num, description="Share of visitors who clicked play, 0..1"),
    th.Property("hours_watched", _num),
    th.Property("engagement", _num, description="Average share of the media viewed, 0..1"),
    th.Property("visitors", _int, description="Unique people who loaded it"),
    th.Property("actions", th.ArrayType(ACTION)),
    READ_AT,
).to_dict()

MEDIA_ENGAGEMENT = th.PropertiesList(
    th.Property("media_id", _str, required=True, description="The media's hashed id"),
    th.Property("engagement", _num),
    th.Property(
        "engagement_data",
        th.ArrayType(_int),
        description="Views per second of the media (1,000 cells at most, each then longer)",
    ),
    th.Property("rewatch_data", th.ArrayType(_int), description="Repeat views, cell by cell"),
    READ_AT,
).to_dict()

MEDIA_DAILY_STATS = th.PropertiesList(
    th.Property("media_id", _str, required=True, description="The media's hashed id"),
    th.Property("date", _date, required=True, description="The day, as Wistia dates it"),
    *_day_figures,
).to_dict()

ACCOUNT_DAILY_STATS = th.PropertiesList(
    th.Property("date", _date, required=True, description="The day, as Wistia dates it"),
    *_day_figures,
).to_dict()
