"""The event feed's reads: live batches, resume pages and where a resume may start (the events
table is written only by the triggers of migrations/documents.sql and migration 0001)."""

FETCH_EVENTS = """
SELECT position, type, table_id, payload::text FROM events
 WHERE store_id = $1 AND position > $2 ORDER BY position LIMIT $3
"""

# A resume's page: at most $3 events and, past the first, no more than $4 bytes of payload. A
# table's backlog is filtered here, in SQL, never loaded whole and filtered in Python: its own
# events (index events_table) merged with the store's menu changes (index events_menu).
_PAGE = """
SELECT position, type, table_id, payload, fetched FROM (
    SELECT *, sum(size) OVER (ORDER BY position) - size AS before, count(*) OVER () AS fetched FROM (
        SELECT position, type, table_id, payload::text, octet_length(payload::text) AS size
          FROM ({events}) AS matching
         ORDER BY position LIMIT $3) AS limited) AS page
 WHERE before < $4
 ORDER BY position
"""
STORE_PAGE = _PAGE.format(events="""
    SELECT * FROM events WHERE store_id = $1 AND position > $2 ORDER BY position LIMIT $3""")
TABLE_PAGE = _PAGE.format(events="""
    (SELECT * FROM events WHERE store_id = $1 AND table_id = $5 AND position > $2 AND type = ANY($6::text[])
      ORDER BY position LIMIT $3)
    UNION ALL
    (SELECT * FROM events WHERE store_id = $1 AND type = 'menu.updated' AND position > $2
      ORDER BY position LIMIT $3)""")

# Where a resume may start. `boundary` is the table's last session close: a table stream never
# replays anything from before its current session (the previous party's orders and notes).
RESUME_POINT = """
SELECT s.last_event_position AS last,
       (SELECT min(position) FROM events e WHERE e.store_id = s.id) AS first,
       CASE WHEN $2::bigint IS NOT NULL THEN
           (SELECT max(position) FROM events e
             WHERE e.store_id = s.id AND e.table_id = $2 AND e.type = 'table.session_closed')
       END AS boundary
  FROM stores s WHERE s.id = $1
"""
