"""Ordered, named schema migrations; each applied one is recorded in ``_migrations``.

Never edit a migration that has shipped: add a new one. A fresh database and an upgraded one end identical.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE staff (
            user_id     INTEGER PRIMARY KEY,
            role        TEXT NOT NULL CHECK (role IN ('admin', 'staff')),
            name        TEXT NOT NULL DEFAULT '',
            added_by    INTEGER,
            added_at    TEXT NOT NULL,
            removed_at  TEXT
        );

        -- One row per PAKN case. Dates are local (PAKN_TIMEZONE) YYYY-MM-DD; instants are UTC ISO 8601.
        CREATE TABLE cases (
            id                  INTEGER PRIMARY KEY,
            code                TEXT NOT NULL UNIQUE,
            kind                TEXT NOT NULL CHECK (kind IN ('phan_anh', 'kien_nghi')),
            category            TEXT NOT NULL CHECK (category IN
                                    ('quy_dinh_hanh_chinh', 'hanh_vi_hanh_chinh', 'quy_dinh_kinh_doanh')),
            procedure_id        TEXT,
            content             TEXT NOT NULL,
            content_hash        TEXT NOT NULL DEFAULT '',
            channel             TEXT NOT NULL DEFAULT 'telegram' CHECK (channel IN
                                    ('telegram', 'console', 'zalo', 'hotline', 'letter', 'email',
                                     'in_person', 'portal')),
            citizen_channel     TEXT,
            citizen_user_id     TEXT,
            citizen_chat_id     INTEGER,
            name                TEXT,
            phone               TEXT,
            address             TEXT,
            email               TEXT,
            consent_at          TEXT,
            consent_note        TEXT,
            entered_by          INTEGER,
            received_at         TEXT NOT NULL,
            received_date       TEXT NOT NULL,
            due_date            TEXT NOT NULL,
            forward_due_date    TEXT NOT NULL,
            status              TEXT NOT NULL DEFAULT 'new' CHECK (status IN
                                    ('new', 'in_progress', 'answered', 'forwarded', 'not_accepted')),
            owner_id            INTEGER,
            resolved_at         TEXT,
            resolved_date       TEXT,
            answer              TEXT,
            answer_method       TEXT,
            forwarded_to        TEXT,
            reject_reason       TEXT,
            satisfaction        TEXT CHECK (satisfaction IN ('hai_long', 'binh_thuong', 'khong_hai_long')),
            satisfaction_comment TEXT,
            staff_message_id    INTEGER,
            overdue_notified    INTEGER NOT NULL DEFAULT 0,
            purged_at           TEXT,
            created_at          TEXT NOT NULL,
            updated_at          TEXT NOT NULL
        );
        CREATE INDEX cases_received_date ON cases (received_date);
        CREATE INDEX cases_resolved_date ON cases (resolved_date);
        CREATE INDEX cases_status_due ON cases (status, due_date);
        CREATE INDEX cases_citizen ON cases (citizen_channel, citizen_user_id, received_at);

        -- Append-only history: who did what, when, and the status before and after.
        CREATE TABLE case_events (
            id          INTEGER PRIMARY KEY,
            case_id     INTEGER NOT NULL REFERENCES cases (id),
            at          TEXT NOT NULL,
            actor       TEXT NOT NULL,
            action      TEXT NOT NULL,
            old_status  TEXT,
            new_status  TEXT,
            detail      TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX case_events_case ON case_events (case_id, id);
        CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
        BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;
        CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
        BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;

        CREATE TABLE attachments (
            id              INTEGER PRIMARY KEY,
            case_id         INTEGER NOT NULL REFERENCES cases (id),
            channel         TEXT NOT NULL,
            kind            TEXT NOT NULL,
            file_id         TEXT NOT NULL,
            file_unique_id  TEXT,
            file_name       TEXT,
            mime_type       TEXT,
            file_size       INTEGER,
            created_at      TEXT NOT NULL
        );
        CREATE INDEX attachments_case ON attachments (case_id);

        -- Daily sequence behind codes PAKN.YYYYMMDD.NNNN.
        CREATE TABLE case_counters (
            day     TEXT PRIMARY KEY,
            last    INTEGER NOT NULL
        );

        -- Where each user is in a guided chat (intake, staff dialogs); survives restarts.
        CREATE TABLE conversations (
            channel     TEXT NOT NULL,
            user_id     TEXT NOT NULL,
            chat_id     INTEGER NOT NULL,
            flow        TEXT NOT NULL,
            step        TEXT NOT NULL,
            data        TEXT NOT NULL DEFAULT '{}',
            updated_at  TEXT NOT NULL,
            PRIMARY KEY (channel, user_id)
        );

        -- Updates already handled and committed: never handled twice.
        CREATE TABLE processed_updates (
            channel      TEXT NOT NULL,
            update_id    INTEGER NOT NULL,
            processed_at TEXT NOT NULL,
            PRIMARY KEY (channel, update_id)
        );

        -- Messages to deliver that are not the direct reply to an update.
        CREATE TABLE outbox (
            id              INTEGER PRIMARY KEY,
            channel         TEXT NOT NULL,
            chat_id         INTEGER NOT NULL,
            kind            TEXT NOT NULL,
            payload         TEXT NOT NULL,
            case_id         INTEGER REFERENCES cases (id),
            created_at      TEXT NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            sent_at         TEXT,
            failed_at       TEXT,
            last_error      TEXT,
            message_id      INTEGER
        );
        CREATE INDEX outbox_pending ON outbox (channel, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

        -- Chats that blocked the bot; shown to staff on their cases.
        CREATE TABLE blocked_chats (
            channel     TEXT NOT NULL,
            chat_id     INTEGER NOT NULL,
            blocked_at  TEXT NOT NULL,
            PRIMARY KEY (channel, chat_id)
        );

        -- Short opaque tokens behind buttons, resolved on the server.
        CREATE TABLE button_tokens (
            token       TEXT PRIMARY KEY,
            action      TEXT NOT NULL,
            payload     TEXT NOT NULL DEFAULT '{}',
            created_at  TEXT NOT NULL
        );

        CREATE TABLE unanswered_questions (
            id          INTEGER PRIMARY KEY,
            question    TEXT NOT NULL,
            normalized  TEXT NOT NULL,
            channel     TEXT NOT NULL,
            asked_at    TEXT NOT NULL
        );
        CREATE INDEX unanswered_normalized ON unanswered_questions (normalized);
        """,
    ),
    Migration(
        "0002_case_spans",
        """
        -- Cases by how long they stayed open (open ones: 99; otherwise doubling classes of days) and date
        -- received: finds the cases carried over into a report period without reading the older history.
        CREATE INDEX cases_span ON cases (
            CASE WHEN resolved_date IS NULL THEN 99
                 WHEN julianday(resolved_date) - julianday(received_date) < 8 THEN 0
                 WHEN julianday(resolved_date) - julianday(received_date) < 16 THEN 1
                 WHEN julianday(resolved_date) - julianday(received_date) < 32 THEN 2
                 WHEN julianday(resolved_date) - julianday(received_date) < 64 THEN 3
                 WHEN julianday(resolved_date) - julianday(received_date) < 128 THEN 4
                 WHEN julianday(resolved_date) - julianday(received_date) < 256 THEN 5
                 WHEN julianday(resolved_date) - julianday(received_date) < 512 THEN 6
                 WHEN julianday(resolved_date) - julianday(received_date) < 1024 THEN 7
                 WHEN julianday(resolved_date) - julianday(received_date) < 2048 THEN 8
                 WHEN julianday(resolved_date) - julianday(received_date) < 4096 THEN 9
                 ELSE 10 END,
            received_date
        );
        """,
    ),
    Migration(
        "0003_inbox",
        """
        -- Telegram updates stored when fetched, before they are confirmed; handled ones are pruned.
        CREATE TABLE inbox (
            channel     TEXT NOT NULL,
            update_id   INTEGER NOT NULL,
            payload     TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (channel, update_id)
        );
        """,
    ),
    Migration(
        "0004_housekeeping",
        """
        -- Old processed update ids and old button tokens are forgotten by age (storage/retention.py).
        CREATE INDEX processed_updates_age ON processed_updates (processed_at);
        CREATE INDEX button_tokens_age ON button_tokens (created_at);
        """,
    ),
    Migration(
        "0005_learned_aliases",
        """
        -- Questions staff attached to an entry from the unanswered list: the bot answers them with that entry.
        -- Kept apart from the shipped knowledge base, so an upgrade never overwrites a department's additions.
        CREATE TABLE learned_aliases (
            id          INTEGER PRIMARY KEY,
            question    TEXT NOT NULL,
            normalized  TEXT NOT NULL UNIQUE,
            entry_id    TEXT NOT NULL,
            created_by  TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );

        -- Who asked (channel:user id, so a purge can remove a citizen's questions and one sender cannot fill the
        -- list), and whether it was truly unanswered or another body's business (with that topic).
        ALTER TABLE unanswered_questions ADD COLUMN sender TEXT;
        ALTER TABLE unanswered_questions ADD COLUMN kind TEXT NOT NULL DEFAULT 'unanswered'
            CHECK (kind IN ('unanswered', 'out_of_scope'));
        ALTER TABLE unanswered_questions ADD COLUMN topic TEXT;
        -- Questions expire by age (storage/retention.py).
        CREATE INDEX unanswered_age ON unanswered_questions (asked_at);
        CREATE INDEX unanswered_sender ON unanswered_questions (sender, asked_at);
        """,
    ),
    Migration(
        "0006_channels",
        """
        -- Outbox rows are delivered by their channel's sender: the pending ones of one channel, oldest first.
        CREATE INDEX outbox_channel_chat ON outbox (channel, chat_id, id) WHERE sent_at IS NULL AND failed_at IS NULL;

        -- Zalo OA users. Zalo ids are strings (kept as TEXT, never as numbers); chat_id is the bot's own
        -- number for the chat, used where every channel keeps a chat id (cases, outbox, conversations).
        CREATE TABLE zalo_users (
            chat_id             INTEGER PRIMARY KEY,
            user_id             TEXT NOT NULL UNIQUE,
            last_interaction_at TEXT,
            -- The button data behind the numbers of the last numbered list shown (JSON list), if any.
            choices             TEXT,
            unreachable_at      TEXT,
            created_at          TEXT NOT NULL
        );

        -- Zalo webhook events, stored before Zalo gets its 200; key: the message id, or user + event +
        -- timestamp for events without one. The row id is the event's update id in processed_updates, so it
        -- is never reused (AUTOINCREMENT), even after old rows are pruned.
        CREATE TABLE zalo_events (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_key   TEXT NOT NULL UNIQUE,
            payload     TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE INDEX zalo_events_age ON zalo_events (received_at);

        -- The OA's current token pair; every refresh replaces both (a refresh token is single-use).
        CREATE TABLE zalo_tokens (
            id              INTEGER PRIMARY KEY CHECK (id = 1),
            access_token    TEXT NOT NULL,
            refresh_token   TEXT NOT NULL,
            expires_at      TEXT NOT NULL,
            -- Digest of the ZALO_REFRESH_TOKEN this pair descends from: a new setting value starts over.
            seed            TEXT NOT NULL,
            updated_at      TEXT NOT NULL
        );

        -- Files a channel does not keep for us (Zalo's links expire): fetched at once and kept here, with
        -- the case's attachment row pointing at them ("stored:<id>"); purge deletes them with the case's data.
        CREATE TABLE stored_files (
            id          INTEGER PRIMARY KEY,
            content     BLOB NOT NULL,
            file_name   TEXT NOT NULL DEFAULT '',
            mime_type   TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0007_privacy",
        """
        -- The one controlled edit of the append-only history: a purge pseudonymises the citizen in an event and
        -- redacts personal values from its detail, once, stamping redacted_at. Any other UPDATE, and any DELETE,
        -- is still refused.
        ALTER TABLE case_events ADD COLUMN redacted_at TEXT;
        DROP TRIGGER case_events_no_update;
        CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
        WHEN NOT (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
                  AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id AND NEW.at = OLD.at
                  AND NEW.action = OLD.action AND NEW.old_status IS OLD.old_status
                  AND NEW.new_status IS OLD.new_status)
        BEGIN SELECT RAISE(ABORT, 'case_events is append-only (only a redaction may rewrite an event, once)'); END;

        -- Each consent notice as it was shown, by its SHA-256: a case's consent event names the hash, and this
        -- table proves which words the person agreed to. One row per wording, so it stays small.
        CREATE TABLE consent_notices (
            hash            TEXT PRIMARY KEY,
            text            TEXT NOT NULL,
            first_shown_at  TEXT NOT NULL
        );

        -- A citizen's request to withdraw consent and erase their data, until staff act on it (then deleted;
        -- the affected cases' history keeps the request and the outcome).
        CREATE TABLE data_requests (
            id              INTEGER PRIMARY KEY,
            channel         TEXT NOT NULL,
            user_id         TEXT NOT NULL,
            chat_id         INTEGER NOT NULL,
            requested_at    TEXT NOT NULL,
            due_at          TEXT NOT NULL,
            update_id       INTEGER,
            reminded_at     TEXT,
            UNIQUE (channel, user_id)
        );

        -- Delivered and failed outbox rows are deleted after OUTBOX_KEEP_DAYS (storage/retention.py).
        CREATE INDEX outbox_done ON outbox (sent_at) WHERE sent_at IS NOT NULL;
        CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
        """,
    ),
    Migration(
        "0008_outbox_claims",
        """
        -- A sender claims an outbox row before sending it, so two senders never send one row (storage/outbox.py):
        -- who holds it, and until when the claim keeps others off.
        ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
        ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
        """,
    ),
    Migration(
        "0010_web",
        """
        -- Publication of answered cases on the public page: the citizen's consent given at intake, then the
        -- text staff edited (identity removed) and when it was published or withdrawn.
        CREATE TABLE publications (
            case_id         INTEGER PRIMARY KEY REFERENCES cases (id),
            consent_at      TEXT,
            text            TEXT,
            published_at    TEXT,
            published_by    INTEGER,
            withdrawn_at    TEXT
        );
        CREATE INDEX publications_public ON publications (published_at) WHERE withdrawn_at IS NULL;

        -- Changes to the staff list (who added, removed or changed whom), for the admins' audit page.
        CREATE TABLE staff_audit (
            id          INTEGER PRIMARY KEY,
            at          TEXT NOT NULL,
            actor       TEXT NOT NULL,
            action      TEXT NOT NULL,
            user_id     INTEGER NOT NULL,
            detail      TEXT NOT NULL DEFAULT ''
        );

        -- One-time sign-in links for the web console (only a hash of the token is kept), and the sessions
        -- they start (the encrypted cookie carries the session id; signing out ends the row).
        CREATE TABLE web_logins (
            token_hash  TEXT PRIMARY KEY,
            user_id     INTEGER NOT NULL,
            created_at  TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            used_at     TEXT
        );
        CREATE TABLE web_sessions (
            id          TEXT PRIMARY KEY,
            user_id     INTEGER NOT NULL,
            started_at  TEXT NOT NULL,
            seen_at     TEXT NOT NULL,
            ended_at    TEXT
        );

        -- The web console's cookie key, made once per database.
        CREATE TABLE web_keys (
            name        TEXT PRIMARY KEY,
            value       TEXT NOT NULL
        );

        -- The console's inbox counts cases by category, channel and owner within a status.
        CREATE INDEX cases_category_status ON cases (category, status);
        CREATE INDEX cases_channel_status ON cases (channel, status);
        CREATE INDEX cases_owner_status ON cases (owner_id, status);
        """,
    ),
)
