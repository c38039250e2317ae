"""Search and paging structures: trigram index on values, family-name index, user_buckets.

``emails.value co "…"`` is answered from a trigram index (an FTS5 table kept by
triggers on SQLite, pg_trgm's GIN index on PostgreSQL); ``name.familyName sw "…"``
from an index on (tenant_id, lower(family_name)); a list's totalResults and the
first user of a deep page from ``user_buckets``, live users counted per block of
ids by triggers. The statements are written out here, not taken from the live code,
so that a database built today and one upgraded later get the same structures.
Measured with ``make bench`` (docs/performance.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Frozen copies of the values this revision was written with (scimsvc.store.search uses
# the same ones at run time).
TRIGRAM_TABLE = "dx_user_values_trigram"
BUCKET_SIZE = 1024

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_buckets",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "bucket"),
    )
    for statement in _create_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in _drop_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("user_buckets")


def _create_ddl(dialect_name: str) -> list[str]:
    """The statements creating (and filling) the trigram index, the family-name index and
    the user_buckets triggers, for ``dialect_name``; user_buckets itself is a model table."""
    buckets_fill = (
        f"INSERT INTO user_buckets (tenant_id, bucket, live) "
        f"SELECT tenant_id, id / {BUCKET_SIZE}, count(*) FROM users WHERE deleted_at IS NULL "
        f"GROUP BY tenant_id, id / {BUCKET_SIZE}"
    )
    family = "CREATE INDEX dx_users_tenant_family_lower ON users (tenant_id, lower(family_name))"
    if dialect_name == "sqlite":
        add = (f"INSERT INTO user_buckets (tenant_id, bucket, live) "
               f"SELECT new.tenant_id, new.id / {BUCKET_SIZE}, 1 WHERE new.deleted_at IS NULL "
               f"ON CONFLICT (tenant_id, bucket) DO UPDATE SET live = live + 1;")
        remove = (f"UPDATE user_buckets SET live = live - 1 WHERE old.deleted_at IS NULL "
                  f"AND tenant_id = old.tenant_id AND bucket = old.id / {BUCKET_SIZE};")
        return [
            f"CREATE VIRTUAL TABLE {TRIGRAM_TABLE} USING fts5(value_norm, content='user_values', "
            f"content_rowid='id', tokenize='trigram')",
            f"INSERT INTO {TRIGRAM_TABLE} (rowid, value_norm) "
            f"SELECT id, value_norm FROM user_values WHERE value_norm IS NOT NULL",
            f"CREATE TRIGGER dx_user_values_trigram_ai AFTER INSERT ON user_values "
            f"WHEN new.value_norm IS NOT NULL BEGIN "
            f"INSERT INTO {TRIGRAM_TABLE} (rowid, value_norm) VALUES (new.id, new.value_norm); END",
            f"CREATE TRIGGER dx_user_values_trigram_ad AFTER DELETE ON user_values "
            f"WHEN old.value_norm IS NOT NULL BEGIN "
            f"INSERT INTO {TRIGRAM_TABLE} ({TRIGRAM_TABLE}, rowid, value_norm) "
            f"VALUES ('delete', old.id, old.value_norm); END",
            f"CREATE TRIGGER dx_user_values_trigram_au AFTER UPDATE OF value_norm ON user_values "
            f"BEGIN "
            f"INSERT INTO {TRIGRAM_TABLE} ({TRIGRAM_TABLE}, rowid, value_norm) "
            f"SELECT 'delete', old.id, old.value_norm WHERE old.value_norm IS NOT NULL; "
            f"INSERT INTO {TRIGRAM_TABLE} (rowid, value_norm) "
            f"SELECT new.id, new.value_norm WHERE new.value_norm IS NOT NULL; END",
            family,
            buckets_fill,
            f"CREATE TRIGGER dx_users_bucket_ai AFTER INSERT ON users BEGIN {add} END",
            f"CREATE TRIGGER dx_users_bucket_ad AFTER DELETE ON users BEGIN {remove} END",
            f"CREATE TRIGGER dx_users_bucket_au AFTER UPDATE OF deleted_at, tenant_id ON users "
            f"BEGIN {remove} {add} END",
        ]
    return [
        # pg_trgm is a trusted extension, but a role without CREATE on the database cannot
        # install it: then values are scanned (slower co searches, same results).
        # An extension belongs to the database, not to a schema: reuse it where it is, else put
        # it in public (not in a schema of ours that a DROP SCHEMA could take it away with).
        """DO $$
DECLARE trgm_schema text;
BEGIN
  SELECT extnamespace::regnamespace::text INTO trgm_schema FROM pg_extension
   WHERE extname = 'pg_trgm';
  IF trgm_schema IS NULL THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION
      WHEN insufficient_privilege OR invalid_schema_name THEN
        RAISE WARNING 'pg_trgm could not be installed: co searches will scan user_values';
        RETURN;
      WHEN unique_violation THEN
        NULL;  -- installed by a concurrent migration
    END;
    SELECT extnamespace::regnamespace::text INTO trgm_schema FROM pg_extension
     WHERE extname = 'pg_trgm';
  END IF;
  EXECUTE format('CREATE INDEX dx_user_values_value_trgm ON user_values '
                 'USING gin (value_norm %s.gin_trgm_ops)', trgm_schema);
END $$""",
        family,
        buckets_fill,
        f"""CREATE FUNCTION dx_users_bucket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
    UPDATE user_buckets SET live = live - 1
     WHERE tenant_id = OLD.tenant_id AND bucket = OLD.id / {BUCKET_SIZE};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
    INSERT INTO user_buckets (tenant_id, bucket, live)
    VALUES (NEW.tenant_id, NEW.id / {BUCKET_SIZE}, 1)
    ON CONFLICT (tenant_id, bucket) DO UPDATE SET live = user_buckets.live + 1;
  END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER dx_users_bucket AFTER INSERT OR DELETE OR UPDATE OF deleted_at, tenant_id "
        "ON users FOR EACH ROW EXECUTE FUNCTION dx_users_bucket()",
    ]


def _drop_ddl(dialect_name: str) -> list[str]:
    """The statements undoing ``_create_ddl`` (the downgrade)."""
    if dialect_name == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in (
            "dx_user_values_trigram_ai", "dx_user_values_trigram_ad", "dx_user_values_trigram_au",
            "dx_users_bucket_ai", "dx_users_bucket_ad", "dx_users_bucket_au")] + [
            f"DROP TABLE IF EXISTS {TRIGRAM_TABLE}",
            "DROP INDEX IF EXISTS dx_users_tenant_family_lower"]
    return ["DROP TRIGGER IF EXISTS dx_users_bucket ON users",
            "DROP FUNCTION IF EXISTS dx_users_bucket()",
            "DROP INDEX IF EXISTS dx_user_values_value_trgm",
            "DROP INDEX IF EXISTS dx_users_tenant_family_lower"]
