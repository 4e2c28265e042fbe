-- Fault switches, shared by web and worker (the worker is another process: a Lambda).
CREATE TABLE faults (
    name        text PRIMARY KEY,
    enabled     boolean NOT NULL DEFAULT false,
    probability double precision NOT NULL DEFAULT 1 CHECK (probability BETWEEN 0 AND 1),
    params      jsonb NOT NULL DEFAULT '{}',
    scope       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The job row is the outbox: the trace context of the request that caused it lets the
-- relay send a job later (SQS was down) without breaking the trace.
ALTER TABLE jobs ADD COLUMN traceparent text;
ALTER TABLE jobs ADD COLUMN baggage text;
ALTER TABLE jobs ADD COLUMN sent_at timestamptz;
