"""sql/schema.sql, written by bin/dump-schema, is the schema the migrations build.

The file is loaded into an empty database and compared with a migrated one on the same server,
through the catalogs (pg_get_*def and friends), not as text: pg_dump's wording changes between
server versions (view bodies, for one), the schema does not. dbmate's schema_migrations table is
left out of both."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"
FIX = "Run bin/dump-schema to rewrite sql/schema.sql from the migrations, and review its diff."

# Temporary views (in pg_temp, which the fingerprint leaves out) that every section reads through:
# the schemas made by the migrations, and their relations but dbmate's table and extensions' own.
SETUP = """
    create temporary view user_namespaces as
    select oid, nspname from pg_namespace where nspname <> 'information_schema' and nspname !~ '^pg_';

    create temporary view extension_members as
    select classid, objid from pg_depend where deptype = 'e';

    create temporary view user_relations as
    select c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) as name
    from pg_class as c
    inner join user_namespaces as n on c.relnamespace = n.oid
    where (n.nspname, c.relname) <> ('public', 'schema_migrations')
      and (c.oid, 'pg_class'::regclass) not in (select objid, classid from extension_members);
"""

# Each section: rows of (key, value), the key naming one object.
SECTIONS: dict[str, str] = {
    "schema": "select nspname, '' from user_namespaces",
    "extension": "select extname, extversion from pg_extension",
    "relation": """
        select r.name, concat_ws(' ', 'kind=' || c.relkind::text, 'persistence=' || c.relpersistence::text,
            'options=' || c.reloptions::text, 'rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity,
            'replica_identity=' || c.relreplident::text, 'partition_key=' || pg_get_partkeydef(c.oid),
            'partition_of=' || pg_get_expr(c.relpartbound, c.oid),
            'inherits=' || (select string_agg(i.inhparent::regclass::text, ',' order by i.inhseqno)
                            from pg_inherits as i where i.inhrelid = c.oid))
        from user_relations as r inner join pg_class as c on r.oid = c.oid
        where r.relkind not in ('i', 'I')
    """,
    "column": """
        select r.name || '.' || quote_ident(a.attname), concat_ws(' ',
            format_type(a.atttypid, a.atttypmod), case when a.attnotnull then 'not null' end,
            'default ' || pg_get_expr(d.adbin, d.adrelid),
            nullif('identity=' || a.attidentity::text, 'identity='),
            nullif('generated=' || a.attgenerated::text, 'generated='),
            'collate ' || (select co.collname from pg_collation as co
                           where co.oid = a.attcollation and co.oid <> t.typcollation),
            case when a.attstorage <> t.typstorage then 'storage=' || a.attstorage::text end,
            'statistics=' || nullif(a.attstattarget, -1),
            -- pg_attver: the WAL position some servers stamp on every column they create, not schema.
            'options=' || nullif(array(select o from unnest(a.attoptions) as o where o !~ '^pg_attver=')::text, '{}'))
        from user_relations as r
        inner join pg_attribute as a on r.oid = a.attrelid
        inner join pg_type as t on a.atttypid = t.oid
        left join pg_attrdef as d on a.attrelid = d.adrelid and a.attnum = d.adnum
        where r.relkind not in ('i', 'I', 'S') and a.attnum > 0 and not a.attisdropped
    """,
    # The order of the live columns (a column dropped by a migration leaves a gap in attnum).
    "column order": """
        select r.name, string_agg(quote_ident(a.attname), ', ' order by a.attnum)
        from user_relations as r inner join pg_attribute as a on r.oid = a.attrelid
        where r.relkind not in ('i', 'I', 'S') and a.attnum > 0 and not a.attisdropped
        group by r.name
    """,
    # PostgreSQL 18 catalogues NOT NULL constraints with a name that depends on the history of the
    # column (renames): keyed by column, not by name.
    "constraint": """
        select case when c.contype = 'n'
                    then 'not null ' || r.name || '.' || quote_ident((select attname from pg_attribute
                         where attrelid = c.conrelid and attnum = c.conkey[1]))
                    else r.name || ' ' || quote_ident(c.conname) end,
               pg_get_constraintdef(c.oid)
        from pg_constraint as c inner join user_relations as r on c.conrelid = r.oid
        union all
        select format_type(c.contypid, null) || ' ' || quote_ident(c.conname), pg_get_constraintdef(c.oid)
        from pg_constraint as c inner join pg_type as t on c.contypid = t.oid
        where t.typnamespace in (select oid from user_namespaces)
    """,
    "index": """
        select i.indexrelid::regclass::text, concat_ws(' ', pg_get_indexdef(i.indexrelid),
            case when not i.indisvalid then 'INVALID' end, case when i.indisclustered then 'CLUSTERED' end,
            case when i.indisreplident then 'REPLICA IDENTITY' end)
        from pg_index as i inner join user_relations as r on i.indrelid = r.oid
    """,
    "trigger": """
        select r.name || ' ' || quote_ident(t.tgname), pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
        from pg_trigger as t inner join user_relations as r on t.tgrelid = r.oid
        where not t.tgisinternal
    """,
    "function": """
        select p.oid::regprocedure::text,
               case when p.prokind = 'a' then 'aggregate returning ' || pg_get_function_result(p.oid)
                    else pg_get_functiondef(p.oid) end
        from pg_proc as p
        where p.pronamespace in (select oid from user_namespaces)
          and (p.oid, 'pg_proc'::regclass) not in (select objid, classid from extension_members)
    """,
    "view": "select r.name, pg_get_viewdef(r.oid) from user_relations as r where r.relkind in ('v', 'm')",
    "sequence": """
        select r.name, concat_ws(' ', format_type(s.seqtypid, null), 'start=' || s.seqstart,
            'increment=' || s.seqincrement, 'min=' || s.seqmin, 'max=' || s.seqmax, 'cache=' || s.seqcache,
            'cycle=' || s.seqcycle,
            'owned_by=' || (select format('%s.%I (%s)', d.refobjid::regclass, a.attname, d.deptype)
                            from pg_depend as d
                            inner join pg_attribute as a on d.refobjid = a.attrelid and d.refobjsubid = a.attnum
                            where d.classid = 'pg_class'::regclass and d.objid = r.oid
                              and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')))
        from user_relations as r inner join pg_sequence as s on r.oid = s.seqrelid
    """,
    # Enums, domains, ranges, base types; composite types are relations (kind c) and their columns.
    "type": """
        select format_type(t.oid, null), concat_ws(' ', 'type=' || t.typtype::text,
            'labels=' || (select string_agg(e.enumlabel, ',' order by e.enumsortorder)
                          from pg_enum as e where e.enumtypid = t.oid),
            'base=' || format_type(nullif(t.typbasetype, 0), t.typtypmod), case when t.typnotnull then 'not null' end,
            'default=' || t.typdefault)
        from pg_type as t
        where t.typnamespace in (select oid from user_namespaces) and t.typtype in ('b', 'd', 'e', 'm', 'r')
          and t.typrelid = 0 and not (t.typcategory = 'A' and t.typelem <> 0)
          and (t.oid, 'pg_type'::regclass) not in (select objid, classid from extension_members)
    """,
    "policy": """
        select format('%I.%I %I', schemaname, tablename, policyname),
               concat_ws(' ', permissive, roles::text, cmd, 'using ' || qual, 'check ' || with_check)
        from pg_policies where schemaname in (select nspname from user_namespaces)
    """,
    "rule": """
        select format('%I.%I %I', schemaname, tablename, rulename), definition
        from pg_rules where schemaname in (select nspname from user_namespaces)
    """,
    "statistics object": """
        select format('%I.%I', n.nspname, s.stxname), pg_get_statisticsobjdef(s.oid)
        from pg_statistic_ext as s inner join user_namespaces as n on s.stxnamespace = n.oid
    """,
    # COMMENT ON anything made by the migrations (objects below FirstNormalObjectId are built in).
    "comment": """
        select concat_ws(' ', o.type, o.identity), d.description
        from pg_description as d, pg_identify_object(d.classoid, d.objoid, d.objsubid) as o
        where d.objoid >= 16384 and o.identity !~ '^public\\.schema_migrations\\M'
    """,
}


def fingerprint(url: str) -> dict[tuple[str, str], str]:
    """(section, object) -> its definition, for everything the schema holds."""
    found: dict[tuple[str, str], str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP.encode())
        for section, query in SECTIONS.items():
            for key, value in conn.execute(query.encode()).fetchall():
                found[(section, str(key))] = str(value)
    return found


def differences(migrated: dict[tuple[str, str], str], loaded: dict[tuple[str, str], str]) -> list[str]:
    lines = []
    for key in sorted(migrated.keys() | loaded.keys()):
        section, name = key
        if key not in loaded:
            lines.append(f"{section} {name}: built by the migrations, missing from sql/schema.sql")
        elif key not in migrated:
            lines.append(f"{section} {name}: in sql/schema.sql, not built by the migrations")
        elif migrated[key] != loaded[key]:
            ours, theirs = excerpts(migrated[key], loaded[key])
            lines.append(f"{section} {name} differs:\n      migrations: {ours}\n      schema.sql: {theirs}")
    return lines


def excerpts(one: str, other: str, width: int = 300) -> tuple[str, str]:
    """`one` and `other` on one line each, from a little before where they first differ."""
    one, other = " ".join(one.split()), " ".join(other.split())
    same = next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), min(len(one), len(other)))
    start = max(0, same - 60)

    def cut(text: str) -> str:
        return ("... " if start else "") + text[start : start + width] + (" ..." if len(text) > start + width else "")

    return cut(one), cut(other)


def load_schema_file(url: str) -> str | None:
    """Run sql/schema.sql in the database of `url`; the error, if it fails."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA_FILE.read_bytes())
    except (OSError, psycopg.Error) as exc:
        return str(exc)
    return None


def test_schema_file_builds_the_schema_the_migrations_build(database_url: str, empty_database_url: str) -> None:
    error = load_schema_file(empty_database_url)
    if error:
        pytest.fail(f"sql/schema.sql does not load into an empty database: {error}\n{FIX}", pytrace=False)

    found = differences(fingerprint(database_url), fingerprint(empty_database_url))
    if found:
        shown = "\n".join(f"  - {line}" for line in found[:40])
        more = f"\n  ... and {len(found) - 40} more" if len(found) > 40 else ""
        pytest.fail(
            f"sql/schema.sql is not the schema the migrations build ({len(found)} differences):\n{shown}{more}\n{FIX}",
            pytrace=False,
        )


def test_schema_file_has_nothing_that_depends_on_the_pg_dump_or_server_version() -> None:
    text = SCHEMA_FILE.read_text()
    version_bound = re.compile(
        r"^(SET [a-z_]+ = |SELECT pg_catalog\.set_config\(|\\(un)?restrict\b|-- Dumped (from|by) )|pg_attver=",
        re.MULTILINE,
    )
    found = sorted({m.group(0) for m in version_bound.finditer(text)})
    assert not found, f"sql/schema.sql holds lines that bin/dump-schema leaves out: {found}. {FIX}"
    assert "public.schema_migrations" not in text, f"dbmate's schema_migrations table is in sql/schema.sql. {FIX}"
