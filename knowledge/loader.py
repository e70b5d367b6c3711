"""Reads the knowledge-base folder: YAML files of entries, validated field by field, with organisation
settings filled in through Jinja2 placeholders.

A file holds one entry (a mapping) or a group of entries (a list of mappings). Every problem found is
reported as (file, entry, field, why) so staff can fix them all in one go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

from knowledge.normalize import ABBREVIATIONS_FILE, OUT_OF_SCOPE_FILE, SMALLTALK_FILE, Lexicon, load_lexicon

KINDS = ("procedure", "faq")
REQUIRED_KEYS = ("id", "kind", "title", "summary", "sections", "updated")
OPTIONAL_KEYS = ("code", "group", "aliases", "keywords", "links", "facets")
SECTION_KEYS = ("title", "body")
OPTIONAL_SECTION_KEYS = ("kind",)
# The part of a procedure a section is about; a question asking for that part gets that section as the answer.
SECTION_KINDS = {
    "trinh_tu": "Trình tự thực hiện",
    "ho_so": "Thành phần hồ sơ",
    "thoi_han": "Thời hạn",
    "noi_nop": "Cách thức và nơi nộp hồ sơ",
    "le_phi": "Phí, lệ phí",
    "can_cu": "Căn cứ pháp lý",
    "tham_quyen": "Thẩm quyền cho phép",
    "ket_qua": "Kết quả",
    "doi_tuong": "Đối tượng thực hiện",
}
LINK_KEYS = ("title", "url")
# Ids travel in button data ("kb:<id>|<section>", at most 64 bytes), hence short ASCII.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{0,39}$")
MAX_SECTIONS = 20
MAX_BUTTON_LABEL = 60
MAX_TITLE = 250

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):
    """Safe YAML loading that refuses a key written twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"khóa {key!r} được viết hai lần", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the knowledge base, located as precisely as possible."""

    file: str
    entry: str
    field: str
    why: str

    def __str__(self) -> str:
        where = [part for part in (self.file, self.entry, self.field) if part]
        return ": ".join([*where, self.why])


class KnowledgeBaseError(Exception):
    """The knowledge base cannot be used; ``problems`` lists everything that is wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "lỗi không rõ"
        more = f" (và {len(self.problems) - 1} lỗi khác)" if len(self.problems) > 1 else ""
        super().__init__(f"cơ sở tri thức không hợp lệ: {first}{more}")


@dataclass(frozen=True)
class Section:
    title: str
    body: str
    kind: str = ""  # one of SECTION_KINDS, or "" for a section of another kind


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Entry:
    """One procedure or FAQ, with every placeholder already filled in."""

    id: str
    kind: str
    title: str
    summary: str
    sections: tuple[Section, ...]
    updated: dt.date
    code: str = ""
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    source: str = ""
    group: str = ""
    # What the entry is about, for the matcher (knowledge/facets.yaml): (("family", "hoi_thao"), ...).
    facets: tuple[tuple[str, str], ...] = ()

    @property
    def facet_map(self) -> dict[str, str]:
        return dict(self.facets)

    def section_of(self, kind: str | None) -> int | None:
        """The 1-based number of the section of this kind, if any."""
        if not kind:
            return None
        return next((i for i, s in enumerate(self.sections, start=1) if s.kind == kind), None)


@dataclass
class _Raw:
    file: str
    label: str
    data: dict[str, Any]


_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
)


def placeholder_names(context: Mapping[str, Any]) -> set[str]:
    """Names a template may use with this context: ``org.hotline`` for ``{"org": {"hotline": …}}``."""
    names: set[str] = set()
    for root, value in context.items():
        if isinstance(value, Mapping):
            names.update(f"{root}.{key}" for key in value)
        else:
            names.add(root)
    return names


def check_kb(directory: Path | str, known_placeholder_names: Iterable[str]) -> list[Problem]:
    """Every problem in the folder (and in the shipped word lists); an empty list means it loads.

    ``known_placeholder_names`` are dotted (``org.hotline``); a bare name (``hotline``) means ``org.hotline``.
    """
    known = {name if "." in name else f"org.{name}" for name in known_placeholder_names}
    raws, problems = _read_dir(Path(directory))
    problems += _validate(raws, known)
    problems += _facet_problems(raws)
    try:
        read_lexicon()
    except KnowledgeBaseError as exc:
        problems += exc.problems
    return _by_file(problems)


def read_lexicon() -> Lexicon:
    """The abbreviation, small-talk and out-of-scope word lists; a broken file is a :class:`Problem`."""
    try:
        return load_lexicon()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        names = (ABBREVIATIONS_FILE.name, SMALLTALK_FILE.name, OUT_OF_SCOPE_FILE.name)
        where = next((n for n in names if n in str(exc)), "danh sách từ")
        why = f"YAML sai: {_yaml_why(exc)}" if isinstance(exc, yaml.YAMLError) else str(exc)
        raise KnowledgeBaseError([Problem(where, "", "", why)]) from None


def read_entries(directory: Path | str, context: Mapping[str, Any]) -> list[Entry]:
    """Validated entries with placeholders rendered; raises :class:`KnowledgeBaseError` on any problem."""
    raws, problems = _read_dir(Path(directory))
    problems += _validate(raws, placeholder_names(context))
    problems += _facet_problems(raws)
    if problems:
        raise KnowledgeBaseError(_by_file(problems))
    entries: list[Entry] = []
    for raw in raws:
        entries.append(_render(raw, context, problems))
    if problems:
        raise KnowledgeBaseError(problems)
    return entries


def _facet_problems(raws: list[_Raw]) -> list[Problem]:
    """Declared facets that facets.yaml does not know (a typo would silently hide the entry from questions)."""
    from knowledge.facets import FACETS_FILE, load_facets

    try:
        spec = load_facets()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        why = f"YAML sai: {_yaml_why(exc)}" if isinstance(exc, yaml.YAMLError) else str(exc)
        return [Problem(FACETS_FILE.name, "", "", why)]
    out = []
    for raw in raws:
        facets = raw.data.get("facets")
        if isinstance(facets, dict):
            out += [Problem(raw.file, raw.label, "facets", why) for why in spec.problems(facets)]
    return out


def _by_file(problems: list[Problem]) -> list[Problem]:
    """Grouped by file, each file's problems in the order they were found."""
    return sorted(problems, key=lambda p: p.file)


# --- reading


def _read_dir(directory: Path) -> tuple[list[_Raw], list[Problem]]:
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "", "không tìm thấy thư mục")]
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        return [], [Problem(str(directory), "", "", "không có tệp .yaml nào: cơ sở tri thức đang trống")]
    raws: list[_Raw] = []
    problems: list[Problem] = []
    for path in files:
        name = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(name, "", "", "không phải văn bản UTF-8"))
            continue
        except OSError as exc:
            problems.append(Problem(name, "", "", f"không đọc được: {exc.strerror}"))
            continue
        try:
            data = yaml.load(text, Loader=_StrictLoader)
        except yaml.YAMLError as exc:
            problems.append(Problem(name, "", "", f"YAML sai: {_yaml_why(exc)}"))
            continue
        if data is None:
            problems.append(Problem(name, "", "", "tệp trống"))
            continue
        items = data if isinstance(data, list) else [data]
        for index, item in enumerate(items, start=1):
            label = f"mục #{index}"
            if not isinstance(item, dict):
                problems.append(Problem(name, label, "", "mỗi mục phải là một bảng các trường (id: …, title: …)"))
                continue
            if isinstance(item.get("id"), str) and item["id"].strip():
                label = item["id"].strip()
            raws.append(_Raw(name, label, item))
    return raws, problems


def _yaml_why(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    why = f"{context}, {problem}" if context else str(problem)
    if mark is not None:
        why += f" (dòng {mark.line + 1}, cột {mark.column + 1})"
    return why


# --- validation


def _validate(raws: list[_Raw], known: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, _Raw] = {}
    for raw in raws:
        found = _validate_entry(raw, known)
        problems += found
        entry_id = raw.data.get("id")
        if isinstance(entry_id, str) and entry_id.strip():
            entry_id = entry_id.strip()
            other = first_seen.get(entry_id)
            if other is None:
                first_seen[entry_id] = raw
            else:
                where = "cùng tệp này" if other.file == raw.file else other.file
                problems.append(Problem(raw.file, raw.label, "id", f"id {entry_id!r} bị trùng, đã dùng ở {where}"))
    return problems


def _validate_entry(raw: _Raw, known: set[str]) -> list[Problem]:
    out: list[Problem] = []
    data = raw.data

    def problem(field: str, why: str) -> None:
        out.append(Problem(raw.file, raw.label, field, why))

    for key in data:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            problem(str(key), f"khóa không hợp lệ (được dùng: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in data or data[key] is None or data[key] == "" or data[key] == []:
            problem(key, "còn thiếu")

    entry_id = data.get("id")
    if entry_id is not None and entry_id != "":
        if not isinstance(entry_id, str):
            problem("id", f"phải là văn bản; hãy đặt trong dấu nháy: id: '{entry_id}'")
        elif not ID_PATTERN.match(entry_id.strip()):
            problem("id", "phải dài 1–40 ký tự: chữ thường a-z, chữ số, '.' và '-'")
    kind = data.get("kind")
    if kind is not None and kind != "" and kind not in KINDS:
        problem("kind", f"phải là một trong {', '.join(KINDS)}, nhưng là {kind!r}")
    code = data.get("code")
    if code is not None and not isinstance(code, str):
        problem("code", f"phải là văn bản; hãy đặt trong dấu nháy: code: '{code}'")

    _check_text(data.get("title"), "title", problem, known, max_len=MAX_TITLE)
    _check_text(data.get("summary"), "summary", problem, known)
    if isinstance(code, str):
        _check_text(code, "code", problem, known, required=False)
    for key in ("aliases", "keywords"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            problem(key, "phải là một danh sách (mỗi mục một dòng, bắt đầu bằng '- ')")
            continue
        for i, item in enumerate(value, start=1):
            _check_text(item, f"{key}[{i}]", problem, known)

    sections = data.get("sections")
    if sections not in (None, "", []):
        if not isinstance(sections, list):
            problem("sections", "phải là một danh sách các {title, body}")
        else:
            if len(sections) > MAX_SECTIONS:
                problem("sections", f"tối đa {MAX_SECTIONS} phần")
            kinds_seen: set[str] = set()
            for i, section in enumerate(sections, start=1):
                _check_pair(section, f"sections[{i}]", SECTION_KEYS, problem, known, OPTIONAL_SECTION_KEYS)
                kind_value = section.get("kind") if isinstance(section, dict) else None
                if kind_value is not None:
                    if kind_value not in SECTION_KINDS:
                        problem(f"sections[{i}].kind", f"phải là một trong {', '.join(SECTION_KINDS)}, nhưng là {kind_value!r}")
                    elif kind_value in kinds_seen:
                        problem(f"sections[{i}].kind", f"{kind_value!r} đã là loại của một phần khác")
                    kinds_seen.add(str(kind_value))
                title = section.get("title") if isinstance(section, dict) else None
                if isinstance(title, str) and len(title.strip()) > MAX_BUTTON_LABEL:
                    problem(f"sections[{i}].title", f"tối đa {MAX_BUTTON_LABEL} ký tự (đây là nhãn nút bấm)")

    facets = data.get("facets")
    if facets is not None and (not isinstance(facets, dict)
                               or not all(isinstance(k, str) and isinstance(v, str) for k, v in facets.items())):
        problem("facets", "phải là một bảng khía cạnh: giá trị, ví dụ {family: hoi_thao, step: xin_phep}")
    group = data.get("group")
    if group is not None and not isinstance(group, str):
        problem("group", "phải là văn bản")

    links = data.get("links")
    if links is not None:
        if not isinstance(links, list):
            problem("links", "phải là một danh sách các {title, url}")
        else:
            for i, link in enumerate(links, start=1):
                _check_pair(link, f"links[{i}]", LINK_KEYS, problem, known)
                url = link.get("url") if isinstance(link, dict) else None
                if isinstance(url, str) and "{{" not in url and not url.strip().startswith(("http://", "https://")):
                    problem(f"links[{i}].url", "phải bắt đầu bằng http:// hoặc https://")

    updated = data.get("updated")
    if updated not in (None, "") and _as_date(updated) is None:
        problem("updated", f"phải là ngày dạng YYYY-MM-DD, nhưng là {updated!r}")
    return out


def _check_pair(value: Any, field: str, keys: tuple[str, ...], problem: Any, known: set[str],
                optional: tuple[str, ...] = ()) -> None:
    if not isinstance(value, dict):
        problem(field, f"phải là một bảng có {' và '.join(keys)}")
        return
    for key in value:
        if key not in keys and key not in optional:
            problem(f"{field}.{key}", f"khóa không hợp lệ (được dùng: {', '.join(keys + optional)})")
    for key in keys:
        _check_text(value.get(key), f"{field}.{key}", problem, known)


def _check_text(value: Any, field: str, problem: Any, known: set[str], *, required: bool = True,
                max_len: int | None = None) -> None:
    if value is None or value == "":
        if required and ("." in field or "[" in field):
            problem(field, "còn thiếu")
        return
    if not isinstance(value, str):
        problem(field, f"phải là văn bản, nhưng là {type(value).__name__}")
        return
    if max_len is not None and len(value) > max_len:
        problem(field, f"tối đa {max_len} ký tự")
    if not _is_template(value):
        return
    try:
        used = _template_names(value)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        problem(field, f"lỗi mẫu: {exc}" + (f" (dòng {line} của văn bản)" if line else ""))
        return
    for name in sorted(used - known):
        problem(field, f"chỗ điền {{{{ {name} }}}} không có thiết lập tương ứng")


# The same texts are parsed on every load (and /napkb): parse and compile each once per process.
@lru_cache(maxsize=4096)
def _template_names(source: str) -> frozenset[str]:
    return frozenset(_placeholders(_ENV.parse(source)))


@lru_cache(maxsize=4096)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _placeholders(ast: nodes.Template) -> set[str]:
    """Names a template reads: ``org.hotline`` for ``{{ org.hotline }}``, ``x`` for ``{{ x }}``."""
    local = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if any(True for _ in ast.find_all(nodes.For)):
        local.add("loop")
    names: set[str] = set()
    consumed: set[int] = set()
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name not in local:
            names.add(f"{node.node.name}.{node.attr}")
            consumed.add(id(node.node))
    for item in ast.find_all(nodes.Getitem):
        if (isinstance(item.node, nodes.Name) and isinstance(item.arg, nodes.Const)
                and isinstance(item.arg.value, str) and item.node.name not in local):
            names.add(f"{item.node.name}.{item.arg.value}")
            consumed.add(id(item.node))
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in consumed and name.name not in local:
            names.add(name.name)
    return names


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


# --- rendering

_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _render(raw: _Raw, context: Mapping[str, Any], problems: list[Problem]) -> Entry:
    data = raw.data

    def text(value: Any, field: str, required: bool = True) -> str:
        if value is None:
            return ""
        source = str(value)
        if _is_template(source):
            try:
                source = _template(source).render(**context)
            except TemplateError as exc:
                problems.append(Problem(raw.file, raw.label, field, f"không điền được các chỗ điền: {exc}"))
                return ""
        result = _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", source)).strip()
        if required and not result:
            problems.append(Problem(raw.file, raw.label, field, "trống sau khi điền các chỗ điền"))
        return result

    sections = tuple(
        Section(text(s["title"], f"sections[{i}].title"), text(s["body"], f"sections[{i}].body"), str(s.get("kind") or ""))
        for i, s in enumerate(data["sections"], start=1)
    )
    links = []
    for i, link in enumerate(data.get("links") or (), start=1):
        url = text(link["url"], f"links[{i}].url", required=False)
        if url:  # a link to a setting left empty is simply not shown
            links.append(Link(text(link["title"], f"links[{i}].title"), url))
    updated = _as_date(data["updated"])
    assert updated is not None  # validated above
    return Entry(
        id=str(data["id"]).strip(),
        kind=str(data["kind"]),
        title=text(data["title"], "title"),
        summary=text(data["summary"], "summary"),
        sections=sections,
        updated=updated,
        code=text(data.get("code"), "code", required=False),
        aliases=tuple(a for i, v in enumerate(data.get("aliases") or (), start=1)
                      if (a := text(v, f"aliases[{i}]", required=False))),
        keywords=tuple(k for i, v in enumerate(data.get("keywords") or (), start=1)
                       if (k := text(v, f"keywords[{i}]", required=False))),
        links=tuple(links),
        source=raw.file,
        group=str(data.get("group") or "").strip(),
        facets=tuple(sorted((str(k), str(v)) for k, v in (data.get("facets") or {}).items())),
    )
