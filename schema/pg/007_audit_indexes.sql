-- flowgate schema, version 7 (PostgreSQL dialect of schema/007_audit_indexes.sql): audit
-- queries by app or by actor read an index, not a window of the whole log (issue 8: a rare app
-- among millions of records cost ~30 ms on the loop a page).
CREATE INDEX audit_app ON audit (app, seq);
CREATE INDEX audit_actor ON audit (actor, seq);
