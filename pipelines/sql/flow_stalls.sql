-- Open cases (as of $now) and how long since they last moved, with who holds them now.
-- Last movement = the latest event or the export's 更新日時, whichever is later; a case without any
-- event counts from its receipt, but only when the store has time-stamped events at all
-- ($events_known): in an export without hand-off records, "no event" says nothing.
-- Hops from a route column have no time: such a case is stalled only if 更新日時 says so.
-- Parameters: $now, $events_known.
CREATE OR REPLACE TEMP TABLE flow_open AS
SELECT sc.case_id, sc.received_at, sc.channel, sc.product, sc.status,
       st.department AS holder,
       CASE WHEN st.source = 'events' OR (st.source = 'case' AND $events_known) THEN st.start_at END AS held_since,
       coalesce(greatest(st.last_event_at, sc.updated_at),
                CASE WHEN st.source = 'case' AND $events_known THEN sc.received_at END) AS last_move
FROM flow_stints st JOIN flow_scope sc USING (case_id)
WHERE st.is_last AND NOT sc.closed
