-- Leaked keys: the first leak report of a key's current secret (cleared when
-- it is regenerated). The report's details are in its `key.leaked` event.

ALTER TABLE api_keys ADD COLUMN leaked_at INTEGER;
ALTER TABLE api_keys ADD COLUMN leak_source TEXT;
ALTER TABLE api_keys ADD COLUMN leak_url TEXT;
