-- flowgate schema, version 8 (PostgreSQL dialect of schema/008_proxy_body_cap.sql): each app's
-- cap on a proxied request body, in MiB (issue 9).
-- 1..200; 200 is the data plane's ceiling (nginx's client_max_body_size at /api/v1/proxy/,
-- FG_PROXY_BODY_MAX_MIB in daemon.h) and the default, so existing apps keep what they had.
ALTER TABLE apps ADD COLUMN proxy_body_max_mib INTEGER NOT NULL DEFAULT 200
	CHECK (proxy_body_max_mib BETWEEN 1 AND 200);
