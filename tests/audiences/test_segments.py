from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from audiences.contacts import AudienceError
from audiences.models import ConsentStatus, ContactRole, ContactTag, Segment
from audiences.segments import (
    RULE_TYPES,
    Rule,
    SegmentRuleError,
    count_members,
    create_segment,
    delete_segment,
    find_segment,
    member_ids,
    parse_rule,
    preview_members,
    update_segment,
)
from tests.audiences.conftest import add_contact

TODAY = date(2026, 3, 1)


def members(db, rules, today=TODAY):
    return set(db.scalars(member_ids(db, rules, today=today)))


def field(name, op, value=None):
    rule = {"type": "field", "field": name, "op": op}
    if value is not None:
        rule["value"] = value
    return rule


@pytest.mark.parametrize(
    ("rules", "path", "message"),
    [
        ({"type": "everyone"}, "/type", "unknown rule type 'everyone'"),
        ("students", "", "expected a rule object"),
        ({"type": "all"}, "/rules", "missing"),
        (field("shoe_size", "equals", "9"), "/field", "unknown field 'shoe_size'"),
        (field("school", "before", "x"), "/op", "operator 'before' does not apply here"),
        (field("role", "equals", "astronaut"), "/value", "'astronaut' is not one of"),
        (field("graduation_year", "equals", "soon"), "/value", "'soon' is not a whole number"),
        (field("birth_date", "after", "31/12/2010"), "/value", "not a date written as YYYY-MM-DD"),
        (field("school", "equals", "  "), "/value", "enter a value"),
        (field("school", "in", []), "/value", "non-empty list"),
        ({"type": "age_band", "bands": ["teen"]}, "/bands/0", "'teen' is not one of"),
        ({"type": "consent", "channel": "fax", "status": "granted"}, "/channel", "not one of"),
        (
            {"type": "attribute", "name": "Bad Name", "op": "equals", "value": "x"},
            "/name",
            "not a usable attribute name",
        ),
        ({"type": "segment", "slug": "nope"}, "/slug", "there is no segment 'nope'"),
        # Found by the reliability suite: unhashable values where a name was expected.
        ({"type": {"all": 1}}, "/type", "unknown rule type {'all': 1}"),
        ({"type": ["all"]}, "/type", "unknown rule type ['all']"),
        (field(["school"], "equals", "x"), "/field", "unknown field ['school']"),
    ],
)
def test_invalid_rules_are_refused_with_where_and_why(db, rules, path, message):
    with pytest.raises(SegmentRuleError) as caught:
        member_ids(db, rules)
    assert [p.path for p in caught.value.problems] == [path]
    assert message in str(caught.value)


def test_every_problem_in_a_group_is_reported_at_once(db):
    rules = {
        "type": "all",
        "rules": [field("school", "equals", "Lincoln"), field("nope", "equals", 1), {"type": "x"}],
    }
    with pytest.raises(SegmentRuleError) as caught:
        parse_rule(rules)
    assert [p.path for p in caught.value.problems] == ["/rules/1/field", "/rules/2/type"]


def test_a_cycle_between_segments_is_refused(db, builtins):
    a = create_segment(db, "A", {"type": "all", "rules": []})
    b = create_segment(db, "B", {"type": "segment", "slug": "a"})
    with pytest.raises(SegmentRuleError, match=r"in a circle: a → b → a"):
        update_segment(db, a, name="A", rules={"type": "segment", "slug": "b"})
    with pytest.raises(SegmentRuleError, match="in a circle: b → b"):
        update_segment(
            db, b, name="B", rules={"type": "not", "rule": {"type": "segment", "slug": "b"}}
        )


def test_rules_round_trip_through_their_normalised_json():
    rules = {
        "type": "all",
        "rules": [
            field("graduation_year", "in", ["2027", 2028]),
            {"type": "not", "rule": {"type": "tag", "tag": "  Career   Fair "}},
            field("birth_date", "before", "2012-05-01"),
        ],
    }
    rule = parse_rule(rules)
    assert rule.to_json()["rules"][0]["value"] == [2027, 2028]
    assert rule.to_json()["rules"][1]["rule"]["tag"] == "career fair"
    assert parse_rule(rule.to_json()) == rule


def test_every_rule_type_is_one_registered_class():
    assert set(RULE_TYPES) == {
        "all",
        "any",
        "not",
        "field",
        "age_band",
        "consent",
        "tag",
        "attribute",
        "segment",
    }
    assert all(issubclass(cls, Rule) for cls in RULE_TYPES.values())


def test_not_includes_contacts_without_the_value(db):
    with_year = add_contact(db, "a@example.org", graduation_year=2027)
    without = add_contact(db, "b@example.org")
    assert members(db, field("graduation_year", "equals", 2027)) == {with_year.id}
    assert members(db, {"type": "not", "rule": field("graduation_year", "equals", 2027)}) == {
        without.id
    }
    assert members(db, field("graduation_year", "is_empty")) == {without.id}
    no_email = add_contact(db, None)
    assert members(db, field("email", "is_empty")) == {no_email.id}
    assert members(db, {"type": "not", "rule": field("email", "starts_with", "a")}) == {
        without.id,
        no_email.id,
    }


def test_age_bands_turn_on_the_birthday_and_a_birth_year_errs_younger(db):
    thirteen_today = add_contact(db, "a@example.org", birth_date=date(2013, 3, 1))
    thirteen_tomorrow = add_contact(db, "b@example.org", birth_date=date(2013, 3, 2))
    eighteen_today = add_contact(db, "c@example.org", birth_date=date(2008, 3, 1))
    year_only = add_contact(db, "d@example.org", birth_year=2013)  # maybe 13, maybe 12
    unknown = add_contact(db, "e@example.org")
    band = lambda *bands: members(db, {"type": "age_band", "bands": list(bands)})  # noqa: E731
    assert band("under_13") == {thirteen_tomorrow.id, year_only.id}
    assert band("13_to_17") == {thirteen_today.id}
    assert band("18_plus") == {eighteen_today.id}
    assert band("unknown") == {unknown.id}
    # Born on 29 February: 13 on 1 March in a common year, not on 28 February.
    leapling = add_contact(db, "f@example.org", birth_date=date(2012, 2, 29))
    assert leapling.id in members(
        db, {"type": "age_band", "bands": ["under_13"]}, date(2025, 2, 28)
    )
    assert leapling.id in members(db, {"type": "age_band", "bands": ["13_to_17"]}, date(2025, 3, 1))


def test_text_matching_is_exact_for_equals_and_literal_for_wildcards(db):
    lincoln = add_contact(db, "a@example.org", school="Lincoln High")
    percent = add_contact(db, "b@example.org", school="100% Tech_Center")
    assert members(db, field("school", "equals", "lincoln high")) == set()
    assert members(db, field("school", "equals", "Lincoln High")) == {lincoln.id}
    assert members(db, field("school", "contains", "LINCOLN")) == {lincoln.id}
    assert members(db, field("school", "contains", "%")) == {percent.id}
    assert members(db, field("school", "contains", "h_c")) == {percent.id}
    assert members(db, field("school", "starts_with", "_")) == set()


def test_added_on_compares_whole_utc_days(db):
    contact = add_contact(db, "a@example.org", created_at=datetime(2026, 1, 5, 23, 59, tzinfo=UTC))
    assert members(db, field("created_at", "after", "2026-01-04")) == {contact.id}
    assert members(db, field("created_at", "after", "2026-01-05")) == set()
    assert members(db, field("created_at", "before", "2026-01-05")) == set()
    assert members(db, field("created_at", "before", "2026-01-06")) == {contact.id}


def test_tags_attributes_consent_and_segments(db, builtins):
    student = add_contact(db, "s@example.org", attributes={"interest": "Painting"})
    parent = add_contact(
        db, "p@example.org", role=ContactRole.PARENT, consent_email=ConsentStatus.WITHDRAWN
    )
    db.add(ContactTag(contact_id=parent.id, tag="mentor"))
    db.commit()
    assert members(db, {"type": "tag", "tag": "Mentor"}) == {parent.id}
    assert members(
        db, {"type": "attribute", "name": "interest", "op": "contains", "value": "paint"}
    ) == {student.id}
    assert members(db, {"type": "attribute", "name": "interest", "op": "is_empty"}) == {parent.id}
    assert members(db, {"type": "consent", "channel": "email", "status": "withdrawn"}) == {
        parent.id
    }
    assert members(db, {"type": "segment", "slug": "students"}) == {student.id}
    assert members(db, {"type": "any", "rules": []}) == set()
    assert members(db, {"type": "all", "rules": []}) == {student.id, parent.id}


def test_one_query_selects_members_of_nested_segments(db, builtins):
    student = add_contact(db, "s@example.org", region="Ohio")
    add_contact(db, "t@example.org", region="Texas")
    create_segment(db, "Ohio", field("region", "equals", "Ohio"))
    rules = {
        "type": "all",
        "rules": [{"type": "segment", "slug": "ohio"}, {"type": "segment", "slug": "students"}],
    }
    query = member_ids(db, rules)
    sql = str(query.compile(compile_kwargs={"literal_binds": False}))
    assert sql.count("SELECT") == 3  # the members, and one subquery per segment named
    assert "Ohio" not in sql  # values are bound parameters, never pasted into SQL
    assert set(db.scalars(query)) == {student.id}


def test_segment_lifecycle_counts_are_cached_with_their_time(db, builtins):
    add_contact(db, "a@example.org", school="Lincoln High")
    segment = create_segment(db, "Lincoln pupils", field("school", "equals", "Lincoln High"))
    db.commit()
    assert (segment.slug, segment.cached_count) == ("lincoln-pupils", 1)
    assert segment.counted_at is not None
    add_contact(db, "b@example.org", school="Lincoln High")
    assert segment.cached_count == 1  # cached until counted again
    update_segment(db, segment, name="Lincoln students", rules=segment.rules)
    assert (segment.slug, segment.cached_count) == ("lincoln-pupils", 2)  # the slug is stable
    assert [c.email for c in preview_members(db, segment.rules, limit=1)] == ["a@example.org"]
    assert count_members(db, segment.rules) == 2
    assert find_segment(db, "LINCOLN STUDENTS") is segment


def test_built_in_and_used_segments_cannot_be_changed_or_deleted(db, builtins):
    students = find_segment(db, "students")
    assert students.is_builtin
    with pytest.raises(AudienceError, match="built-in"):
        update_segment(db, students, name="Pupils", rules={"type": "all", "rules": []})
    with pytest.raises(AudienceError, match="built-in"):
        delete_segment(db, students)
    base = create_segment(db, "Base", {"type": "all", "rules": []})
    create_segment(db, "Derived", {"type": "segment", "slug": "base"})
    with pytest.raises(AudienceError, match="used by other segments: Derived"):
        delete_segment(db, base)
    with pytest.raises(AudienceError, match="already exists"):
        create_segment(db, "derived", {"type": "all", "rules": []})
    with pytest.raises(AudienceError, match="slug 'base' is taken"):
        create_segment(db, "Other", {"type": "all", "rules": []}, slug="base")
    with pytest.raises(AudienceError, match="not a usable slug"):
        create_segment(db, "Other", {"type": "all", "rules": []}, slug="Not OK")
    lonely = create_segment(db, "Lonely", {"type": "all", "rules": []})
    delete_segment(db, lonely)
    assert db.scalar(select(Segment).where(Segment.slug == "lonely")) is None


def test_the_migration_creates_the_built_in_segments(sqlite_template):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{sqlite_template}")
    with engine.connect() as connection:
        rows = connection.execute(
            select(Segment.slug, Segment.is_builtin, Segment.rules).order_by(Segment.slug)
        ).all()
    engine.dispose()
    assert [(slug, builtin) for slug, builtin, _ in rows] == [
        ("educators", True),
        ("parents", True),
        ("students", True),
    ]
    assert all(parse_rule(rules) for _, _, rules in rows)
