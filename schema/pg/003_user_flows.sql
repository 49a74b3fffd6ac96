-- flowgate schema, version 3 (PostgreSQL dialect of schema/003_user_flows.sql): what the
-- user-present flows and the backend proxy need per app.
-- redirect_uri: the broker's /callback as the upstream client knows it (sent upstream);
-- return_url: where the browser goes once its session exists;
-- proxy_methods / proxy_paths: space-separated allowlists for /api/v1/proxy/{connection}/...
ALTER TABLE apps ADD COLUMN redirect_uri TEXT COLLATE "C";
ALTER TABLE apps ADD COLUMN return_url TEXT COLLATE "C";
ALTER TABLE apps ADD COLUMN proxy_methods TEXT COLLATE "C";
ALTER TABLE apps ADD COLUMN proxy_paths TEXT COLLATE "C";
