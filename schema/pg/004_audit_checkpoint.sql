-- flowgate schema, version 4 (PostgreSQL dialect of schema/004_audit_checkpoint.sql): the
-- verified prefix of the audit chain, MAC'd, so a routine verification (the dashboard's) walks
-- only the records after it.
CREATE TABLE audit_checkpoint (
	id		BIGINT PRIMARY KEY CHECK (id = 1),
	seq		BIGINT NOT NULL,
	hash		BYTEA NOT NULL,
	mac		BYTEA NOT NULL
);
