package value

import (
	"errors"
	"strconv"
)

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

// ErrTooLarge matches (errors.Is) the error of an encoding that would pass
// its bound.
var ErrTooLarge = errors.New("value: too large")

// TooLargeError reports an encoding stopped at its bound of Max bytes.
type TooLargeError struct{ Max int }

func (e *TooLargeError) Error() string {
	return "value: the encoding would be larger than " + strconv.Itoa(e.Max) + " bytes"
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }
