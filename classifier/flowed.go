package classifier

import "strings"

// unflow undoes RFC 3676 format=flowed on text whose lines end in "\n":
// a line ending in a space is a soft break and joins the next line of the
// same quote depth (without that space when delSp), and the space that
// stuffs a line is dropped. Mail clients such as Thunderbird and Apple Mail
// wrap every paragraph this way, and a rule looking for "disk is full"
// must find it across the wrap. Quote marks are kept as written on the
// first line of a quoted paragraph; the signature separator "-- " is never
// a soft break and always starts a line. The result is never longer than s.
func unflow(s string, delSp bool) string {
	var b strings.Builder
	b.Grow(len(s))
	open, openDepth := false, 0 // the last line written is flowed, at openDepth
	first := true
	for line := range strings.SplitSeq(s, "\n") {
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		content := line[depth:]
		stuffed := strings.HasPrefix(content, " ")
		if stuffed {
			content = content[1:]
		}
		signature := content == "-- "
		flowed := strings.HasSuffix(content, " ") && !signature
		if flowed && delSp {
			content = content[:len(content)-1]
		}
		if !open || depth != openDepth || signature {
			if !first {
				b.WriteByte('\n')
			}
			// A quoted paragraph keeps its marks and their space; an
			// unquoted one loses only the stuffing.
			b.WriteString(line[:depth])
			if stuffed && depth > 0 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(content)
		open, openDepth, first = flowed, depth, false
	}
	return b.String()
}
