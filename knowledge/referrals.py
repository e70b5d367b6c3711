"""Other bodies' business (``referrals.yaml``): which topic a question names, and who is competent for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.normalize import OUT_OF_SCOPE_FILE, fold, tokenize

REFERRALS_FILE = OUT_OF_SCOPE_FILE
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Referral:
    topic: str
    phrases: tuple[str, ...]
    procedure: bool = False  # another body's administrative procedure: the national portal lists it
    body: str = ""  # the competent body, once the department has confirmed it
    url: str = ""
    other_body: bool = True  # False: not said to be another body's (complaints, weather): only "cannot help"


def load_referrals(path: Path = REFERRALS_FILE) -> list[Referral]:
    with path.open(encoding="utf-8") as fh:
        data: Any = yaml.load(fh, Loader=_YamlLoader) or []
    out = []
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict):
            out.append(Referral(
                str(item.get("topic") or ""), tuple(str(p) for p in item.get("phrases") or ()),
                bool(item.get("procedure")), str(item.get("body") or "").strip(), str(item.get("url") or "").strip(),
                item.get("other_body", True) is not False,
            ))
        else:
            out.append(Referral(str(item), (str(item),)))
    return out


def referral_for(topics: tuple[str, ...], referrals: list[Referral]) -> Referral | None:
    """The referral of the first topic (a folded phrase, as the matcher reports it) named in a question."""
    for topic in topics:
        for referral in referrals:
            if any(" ".join(t.folded for t in tokenize(p)) == topic for p in referral.phrases):
                return referral
    return None


def referral_problems(referrals: list[Referral]) -> list[str]:
    """What `kb check` lists: topics with no competent body named yet, and links that are not web addresses."""
    out = []
    for r in referrals:
        if not r.body and r.other_body:
            out.append(f"{REFERRALS_FILE.name}: {r.topic}: chưa nêu cơ quan có thẩm quyền"
                       + (" (hiện chỉ đưa ra ô tìm kiếm của Cổng Dịch vụ công quốc gia)" if r.procedure else ""))
        if r.url and not r.url.startswith(("http://", "https://")):
            out.append(f"{REFERRALS_FILE.name}: {r.topic}: url phải bắt đầu bằng http:// hoặc https://")
    return out


__all__ = ["REFERRALS_FILE", "Referral", "fold", "load_referrals", "referral_for", "referral_problems"]
