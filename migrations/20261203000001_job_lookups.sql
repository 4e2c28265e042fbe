-- "Compare with a working one" finds the latest job of a kind that was done (a partial
-- index: one entry per finished job). The journey page finds a user's jobs through
-- todos_owner_created_at and jobs_todo_id, so the job rows, updated several times each,
-- carry no extra index for it.
CREATE INDEX jobs_done_by_kind ON jobs (kind, updated_at DESC) WHERE state = 'done';
