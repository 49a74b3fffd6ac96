-- flowgate schema, version 11: one upstream request per (connection, scope set) across the
-- nodes of a cluster (issue 11).  A node that misses its cache takes the row's lease (holder,
-- lease_until), asks the upstream and leaves the token here sealed under the master key (the
-- associated data names the row and its gen); the others read it, or the failure and how long
-- it holds everyone back.  A single SQLite node never
-- uses it; the table is here so both dialects have the same schema.
CREATE TABLE token_lease (
	id		INTEGER PRIMARY KEY,
	connection_id	INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
	scopes		TEXT NOT NULL,
	holder		TEXT,			-- the node fetching, while lease_until is ahead
	lease_until	INTEGER NOT NULL DEFAULT 0,	-- ms, the database's clock
	gen		INTEGER NOT NULL DEFAULT 0,	-- bumped at each token stored
	sealed		BLOB,
	granted		TEXT,
	expires_at	INTEGER,		-- ms, the database's clock
	lifetime	INTEGER,		-- s, as the upstream gave it
	error		TEXT,			-- the holder's request failed: why,
	message		TEXT,
	retry_until	INTEGER NOT NULL DEFAULT 0,	-- and until when nobody asks again (ms)
	UNIQUE (connection_id, scopes)
);
-- Which apps received a shared token (by its fingerprint, never the token): a token stands for an
-- app's credential on the proxy only when one app received it, whichever nodes handed it out.
CREATE TABLE token_issued (
	fp		TEXT NOT NULL,
	app_id		INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,	-- ms, the database's clock
	PRIMARY KEY (fp, app_id)
);
