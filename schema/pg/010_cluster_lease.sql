-- flowgate schema, version 10 (PostgreSQL dialect of schema/010_cluster_lease.sql): the
-- cluster's leases (issue 11).  One row per lease: the node holding it (hostname:pid:random)
-- and until when, by the database's own clock, so the nodes' clocks never have to agree.
CREATE TABLE cluster_lease (
	name		TEXT PRIMARY KEY,
	holder		TEXT NOT NULL,
	expires_at	TIMESTAMPTZ NOT NULL
);
