-- Every response header and the status line as received, and the request as sent, on
-- each capture (the 13 headers of `headers` stay, for the readers that use them).
-- Captures stored before this migration have nulls here: what was not kept cannot be
-- given back.
--   status_line       'HTTP/1.1 200 OK'
--   response_headers  [[name, value], ...] in the order received, repeats kept
--   request           {"method", "url", "headers": [[name, value], ...]} as sent
alter table raw.scrape_artifacts
    add column status_line text,
    add column response_headers jsonb,
    add column request jsonb;

alter table quarantine.scrape_artifacts
    add column status_line text,
    add column response_headers jsonb,
    add column request jsonb;
