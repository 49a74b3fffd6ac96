-- flowgate schema, version 5: end users' sessions (user-present apps) survive a restart.
-- id_hash: the keyed hash of the session id (the browser's cookie), never the id itself;
-- refresh: the user's refresh token sealed (XChaCha20-Poly1305) with associated data naming
-- this row's id and refresh_gen, so a ciphertext copied to another row or generation does not
-- open; refresh_gen goes up each time the upstream rotates the refresh token.
CREATE TABLE user_sessions (
	id		INTEGER PRIMARY KEY,
	id_hash		BLOB NOT NULL UNIQUE,
	app_id		INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
	conn_id		INTEGER NOT NULL,
	username	TEXT NOT NULL,
	sub		TEXT NOT NULL,
	refresh		BLOB NOT NULL,
	refresh_gen	INTEGER NOT NULL DEFAULT 1,
	created_at	INTEGER NOT NULL,
	last_seen	INTEGER NOT NULL
);
CREATE INDEX user_sessions_app ON user_sessions (app_id);
CREATE INDEX user_sessions_user ON user_sessions (username);

-- Apps of kind 'assistant' (an embedded Corti Assistant: Authorization Code with PKCE, whose
-- users' browsers get their own whole token set).  SQLite cannot alter a CHECK constraint; a
-- wider CHECK that every existing row satisfies may be written into the schema in place
-- (sqlite.org/lang_altertable.html, "other kinds of table schema changes").
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''backend'', ''user_facing''))',
    'CHECK (kind IN (''backend'', ''user_facing'', ''assistant''))')
    WHERE type = 'table' AND name = 'apps';
PRAGMA writable_schema = RESET;
