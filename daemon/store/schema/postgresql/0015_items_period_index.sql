-- The evaluation's read of a partner-period (items_for_period_query) finds the tickets still open
-- from before the period among all of the partner's earlier tickets. With solved_at in the index,
-- that test is answered from the index entry; only the rows that can count are fetched. It
-- replaces the (partner_id, kind, created_at) index rather than adding a second one, so writes
-- keep one index of this kind (docs/benchmarks.md: a second index on solved_at had cost SQLite's
-- import 43%).
CREATE INDEX items_partner_kind_created_solved ON items (partner_id, kind, created_at, solved_at);
DROP INDEX items_partner_kind_created;
