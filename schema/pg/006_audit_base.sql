-- flowgate schema, version 6 (PostgreSQL dialect of schema/006_audit_base.sql): retention.
-- Records up to the base were moved to an archive (flowgatectl audit archive); the chain in the
-- table starts at the base, whose seq and hash are MAC'd.  Only records at or below the base
-- may be deleted.
CREATE TABLE audit_base (
	id		BIGINT PRIMARY KEY CHECK (id = 1),
	seq		BIGINT NOT NULL,
	hash		BYTEA NOT NULL,
	mac		BYTEA NOT NULL
);
-- SQLite's "WHEN OLD.seq > coalesce((SELECT seq FROM audit_base WHERE id = 1), 0)".
CREATE FUNCTION audit_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.seq > coalesce((SELECT seq FROM audit_base WHERE id = 1), 0) THEN
		RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RETURN OLD;
END
$$;
-- TRUNCATE deletes every record: refused when a DELETE of them all would be.
CREATE FUNCTION audit_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM audit
	    WHERE seq > coalesce((SELECT seq FROM audit_base WHERE id = 1), 0)) THEN
		RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'integrity_constraint_violation';
	END IF;
	RETURN NULL;
END
$$;
DROP TRIGGER audit_no_delete ON audit;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_delete_guard();
DROP TRIGGER audit_no_truncate ON audit;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate_guard();
