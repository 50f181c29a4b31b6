-- What ANALYZE reads of the transform's tables. A live feed into a growing base has them
-- analyzed every few seconds (etl.refresh_statistics, before each incremental run), and most of
-- that time went to columns no plan looks at: the landed documents, their raw text and landing
-- notes, and the phone and e-mail arrays. No statement of the transform joins on them; its
-- only conditions on them (whether a document could be read, an array's length) do with the
-- planner's defaults, and a field of a document (payload ->> 'inn') has no statistics of its
-- own anyway. Their statistics target is 0: ANALYZE leaves them out.
alter table staging.record
  alter column payload set statistics 0,
  alter column raw_text set statistics 0,
  alter column landing_issues set statistics 0;
alter table etl.source_company
  alter column phones set statistics 0,
  alter column invalid_phones set statistics 0,
  alter column emails set statistics 0;
alter table etl.source_contact
  alter column phones set statistics 0,
  alter column phone_extensions set statistics 0,
  alter column invalid_phones set statistics 0,
  alter column emails set statistics 0;
alter table canonical.company
  alter column phones set statistics 0,
  alter column emails set statistics 0;
alter table canonical.contact
  alter column phones set statistics 0,
  alter column phone_extensions set statistics 0,
  alter column emails set statistics 0;
alter table etl.source_order
  alter column items set statistics 0;
