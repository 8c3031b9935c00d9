-- API authentication and authorization (issue 8): password hashes (argon2id PHC strings), failed-login
-- counting with a lockout, rotated and revocable refresh tokens stored as SHA-256 hashes, and the
-- role x permission table as data. Which permission each route needs is declared on the route; which
-- roles hold it is decided here, not in scattered checks.

ALTER TABLE users
    ADD COLUMN password_hash       text CHECK (password_hash LIKE '$argon2id$%'),
    ADD COLUMN password_changed_at timestamptz,
    ADD COLUMN failed_logins       integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    ADD COLUMN locked_until        timestamptz,
    ADD COLUMN last_login_at       timestamptz;

CREATE TABLE permissions (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z_]+\.[a-z_]+$'),
    description  text NOT NULL
);
INSERT INTO permissions (name, description)
VALUES ('patients.read', 'List and read patients'),
       ('readings.read', 'Read a patient''s readings and daily summaries'),
       ('alerts.read', 'List alerts and follow the live alert stream'),
       ('alerts.manage', 'Acknowledge, resolve and snooze alerts'),
       ('hubs.read', 'Read hub status and configuration versions'),
       ('users.read', 'List the practice''s staff users'),
       ('users.manage', 'Create staff users'),
       ('audit.read', 'Query the audit log');

CREATE TABLE role_permissions (
    role        text NOT NULL CHECK (role IN ('admin', 'clinician', 'care_staff', 'logistics', 'billing')),
    permission  text NOT NULL REFERENCES permissions (name),
    PRIMARY KEY (role, permission)
);
INSERT INTO role_permissions (role, permission)
SELECT 'admin', name FROM permissions;
INSERT INTO role_permissions (role, permission)
VALUES ('clinician', 'patients.read'), ('clinician', 'readings.read'), ('clinician', 'alerts.read'),
       ('clinician', 'alerts.manage'), ('clinician', 'hubs.read'),
       ('care_staff', 'patients.read'), ('care_staff', 'readings.read'), ('care_staff', 'alerts.read'),
       ('care_staff', 'alerts.manage'), ('care_staff', 'hubs.read'),
       -- logistics ships devices to patients (names and addresses) but reads no clinical data
       ('logistics', 'patients.read'), ('logistics', 'hubs.read'),
       -- billing needs the evidence behind a code: patients and their days with data
       ('billing', 'patients.read'), ('billing', 'readings.read');

-- One row per issued refresh token. Rotation marks the presented token used and issues its successor
-- in the same family; presenting a used token again (theft or a replayed request) revokes the family.
CREATE TABLE refresh_tokens (
    id              uuid PRIMARY KEY,
    practice_id     uuid NOT NULL,
    user_id         uuid NOT NULL,
    family_id       uuid NOT NULL,
    token_sha256    bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    revoked_at      timestamptz,
    revoked_reason  text CHECK (revoked_reason IN ('logout', 'reuse_detected', 'user_deactivated', 'admin')),
    CHECK (expires_at > issued_at),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL)),
    FOREIGN KEY (practice_id, user_id) REFERENCES users (practice_id, id)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Authentication runs before a practice is known (as the owner); the API role never touches tokens.
INSERT INTO api_role_table_privileges (table_name, privileges) VALUES ('refresh_tokens', 'NONE');
-- Admins read, create and update their practice's staff users (RLS keeps them inside it). The API role
-- can set a password hash but never read one back: a hole in a query cannot dump the hashes.
INSERT INTO api_role_table_privileges (table_name, privileges)
VALUES ('users',
        'SELECT (id, practice_id, email, display_name, role, credential, active, created_at, last_login_at), '
        'INSERT (id, practice_id, email, display_name, role, credential, active), '
        'UPDATE (role, credential, active, password_hash, password_changed_at, failed_logins, locked_until)');

SELECT carehub_apply_practice_isolation();
