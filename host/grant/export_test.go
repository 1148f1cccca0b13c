package grant

// CachedGrants returns how many grants v remembers.
func CachedGrants(v *Verifier) int {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	return len(v.cache)
}
