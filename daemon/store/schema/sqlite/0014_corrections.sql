-- Corrections share the disputes' tables and lifecycle (docs/disputes.md, "Corrections"): the
-- brand declares a window whose items do not count for the rules it names, the partner accepts
-- or rejects it. `kind` tells a correction from a partner's dispute; a correction names its rules
-- (comma-separated) and its window of creation instants, [window_from, window_until).
ALTER TABLE disputes ADD COLUMN kind TEXT NOT NULL DEFAULT 'dispute' CHECK (kind IN ('dispute', 'correction'));
ALTER TABLE disputes ADD COLUMN rules TEXT NOT NULL DEFAULT '';
ALTER TABLE disputes ADD COLUMN window_from INTEGER;
ALTER TABLE disputes ADD COLUMN window_until INTEGER;
