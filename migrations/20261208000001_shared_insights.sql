-- The insights (per-user figures, journeys, working examples) and each user's usage,
-- shared by every web task and kept across restarts. Web writes them off the request
-- path, in one batch a second per task; the worker adds what its records used. The
-- tables are the app's measurements of itself: nothing else references them.

-- One row per user (bounded: see insight_user), counters added to by every batch.
CREATE TABLE insight_users (
    user_name         text PRIMARY KEY,
    requests          bigint NOT NULL DEFAULT 0,
    errors            bigint NOT NULL DEFAULT 0,
    writes            bigint NOT NULL DEFAULT 0,
    writes_over_5ms   bigint NOT NULL DEFAULT 0,
    writes_over_10ms  bigint NOT NULL DEFAULT 0,
    writes_over_100ms bigint NOT NULL DEFAULT 0,
    todos_created     bigint NOT NULL DEFAULT 0,
    todos_completed   bigint NOT NULL DEFAULT 0,
    first_seen        timestamptz NOT NULL DEFAULT now(),
    last_seen         timestamptz NOT NULL DEFAULT now(),
    last_error        timestamptz,
    -- Usage, what the cost estimate is made of (prices are configuration, not data).
    web_cpu_us        bigint NOT NULL DEFAULT 0,
    db_us             bigint NOT NULL DEFAULT 0,
    -- The worker's billed duration × its memory, in MB·ms (Lambda bills GB·s).
    worker_mb_ms      bigint NOT NULL DEFAULT 0,
    worker_records    bigint NOT NULL DEFAULT 0,
    sqs_requests      bigint NOT NULL DEFAULT 0,
    s3_puts           bigint NOT NULL DEFAULT 0,
    s3_gets           bigint NOT NULL DEFAULT 0
);
CREATE INDEX insight_users_last_seen ON insight_users (last_seen);

-- The row a user's figures go to: theirs, made on first sight while fewer than
-- max_users exist; past that, the shared 'other' (bounded cardinality, as the metrics'
-- enduser.id). An advisory lock makes the count and the insert one step across tasks.
CREATE FUNCTION insight_user(name text, max_users integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM insight_users WHERE user_name = name) THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('insight_users'));
    IF (SELECT count(*) FROM insight_users) < max_users THEN
        INSERT INTO insight_users (user_name) VALUES (name) ON CONFLICT DO NOTHING;
        RETURN name;
    END IF;
    INSERT INTO insight_users (user_name) VALUES ('other') ON CONFLICT DO NOTHING;
    RETURN 'other';
END $$;

-- Each user's requests (the journey, the latency percentiles, the last errors). Pruned
-- per user to the last 2,000 plus their last 10 failed ones, and to the retention.
CREATE TABLE insight_visits (
    id         bigserial PRIMARY KEY,
    user_name  text NOT NULL,
    at         timestamptz NOT NULL,
    method     text NOT NULL,
    route      text NOT NULL,
    status     smallint NOT NULL,
    latency_ms double precision NOT NULL,
    trace_id   text
);
CREATE INDEX insight_visits_user_at ON insight_visits (user_name, at DESC, id DESC);
CREATE INDEX insight_visits_at ON insight_visits (at);

-- Times from created to completed (the median time to done), the last 500 per user.
CREATE TABLE insight_completions (
    id        bigserial PRIMARY KEY,
    user_name text NOT NULL,
    at        timestamptz NOT NULL,
    done_in_s double precision NOT NULL
);
CREATE INDEX insight_completions_user_at ON insight_completions (user_name, at DESC, id DESC);

-- The latest sampled trace of each route that worked: what a broken one is compared with.
CREATE TABLE working_traces (
    method   text NOT NULL,
    route    text NOT NULL,
    trace_id text NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (method, route)
);

-- A user's stored bytes (the cost of their attachments).
CREATE INDEX attachments_owner ON attachments (owner);
