package classifier

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText renders HTML as plain text for rules: script, style, head
// and comments removed, entities decoded, block elements and <br> as line
// breaks, list items as "- ", links as their text, whitespace collapsed
// (kept inside <pre>). The tokenizer is used rather than the tree builder:
// it is faster and needs no memory for a tree.
func htmlToText(src string) string {
	// Cleaned once here, and the result once at the end, not per token.
	r := htmlRenderer{z: html.NewTokenizer(strings.NewReader(cleanText(src)))}
	r.t.b.Grow(len(src) / 2)
	for {
		switch r.z.Next() {
		case html.ErrorToken:
			// io.EOF, or a tokenizer limit: what was read is kept
			return r.t.String()
		case html.TextToken:
			if r.skip == 0 {
				r.t.text(string(r.z.Text()), r.pre > 0)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			r.start()
		case html.EndTagToken:
			r.end()
		}
	}
}

// htmlRenderer is the state of htmlToText.
type htmlRenderer struct {
	z    *html.Tokenizer
	t    textBuilder
	skip int // depth inside elements whose content is dropped
	pre  int // depth inside <pre>
}

// start renders a start tag.
func (r *htmlRenderer) start() {
	name, hasAttr := r.z.TagName()
	a := atom.Lookup(name)
	switch {
	case a == atom.Body:
		// a <head> left open ends here
		r.skip = 0
		r.t.block()
	case droppedElement(a):
		if !selfClosing(r.z) {
			r.skip++
		}
	case r.skip > 0:
	case a == atom.Br:
		r.t.newline()
	case a == atom.Li:
		r.t.block()
		r.t.raw("- ")
	case a == atom.Td || a == atom.Th:
		r.t.space()
	case a == atom.Pre:
		r.pre++
		r.t.block()
	case a == atom.Hr:
		r.t.block()
	case a == atom.Img:
		// an image's alt text often carries the only words of a
		// screenshot-only mail
		for more := hasAttr; more; {
			var k, v []byte
			k, v, more = r.z.TagAttr()
			if string(k) == "alt" && len(v) > 0 {
				r.t.text(string(v), false)
				r.t.space()
			}
		}
	case blockElement(a):
		r.t.block()
	}
}

// end renders an end tag.
func (r *htmlRenderer) end() {
	name, _ := r.z.TagName()
	a := atom.Lookup(name)
	switch {
	case droppedElement(a):
		if r.skip > 0 {
			r.skip--
		}
	case r.skip > 0:
	case a == atom.Pre:
		if r.pre > 0 {
			r.pre--
		}
		r.t.block()
	case a == atom.Td || a == atom.Th:
		r.t.space()
	case blockElement(a) || a == atom.Li:
		r.t.block()
	}
}

func selfClosing(z *html.Tokenizer) bool {
	raw := z.Raw()
	return len(raw) >= 2 && raw[len(raw)-2] == '/'
}

// droppedElement: content never shown to a reader.
func droppedElement(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript, atom.Object, atom.Svg:
		return true
	}
	return false
}

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.Tr, atom.Table,
		atom.Tbody, atom.Thead, atom.Tfoot, atom.Caption,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Address,
		atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Main,
		atom.Form, atom.Fieldset, atom.Figure, atom.Figcaption, atom.Center, atom.Body, atom.Html:
		return true
	}
	return false
}

// textBuilder accumulates text with collapsed whitespace: at most one
// space between words, no spaces around line breaks, at most one empty
// line in a row.
type textBuilder struct {
	b            strings.Builder
	newlines     int  // trailing newlines written
	pendingSpace bool // a space is due before the next word
}

func (t *textBuilder) text(s string, pre bool) {
	if pre {
		for line := range strings.Lines(s) {
			text, ended := strings.CutSuffix(line, "\n")
			t.raw(text)
			if ended {
				t.newline()
			}
		}
		return
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) {
			t.space()
			s = s[size:]
			continue
		}
		end := strings.IndexFunc(s, unicode.IsSpace)
		if end < 0 {
			end = len(s)
		}
		t.raw(s[:end])
		s = s[end:]
	}
}

// raw writes s as is, after any pending space.
func (t *textBuilder) raw(s string) {
	if s == "" {
		return
	}
	if t.pendingSpace && t.b.Len() > 0 && t.newlines == 0 {
		t.b.WriteByte(' ')
	}
	t.pendingSpace = false
	t.b.WriteString(s)
	t.newlines = 0
}

func (t *textBuilder) space() { t.pendingSpace = true }

// newline ends the line (a <br>): consecutive ones keep at most one empty line.
func (t *textBuilder) newline() {
	t.pendingSpace = false
	if t.b.Len() == 0 || t.newlines >= 2 {
		return
	}
	t.b.WriteByte('\n')
	t.newlines++
}

// block starts a new line unless one was just started.
func (t *textBuilder) block() {
	t.pendingSpace = false
	if t.b.Len() == 0 || t.newlines > 0 {
		return
	}
	t.b.WriteByte('\n')
	t.newlines++
}

// String is the text, cleaned again because entities can decode to
// anything (controls, decomposed characters).
func (t *textBuilder) String() string {
	return cleanText(strings.Trim(t.b.String(), "\n "))
}
