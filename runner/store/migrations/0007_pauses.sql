-- Normal processing stopped without stopping any process (`coffee-runner pause`): every
-- scheduled fetch reads this table, on every machine that uses the database. scope is a
-- roaster id, or '*' for every roaster. Pausing again replaces the reason; unpausing
-- deletes the row (a pause is an instruction, not history: the runner log keeps it).
create table control.pauses (
    scope      text primary key check (scope = '*' or scope ~ '^[a-z0-9][a-z0-9-]*$'),
    reason     text not null check (length(btrim(reason)) > 0),
    paused_at  timestamptz not null default now(),
    paused_by  text not null default current_user
);
