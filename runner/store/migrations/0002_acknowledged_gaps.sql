-- Gaps that nothing can fill, recorded by an operator so the no_gaps test passes honestly.
create table control.acknowledged_gaps (
    roaster_id       text not null references raw.roasters (id),
    start_day        date not null,
    end_day          date not null,
    reason           text not null check (length(trim(reason)) > 0),
    acknowledged_at  timestamptz not null default now(),
    acknowledged_by  text not null default current_user,
    primary key (roaster_id, start_day, end_day),
    check (start_day <= end_day)
);
