package config_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/config"
)

// FuzzEnvFile: any bytes parse or give an error naming the file, and a
// value written by FormatEnvLine reads back as it was.
func FuzzEnvFile(f *testing.F) {
	f.Add([]byte("# c\nA=1\nB = \" x \"\n"), "v")
	f.Add([]byte("A=1\nA=2\n"), "'quoted'")
	f.Add([]byte("=\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		if lines, err := config.ParseEnvFile("f.env", data); err != nil {
			if !strings.HasPrefix(err.Error(), "f.env") {
				t.Errorf("error without the file's name: %v", err)
			}
		} else {
			for _, l := range lines {
				if len(l.Value) > config.MaxEnvValueSize || l.Line < 1 {
					t.Errorf("line %+v out of bounds", l)
				}
			}
		}
		line, err := config.FormatEnvLine("K", value)
		if err != nil || len(value) > config.MaxEnvValueSize {
			return
		}
		lines, err := config.ParseEnvFile("f.env", []byte(line+"\n"))
		if err != nil || len(lines) != 1 || lines[0].Value != value {
			t.Errorf("%q wrote %q, read back %+v, %v", value, line, lines, err)
		}
	})
}
