-- The journey page finds the jobs a user's requests caused by their trace ids; the
-- "compare with a working one" links find the latest job of a kind that worked.
CREATE INDEX jobs_trace_id ON jobs (trace_id);
CREATE INDEX jobs_done_by_kind ON jobs (kind, updated_at DESC) WHERE state = 'done';
