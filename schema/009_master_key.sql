-- flowgate schema, version 9: which master key sealed the data (issue 11).  One row, written by
-- the first start with this schema and by every key rotation, in the same transaction as the
-- values it re-seals, so the database always names the key that opens it.
-- key_id: a one-way fingerprint of the master key (never the key); hash_keys: the keys of the
-- keyed hashes (app credentials, session ids, the audit chain), sealed under that master key
-- once a rotation has carried them over (NULL: still derived from it).
CREATE TABLE master_key (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	key_id		TEXT NOT NULL,
	hash_keys	BLOB,
	recorded_at	INTEGER NOT NULL
);
