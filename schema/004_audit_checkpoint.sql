-- flowgate schema, version 4: the verified prefix of the audit chain, MAC'd, so a routine
-- verification (the dashboard's) walks only the records after it.
CREATE TABLE audit_checkpoint (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	seq		INTEGER NOT NULL,
	hash		BLOB NOT NULL,
	mac		BLOB NOT NULL
);
