-- The journal spec against a PostgreSQL journal: a throwaway cluster for this file (support/pg.lua),
-- a schema of its own per test (support/backend.lua).
_G.SPEC_JOURNAL = "pg"
assert(loadfile("spec/journal_spec.lua", "t", _ENV))()
