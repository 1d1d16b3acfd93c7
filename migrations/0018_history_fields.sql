-- An activation's history entry as fields of the group commit's element (issue 20,
-- docs/performance.md "Observability, fourth round"), no longer one nested JSON object
-- (`history`) read again with json_to_record: that second read, and the validation of
-- the detail it extracted, cost the server ~7 us an activation (a SQL loop over the
-- benchmark's batches: 27.5-34.9 us an element nested, 21.9-23.2 us as fields, against
-- 20.4-20.8 without an entry).
--
--   history_detail          the entry's detail (NULL: no entry, e.g. a wake-up that
--                           settled nothing)
--   history_snapshot_text   the snapshot's JSON text, when it is kept as text
--   history_snapshot_zlib   else base64 of its zlib (both NULL over the cap)
--   history_snapshot_bytes  the size of its JSON text (also over the cap)
--
-- The entry's worker is the element's `worker`. `history` stays for workers of the
-- previous version still running while this one rolls out (their statement reads it);
-- nothing sends it any more.
ALTER TYPE rhythm.activation_commit
    ADD ATTRIBUTE history_detail json,
    ADD ATTRIBUTE history_snapshot_text text,
    ADD ATTRIBUTE history_snapshot_zlib text,
    ADD ATTRIBUTE history_snapshot_bytes integer;
