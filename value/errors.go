package value

// ConvertError reports a Go value that cannot become a Value, or a Value that
// cannot be encoded.
type ConvertError struct {
	Path string // where in the input, like "[2].name"; empty for the top level
	Msg  string
}

func (e *ConvertError) Error() string {
	if e.Path == "" {
		return "value: " + e.Msg
	}
	return "value: at " + e.Path + ": " + e.Msg
}
