"""Generated rule trees select the same contacts in SQL as in a plain-Python reading of them.

The Python side below is written from the grammar in audiences/segments.py, independently of
the SQL compiler: age from the textbook formula, text matching with str methods, a missing
value never equal to anything. Runs on SQLite, and on PostgreSQL when configured.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from audiences.contacts import email_hash, latest_birth_date
from audiences.models import ConsentStatus, Contact, ContactRole, ContactTag, Segment
from audiences.segments import FIELDS, OPERATORS, FieldKind, member_ids

# ASCII capitals fold on every database; the other letters here have no capital form to fold.
# %, _ and / are LIKE's wildcards and escape character: they must match literally.
ALPHABET = "abAB é%_/'-"
WORDS = st.text(ALPHABET, min_size=1, max_size=4).filter(lambda s: s.strip() == s and s.strip())
# Values that catch an unescaped LIKE: alone, each would match far more than it should.
TRICKY = st.sampled_from(["%", "_", "a_", "/", "%b"])
SCHOOLS = ["Lincoln", "lincoln high", "Riverside", "River_side", "50% Tech", ""]
TAGS = ["mentor", "career fair", "a/b"]
ATTRIBUTE_NAMES = ["interest", "size"]
HELPERS = ("helper-a", "helper-b")


def years_earlier(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, month=3, day=1)


def birth_dates(today: date):
    """Any date, or one within a day of a 13th or 18th birthday, where age rules turn."""
    edges = [
        years_earlier(today, years) + timedelta(days=shift)
        for years in (13, 18)
        for shift in (-1, 0, 1)
    ]
    return st.none() | st.sampled_from(edges) | st.dates(date(2004, 1, 1), date(2020, 12, 31))


def contacts_strategy(today: date):
    contact = st.fixed_dictionaries(
        {
            "email": st.none() | st.sampled_from(["ann", "Bob", "carl.d", "dee%"]),
            "first_name": st.sampled_from(["", "Ann", "ann", "Zoë"]) | WORDS,
            "last_name": st.just("") | WORDS,
            "school": st.sampled_from(SCHOOLS) | WORDS | TRICKY,
            "region": st.sampled_from(["Ohio", "ohio", "Texas", ""]),
            "postal_code": st.sampled_from(["43215", "4321", ""]),
            "phone": st.just("") | WORDS,
            "timezone": st.sampled_from(["", "America/Chicago"]),
            "locale": st.sampled_from(["", "en", "es-US"]),
            "role": st.sampled_from(list(ContactRole)),
            "graduation_year": st.none() | st.integers(2024, 2030),
            "birth_date": birth_dates(today),
            "birth_year": st.none() | st.integers(2004, 2020),
            "consent_email": st.sampled_from(list(ConsentStatus)),
            "consent_parental": st.sampled_from(list(ConsentStatus)),
            "tags": st.sets(st.sampled_from(TAGS), max_size=2),
            "attributes": st.dictionaries(
                st.sampled_from(ATTRIBUTE_NAMES), WORDS | TRICKY | st.just("")
            ),
            "created_at": st.datetimes(
                datetime(2025, 1, 1), datetime(2025, 1, 10), timezones=st.just(UTC)
            ),
        }
    )
    return st.lists(contact, min_size=2, max_size=12)


def text_value(field_name: str):
    if field_name == "school":
        return st.sampled_from([s for s in SCHOOLS if s]) | WORDS
    if field_name == "region":
        return st.sampled_from(["Ohio", "ohio", "Texas"])
    return WORDS | TRICKY


@st.composite
def field_rules(draw):
    spec = FIELDS[draw(st.sampled_from(sorted(FIELDS)))]
    op = draw(st.sampled_from(OPERATORS[spec.kind]))
    rule: dict[str, Any] = {"type": "field", "field": spec.name, "op": op}
    if op == "is_empty":
        return rule
    if spec.kind is FieldKind.CHOICE:
        one = st.sampled_from(spec.choices)
    elif spec.kind is FieldKind.NUMBER:
        one = st.integers(2003, 2031)
    elif spec.kind is FieldKind.DATE:
        one = st.dates(date(2004, 1, 1), date(2021, 1, 1)).map(date.isoformat)
    elif spec.kind is FieldKind.TIMESTAMP:
        one = st.dates(date(2024, 12, 31), date(2025, 1, 11)).map(date.isoformat)
    else:
        one = text_value(spec.name)
    rule["value"] = draw(st.lists(one, min_size=1, max_size=3)) if op == "in" else draw(one)
    return rule


def leaf_rules(with_segments: bool):
    others = [
        st.builds(
            lambda bands: {"type": "age_band", "bands": bands},
            st.lists(st.sampled_from(["under_13", "13_to_17", "18_plus", "unknown"]), min_size=1),
        ),
        st.builds(
            lambda c, s: {"type": "consent", "channel": c, "status": s},
            st.sampled_from(["email", "parental"]),
            st.sampled_from(["granted", "withdrawn", "unknown"]),
        ),
        st.builds(lambda t: {"type": "tag", "tag": t}, st.sampled_from([*TAGS, "absent"])),
        st.builds(
            lambda name, op, value: (
                {"type": "attribute", "name": name, "op": op}
                | ({} if op == "is_empty" else {"value": [value] if op == "in" else value})
            ),
            st.sampled_from(ATTRIBUTE_NAMES),
            st.sampled_from(["equals", "in", "contains", "starts_with", "is_empty"]),
            WORDS | TRICKY,
        ),
    ]
    if with_segments:
        others.append(st.builds(lambda s: {"type": "segment", "slug": s}, st.sampled_from(HELPERS)))
    # Fields come in many kinds and operators, so most draws go to them (a nested one_of would
    # not do it: hypothesis flattens it into one choice among all).
    return st.integers(0, 9).flatmap(lambda n: field_rules() if n < 6 else st.one_of(others))


def trees(with_segments: bool):
    return st.recursive(
        leaf_rules(with_segments),
        lambda children: st.one_of(
            st.builds(lambda rs: {"type": "all", "rules": rs}, st.lists(children, max_size=3)),
            st.builds(lambda rs: {"type": "any", "rules": rs}, st.lists(children, max_size=3)),
            st.builds(lambda r: {"type": "not", "rule": r}, children),
        ),
        max_leaves=6,
    )


# --- the reference reading, in plain Python ------------------------------------------------


def age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def band(contact: dict[str, Any], today: date) -> str:
    born = contact["birth_date"] or (
        date(contact["birth_year"], 12, 31) if contact["birth_year"] else None
    )
    if born is None:
        return "unknown"
    years = age(born, today)
    return "under_13" if years < 13 else "13_to_17" if years < 18 else "18_plus"


def text_matches(value: str, op: str, wanted: Any) -> bool:
    if op == "equals":
        return value == wanted
    if op == "in":
        return value in wanted
    if op == "contains":
        return wanted.lower() in value.lower()
    if op == "starts_with":
        return value.lower().startswith(wanted.lower())
    return value == ""


def evaluate(rule: dict[str, Any], c: dict[str, Any], today: date, helpers: dict) -> bool:
    kind = rule["type"]
    if kind == "all":
        return all(evaluate(r, c, today, helpers) for r in rule["rules"])
    if kind == "any":
        return any(evaluate(r, c, today, helpers) for r in rule["rules"])
    if kind == "not":
        return not evaluate(rule["rule"], c, today, helpers)
    if kind == "age_band":
        return band(c, today) in rule["bands"]
    if kind == "consent":
        return c[f"consent_{rule['channel']}"].value == rule["status"]
    if kind == "tag":
        return rule["tag"] in c["tags"]
    if kind == "segment":
        return evaluate(helpers[rule["slug"]], c, today, helpers)
    if kind == "attribute":
        value = c["attributes"].get(rule["name"])
        if rule["op"] == "is_empty":
            return not value
        return value is not None and text_matches(value, rule["op"], rule["value"])
    spec, op, wanted = FIELDS[rule["field"]], rule["op"], rule.get("value")
    value = c[rule["field"]]
    if spec.kind in (FieldKind.TEXT, FieldKind.CHOICE):
        return text_matches((value.value if hasattr(value, "value") else value) or "", op, wanted)
    if op == "is_empty":
        return value is None
    if spec.kind is FieldKind.TIMESTAMP:
        day, wanted = value.astimezone(UTC).date(), date.fromisoformat(wanted)
        return day < wanted if op == "before" else day > wanted
    if value is None:
        return False
    if spec.kind is FieldKind.DATE:
        wanted = (
            [date.fromisoformat(w) for w in wanted] if op == "in" else date.fromisoformat(wanted)
        )
    return {
        "equals": lambda: value == wanted,
        "in": lambda: value in wanted,
        "before": lambda: value < wanted,
        "after": lambda: value > wanted,
    }[op]()


# --- the property --------------------------------------------------------------------------


def store(db, people: list[dict[str, Any]], helpers: dict[str, dict]) -> list[int]:
    db.execute(delete(ContactTag))
    db.execute(delete(Contact))
    db.execute(delete(Segment))
    ids = []
    for index, person in enumerate(people):
        fields = {k: v for k, v in person.items() if k not in ("tags", "email")}
        if person["birth_date"]:
            fields["birth_year"] = person["birth_date"].year
        email = f"{person['email']}{index}@example.org" if person["email"] else None
        contact = Contact(
            **fields,
            email=email,
            email_hash=email_hash(email) if email else None,
            birth_date_latest=latest_birth_date(fields["birth_date"], fields["birth_year"]),
        )
        db.add(contact)
        db.flush()
        db.add_all(ContactTag(contact_id=contact.id, tag=t) for t in person["tags"])
        person["birth_year"] = fields["birth_year"]
        person["email"] = email
        ids.append(contact.id)
    for slug, rules in helpers.items():
        db.add(Segment(slug=slug, name=slug, rules=rules))
    db.commit()
    return ids


TODAYS = st.sampled_from([date(2026, 3, 1), date(2028, 2, 29), date(2027, 12, 31)]) | st.dates(
    date(2024, 1, 1), date(2032, 12, 31)
)


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scenario=TODAYS.flatmap(lambda today: st.tuples(st.just(today), contacts_strategy(today))),
    helper_a=trees(with_segments=False),
    helper_b=trees(with_segments=False),
    tree=trees(with_segments=True),
)
def test_sql_and_python_agree_on_members(db, scenario, helper_a, helper_b, tree):
    today, people = scenario
    helpers = {"helper-a": helper_a, "helper-b": helper_b}
    ids = store(db, people, helpers)
    # Every sub-tree is checked, not only the whole: a leaf's mistake cannot hide behind an
    # "any" or a "not" that happens to absorb it.
    for rule in subtrees(tree):
        from_sql = set(db.scalars(member_ids(db, rule, today=today)))
        by_python = {
            contact_id
            for contact_id, person in zip(ids, people, strict=True)
            if evaluate(rule, person, today, helpers)
        }
        assert from_sql == by_python, f"rules: {rule} on {today}"


def subtrees(rule: dict[str, Any]):
    yield rule
    for child in rule.get("rules", []):
        yield from subtrees(child)
    if "rule" in rule:
        yield from subtrees(rule["rule"])


def test_the_property_sees_both_outcomes(db):
    """Guard against a vacuous property: the generators do produce matches and misses."""
    people = [
        {
            "email": "x",
            "first_name": "Ann",
            "last_name": "",
            "school": "Riverside",
            "region": "Ohio",
            "role": ContactRole.STUDENT,
            "graduation_year": None,
            "birth_date": None,
            "birth_year": 2014,
            "consent_email": ConsentStatus.GRANTED,
            "consent_parental": ConsentStatus.UNKNOWN,
            "tags": set(),
            "attributes": {},
            "postal_code": "",
            "phone": "",
            "timezone": "",
            "locale": "",
            "created_at": datetime(2025, 1, 2, tzinfo=UTC),
        }
    ]
    ids = store(db, people, {})
    tree = {"type": "field", "field": "school", "op": "contains", "value": "r_s"}
    assert set(db.scalars(member_ids(db, tree))) == set()  # "_" is no wildcard: "r_s" is absent
    tree = {"type": "field", "field": "school", "op": "contains", "value": "ERS"}
    assert set(db.scalars(member_ids(db, tree))) == {ids[0]}
    assert set(db.scalars(select(Contact.id))) == {ids[0]}
