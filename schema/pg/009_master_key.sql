-- flowgate schema, version 9 (PostgreSQL dialect of schema/009_master_key.sql): which master key
-- sealed the data (issue 11).  One row, written by the first start with this schema and by every
-- key rotation, in the same transaction as the values it re-seals.
-- key_id: a one-way fingerprint of the master key (never the key); hash_keys: the keys of the
-- keyed hashes, sealed under that master key once a rotation has carried them over (NULL: still
-- derived from it).
CREATE TABLE master_key (
	id		BIGINT PRIMARY KEY CHECK (id = 1),
	key_id		TEXT COLLATE "C" NOT NULL,
	hash_keys	BYTEA,
	recorded_at	BIGINT NOT NULL
);
