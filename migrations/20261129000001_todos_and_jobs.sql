-- To-dos, the jobs they cause, and completion statistics kept by the worker.

CREATE TABLE todos (
    id               uuid PRIMARY KEY,
    title            text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    completed        boolean NOT NULL DEFAULT false,
    completed_at     timestamptz,
    -- Written by the worker's enrich_todo job.
    tags             text[] NOT NULL DEFAULT '{}',
    priority         text CHECK (priority IN ('low', 'normal', 'high')),
    -- Written by the worker's todo_completed job.
    done_in_seconds  double precision,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The traces of the requests that created and last changed the row.
    created_trace_id text,
    updated_trace_id text
);
CREATE INDEX todos_created_at ON todos (created_at);

CREATE TABLE jobs (
    id          uuid PRIMARY KEY,
    -- SET NULL: deleting a to-do must not make its in-flight job unknown to the worker.
    todo_id     uuid REFERENCES todos (id) ON DELETE SET NULL,
    kind        text NOT NULL,
    -- pending: saved, not yet in SQS · queued: in SQS · done · failed: last attempt failed, will retry
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'queued', 'done', 'failed', 'dead')),
    message_id  text,
    trace_id    text,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_todo_id ON jobs (todo_id, created_at DESC);
CREATE INDEX jobs_state ON jobs (state) WHERE state <> 'done';

CREATE TABLE completion_stats (
    id              integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    completed_count bigint NOT NULL DEFAULT 0,
    total_seconds   double precision NOT NULL DEFAULT 0
);
INSERT INTO completion_stats (id) VALUES (1);
