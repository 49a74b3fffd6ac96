-- flowgate schema, version 6: retention.  Records up to the base were moved to an archive
-- (flowgatectl audit archive); the chain in the table starts at the base, whose seq and hash
-- are MAC'd.  Only records at or below the base may be deleted.
CREATE TABLE audit_base (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	seq		INTEGER NOT NULL,
	hash		BLOB NOT NULL,
	mac		BLOB NOT NULL
);
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
	WHEN OLD.seq > coalesce((SELECT seq FROM audit_base WHERE id = 1), 0)
	BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
