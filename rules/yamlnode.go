package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/triage-dev/triage/internal/fileerr"
	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds one rules or test file; larger files are rejected
// before parsing.
const maxFileSize = 8 << 20

// srcFile is one input file with its bytes, kept for positions.
type srcFile struct {
	name string // as given (used in messages)
	dir  string // directory relative paths resolve against
	data []byte
}

// diag collects positioned problems while walking YAML.
type diag struct {
	errs  fileerr.List
	warns fileerr.List
}

func (d *diag) errAt(file string, line, col int, format string, args ...any) {
	d.errs = append(d.errs, fileerr.Error{File: file, Line: max(line, 1), Col: max(col, 1), Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) errf(f *srcFile, n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.errAt(f.name, line, col, format, args...)
}

func (d *diag) warnf(file string, line, col int, format string, args ...any) {
	d.warns = append(d.warns, fileerr.Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML document into its root node. It returns
// nil (with errors recorded) when the file is empty or broken.
func (d *diag) parseYAML(f *srcFile) (root *yaml.Node) {
	if len(f.data) > maxFileSize {
		d.errAt(f.name, 1, 1, "file is larger than %d bytes", maxFileSize)
		return nil
	}
	if len(bytes.TrimSpace(f.data)) == 0 {
		d.errAt(f.name, 1, 1, "empty file: expected a mapping with version: 1")
		return nil
	}
	defer func() {
		// yaml.v3 re-panics on internal errors it does not expect; hostile
		// input must never take the caller down.
		if r := recover(); r != nil {
			d.errAt(f.name, 1, 1, "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errAt(f.name, 1, 1, "empty file: expected a mapping with version: 1")
			return nil
		}
		d.yamlErr(f, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		d.errAt(f.name, line, 1, "a rules file holds one YAML document; found another")
	case errors.Is(err, io.EOF):
	default:
		d.yamlErr(f, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errAt(f.name, 1, 1, "empty file: expected a mapping with version: 1")
		return nil
	}
	return doc.Content[0]
}

func (d *diag) yamlErr(f *srcFile, err error) {
	msg := err.Error()
	for _, part := range strings.Split(msg, "\n") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if m := yamlLineRE.FindStringSubmatch(part); m != nil {
			line, _ := strconv.Atoi(m[1])
			d.errAt(f.name, line, 1, "YAML syntax: %s", m[2])
			continue
		}
		d.errAt(f.name, 1, 1, "YAML syntax: %s", strings.TrimPrefix(part, "yaml: "))
	}
}

// keyValue is one entry of a YAML mapping.
type keyValue struct {
	key, val *yaml.Node
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!str":
			return "a string"
		}
		return "a scalar " + n.ShortTag()
	}
	return "nothing"
}

// noAlias reports alias nodes; it returns false when n is one.
func (d *diag) noAlias(f *srcFile, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		d.errf(f, n, "YAML aliases are not supported")
		return false
	}
	return true
}

// mapping checks that n is a mapping whose keys are strings from allowed,
// each at most once, and returns its entries in order. what names the
// mapping in messages. (Mappings with keys of the user's choosing go
// through freeMapping, which passes allowed nil: any scalar key but null.)
func (d *diag) mapping(f *srcFile, n *yaml.Node, what string, allowed []string) []keyValue {
	if !d.noAlias(f, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errf(f, n, "%s: expected a mapping, got %s", what, kindName(n))
		return nil
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	out := make([]keyValue, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.noAlias(f, k) {
			continue
		}
		stringKey := k.ShortTag() == "!!str" || (allowed == nil && k.ShortTag() != "!!null")
		if k.Kind != yaml.ScalarNode || !stringKey {
			d.errf(f, k, "%s: key must be a string, got %s", what, kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errf(f, k, "%s: duplicate key %q (first at line %d)", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			d.errf(f, k, "%s: unknown key %q (allowed: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if !d.noAlias(f, v) {
			continue
		}
		out = append(out, keyValue{k, v})
	}
	return out
}

// freeMapping is a mapping with arbitrary keys (lists, extract, …): any
// scalar but null, each at most once.
func (d *diag) freeMapping(f *srcFile, n *yaml.Node, what string) []keyValue {
	return d.mapping(f, n, what, nil)
}

// str decodes a string scalar. Numbers are accepted as their text (a
// queue or runbook may look like one); booleans, null and collections are not.
func (d *diag) str(f *srcFile, n *yaml.Node, what string) (string, bool) {
	if !d.noAlias(f, n) {
		return "", false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float":
			return n.Value, true
		}
	}
	d.errf(f, n, "%s: expected a string, got %s", what, kindName(n))
	return "", false
}

// anyScalar decodes any non-null scalar as its text (list items, expressions).
func (d *diag) anyScalar(f *srcFile, n *yaml.Node, what string) (string, bool) {
	if !d.noAlias(f, n) {
		return "", false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
		return n.Value, true
	}
	d.errf(f, n, "%s: expected a string, got %s", what, kindName(n))
	return "", false
}

func (d *diag) boolean(f *srcFile, n *yaml.Node, what string) (bool, bool) {
	if !d.noAlias(f, n) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, err := strconv.ParseBool(n.Value)
		if err == nil {
			return b, true
		}
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
	}
	d.errf(f, n, "%s: expected true or false, got %s", what, kindName(n))
	return false, false
}

func (d *diag) integer(f *srcFile, n *yaml.Node, what string) (int, bool) {
	if !d.noAlias(f, n) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		i, err := strconv.Atoi(n.Value)
		if err == nil {
			return i, true
		}
	}
	d.errf(f, n, "%s: expected an integer, got %s", what, kindName(n))
	return 0, false
}

// seq checks that n is a sequence and returns its items.
func (d *diag) seq(f *srcFile, n *yaml.Node, what string) []*yaml.Node {
	if !d.noAlias(f, n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(f, n, "%s: expected a list, got %s", what, kindName(n))
		return nil
	}
	return n.Content
}

// strList decodes a list of scalars; a single scalar counts as a list of
// one when single is set (to: a@b.c).
func (d *diag) strList(f *srcFile, n *yaml.Node, what string, single bool) ([]string, bool) {
	if single && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
		return []string{n.Value}, true
	}
	items := d.seq(f, n, what)
	if items == nil && n.Kind != yaml.SequenceNode {
		return nil, false
	}
	out := make([]string, 0, len(items))
	ok := true
	for _, it := range items {
		s, good := d.anyScalar(f, it, what+" item")
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}
