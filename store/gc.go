package store

// CollectValueLog runs the value-log collection now, as the store does on
// its own every ten minutes: for tests that need it at a known moment.
func (s *Store) CollectValueLog() { s.collectValueLog() }
