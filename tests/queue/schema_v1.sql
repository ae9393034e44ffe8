-- The SQLite schema of version 1 (healloop up to commit b5b3e1f, src/healloop/queue/store/
-- sqlite_queries.sql), verbatim: tests/queue/test_schema_upgrade.py creates a file with it and lets
-- the current server upgrade it.
-- seq is the rowid without AUTOINCREMENT: it only grows, since only `healloop prune` deletes events and
-- it always keeps the newest one (see delete_event), and AUTOINCREMENT would cost every new event a
-- write to sqlite_sequence (measured ~3 us).
CREATE TABLE IF NOT EXISTS events (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    fingerprint      TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    node             TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    spec             TEXT,
    test             TEXT,
    message          TEXT    NOT NULL,
    stack            TEXT,
    priority         INTEGER NOT NULL,
    occurred_at      INTEGER NOT NULL,
    labels           TEXT    NOT NULL,
    artifacts        TEXT    NOT NULL,
    idempotency_key  TEXT,
    status           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    nodes            TEXT    NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    lapses           INTEGER NOT NULL DEFAULT 0,
    fencing          INTEGER NOT NULL DEFAULT 0,
    lease_token      TEXT,
    lease_worker     TEXT,
    lease_seconds    REAL,
    lease_expires_at INTEGER,
    resolved_at      INTEGER
);
-- The claim order: partial, so it holds only the queued events however long the history grows.
CREATE INDEX IF NOT EXISTS events_claim ON events (priority, seq) WHERE status = 'queued';
-- Open events by fingerprint (merging): partial, small.
CREATE INDEX IF NOT EXISTS events_open ON events (fingerprint) WHERE status <> 'resolved';
CREATE INDEX IF NOT EXISTS events_resolved ON events (fingerprint, resolved_at) WHERE status = 'resolved';
CREATE INDEX IF NOT EXISTS events_lease ON events (lease_expires_at) WHERE lease_token IS NOT NULL;
-- Listing by state: partial, because resolved events are most of a long history and are found fast
-- enough by walking seq backwards. No full index on fingerprint either: the open and resolved
-- partial indexes cover every lookup, and each full index costs every report (measured ~25%).
CREATE INDEX IF NOT EXISTS events_active ON events (status, seq) WHERE status <> 'resolved';
-- The window of GET /v1/stats (events created between two times). created_at only grows with seq, so
-- each new event appends to the end of this index: one page, mostly the one the last report wrote.
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);
DROP INDEX IF EXISTS events_status;
DROP INDEX IF EXISTS events_fingerprint;
CREATE TABLE IF NOT EXISTS event_nodes (
    node TEXT    NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    id         INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    worker     TEXT,
    note       TEXT,
    data       TEXT
);
CREATE INDEX IF NOT EXISTS history_event ON history (event_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
    key      TEXT    PRIMARY KEY,
    event_id TEXT    NOT NULL,
    at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_at ON idempotency (at);
CREATE TABLE IF NOT EXISTS nodes (
    name      TEXT    PRIMARY KEY,
    mcp_url   TEXT    NOT NULL,
    labels    TEXT    NOT NULL,
    last_seen INTEGER NOT NULL
);
-- Registrations that changed a node's mcp_url (agents send that URL the node token): who moved where.
CREATE TABLE IF NOT EXISTS node_moves (
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    old_url TEXT    NOT NULL,
    new_url TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS node_moves_name ON node_moves (name, id);
CREATE TABLE IF NOT EXISTS artifacts (
    digest       TEXT    PRIMARY KEY,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
-- Notifications: one row per event, outcome and channel, written in the transaction of the move
-- it tells of, so a restart loses none (the outbox); the primary key makes it one message each.
CREATE TABLE IF NOT EXISTS outbox (
    event_id   TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    note       TEXT,
    status     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT,
    done_at    INTEGER,
    PRIMARY KEY (event_id, outcome, channel)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_recent ON outbox (channel, created_at);
CREATE TABLE IF NOT EXISTS mutes (
    spec   TEXT    NOT NULL,
    test   TEXT    NOT NULL,
    until  INTEGER NOT NULL,
    reason TEXT,
    PRIMARY KEY (spec, test)
) WITHOUT ROWID;
-- Automatic actions (moves to fixing) of about the past hour, for the budgets per test and per node.
-- The history keeps every move for good but holds neither the event's test nor, outside its JSON, the
-- node, so counting there walks every fixing move of the hour and joins its event (measured: 80 ms per
-- check with 50,000 fixing moves in the hour); here each count is a short walk of one index (0.02 ms),
-- and the table is purged to the window by the server's housekeeping.
CREATE TABLE IF NOT EXISTS actions (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    event_id TEXT    NOT NULL,
    spec     TEXT,
    test     TEXT,
    node     TEXT
);
CREATE INDEX IF NOT EXISTS actions_test ON actions (spec, test, at) WHERE spec IS NOT NULL;
CREATE INDEX IF NOT EXISTS actions_node ON actions (node, at) WHERE node IS NOT NULL;
-- Role tokens (healloop token create, revoke): the SHA-256 of each secret, never the secret. Revoked
-- rows stay, so a revoked token is told apart from an unknown one and revoking the last token does
-- not open the queue again.
CREATE TABLE IF NOT EXISTS tokens (
    name         TEXT    PRIMARY KEY,
    role         TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');

