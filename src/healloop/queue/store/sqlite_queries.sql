-- Named queries of the SQLite backend, loaded by name into a dict (see sql.py).
-- Times are integer microseconds since the epoch (UTC).

-- name: schema
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
    resolved_at      INTEGER,
    -- What GET /v1/stats groups by, kept here by add_history in the transaction of each move (schema
    -- version 2): the class the agent last recorded (NULL before any), the outcome (stats.OUTCOMES) the
    -- latest move left, and marks (stats.MARK_*: the history holds a flaky resolution, an escalation
    -- naming a suspect commit). Read from the history on every query they cost ~30 us per event in the
    -- window (bench/stats.py), ~0.6 s for a week of the 1,000,000-event history; now see events_window.
    class            TEXT,
    outcome          TEXT    NOT NULL DEFAULT 'open',
    marks            INTEGER NOT NULL DEFAULT 0
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
-- The window of GET /v1/stats (events created between two times), covering every column its figures
-- read but the nodes that joined later and the history of marked events: a walk of this index alone,
-- never of the event rows (each several hundred bytes). created_at only grows with seq, so each new
-- event appends to the end of it: one page, mostly the one the last report wrote; a move that changes
-- an event's class, outcome or marks moves its entry within that page (see bench/stats.py
-- --insert-cost and the README's Benchmarks for what it costs a report and a claim).
CREATE INDEX IF NOT EXISTS events_window ON events (created_at, outcome, class, marks, status, resolved_at, node);
-- The list's node filter (schema version 3): the events each node reported, newest last. Without it a
-- node with no recent events cost a walk of every row (0.4 s on a million); what it costs a new event
-- is in bench/README.md's dashboard section.
CREATE INDEX IF NOT EXISTS events_node ON events (node, seq);
DROP INDEX IF EXISTS events_created;
DROP INDEX IF EXISTS events_status;
DROP INDEX IF EXISTS events_fingerprint;
CREATE TABLE IF NOT EXISTS event_nodes (
    node TEXT    NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
-- Each class any move of an event recorded (its history data's `class`, as text), the list's class
-- filter (schema version 3): read from the history it walked all 6,000,000 rows of a 1M-event queue
-- (3.6 s for a class, 5.4 s for one no event has; bench/dashboard.py); here the newest events of a class
-- are a walk of one key. One row per event and class, written by the move that records it (the
-- moves that carry a class: a few per event), so reports pay nothing.
CREATE TABLE IF NOT EXISTS event_classes (
    class TEXT    NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (class, seq)
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
-- Run history (queue/quarantine.py): one row per spec, test and node, updated in place by each run's
-- passes (POST /v1/runs) and each failure report, never appended to.
CREATE TABLE IF NOT EXISTS test_runs (
    spec         TEXT    NOT NULL,
    test         TEXT    NOT NULL,
    node         TEXT    NOT NULL,
    passes       INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    last_pass_at INTEGER,
    last_fail_at INTEGER,
    PRIMARY KEY (spec, test, node)
) WITHOUT ROWID;
-- Quarantines, the ended ones kept (lifted_at set, or until passed) so the test page shows why.
CREATE TABLE IF NOT EXISTS quarantines (
    id          INTEGER PRIMARY KEY,
    spec        TEXT    NOT NULL,
    test        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    set_at      INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    reason      TEXT,
    auto        INTEGER NOT NULL,
    clean       INTEGER NOT NULL DEFAULT 0,
    clean_nodes TEXT    NOT NULL DEFAULT '[]',
    lifted_at   INTEGER,
    lifted_by   TEXT,
    lift_note   TEXT
);
CREATE INDEX IF NOT EXISTS quarantines_test ON quarantines (spec, test, id);
-- The ones not lifted: what every report and run looks up (expired ones are told apart by `until`).
CREATE INDEX IF NOT EXISTS quarantines_open ON quarantines (spec, test) WHERE lifted_at IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- A new file starts at the newest version; an older file keeps its number until migrate() upgrades it.
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '3');

-- name: get_event
SELECT {columns} FROM events WHERE id = ?

-- name: fingerprint_state
-- What a report merges into, in one statement (every report asks): the open event, then the latest
-- resolved one with how many were resolved since ?2 (a subquery, not a window function: the window's
-- temporary table cost every new failure ~4 us even when the fingerprint had none).
-- INDEXED BY: without statistics the planner prefers other indexes and walks every resolved event of
-- a long-lived fingerprint; each partial index holds just what its half asks for.
SELECT * FROM (SELECT {columns}, 0 FROM events INDEXED BY events_open
               WHERE fingerprint = ?1 AND status <> 'resolved' ORDER BY seq DESC LIMIT 1)
UNION ALL
SELECT * FROM (SELECT {columns}, (SELECT count(*) FROM events INDEXED BY events_resolved
                                  WHERE fingerprint = ?1 AND status = 'resolved' AND resolved_at >= ?2)
               FROM events INDEXED BY events_resolved
               WHERE fingerprint = ?1 AND status = 'resolved' ORDER BY resolved_at DESC LIMIT 1)

-- name: idempotency_get
SELECT event_id FROM idempotency WHERE key = ? AND at >= ?

-- name: idempotency_put
INSERT INTO idempotency (key, event_id, at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET event_id = excluded.event_id, at = excluded.at

-- name: purge_idempotency
DELETE FROM idempotency WHERE at < ?

-- name: insert_event
INSERT INTO events ({insert_columns}, outcome) VALUES ({insert_params}, ?)

-- name: mark_event
-- A move's class, outcome and marks on its event (see the schema); NULL keeps what the event had.
UPDATE events SET class = coalesce(?, class), outcome = coalesce(?, outcome), marks = marks | ? WHERE id = ?
RETURNING created_at

-- name: has_events
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'

-- name: schema_version
SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'

-- name: backfill_marks
-- Schema version 1 to 2: each event's class and outcome computed from its history once, as the
-- figures of GET /v1/stats did on every query before. A walk of every event and its few history rows.
UPDATE events AS e SET
    class = (SELECT CAST(json_extract(CAST(c.data AS TEXT), '$.class') AS TEXT) FROM history c
             WHERE c.event_id = e.id AND c.data IS NOT NULL
             AND json_extract(CAST(c.data AS TEXT), '$.class') IS NOT NULL ORDER BY c.id DESC LIMIT 1),
    outcome = CASE e.status
        WHEN 'resolved' THEN coalesce((SELECT CASE h.from_state WHEN 'proposed' THEN 'approved'
                                                                WHEN 'escalated' THEN 'closed'
                                                                WHEN 'quarantined' THEN 'closed' ELSE 'healed' END
                                       FROM history h WHERE h.event_id = e.id AND h.to_state = 'resolved'
                                       AND h.from_state IS NOT h.to_state ORDER BY h.id DESC LIMIT 1), 'healed')
        WHEN 'escalated' THEN CASE (SELECT json_type(CAST(h.data AS TEXT), '$.reverted') FROM history h
                                    WHERE h.event_id = e.id AND h.to_state = 'escalated'
                                    AND h.from_state IS NOT h.to_state ORDER BY h.id DESC LIMIT 1)
                              WHEN 'array' THEN 'reverted' ELSE 'escalated' END
        WHEN 'proposed' THEN 'proposed'
        ELSE 'open' END,
    marks = (SELECT coalesce(max(CASE WHEN h.to_state = 'resolved'
                                       AND json_extract(CAST(h.data AS TEXT), '$.label') = 'flaky' THEN 1 ELSE 0 END)
                              | max(CASE WHEN h.to_state = 'escalated' AND json_extract(CAST(h.data AS TEXT),
                                         '$.report.suspect_commit.sha') IS NOT NULL THEN 2 ELSE 0 END), 0)
             FROM history h WHERE h.event_id = e.id AND h.data IS NOT NULL)

-- name: add_event_class
INSERT OR IGNORE INTO event_classes (class, seq) SELECT ?, seq FROM events WHERE id = ?

-- name: create_event_classes
-- The schema text's event_classes, for migrate() (which runs before the schema text).
CREATE TABLE IF NOT EXISTS event_classes (
    class TEXT    NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (class, seq)
) WITHOUT ROWID

-- name: backfill_classes
-- Schema version 2 to 3: event_classes from the history (every entry whose data names a class as text,
-- as the class filter read it before).
INSERT OR IGNORE INTO event_classes (class, seq)
SELECT json_extract(CAST(h.data AS TEXT), '$.class'), e.seq
FROM history h JOIN events e ON e.id = h.event_id
WHERE h.data IS NOT NULL AND json_type(CAST(h.data AS TEXT), '$.class') = 'text'

-- name: delete_event_classes
-- Before the event's history goes: its classes are the ones its history names.
DELETE FROM event_classes WHERE seq = ?1 AND class IN (
    SELECT json_extract(CAST(data AS TEXT), '$.class') FROM history WHERE event_id = ?2 AND data IS NOT NULL)

-- name: save_event
UPDATE events SET status = ?, count = ?, nodes = ?, artifacts = ?, priority = ?, attempt = ?, lapses = ?,
    fencing = ?, lease_token = ?, lease_worker = ?, lease_seconds = ?, lease_expires_at = ?,
    resolved_at = ?, updated_at = ?
WHERE id = ?

-- name: save_event_marked
-- save_event with the class, outcome and marks of the move add_history just recorded (NULL keeps the
-- event's): one UPDATE of the row and of its events_window entry, not two (measured: CPU per move to
-- resolved 40 us with a separate mark_event, against 26 us before the columns existed).
UPDATE events SET status = ?, count = ?, nodes = ?, artifacts = ?, priority = ?, attempt = ?, lapses = ?,
    fencing = ?, lease_token = ?, lease_worker = ?, lease_seconds = ?, lease_expires_at = ?,
    resolved_at = ?, updated_at = ?, class = coalesce(?, class), outcome = coalesce(?, outcome),
    marks = marks | ?
WHERE id = ?

-- name: add_node_to_event
INSERT OR IGNORE INTO event_nodes (node, seq) VALUES (?, ?)

-- name: add_history
INSERT INTO history (event_id, at, from_state, to_state, worker, note, data) VALUES (?, ?, ?, ?, ?, ?, ?)

-- name: history
SELECT event_id, at, from_state, to_state, worker, note, data FROM history WHERE event_id = ? ORDER BY id

-- name: claim_next
UPDATE events
SET status = 'processing', fencing = fencing + 1, lease_token = ?, lease_worker = ?,
    lease_seconds = ?, lease_expires_at = ?, updated_at = ?
-- INDEXED BY: the planner would otherwise pick events_status and sort the whole backlog on every
-- claim (measured: 400 claims/s with 20,000 queued); events_claim is already in claim order.
WHERE seq = (SELECT seq FROM events INDEXED BY events_claim WHERE status = 'queued'
             ORDER BY priority, seq LIMIT 1)
RETURNING {columns}

-- name: claim_one
UPDATE events
SET status = 'processing', fencing = fencing + 1, lease_token = ?, lease_worker = ?,
    lease_seconds = ?, lease_expires_at = ?, updated_at = ?
WHERE id = ? AND status = 'queued'
RETURNING {columns}

-- name: expired_leases
-- Held events whose lease ended, and proposed events whose proposal expired (their deadline is kept in
-- lease_expires_at, with no token): two index walks, each on a small partial index. `status <>
-- 'resolved'` is redundant but lets SQLite use events_active, whose condition it is (it cannot prove it
-- from `status = 'proposed'`, and scanned every event without it).
SELECT * FROM (
    SELECT {columns} FROM events INDEXED BY events_lease
    WHERE lease_token IS NOT NULL AND lease_expires_at <= ?1
    UNION ALL
    SELECT {columns} FROM events INDEXED BY events_active
    WHERE status <> 'resolved' AND status = 'proposed' AND lease_expires_at <= ?1
) ORDER BY lease_expires_at LIMIT ?2

-- name: next_lease_expiry
SELECT min(t) FROM (
    SELECT min(lease_expires_at) AS t FROM events INDEXED BY events_lease WHERE lease_token IS NOT NULL
    UNION ALL
    SELECT min(lease_expires_at) FROM events INDEXED BY events_active
    WHERE status <> 'resolved' AND status = 'proposed'
)

-- name: count_by_status
-- The open states from the partial index events_active, and resolved as all less those: a GROUP BY over
-- the table read every row (742 ms on a 1M-event history, bench/history_db.py); this reads two indexes
-- (6 ms), for /metrics and the dashboard's counts.
SELECT status, count(*) FROM events WHERE status <> 'resolved' GROUP BY status
UNION ALL
SELECT 'resolved', (SELECT count(*) FROM events) - (SELECT count(*) FROM events WHERE status <> 'resolved')

-- name: latest_by_fingerprint
SELECT * FROM (
    SELECT {columns} FROM events INDEXED BY events_open WHERE fingerprint = ? AND status <> 'resolved'
    UNION ALL
    SELECT {columns} FROM events INDEXED BY events_resolved WHERE fingerprint = ? AND status = 'resolved'
) ORDER BY seq DESC LIMIT 1

-- name: put_artifact
INSERT INTO artifacts (digest, content_type, size, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (digest) DO NOTHING

-- name: get_artifact
SELECT digest, content_type, size, created_at FROM artifacts WHERE digest = ?

-- name: upsert_node
INSERT INTO nodes (name, mcp_url, labels, last_seen) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET mcp_url = excluded.mcp_url, labels = excluded.labels,
    last_seen = excluded.last_seen

-- name: list_nodes
SELECT name, mcp_url, labels, last_seen FROM nodes ORDER BY name

-- name: get_node
SELECT name, mcp_url, labels, last_seen FROM nodes WHERE name = ?

-- name: add_node_move
INSERT INTO node_moves (name, at, old_url, new_url) VALUES (?, ?, ?, ?)

-- name: node_moves
SELECT at, old_url, new_url FROM node_moves WHERE name = ? ORDER BY id DESC LIMIT ?

-- name: outbox_add
INSERT OR IGNORE INTO outbox (event_id, outcome, channel, created_at, note, status, attempts, next_at)
VALUES (?, ?, ?, ?, ?, ?, 0, ?);

-- name: outbox_due
SELECT event_id, outcome, channel, created_at, note, status, attempts, next_at, last_error, done_at
FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?;

-- name: outbox_pending_for
SELECT event_id, outcome, channel, created_at, note, status, attempts, next_at, last_error, done_at
FROM outbox WHERE status = 'pending' AND channel = ? ORDER BY created_at LIMIT ?;

-- name: outbox_next_due
SELECT MIN(next_at) FROM outbox WHERE status = 'pending';

-- name: outbox_update
UPDATE outbox SET status = ?, attempts = ?, next_at = ?, last_error = ?, done_at = ?
WHERE event_id = ? AND outcome = ? AND channel = ?;

-- name: outbox_for_event
SELECT event_id, outcome, channel, created_at, note, status, attempts, next_at, last_error, done_at
FROM outbox WHERE event_id = ? ORDER BY created_at, channel;

-- name: outbox_recent
SELECT COUNT(*) FROM outbox WHERE channel = ? AND created_at >= ? AND status <> 'muted';

-- name: outbox_counts
SELECT channel, status, COUNT(*) FROM outbox GROUP BY channel, status;

-- name: mute_put
INSERT OR REPLACE INTO mutes (spec, test, until, reason) VALUES (?, ?, ?, ?);

-- name: mute_active
SELECT spec, test, until, reason FROM mutes WHERE spec = ? AND test = ? AND until > ?;

-- name: mute_list
SELECT spec, test, until, reason FROM mutes WHERE until > ? ORDER BY until;

-- name: mute_delete
DELETE FROM mutes WHERE spec = ? AND test = ?;

-- name: run_passed
INSERT INTO test_runs (spec, test, node, passes, last_pass_at) VALUES (?1, ?2, ?3, 1, ?4)
ON CONFLICT (spec, test, node) DO UPDATE SET passes = passes + 1,
    last_pass_at = max(coalesce(last_pass_at, 0), excluded.last_pass_at)

-- name: run_failed
INSERT INTO test_runs (spec, test, node, failures, last_fail_at) VALUES (?1, ?2, ?3, 1, ?4)
ON CONFLICT (spec, test, node) DO UPDATE SET failures = failures + 1,
    last_fail_at = max(coalesce(last_fail_at, 0), excluded.last_fail_at)

-- name: test_runs
SELECT spec, test, node, passes, failures, last_pass_at, last_fail_at FROM test_runs
WHERE spec = ? AND test = ? ORDER BY node

-- name: quarantine_open
SELECT {qcolumns} FROM quarantines INDEXED BY quarantines_open
WHERE lifted_at IS NULL AND spec = ? AND test = ? AND until > ? ORDER BY id DESC LIMIT 1

-- name: quarantine_all_open
SELECT {qcolumns} FROM quarantines INDEXED BY quarantines_open
WHERE lifted_at IS NULL AND until > ? ORDER BY spec, test

-- name: quarantine_history
SELECT {qcolumns} FROM quarantines INDEXED BY quarantines_test
WHERE spec = ? AND test = ? ORDER BY id DESC LIMIT ?

-- name: quarantine_insert
INSERT INTO quarantines (spec, test, owner, set_at, until, reason, auto, clean, clean_nodes, lifted_at,
                         lifted_by, lift_note)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: quarantine_update
UPDATE quarantines SET clean = ?, clean_nodes = ?, lifted_at = ?, lifted_by = ?, lift_note = ? WHERE id = ?

-- name: events_of_fingerprints
-- A test's events, newest first: its fingerprints are the one every node shares and one per node for
-- failures local to a machine; both partial indexes hold every event by fingerprint.
SELECT * FROM (
    SELECT {columns} FROM events INDEXED BY events_open
    WHERE fingerprint IN (SELECT value FROM json_each(?1)) AND status <> 'resolved'
    UNION ALL
    SELECT {columns} FROM events INDEXED BY events_resolved
    WHERE fingerprint IN (SELECT value FROM json_each(?1)) AND status = 'resolved'
) ORDER BY seq DESC LIMIT ?2

-- name: flaky_calls
-- How often events of this fingerprint were resolved with the label flaky since ?2, and the latest.
SELECT count(*) FROM events e INDEXED BY events_resolved JOIN history h ON h.event_id = e.id
WHERE e.fingerprint = ?1 AND e.status = 'resolved' AND h.to_state = 'resolved' AND h.at >= ?2
  AND h.data IS NOT NULL AND json_extract(CAST(h.data AS TEXT), '$.label') = 'flaky'

-- name: was_fixed
SELECT EXISTS (SELECT 1 FROM history WHERE event_id = ? AND to_state = 'fixing');

-- name: add_action
INSERT INTO actions (at, event_id, spec, test, node) VALUES (?, ?, ?, ?, ?);

-- name: actions_for_test
-- `spec IS NOT NULL` is implied by `spec = ?` but SQLite needs it written to use the partial index.
SELECT count(*) FROM (SELECT 1 FROM actions INDEXED BY actions_test
                      WHERE spec IS NOT NULL AND spec = ? AND test = ? AND at >= ? LIMIT ?);

-- name: actions_on_node
SELECT count(*) FROM (SELECT 1 FROM actions INDEXED BY actions_node
                      WHERE node IS NOT NULL AND node = ? AND at >= ? LIMIT ?);

-- name: purge_actions
-- A scan, but of a table that holds about an hour of fixing moves.
DELETE FROM actions WHERE at < ?;

-- name: list_tokens
SELECT name, role, hash, created_at, last_used_at, revoked_at FROM tokens ORDER BY name

-- name: get_token
SELECT name, role, hash, created_at, last_used_at, revoked_at FROM tokens WHERE name = ?

-- name: put_token
-- Replaces a row of the same name (a revoked token's, or one being rotated): the caller checks.
INSERT OR REPLACE INTO tokens (name, role, hash, created_at, last_used_at, revoked_at)
VALUES (?, ?, ?, ?, NULL, NULL)

-- name: revoke_token
UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL

-- name: touch_token
UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE name = ?

-- name: finished_before
-- Retention (healloop prune): resolved events resolved before ?2, oldest first, after the cursor ?1.
-- A walk of the rowid from the cursor, reading a page of events per step: no index holds resolved_at
-- alone, and one would cost every resolution; the walk happens once per prune.
SELECT seq, id FROM events WHERE seq > ? AND status = 'resolved' AND resolved_at < ? ORDER BY seq LIMIT ?

-- name: delete_event
-- Re-checked in the deleting transaction: an event reopened since it was listed is kept. The newest
-- event is never deleted, so the next one cannot take its seq (see the schema).
DELETE FROM events WHERE id = ? AND status = 'resolved' AND resolved_at < ?
    AND seq < (SELECT max(seq) FROM events)
RETURNING seq, nodes, idempotency_key

-- name: delete_history
DELETE FROM history WHERE event_id = ?

-- name: delete_outbox
DELETE FROM outbox WHERE event_id = ?

-- name: delete_event_node
DELETE FROM event_nodes WHERE node = ? AND seq = ?

-- name: delete_idempotency
DELETE FROM idempotency WHERE key = ? AND event_id = ?

-- name: delete_actions
-- A scan, but of a table that holds about an hour of fixing moves (see purge_actions).
DELETE FROM actions WHERE event_id = ?

-- name: count_history
SELECT count(*) FROM history WHERE event_id = ?

-- name: count_outbox
SELECT count(*) FROM outbox WHERE event_id = ?

-- name: event_extras
SELECT nodes, idempotency_key FROM events WHERE id = ?

-- name: count_idempotency
SELECT count(*) FROM idempotency WHERE key = ? AND event_id = ?

-- name: count_actions
SELECT count(*) FROM actions WHERE event_id = ?

-- name: artifact_refs
-- Events that name an artifact, after the cursor ?1: most name none ('[]'; a BLOB when the server wrote
-- it, so compared by length).
SELECT seq, artifacts FROM events WHERE seq > ? AND length(artifacts) > 2 ORDER BY seq LIMIT ?

-- name: list_artifacts
SELECT digest, content_type, size, created_at FROM artifacts WHERE digest > ? ORDER BY digest LIMIT ?

-- name: delete_artifact
DELETE FROM artifacts WHERE digest = ?

-- name: count_stale_runs
-- A test's record on a node that ran it last before ?1 (a renamed test, a retired machine). A scan, of a
-- table with one row per test and node.
SELECT count(*) FROM test_runs WHERE max(coalesce(last_pass_at, 0), coalesce(last_fail_at, 0)) < ?1

-- name: delete_stale_runs
DELETE FROM test_runs WHERE (spec, test, node) IN (
    SELECT spec, test, node FROM test_runs
    WHERE max(coalesce(last_pass_at, 0), coalesce(last_fail_at, 0)) < ?1 LIMIT ?2)

-- name: count_ended_quarantines
-- Quarantines that ended (lifted, or past their expiry) before ?1; one in force is never counted.
SELECT count(*) FROM quarantines WHERE coalesce(lifted_at, until) < ?1

-- name: delete_ended_quarantines
DELETE FROM quarantines WHERE id IN (
    SELECT id FROM quarantines WHERE coalesce(lifted_at, until) < ?1 LIMIT ?2)

-- name: max_seq
SELECT coalesce(max(seq), 0) FROM events

-- Figures of GET /v1/stats (queue/stats.py says what each means). Each reads the events created in the
-- window [:since, :until), through events_window alone, that :node took part in (any node when NULL);
-- labels and suspect commits from the history (through history_event) of the events marked as having
-- them, a few rows each. {window} is that condition on `e`. The server writes JSON as a
-- BLOB (msgspec's bytes), which SQLite 3.45 and later read as its binary JSONB: each JSON column is
-- cast to TEXT before a json_ function reads it.

-- name: events_deleted
-- How many times `healloop prune` deleted events from this file: the stats cache of whole days
-- (stats_days.py) is good only for the count it was made under.
SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'events_deleted'), 0)

-- name: count_deleted
INSERT INTO meta (key, value) VALUES ('events_deleted', '1')
ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1

-- name: stats_per_day
SELECT date(e.created_at / 1000000, 'unixepoch') AS day, coalesce(e.class, 'unclassified') AS class, count(*)
FROM events e INDEXED BY events_window WHERE {window}
GROUP BY day, class ORDER BY day, class

-- name: stats_outcomes
-- Each event once, by where it stands (stats.move_outcome says how a move sets it).
SELECT e.outcome, count(*)
FROM events e INDEXED BY events_window WHERE {window}
GROUP BY e.outcome

-- name: stats_repair
-- Creation to resolution of each resolved event, with its class: stats.repair_figures makes the count,
-- mean and 90th percentile per class of them. (Ranked here with window functions they cost ~8 us per
-- resolved event, as much as every other figure together: 165 ms for a week of a million events.)
SELECT coalesce(e.class, 'unclassified'), e.resolved_at - e.created_at
FROM events e INDEXED BY events_window
WHERE {window} AND e.status = 'resolved' AND e.resolved_at IS NOT NULL

-- name: stats_flaky
-- Tests the agent resolved with the label flaky (rerun unchanged, and it passed), most often first.
SELECT e.spec, e.test, count(*) AS times, max(h.at) AS last
FROM events e INDEXED BY events_window JOIN history h ON h.event_id = e.id
WHERE {window} AND e.marks & 1 AND e.spec IS NOT NULL AND h.to_state = 'resolved' AND h.data IS NOT NULL
  AND json_extract(CAST(h.data AS TEXT), '$.label') = 'flaky'
GROUP BY e.spec, e.test ORDER BY times DESC, last DESC LIMIT :top

-- name: stats_suspects
-- Commits named as the suspect in the root-cause reports of escalations (data.report.suspect_commit).
SELECT json_extract(CAST(h.data AS TEXT), '$.report.suspect_commit.sha') AS sha,
       max(json_extract(CAST(h.data AS TEXT), '$.report.suspect_commit.subject')), count(DISTINCT e.id) AS n,
       max(h.at) AS last
FROM events e INDEXED BY events_window JOIN history h ON h.event_id = e.id
WHERE {window} AND e.marks & 2 AND h.to_state = 'escalated' AND h.data IS NOT NULL AND sha IS NOT NULL
GROUP BY sha ORDER BY n DESC, last DESC LIMIT :top

-- name: stats_nodes
-- Per node that reported the window's events (the event's own `node`, in events_window): events, how
-- many are resolved, the newest. stats_nodes_joined adds the nodes that joined them later.
SELECT e.node, count(*), sum(e.status = 'resolved'), max(e.created_at)
FROM events e INDEXED BY events_window
WHERE {window} AND (:node IS NULL OR e.node = :node)
GROUP BY e.node

-- name: stats_nodes_joined
-- Per node that joined the window's events after their report (event_nodes): events, resolved. The rows
-- are keyed by (node, seq), so this walks them all, one short row per join, looking up only the events
-- whose seq lies in the window's range (seq grows with created_at; the time is then checked exactly).
SELECT j.node, count(*), sum(e.status = 'resolved')
FROM event_nodes j JOIN events e ON e.seq = j.seq
WHERE j.seq BETWEEN coalesce((SELECT seq FROM events INDEXED BY events_window WHERE created_at >= :since
                              ORDER BY created_at LIMIT 1), 0)
                AND coalesce((SELECT seq FROM events INDEXED BY events_window WHERE created_at < :until
                              ORDER BY created_at DESC LIMIT 1), -1)
  AND e.created_at >= :since AND e.created_at < :until AND (:node IS NULL OR j.node = :node)
GROUP BY j.node

-- name: stats_notifications
-- Deliveries created in the window per channel and status, with the newest error of each channel. A
-- scan of outbox_recent (channel, created_at): the outbox holds a row per told outcome and channel.
-- With a node, only deliveries about the window's events of that node.
SELECT o.channel, o.status, count(*), max(coalesce(o.done_at, o.next_at)) AS last, o.last_error
FROM outbox o
WHERE o.created_at >= :since AND o.created_at < :until
  AND (:node IS NULL OR o.event_id IN (SELECT e.id FROM events e INDEXED BY events_window WHERE {window}))
GROUP BY o.channel, o.status ORDER BY o.channel, o.status
