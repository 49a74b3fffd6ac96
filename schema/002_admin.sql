-- flowgate schema, version 2: admin users and sessions; app credential rotation with overlap.
CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL UNIQUE,
	role		TEXT NOT NULL CHECK (role IN ('admin', 'security', 'auditor')),
	pw_hash		TEXT NOT NULL,		-- crypto_pwhash_str (Argon2id)
	disabled	INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	last_login	INTEGER
);

-- Session ids are random 256-bit values; only their keyed hash is stored.
CREATE TABLE sessions (
	id_hash		BLOB PRIMARY KEY,
	user_id		INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL
);

-- The previous app credential stays valid until prev_valid_until (rotation with overlap).
ALTER TABLE apps ADD COLUMN prev_secret_hash BLOB;
ALTER TABLE apps ADD COLUMN prev_valid_until INTEGER;
