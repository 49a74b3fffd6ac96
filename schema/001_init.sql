-- flowgate schema, version 1.  Applied in one transaction; PRAGMA user_version records it.
CREATE TABLE connections (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,
	environment	TEXT NOT NULL,
	tenant		TEXT NOT NULL,
	client_id	TEXT NOT NULL,
	token_url	TEXT,		-- NULL: the Corti template for environment and tenant
	api_base	TEXT,		-- NULL: the Corti template for environment
	secret_version	INTEGER NOT NULL DEFAULT 0,
	stopped		INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	rotated_at	INTEGER
);

-- Sealed secrets: nonce || XChaCha20-Poly1305 ciphertext, AD = row id and version.
CREATE TABLE connection_secrets (
	connection_id	INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
	version		INTEGER NOT NULL,
	state		TEXT NOT NULL CHECK (state IN ('current', 'previous')),
	sealed		BLOB NOT NULL,
	created_at	INTEGER NOT NULL,
	retire_at	INTEGER,
	PRIMARY KEY (connection_id, version)
);
CREATE UNIQUE INDEX connection_secrets_current ON connection_secrets(connection_id)
	WHERE state = 'current';

CREATE TABLE apps (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,
	client_id	TEXT NOT NULL UNIQUE,
	secret_hash	BLOB NOT NULL,	-- keyed BLAKE2b; the secret itself is never stored
	flow		TEXT NOT NULL,
	kind		TEXT NOT NULL CHECK (kind IN ('backend', 'user_facing')),
	connection_id	INTEGER NOT NULL REFERENCES connections(id),
	scopes		TEXT NOT NULL,	-- canonical: "openid a b", sorted
	internal	INTEGER NOT NULL DEFAULT 0,
	can_redirect	INTEGER NOT NULL DEFAULT 1,
	justification	TEXT,
	created_at	INTEGER NOT NULL,
	revoked_at	INTEGER
);

-- Append-only, hash-chained: hash = keyed BLAKE2b(prev_hash || fields).
CREATE TABLE audit (
	seq		INTEGER PRIMARY KEY,
	ts		INTEGER NOT NULL,	-- unix milliseconds
	actor		TEXT NOT NULL,
	event		TEXT NOT NULL,
	app		TEXT,
	connection	TEXT,
	scopes		TEXT,
	outcome		TEXT NOT NULL,
	detail		TEXT,
	token_fp	TEXT,
	prev_hash	BLOB NOT NULL,
	hash		BLOB NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
	BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
	BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

-- The chain's head, MAC'd and moved once a second, so cutting records off the end is noticed.
CREATE TABLE audit_head (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	seq		INTEGER NOT NULL,
	hash		BLOB NOT NULL,
	mac		BLOB NOT NULL
);
