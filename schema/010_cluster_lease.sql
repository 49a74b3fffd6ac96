-- flowgate schema, version 10: the cluster's leases (issue 11).  One row per lease: the node
-- holding it (hostname:pid:random) and until when.  A single SQLite node always holds every
-- lease, so this table stays empty there; it exists so both backends have the same schema.
CREATE TABLE cluster_lease (
	name		TEXT PRIMARY KEY,
	holder		TEXT NOT NULL,
	expires_at	INTEGER NOT NULL
);
