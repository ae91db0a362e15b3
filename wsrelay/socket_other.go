//go:build !unix

package wsrelay

// tryWrite writes nothing where write(2) is not at hand: every frame
// goes through the writer goroutine.
func (s *socket) tryWrite(p []byte) (int, error) { return 0, nil }
