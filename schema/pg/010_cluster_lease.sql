-- flowgate schema, version 10 (PostgreSQL dialect of schema/010_cluster_lease.sql): the
-- cluster's leases (issue 11).  One row per lease: the node holding it (hostname:pid:random)
-- and until when, by the database's own clock, so the nodes' clocks never have to agree.
CREATE TABLE cluster_lease (
	name		TEXT PRIMARY KEY,
	holder		TEXT NOT NULL,
	expires_at	TIMESTAMPTZ NOT NULL
);

-- The audit chain's tail for a commit group of any node: taken under a cluster-wide lock held
-- until the caller's transaction ends, and read after it by a query of its own (a VOLATILE
-- function's queries each see what was committed before they start), in one round trip.  The
-- tail is the newer of the anchored head and the newest record: the head lags up to a second.
CREATE FUNCTION audit_chain_tail() RETURNS TABLE (tail_seq BIGINT, tail_hash BYTEA)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(4605);
	RETURN QUERY SELECT u.seq, u.hash FROM (
		SELECT h.seq, h.hash FROM audit_head h WHERE h.id = 1
		UNION ALL
		(SELECT a.seq, a.hash FROM audit a ORDER BY a.seq DESC LIMIT 1)) u
	ORDER BY u.seq DESC LIMIT 1;
END $$;
