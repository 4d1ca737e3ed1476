-- Web and courtesy callbacks (issue 15 items 4 and 5). A widget is a website's "call me back"
-- form: it authenticates with a key (only its SHA-256 is kept) and files callbacks into its
-- queue. A callback is an outbound interaction (same id) with what retrying it needs; those
-- still pending are put back in their queues when the switch starts.
CREATE TABLE callback_widgets (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    queue_id   TEXT   NOT NULL,
    key_hash   TEXT   NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE callbacks (
    interaction_id TEXT   NOT NULL PRIMARY KEY,
    widget_id      TEXT,
    number         TEXT   NOT NULL,
    queue_id       TEXT   NOT NULL,
    dnis           TEXT   NOT NULL,
    scheduled_ms   BIGINT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    status         TEXT   NOT NULL,
    created_ms     BIGINT NOT NULL
);
CREATE INDEX callbacks_status ON callbacks (status);
CREATE INDEX callbacks_number ON callbacks (number);
