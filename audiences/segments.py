"""Segments: a rule tree, stored as JSON, compiled to one SQL condition over `contacts`.

The grammar (every node is an object with a "type"):

    {"type": "all", "rules": [...]}            every rule matches (an empty list: everyone)
    {"type": "any", "rules": [...]}            at least one matches (an empty list: nobody)
    {"type": "not", "rule": {...}}
    {"type": "field", "field": "school", "op": "equals", "value": "Lincoln High"}
    {"type": "age_band", "bands": ["under_13", "13_to_17"]}
    {"type": "consent", "channel": "email", "status": "granted"}
    {"type": "tag", "tag": "career fair"}
    {"type": "attribute", "name": "interest", "op": "contains", "value": "paint"}
    {"type": "segment", "slug": "students"}   membership in another segment

Field operators depend on the field's kind (see `OPERATORS`): text fields take equals, in,
contains, starts_with and is_empty; numbers take equals, in, before, after and is_empty;
dates take before, after and is_empty. `equals` and `in` match exactly; `contains` and
`starts_with` ignore case (for ASCII letters on every database: SQLite folds no others).

Every condition compiles to an expression that is TRUE or FALSE, never NULL, so that NOT
means "everyone else" as a person expects. Values are always bound parameters.

Adding a rule type is one class: subclass `Rule`, implement `parse`, `condition` and
`to_json`, and decorate it with `@rule_type`. Conditions on engagement ("clicked in campaign
X") will read the lead's tables the same way `TagRule` reads `contact_tags`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from audiences.contacts import (
    ADULT_AGE,
    CHILD_AGE,
    AudienceError,
    check_attribute_name,
    normalize_tag,
    years_before,
)
from audiences.models import (
    AgeBand,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    ContactTag,
    Segment,
)
from campaign_manager.core.db import utcnow

MAX_TEXT = 200
MAX_LIST = 1000
MAX_CHILDREN = 100
MAX_DEPTH = 10


# --- errors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rule tree; `path` locates it, like "/rules/2/value"."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SegmentRuleError(AudienceError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _fail(path: str, message: str) -> SegmentRuleError:
    return SegmentRuleError([Problem(path, message)])


# --- the rule classes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What conditions compile against."""

    session: Session
    today: date
    # The contacts entity to build columns from: `Contact`, or an alias inside a subquery.
    contacts: Any = Contact
    # Slugs of the segments being compiled, outermost first, to catch circular references.
    expanding: tuple[str, ...] = ()


class Rule(ABC):
    type_name: ClassVar[str]

    @classmethod
    @abstractmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        """Build the rule from its JSON, or raise SegmentRuleError saying what is wrong."""

    @abstractmethod
    def condition(self, ctx: Context) -> ColumnElement[bool]:
        """A SQL expression over `ctx.contacts` that is TRUE for members, FALSE otherwise."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The normalised JSON form, which parses back to an equal rule."""

    def children(self) -> Sequence[Rule]:
        return ()


RULE_TYPES: dict[str, type[Rule]] = {}


def rule_type(cls: type[Rule]) -> type[Rule]:
    RULE_TYPES[cls.type_name] = cls
    return cls


def parse_rule(data: Any, path: str = "", depth: int = 0) -> Rule:
    if depth > MAX_DEPTH:
        raise _fail(path, f"rules are nested more than {MAX_DEPTH} levels deep")
    if not isinstance(data, Mapping):
        raise _fail(path, 'expected a rule object such as {"type": "all", "rules": []}')
    kind = data.get("type")
    # Only a string can name a type (a list or object here is unhashable, not a key).
    cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(RULE_TYPES)
        raise _fail(f"{path}/type", f"unknown rule type {data.get('type')!r}; use one of: {known}")
    return cls.parse(data, path, depth)


def _get(data: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in data:
        raise _fail(f"{path}/{key}", "missing")
    return data[key]


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "enter a value")
    if len(value) > MAX_TEXT:
        raise _fail(path, f"a value can be at most {MAX_TEXT} characters")
    return value


def _choice(value: Any, choices: Sequence[str], path: str) -> str:
    if value not in choices:
        raise _fail(path, f"{value!r} is not one of: {', '.join(choices)}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "expected a non-empty list of values")
    if len(value) > MAX_LIST:
        raise _fail(path, f"a list can hold at most {MAX_LIST} values")
    return value


class _Group(Rule):
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        items = _get(data, "rules", path)
        if not isinstance(items, list):
            raise _fail(f"{path}/rules", "expected a list of rules")
        if len(items) > MAX_CHILDREN:
            raise _fail(f"{path}/rules", f"a group can hold at most {MAX_CHILDREN} rules")
        children, problems = [], []
        for index, item in enumerate(items):
            try:
                children.append(parse_rule(item, f"{path}/rules/{index}", depth + 1))
            except SegmentRuleError as exc:
                problems.extend(exc.problems)
        if problems:
            raise SegmentRuleError(problems)
        return cls(tuple(children))  # type: ignore[call-arg]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "rules": [r.to_json() for r in self.rules]}

    def children(self) -> Sequence[Rule]:
        return self.rules


@rule_type
@dataclass(frozen=True)
class AllOf(_Group):
    type_name = "all"
    rules: tuple[Rule, ...]

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        return and_(*(r.condition(ctx) for r in self.rules)) if self.rules else true()


@rule_type
@dataclass(frozen=True)
class AnyOf(_Group):
    type_name = "any"
    rules: tuple[Rule, ...]

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        return or_(*(r.condition(ctx) for r in self.rules)) if self.rules else false()


@rule_type
@dataclass(frozen=True)
class Not(Rule):
    type_name = "not"
    rule: Rule

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        return cls(parse_rule(_get(data, "rule", path), f"{path}/rule", depth + 1))

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        return not_(self.rule.condition(ctx))

    def to_json(self) -> dict[str, Any]:
        return {"type": "not", "rule": self.rule.to_json()}

    def children(self) -> Sequence[Rule]:
        return (self.rule,)


class FieldKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    NUMBER = "number"
    DATE = "date"
    # A timestamp compared by its UTC calendar day.
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: FieldKind
    choices: tuple[str, ...] = ()


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("role", "Role", FieldKind.CHOICE, tuple(r.value for r in ContactRole)),
        FieldSpec("school", "School or organisation", FieldKind.TEXT),
        FieldSpec("region", "Region", FieldKind.TEXT),
        FieldSpec("postal_code", "Postal code", FieldKind.TEXT),
        FieldSpec("graduation_year", "Graduation year", FieldKind.NUMBER),
        FieldSpec("birth_year", "Birth year", FieldKind.NUMBER),
        FieldSpec("birth_date", "Birth date", FieldKind.DATE),
        FieldSpec("email", "Email", FieldKind.TEXT),
        FieldSpec("first_name", "First name", FieldKind.TEXT),
        FieldSpec("last_name", "Last name", FieldKind.TEXT),
        FieldSpec("phone", "Phone", FieldKind.TEXT),
        FieldSpec("timezone", "Time zone", FieldKind.TEXT),
        FieldSpec("locale", "Language", FieldKind.TEXT),
        FieldSpec("created_at", "Added on", FieldKind.TIMESTAMP),
    )
}
TEXT_OPERATORS = ("equals", "in", "contains", "starts_with", "is_empty")
OPERATORS: dict[FieldKind, tuple[str, ...]] = {
    FieldKind.TEXT: TEXT_OPERATORS,
    FieldKind.CHOICE: ("equals", "in"),
    FieldKind.NUMBER: ("equals", "in", "before", "after", "is_empty"),
    FieldKind.DATE: ("before", "after", "is_empty"),
    FieldKind.TIMESTAMP: ("before", "after"),
}
OPERATOR_LABELS = {
    "equals": "is",
    "in": "is one of",
    "contains": "contains",
    "starts_with": "starts with",
    "before": "is before",
    "after": "is after",
    "is_empty": "is empty",
}


def _operator(data: Mapping[str, Any], allowed: Sequence[str], path: str) -> str:
    op = _get(data, "op", path)
    if op not in allowed:
        raise _fail(f"{path}/op", f"operator {op!r} does not apply here; use one of: {allowed}")
    return op


def _scalar(kind: FieldKind, choices: Sequence[str], value: Any, path: str) -> Any:
    """One comparison value, checked and converted for a field of this kind."""
    if kind is FieldKind.TEXT:
        return _text(value, path)
    if kind is FieldKind.CHOICE:
        return _choice(value, choices, path)
    if kind is FieldKind.NUMBER:
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,9}\s*", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 10**9:
            raise _fail(path, f"{value!r} is not a whole number")
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _fail(path, f"{value!r} is not a date written as YYYY-MM-DD") from None


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _text_condition(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    """For a non-NULL text expression."""
    if op == "equals":
        return column == value
    if op == "in":
        return column.in_(value)
    if op == "contains":
        return func.lower(column).contains(value.lower(), autoescape=True)
    if op == "starts_with":
        return func.lower(column).startswith(value.lower(), autoescape=True)
    return column == ""


@rule_type
@dataclass(frozen=True)
class FieldRule(Rule):
    type_name = "field"
    field: str
    op: str
    # A str, int or date; a tuple of them for "in"; None for "is_empty".
    value: Any = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        name = _get(data, "field", path)
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise _fail(f"{path}/field", f"unknown field {name!r}; use one of: {', '.join(FIELDS)}")
        op = _operator(data, OPERATORS[spec.kind], path)
        if op == "is_empty":
            return cls(name, op)
        raw = _get(data, "value", path)
        if op == "in":
            items = _list(raw, f"{path}/value")
            values = tuple(
                _scalar(spec.kind, spec.choices, item, f"{path}/value/{i}")
                for i, item in enumerate(items)
            )
            return cls(name, op, values)
        return cls(name, op, _scalar(spec.kind, spec.choices, raw, f"{path}/value"))

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        kind = FIELDS[self.field].kind
        column = getattr(ctx.contacts, self.field)
        if kind in (FieldKind.TEXT, FieldKind.CHOICE):
            if self.field == "email":  # the only nullable text column
                column = func.coalesce(column, "")
            return _text_condition(column, self.op, self.value)
        if self.op == "is_empty":
            return column.is_(None)
        if kind is FieldKind.TIMESTAMP:
            # Compare with midnight UTC: before the day starts, or after it ends.
            day = self.value if self.op == "before" else self.value + timedelta(days=1)
            moment = datetime.combine(day, time(0), tzinfo=UTC)
            return column < moment if self.op == "before" else column >= moment
        compared = {
            "equals": lambda: column == self.value,
            "in": lambda: column.in_(self.value),
            "before": lambda: column < self.value,
            "after": lambda: column > self.value,
        }[self.op]()
        # "IS NOT NULL AND ..." is FALSE, not NULL, for a contact without the value.
        return and_(column.is_not(None), compared)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "field", "field": self.field, "op": self.op}
        if self.op == "in":
            data["value"] = [_json_value(v) for v in self.value]
        elif self.op != "is_empty":
            data["value"] = _json_value(self.value)
        return data


@rule_type
@dataclass(frozen=True)
class AgeBandRule(Rule):
    """Age from `birth_date_latest` on `ctx.today`: a birth year alone errs younger."""

    type_name = "age_band"
    bands: tuple[AgeBand, ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        items = _list(_get(data, "bands", path), f"{path}/bands")
        names = [b.value for b in AgeBand]
        return cls(
            tuple(
                AgeBand(_choice(item, names, f"{path}/bands/{i}")) for i, item in enumerate(items)
            )
        )

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        born = ctx.contacts.birth_date_latest
        child_cut = years_before(ctx.today, CHILD_AGE)
        adult_cut = years_before(ctx.today, ADULT_AGE)
        conditions = {
            AgeBand.UNDER_13: and_(born.is_not(None), born > child_cut),
            AgeBand.FROM_13_TO_17: and_(born.is_not(None), born <= child_cut, born > adult_cut),
            AgeBand.ADULT: and_(born.is_not(None), born <= adult_cut),
            AgeBand.UNKNOWN: born.is_(None),
        }
        return or_(*(conditions[band] for band in self.bands))

    def to_json(self) -> dict[str, Any]:
        return {"type": "age_band", "bands": [b.value for b in self.bands]}


@rule_type
@dataclass(frozen=True)
class ConsentRule(Rule):
    type_name = "consent"
    channel: ConsentChannel
    status: ConsentStatus

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        channel = _choice(
            _get(data, "channel", path), [c.value for c in ConsentChannel], f"{path}/channel"
        )
        status = _choice(
            _get(data, "status", path), [s.value for s in ConsentStatus], f"{path}/status"
        )
        return cls(ConsentChannel(channel), ConsentStatus(status))

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        return getattr(ctx.contacts, f"consent_{self.channel.value}") == self.status

    def to_json(self) -> dict[str, Any]:
        return {"type": "consent", "channel": self.channel.value, "status": self.status.value}


@rule_type
@dataclass(frozen=True)
class TagRule(Rule):
    type_name = "tag"
    tag: str

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        raw = _text(_get(data, "tag", path), f"{path}/tag")
        try:
            return cls(normalize_tag(raw))
        except AudienceError as exc:
            raise _fail(f"{path}/tag", str(exc)) from None

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        return (
            select(ContactTag.contact_id)
            .where(ContactTag.contact_id == ctx.contacts.id, ContactTag.tag == self.tag)
            .exists()
        )

    def to_json(self) -> dict[str, Any]:
        return {"type": "tag", "tag": self.tag}


@rule_type
@dataclass(frozen=True)
class AttributeRule(Rule):
    """A custom attribute, compared as text; a contact without it has it empty."""

    type_name = "attribute"
    name: str
    op: str
    value: Any = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        try:
            name = check_attribute_name(str(_get(data, "name", path)))
        except AudienceError as exc:
            raise _fail(f"{path}/name", str(exc)) from None
        op = _operator(data, TEXT_OPERATORS, path)
        if op == "is_empty":
            return cls(name, op)
        raw = _get(data, "value", path)
        if op == "in":
            items = _list(raw, f"{path}/value")
            return cls(name, op, tuple(_text(v, f"{path}/value/{i}") for i, v in enumerate(items)))
        return cls(name, op, _text(raw, f"{path}/value"))

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        value = ctx.contacts.attributes[self.name].as_string()
        if self.op == "is_empty":
            return or_(value.is_(None), value == "")
        return and_(value.is_not(None), _text_condition(value, self.op, self.value))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "attribute", "name": self.name, "op": self.op}
        if self.op != "is_empty":
            data["value"] = list(self.value) if self.op == "in" else self.value
        return data


@rule_type
@dataclass(frozen=True)
class SegmentRule(Rule):
    """Membership in another segment, compiled inline from that segment's current rules."""

    type_name = "segment"
    slug: str
    path: str = dataclasses.field(default="", compare=False)

    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, depth: int) -> Rule:
        return cls(_text(_get(data, "slug", path), f"{path}/slug").strip(), path)

    def condition(self, ctx: Context) -> ColumnElement[bool]:
        if self.slug in ctx.expanding:
            circle = " → ".join((*ctx.expanding, self.slug))
            raise _fail(self.path, f"segments refer to each other in a circle: {circle}")
        segment = ctx.session.scalar(select(Segment).where(Segment.slug == self.slug))
        if segment is None:
            raise _fail(f"{self.path}/slug", f"there is no segment {self.slug!r}")
        try:
            rule = parse_rule(segment.rules)
        except SegmentRuleError as exc:
            raise _fail(self.path, f"segment {self.slug!r} has invalid rules: {exc}") from None
        inner = aliased(Contact)
        inner_ctx = replace(ctx, contacts=inner, expanding=(*ctx.expanding, self.slug))
        return ctx.contacts.id.in_(select(inner.id).where(rule.condition(inner_ctx)))

    def to_json(self) -> dict[str, Any]:
        return {"type": "segment", "slug": self.slug}


# --- compiling and counting ----------------------------------------------------------------


def today_utc() -> date:
    return utcnow().date()


def _as_rule(rules: Rule | Mapping[str, Any]) -> Rule:
    return rules if isinstance(rules, Rule) else parse_rule(rules)


def compile_condition(
    session: Session,
    rules: Rule | Mapping[str, Any],
    *,
    today: date | None = None,
    slug: str | None = None,
) -> ColumnElement[bool]:
    """The WHERE condition over `Contact` for a rule tree; raises SegmentRuleError.

    `slug` names the segment the rules belong to, so a reference back to it is a cycle.
    Referenced segments are read once here; the result is plain SQL.
    """
    ctx = Context(session=session, today=today or today_utc(), expanding=(slug,) if slug else ())
    return _as_rule(rules).condition(ctx)


def member_ids(
    session: Session,
    rules: Rule | Mapping[str, Any],
    *,
    today: date | None = None,
    slug: str | None = None,
) -> Select[tuple[int]]:
    """One selectable of the ids of the contacts the rules match."""
    return select(Contact.id).where(compile_condition(session, rules, today=today, slug=slug))


def segment_member_ids(
    session: Session, segment: Segment | int, *, today: date | None = None
) -> Select[tuple[int]]:
    segment = _load(session, segment)
    return member_ids(session, segment.rules, today=today, slug=segment.slug)


def count_members(
    session: Session,
    rules: Rule | Mapping[str, Any],
    *,
    today: date | None = None,
    slug: str | None = None,
) -> int:
    condition = compile_condition(session, rules, today=today, slug=slug)
    return session.scalar(select(func.count()).select_from(Contact).where(condition)) or 0


def preview_members(
    session: Session,
    rules: Rule | Mapping[str, Any],
    *,
    limit: int = 50,
    today: date | None = None,
    slug: str | None = None,
) -> Sequence[Contact]:
    """The first members by id: what the builder shows while the rules are edited."""
    condition = compile_condition(session, rules, today=today, slug=slug)
    return session.scalars(select(Contact).where(condition).order_by(Contact.id).limit(limit)).all()


def count_segment(session: Session, segment: Segment | int, *, today: date | None = None) -> int:
    """Count the members now, and keep the count with its time on the segment."""
    segment = _load(session, segment)
    segment.cached_count = count_members(session, segment.rules, today=today, slug=segment.slug)
    segment.counted_at = utcnow()
    session.flush()
    return segment.cached_count


# --- managing segments ---------------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Name, slug and role of the segments every installation has (migration 0002 creates them).
BUILTIN_SEGMENTS = (
    ("Students", "students", ContactRole.STUDENT),
    ("Parents", "parents", ContactRole.PARENT),
    ("Educators", "educators", ContactRole.EDUCATOR),
)


def _load(session: Session, segment: Segment | int) -> Segment:
    if isinstance(segment, Segment):
        return segment
    found = session.get(Segment, segment)
    if found is None:
        raise AudienceError(f"there is no segment #{segment}")
    return found


def slugify(name: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))[:80].strip("-")


def find_segment(session: Session, name_or_slug: str) -> Segment | None:
    text = name_or_slug.strip()
    return session.scalar(
        select(Segment).where(or_(Segment.slug == text, func.lower(Segment.name) == text.lower()))
    )


def walk(rule: Rule) -> Iterator[Rule]:
    yield rule
    for child in rule.children():
        yield from walk(child)


def segments_referring_to(session: Session, slug: str) -> list[Segment]:
    """Segments whose rules name `slug` directly (few segments exist: read them all)."""
    found = []
    for segment in session.scalars(select(Segment).order_by(Segment.name)):
        try:
            rule = parse_rule(segment.rules)
        except SegmentRuleError:
            continue
        if any(isinstance(r, SegmentRule) and r.slug == slug for r in walk(rule)):
            found.append(segment)
    return found


def validate_rules(
    session: Session, rules: Any, *, slug: str | None = None, today: date | None = None
) -> Rule:
    """Parse and compile once, so that unknown segments and cycles are reported too."""
    rule = parse_rule(rules)
    compile_condition(session, rule, today=today, slug=slug)
    return rule


def _check_name(session: Session, name: str, segment_id: int | None) -> str:
    name = " ".join(name.split())
    if not name:
        raise AudienceError("a segment needs a name")
    if len(name) > 120:
        raise AudienceError("a segment name can be at most 120 characters")
    other = session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
    if other is not None and other.id != segment_id:
        raise AudienceError(f"a segment named {other.name!r} already exists")
    return name


def create_segment(
    session: Session,
    name: str,
    rules: Any,
    *,
    slug: str | None = None,
    description: str = "",
) -> Segment:
    """Add a segment; the slug comes from the name unless given, and never changes later."""
    name = _check_name(session, name, None)
    slug = (slug or "").strip() or slugify(name)
    if not SLUG.fullmatch(slug) or len(slug) > 80:
        raise AudienceError(
            f"{slug!r} is not a usable slug: lower-case letters and digits joined by hyphens"
        )
    if session.scalar(select(Segment).where(Segment.slug == slug)):
        raise AudienceError(f"the slug {slug!r} is taken; choose another")
    rule = validate_rules(session, rules, slug=slug)
    segment = Segment(slug=slug, name=name, description=description.strip(), rules=rule.to_json())
    session.add(segment)
    session.flush()
    count_segment(session, segment)
    return segment


def update_segment(
    session: Session, segment: Segment, *, name: str, rules: Any, description: str = ""
) -> Segment:
    if segment.is_builtin:
        raise AudienceError(f"{segment.name} is a built-in segment and cannot be changed")
    segment.name = _check_name(session, name, segment.id)
    segment.rules = validate_rules(session, rules, slug=segment.slug).to_json()
    segment.description = description.strip()
    session.flush()
    count_segment(session, segment)
    return segment


def delete_segment(session: Session, segment: Segment) -> None:
    if segment.is_builtin:
        raise AudienceError(f"{segment.name} is a built-in segment and cannot be deleted")
    users = segments_referring_to(session, segment.slug)
    if users:
        names = ", ".join(s.name for s in users)
        raise AudienceError(f"{segment.name} is used by other segments: {names}")
    try:
        with session.begin_nested():
            session.delete(segment)
            session.flush()
    except IntegrityError:
        raise AudienceError(f"{segment.name} is used by a campaign and cannot be deleted") from None


def ensure_builtin_segments(session: Session) -> None:
    """Create missing built-in segments (the migration does; tests that empty tables need this)."""
    for name, slug, role in BUILTIN_SEGMENTS:
        if session.scalar(select(Segment.id).where(Segment.slug == slug)) is None:
            rules = AllOf((FieldRule("role", "equals", role.value),)).to_json()
            session.add(
                Segment(
                    slug=slug,
                    name=name,
                    description=f"Every contact whose role is {role.value}.",
                    rules=rules,
                    is_builtin=True,
                )
            )
    session.flush()


def builder_schema(session: Session) -> dict[str, Any]:
    """What the segment builder offers, as plain data for its script."""
    return {
        "fields": [
            {
                "name": spec.name,
                "label": spec.label,
                "kind": spec.kind.value,
                "choices": list(spec.choices),
                "operators": list(OPERATORS[spec.kind]),
            }
            for spec in FIELDS.values()
        ],
        "text_operators": list(TEXT_OPERATORS),
        "operator_labels": OPERATOR_LABELS,
        "age_bands": [{"value": b.value, "label": b.label} for b in AgeBand],
        "consent_channels": [c.value for c in ConsentChannel],
        "consent_statuses": [s.value for s in ConsentStatus],
        "segments": [
            {"slug": slug, "name": name}
            for slug, name in session.execute(
                select(Segment.slug, Segment.name).order_by(Segment.name)
            )
        ],
        "tags": list(
            session.scalars(
                select(ContactTag.tag).group_by(ContactTag.tag).order_by("tag").limit(200)
            )
        ),
    }
