package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment references. A YAML value may name an environment variable:
//
//	addr: "${env:ADDR:-127.0.0.1:8080}"   ADDR, or 127.0.0.1:8080 when ADDR is unset or empty
//	addr: "${env:ADDR}"                   ADDR, which must be set
//
// A reference may be the whole value or part of it ("${env:HOST:-127.0.0.1}:8080").
// Values only, never keys; "$${" writes a literal "${". An unquoted value
// takes its type after expansion, so auto_start: ${env:CHAT:-true} is a
// boolean; a quoted one stays a string. A variable that is unset, with no
// default, is a problem reported with the file and line.

// envRef matches $${ (an escaped "${") or ${env:NAME} or ${env:NAME:-default}.
var envRef = regexp.MustCompile(`\$\$\{|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// maxExpanded bounds a value after expansion: the environment is trusted,
// but a runaway variable should not make a runaway config.
const maxExpanded = 64 << 10

// expandEnv replaces the environment references in the scalar values under
// n, in place, and returns the problems.
func expandEnv(n *yaml.Node, file string, lookup func(string) (string, bool)) []*Problem {
	var probs []*Problem
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "${") {
				return
			}
			v, err := expandValue(n.Value, lookup)
			if err != nil {
				probs = append(probs, &Problem{File: file, Line: n.Line, Msg: err.Error()})
				return
			}
			n.Value = v
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && n.Tag == "!!str" {
				n.Tag = "" // plain: resolve the expanded text (true, 3, ...) like any plain value
			}
		}
	}
	walk(n, false)
	return probs
}

func expandValue(s string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRef.FindStringSubmatch(m)
		name, def, hasDef := sub[1], sub[2], strings.Contains(m, ":-")
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
		if hasDef {
			return def
		}
		missing = append(missing, name)
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set (give a default: ${env:%s:-value})", strings.Join(missing, ", "), missing[0])
	}
	if rest := strings.ReplaceAll(s, "$${", ""); strings.Contains(envRef.ReplaceAllString(rest, ""), "${env:") {
		return "", fmt.Errorf("%q: a malformed environment reference; write ${env:NAME} or ${env:NAME:-default}", s)
	}
	if len(out) > maxExpanded {
		return "", fmt.Errorf("the value is %d bytes after expanding environment references; the most is %d", len(out), maxExpanded)
	}
	return out, nil
}
