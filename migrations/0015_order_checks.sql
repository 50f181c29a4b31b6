-- Orders as analysts and stores really write them.
-- etl.deal_stage_map as analysts edit it: a status is matched without regard to case or the
-- spaces around it, so two rows may not name one status; a stage is a Bitrix24 stage id
-- (NEW, C2:WON, UC_7F3K…); and a TRUNCATE, which fires no row trigger, counts as a change of
-- every status (the next transform recomputes the orders of each).
create unique index deal_stage_map_status_idx on etl.deal_stage_map (source, lower(btrim(source_status)));
alter table etl.deal_stage_map add constraint deal_stage_map_stage_id_check check (stage_id ~ '^(C\d+:){0,1}[A-Z][A-Z0-9_]*$');

create or replace function etl.note_stage_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    insert into etl.deal_stage_changed select distinct source, status from etl.source_order where status is not null on conflict do nothing;
    return null;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into etl.deal_stage_changed values (old.source, lower(btrim(old.source_status))) on conflict do nothing;
  end if;
  if tg_op in ('UPDATE', 'INSERT') then
    insert into etl.deal_stage_changed values (new.source, lower(btrim(new.source_status))) on conflict do nothing;
  end if;
  return null;
end
$$;
create trigger deal_stage_map_truncated after truncate on etl.deal_stage_map
  for each statement execute function etl.note_stage_change();

-- The sum of an order's lines is kept as it is: lines that each fit their columns may add up
-- to more than an order's total can hold.
alter table etl.source_order alter column items_amount type numeric;
