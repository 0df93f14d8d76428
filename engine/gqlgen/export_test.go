package gqlgen

// CachedDocuments returns how many documents the engine's cache holds.
func (e *Engine) CachedDocuments() int { return e.docs.Len() }
