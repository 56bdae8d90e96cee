-- Reference data and inbox settings, owned by config-api. Other services read inboxes only through
-- the view config.inbox_settings (read-only), never the table.
CREATE TABLE config.issue_types (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO config.issue_types (name) VALUES ('Support');

CREATE TABLE config.users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email      text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE config.organisations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE config.inboxes (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider                        text NOT NULL CHECK (provider IN ('gmail', 'outlook', 'yahoo', 'zoho', 'custom')),
    email                           text NOT NULL,
    username                        text NOT NULL,
    password_encrypted              bytea,
    hostname                        text NOT NULL,
    port                            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    directory                       text NOT NULL DEFAULT 'INBOX',
    encryption                      text NOT NULL CHECK (encryption IN ('ssl', 'tls', 'none')),
    ca_certificate                  text,
    auth                            text NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'oauth2')),
    oauth2_client_id                text,
    oauth2_tenant_id                text,
    oauth2_client_secret_encrypted  bytea,
    oauth2_refresh_token_encrypted  bytea,
    processed_action                text NOT NULL DEFAULT 'mark_read' CHECK (processed_action IN ('mark_read', 'delete')),
    unmatched_action                text NOT NULL DEFAULT 'create_issue' CHECK (unmatched_action IN ('create_issue', 'ignore')),
    ignored_senders                 text[] NOT NULL DEFAULT '{}',
    default_language                text,
    issue_type_id                   bigint REFERENCES config.issue_types (id),
    assigned_user_id                bigint REFERENCES config.users (id),
    assigned_organisation_id        bigint REFERENCES config.organisations (id),
    active                          boolean NOT NULL DEFAULT true,
    poll_interval_seconds           integer NOT NULL DEFAULT 60 CHECK (poll_interval_seconds BETWEEN 1 AND 86400),
    first_fetch                     text NOT NULL DEFAULT 'unread' CHECK (first_fetch IN ('unread', 'all')),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);

-- What the fetcher and the ingestor may read of an inbox. The password stays encrypted here; only a
-- holder of INTAKE_SECRET_KEY can read it.
CREATE VIEW config.inbox_settings AS
SELECT id, provider, email, username, password_encrypted, hostname, port, directory, encryption,
       ca_certificate, auth, processed_action, unmatched_action, ignored_senders, default_language,
       issue_type_id, assigned_user_id, assigned_organisation_id, active, poll_interval_seconds,
       first_fetch, updated_at
FROM config.inboxes;
