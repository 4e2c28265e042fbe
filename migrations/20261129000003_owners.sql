-- To-dos belong to the user who signed in by name (or to "guest").
ALTER TABLE todos ADD COLUMN owner text NOT NULL DEFAULT 'guest';
CREATE INDEX todos_owner_created_at ON todos (owner, created_at);
