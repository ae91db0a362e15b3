package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// The file of an env.storage.file: one variable a line, written
//
//	# a comment
//	NAME=value
//	QUOTED="  value with spaces  "
//
// Blank lines and lines starting with '#' are skipped. The name is
// letters, digits and '_'; spaces around the name and the value are
// dropped; a value written between a pair of double or single quotes is
// what lies between them, taken as it is (no escapes, no inline comments).
// A name given twice is an error, as is any other line.

// Bounds of an env file. A file is read whole, so its size bounds what it
// costs; a key and a value are bounded like those env.set takes.
const (
	MaxEnvFileSize  = 1 << 20
	MaxEnvKeySize   = 256
	MaxEnvValueSize = 64 << 10
)

// EnvLine is one variable of an env file.
type EnvLine struct {
	Key, Value string
	Line       int
}

// ParseEnvFile reads the text of an env file; name is the file's name for
// the errors, which say the line.
func ParseEnvFile(name string, data []byte) ([]EnvLine, error) {
	if len(data) > MaxEnvFileSize {
		return nil, fmt.Errorf("%s: the file is more than %d bytes", name, MaxEnvFileSize)
	}
	var out []EnvLine
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not NAME=value", name, n)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case key == "":
			return nil, fmt.Errorf("%s:%d: the name before '=' is empty", name, n)
		case len(key) > MaxEnvKeySize:
			return nil, fmt.Errorf("%s:%d: the name is more than %d bytes", name, n, MaxEnvKeySize)
		case !envName.MatchString(key):
			return nil, fmt.Errorf("%s:%d: %q is not a variable name: use letters, digits and '_'", name, n, key)
		case len(val) > MaxEnvValueSize+2:
			return nil, fmt.Errorf("%s:%d: the value of %s is more than %d bytes", name, n, key, MaxEnvValueSize)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s is also set on line %d", name, n, key, prev)
		}
		seen[key] = n
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		if len(val) > MaxEnvValueSize {
			return nil, fmt.Errorf("%s:%d: the value of %s is more than %d bytes", name, n, key, MaxEnvValueSize)
		}
		out = append(out, EnvLine{Key: key, Value: val, Line: n})
	}
	return out, nil
}

// FormatEnvLine writes NAME=value so that ParseEnvFile reads value back:
// quoted when it is empty, has spaces at either end or starts or ends
// with a quote. A value of more than one line cannot be written.
func FormatEnvLine(key, value string) (string, error) {
	if strings.ContainsAny(value, "\n\r") {
		return "", errors.New("an env file holds one line per value: the value has a line break")
	}
	if value == "" || strings.TrimSpace(value) != value || strings.ContainsAny(value[:1], `"'`) || strings.ContainsAny(value[len(value)-1:], `"'`) {
		value = `"` + value + `"`
	}
	return key + "=" + value, nil
}

// ReadEnvFile reads the env file at path on disk, as an env.storage.file
// is read when the app loads (bounded, a regular file only).
func ReadEnvFile(path string) ([]byte, error) { return readBounded(nil, path) }

// readBounded reads at most MaxEnvFileSize+1 bytes of a regular file, so
// that a file too large is known to be without reading it all; fsys nil
// is the OS's file system. Anything else (a device, a pipe, whose open or
// read could wait forever) is refused before it is opened.
func readBounded(fsys fs.FS, name string) ([]byte, error) {
	var st fs.FileInfo
	var err error
	if fsys == nil {
		st, err = os.Stat(name)
	} else {
		st, err = fs.Stat(fsys, name)
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	var f fs.File
	if fsys == nil {
		f, err = os.Open(name)
	} else {
		f, err = fsys.Open(name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, io.LimitReader(f, MaxEnvFileSize+1))
	return b.Bytes(), err
}
