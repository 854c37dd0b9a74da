"""Descriptive metadata from the file name, `.nfo` and `.json` sidecars (docs/formats.md).

Every source yields a partial dict with some of the keys in :data:`FIELDS`; :func:`merge`
lets later sources override earlier ones field by field (an empty value never overrides).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from typing import Any, Iterable

log = logging.getLogger(__name__)

FIELDS = ("title", "studio", "performers", "categories", "date", "description")
Meta = dict[str, Any]

# Default file-name patterns, most specific first. The separator is " - " (spaces around a
# dash) so titles with hyphenated words survive.
_DATE = r"(?P<date>\d{4}[-.]\d{2}[-.]\d{2})"
DEFAULT_PATTERNS = (
    rf"^(?P<studio>[^-]+?) - {_DATE} - (?P<performers>.+?) - (?P<title>.+)$",
    rf"^(?P<studio>[^-]+?) - {_DATE} - (?P<title>.+)$",
    rf"^{_DATE} - (?P<title>.+)$",
)


def normalise_date(value: Any) -> str | None:
    """Return an ISO ``YYYY-MM-DD`` (or ``YYYY``) for common date spellings, else ``None``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    match = re.match(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})", text)
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            return None
    if re.fullmatch(r"\d{4}", text) and 1800 < int(text) < 2200:
        return text
    return None


def _clean_list(values: Iterable[Any]) -> list[str]:
    seen: set[str] = set()
    result = []
    for value in values:
        name = " ".join(str(value).split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            result.append(name)
    return result


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def title_from_stem(stem: str) -> str:
    """A readable title for a name that matches no pattern: separators become spaces."""
    text = stem
    if " " not in text:
        text = re.sub(r"[._]+", " ", text)
    return " ".join(text.split()) or stem


def from_filename(filename: str, extra_pattern: str = "", performer_separators: str = r",|&| and ") -> Meta:
    """Parse ``Studio - YYYY-MM-DD - Performer A, Performer B - Title.ext`` and simpler forms."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    patterns = ([extra_pattern] if extra_pattern else []) + list(DEFAULT_PATTERNS)
    for pattern in patterns:
        try:
            match = re.match(pattern, stem)
        except re.error as exc:
            log.warning("ignoring invalid FILENAME_PATTERN %r: %s", pattern, exc)
            continue
        if not match:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v}
        if "date" in groups and normalise_date(groups["date"]) is None:
            continue  # "2023-13-45" is not a date: try a looser pattern
        meta: Meta = {}
        if groups.get("title"):
            meta["title"] = _clean_text(groups["title"])
        if groups.get("studio"):
            meta["studio"] = _clean_text(groups["studio"])
        if groups.get("date"):
            meta["date"] = normalise_date(groups["date"])
        if groups.get("performers"):
            meta["performers"] = _clean_list(re.split(performer_separators, groups["performers"]))
        if meta.get("title"):
            return meta
    return {"title": title_from_stem(stem)}


def from_nfo(path: str) -> Meta:
    """Read a Kodi/Jellyfin ``.nfo`` XML file (movie, episodedetails, musicvideo roots)."""
    from defusedxml import ElementTree

    tree = ElementTree.parse(path)
    root = tree.getroot()

    def text(tag: str) -> str | None:
        node = root.find(tag)
        return _clean_text(node.text) if node is not None and node.text else None

    meta: Meta = {}
    if title := text("title"):
        meta["title"] = title
    studios = [n.text for n in root.findall("studio") if n.text and n.text.strip()]
    if studios:
        meta["studio"] = _clean_text(studios[0])
    performers = _clean_list(n.findtext("name") or "" for n in root.findall("actor"))
    if performers:
        meta["performers"] = performers
    categories = _clean_list(n.text or "" for n in root.findall("genre") + root.findall("tag"))
    if categories:
        meta["categories"] = categories
    for tag in ("premiered", "aired", "releasedate", "year"):
        if date := normalise_date(text(tag)):
            meta["date"] = date
            break
    description = root.findtext("plot") or root.findtext("outline")
    if description and description.strip():
        meta["description"] = description.strip()
    return meta


_JSON_ALIASES = {
    "title": ("title", "name"),
    "studio": ("studio",),
    "performers": ("performers", "actors", "cast"),
    "categories": ("categories", "tags", "genres"),
    "date": ("date", "premiered", "released", "year"),
    "description": ("description", "plot", "summary"),
}


def meta_from_mapping(data: dict[str, Any]) -> Meta:
    """Pick the metadata fields (and their common aliases) out of a JSON object."""
    meta: Meta = {}
    for field, keys in _JSON_ALIASES.items():
        for key in keys:
            if key not in data or data[key] in (None, "", []):
                continue
            value = data[key]
            if field in ("performers", "categories"):
                if isinstance(value, str):
                    value = value.split(",")
                if isinstance(value, list):
                    names = [v.get("name", "") if isinstance(v, dict) else v for v in value]
                    if cleaned := _clean_list(names):
                        meta[field] = cleaned
            elif field == "date":
                if date := normalise_date(value):
                    meta["date"] = date
            elif field == "description":
                meta[field] = str(value).strip()
            elif isinstance(value, (str, int, float)):
                if cleaned := _clean_text(value):
                    meta[field] = cleaned
            if field in meta:
                break
    return meta


def from_json(path: str) -> Meta:
    """Read a ``.json`` sidecar with the same fields as the ``.nfo`` (docs/formats.md)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError("top level is not a JSON object")
    return meta_from_mapping(data)


def sidecar_paths(video_path: str) -> list[str]:
    """The sidecar files that may describe ``video_path``, in the order they are applied."""
    base = os.path.splitext(video_path)[0]
    return [base + ".nfo", base + ".json"]


def merge(*sources: Meta) -> Meta:
    """Combine sources; a later non-empty value overrides an earlier one."""
    result: Meta = {"title": None, "studio": None, "performers": [], "categories": [], "date": None, "description": None}
    for source in sources:
        for field in FIELDS:
            value = source.get(field)
            if value not in (None, "", []):
                result[field] = value
    return result


def read_all(video_path: str, extra_pattern: str = "", performer_separators: str = r",|&| and ") -> tuple[Meta, list[str]]:
    """Metadata from the name and any sidecars; returns ``(meta, problems)``.

    A broken sidecar is reported in ``problems`` and skipped: the video is still indexed.
    """
    sources = [from_filename(video_path, extra_pattern, performer_separators)]
    problems: list[str] = []
    readers = (from_nfo, from_json)
    for sidecar, reader in zip(sidecar_paths(video_path), readers):
        if not os.path.isfile(sidecar):
            continue
        try:
            sources.append(reader(sidecar))
        except Exception as exc:  # any parse error: record it, keep the other sources
            problems.append(f"{os.path.basename(sidecar)}: {exc}")
            log.warning("unreadable sidecar %s: %s", sidecar, exc)
    return merge(*sources), problems
