package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment references. A YAML value may name a variable:
//
//	addr: "${env:ADDR:-127.0.0.1:8080}"   ADDR, or 127.0.0.1:8080 when ADDR has no value
//	addr: "${env:ADDR|127.0.0.1:8080}"    the same, as the original runtime writes it
//	addr: "${ADDR|127.0.0.1:8080}"        the same (an upper-case name; the default is required)
//	addr: "${env:ADDR}"                   ADDR, which must have a value
//
// NAME is an env.variable's public name or entry id, read through the
// variable (its storage, else its default), or else a variable of the
// process environment. An empty value counts as none.
// A reference may be the whole value or part of it ("${env:HOST:-127.0.0.1}:8080").
// Values only, never keys; "$${" writes a literal "${"; "${NAME}" with no
// default and no "env:" is left as it is. An unquoted value
// takes its type after expansion, so auto_start: ${env:CHAT:-true} is a
// boolean; a quoted one stays a string. A variable that has no value,
// with no default, is a problem reported with the file and line. The
// references in env.* entries read the process environment only.

// envRef matches $${ (an escaped "${"), ${env:NAME}, ${env:NAME:-default},
// ${env:NAME|default} or ${NAME|default}. A NAME of ${env:} may be an
// entry id (ns:name).
var envRef = regexp.MustCompile(`\$\$\{|\$\{env:([A-Za-z0-9_][A-Za-z0-9_.\-]*(?::[A-Za-z0-9_][A-Za-z0-9_.\-]*)?)(?::-([^}]*)|\|([^}]*))?\}|\$\{([A-Z0-9_]+)\|([^}]*)\}`)

// maxExpanded bounds a value after expansion: the environment is trusted,
// but a runaway variable should not make a runaway config.
const maxExpanded = 64 << 10

// expandEnv replaces the environment references in the scalar values under
// n, in place, and returns the problems.
func expandEnv(n *yaml.Node, file string, lookup func(string) (string, bool, string)) []*Problem {
	return expandEnvSkip(n, file, lookup, nil)
}

// expandEnvSkip is expandEnv leaving out the nodes of skip (expanded
// already).
func expandEnvSkip(n *yaml.Node, file string, lookup func(string) (string, bool, string), skip map[*yaml.Node]bool) []*Problem {
	var probs []*Problem
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if skip[n] {
			return
		}
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

func expandValue(s string, lookup func(string) (string, bool, string)) (string, error) {
	var missing, names []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRef.FindStringSubmatch(m)
		name, def, hasDef := sub[1], "", false
		switch {
		case sub[4] != "":
			name, def, hasDef = sub[4], sub[5], true
		case strings.HasPrefix(m[len("${env:")+len(name):], ":-"):
			def, hasDef = sub[2], true
		case strings.HasPrefix(m[len("${env:")+len(name):], "|"):
			def, hasDef = sub[3], true
		}
		v, ok, why := lookup(name)
		if ok {
			return v
		}
		if hasDef {
			return def
		}
		missing, names = append(missing, why), append(names, name)
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s (give a default: ${env:%s:-value})", strings.Join(missing, "; "), names[0])
	}
	if rest := strings.ReplaceAll(s, "$${", ""); strings.Contains(envRef.ReplaceAllString(rest, ""), "${env:") {
		return "", fmt.Errorf("%q: a malformed environment reference; write ${env:NAME}, ${env:NAME|default} or ${env:NAME:-default}", s)
	}
	if len(out) > maxExpanded {
		return "", fmt.Errorf("the value is %d bytes after expanding environment references; the most is %d", len(out), maxExpanded)
	}
	return out, nil
}
