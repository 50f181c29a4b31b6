-- A registry provider that refuses our configuration (a wrong or expired token, a wrong
-- URL) is paused until a person fixes it, not asked again for every company. The pause
-- says which kind it is (a spent daily quota ends by itself; a configuration error does
-- not) and remembers a fingerprint of the configuration that was refused, so a worker
-- started with a different token or URL lifts it; `b2b-etl registry resume` lifts it by hand.
alter table etl.registry_pacing
  add column pause_kind          text check (pause_kind in ('quota', 'config')),
  add column paused_at           timestamptz,
  add column config_fingerprint  text;   -- a truncated sha-256 of the refused URL and token, never the token

update etl.registry_pacing set pause_kind = 'quota', paused_at = now() where paused_until is not null;
