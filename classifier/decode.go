// Package classifier turns an RFC 5322 / MIME message into the rule
// environment, runs a rule set on it and builds the Ticket document.
package classifier

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gmtextproto "github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/rules"
)

// Errors Decode returns; both are wrapped with details.
var (
	// ErrTooLarge: the message exceeds DecodeOptions.MaxBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrUnparseable: the input has no header block at all; the daemon
	// quarantines such mail.
	ErrUnparseable = errors.New("message unparseable")
)

// Default bounds of DecodeOptions.
const (
	defaultMaxBytes     = 25 << 20
	defaultMaxDepth     = 20
	defaultMaxParts     = 1000
	defaultMaxBodyBytes = 1 << 20
	defaultMaxHeaders   = 1000

	maxHeaderValueBytes = 4096 // per value in Mail.Headers
	maxReferences       = 100  // ids kept from References
	maxAddresses        = 500  // per address header
	maxAttachmentName   = 255  // bytes
	maxDefects          = 50
	htmlSourceFactor    = 4 // HTML source read per byte of kept text
)

// DecodeOptions bound the work Decode does on hostile input. Zero fields
// take the defaults.
type DecodeOptions struct {
	MaxBytes     int // whole message; larger is ErrTooLarge (default 25 MiB)
	MaxDepth     int // multipart nesting; deeper parts are skipped (default 20)
	MaxParts     int // MIME parts walked; the rest are skipped (default 1000)
	MaxBodyBytes int // text body kept, in bytes; longer is truncated (default 1 MiB)
	MaxHeaders   int // top-level header fields read (default 1000)

	// Threading finds ticket_ref; an empty Subject list means `\[#(\d+)\]`.
	Threading rules.Threading
}

func (o DecodeOptions) withDefaults() DecodeOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = defaultMaxDepth
	}
	if o.MaxParts <= 0 {
		o.MaxParts = defaultMaxParts
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.MaxHeaders <= 0 {
		o.MaxHeaders = defaultMaxHeaders
	}
	return o
}

// Mail is a decoded message: everything the rules and the Ticket need.
// All strings are valid UTF-8; single-line fields hold no line breaks.
type Mail struct {
	ID          string // stable ticket id (TicketID)
	Subject     string
	From        rules.Address
	ReplyTo     rules.Address
	To          []rules.Address
	Cc          []rules.Address
	Recipients  []string          // To then Cc addresses
	Headers     map[string]string // canonical name → first value, decoded
	Attachments []rules.Attachment
	Size        int       // raw bytes
	Date        time.Time // zero when missing or unparseable
	MessageID   string
	InReplyTo   string
	References  []string
	Body        string // text; HTML converted
	AutoReply   bool
	Bounce      bool
	List        bool
	TicketRef   string
	Defects     []string // what had to be repaired or skipped

	Raw []byte // the input Decode was given (not copied)
}

// defaultSubjectRef is the ticket pattern used when a rule set gives none.
var defaultSubjectRef = regexp.MustCompile(`\[#(\d+)\]`)

// defectList collects distinct defects, bounded.
type defectList struct {
	list []string
}

func (d *defectList) add(s string) {
	if d == nil {
		return
	}
	for _, have := range d.list {
		if have == s {
			return
		}
	}
	if len(d.list) < maxDefects {
		d.list = append(d.list, s)
	}
}

// Decode parses a raw message. Broken mail degrades: readable parts are
// kept and each repair is recorded in Mail.Defects. Only input without any
// header field returns ErrUnparseable, and input over MaxBytes ErrTooLarge.
func Decode(raw []byte, opts DecodeOptions) (*Mail, error) {
	opts = opts.withDefaults()
	if len(raw) > opts.MaxBytes {
		return nil, fmt.Errorf("decode: %d bytes over the %d byte limit: %w", len(raw), opts.MaxBytes, ErrTooLarge)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("decode: empty input: %w", ErrUnparseable)
	}
	var defects defectList
	h := scanHeader(raw, opts.MaxHeaders, &defects)
	if len(h.Fields) == 0 {
		return nil, fmt.Errorf("decode: no header field found: %w", ErrUnparseable)
	}

	m := &Mail{
		ID:      ticketID(&h, raw),
		Size:    len(raw),
		Raw:     raw,
		Headers: make(map[string]string, len(h.Fields)),
	}
	for _, f := range h.Fields {
		if _, ok := m.Headers[f.Key]; ok {
			continue
		}
		m.Headers[f.Key] = truncateUTF8(decodeHeaderValue(f.Value, &defects), maxHeaderValueBytes)
	}
	m.Subject = m.Headers["Subject"]
	m.From = firstAddress(parseAddresses(h.Get("From"), &defects))
	m.ReplyTo = firstAddress(parseAddresses(h.Get("Reply-To"), &defects))
	m.To = parseAddresses(strings.Join(h.Values("To"), ", "), &defects)
	m.Cc = parseAddresses(strings.Join(h.Values("Cc"), ", "), &defects)
	for _, list := range [][]rules.Address{m.To, m.Cc} {
		for _, a := range list {
			m.Recipients = append(m.Recipients, a.Address)
		}
	}
	m.MessageID = cleanLine(bestEffort([]byte(h.Get("Message-Id"))))
	if ids := msgIDs(h.Get("In-Reply-To"), 1); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = msgIDs(strings.Join(h.Values("References"), " "), maxReferences)
	if m.References == nil {
		m.References = []string{}
	}
	switch d := h.Get("Date"); {
	case d == "":
		defects.add("missing Date header")
	default:
		if t, ok := parseDate(cleanLine(bestEffort([]byte(d)))); ok {
			m.Date = t
		} else {
			defects.add("unparseable Date header " + quoteShort(d))
		}
	}

	w := walker{opts: opts, mail: m, defects: &defects}
	top, topErr := topEntity(&h, &defects)
	var sink textSink
	w.walk(top, topErr, 0, &sink)
	m.Body = w.body(&sink)
	if m.Attachments == nil {
		m.Attachments = []rules.Attachment{}
	}

	detect(m, &h)
	m.TicketRef = ticketRef(m, opts.Threading)
	m.Defects = defects.list
	return m, nil
}

// dateLayouts are Date formats seen from broken mailers and scripts, tried
// after RFC 5322.
var dateLayouts = []string{
	time.RFC3339,
	"Monday, 2 January 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 -0700 MST",
	time.ANSIC,
	time.UnixDate,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

func parseDate(s string) (time.Time, bool) {
	// The form nearly every client writes, first: net/mail tries a dozen
	// layouts and allocates an error for each miss (a fifth of decoding a
	// small mail went there).
	if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", s); err == nil {
		return t, true
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t, true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// topEntity builds the go-message entity of the top level from the
// leniently scanned header; only the fields that shape the body matter.
func topEntity(h *headerBlock, defects *defectList) (*message.Entity, error) {
	var th gmtextproto.Header
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition"} {
		if v := h.Get(k); v != "" {
			th.Set(k, bestEffort([]byte(v)))
		}
	}
	if !th.Has("Content-Type") && h.Has("Mime-Version") {
		defects.add("missing Content-Type; assumed text/plain")
	}
	e, err := message.New(message.Header{Header: th}, bytes.NewReader(h.Body))
	if err != nil {
		entityError(err, defects)
	}
	return e, err
}

// entityError records a non-fatal error of message.New / NextPart.
func entityError(err error, defects *defectList) {
	switch {
	case message.IsUnknownCharset(err):
		// the walker decodes such text itself, recording its own defect
	case message.IsUnknownEncoding(err):
		defects.add("unknown Content-Transfer-Encoding; content used raw")
	default:
		defects.add("part: " + quoteShort(err.Error()))
	}
}

// parseAddresses parses an address list; a list net/mail rejects is
// salvaged address by address.
func parseAddresses(v string, defects *defectList) []rules.Address {
	if strings.TrimSpace(v) == "" {
		return []rules.Address{}
	}
	v = bestEffortHeader(v, defects)
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: headerCharsetReader(func(label string) {
		defects.add("unknown charset " + quoteShort(label) + "; decoded best effort")
	})}}
	list, err := p.ParseList(v)
	if err != nil {
		defects.add("malformed address list " + quoteShort(v))
		return salvageAddresses(v, defects)
	}
	out := make([]rules.Address, 0, len(list))
	for _, a := range list {
		if len(out) == maxAddresses {
			defects.add("too many addresses; extra ignored")
			break
		}
		out = append(out, newAddress(a.Name, a.Address, defects))
	}
	return out
}

// addrSpec finds an addr-spec in text that does not parse as a list.
var addrSpec = regexp.MustCompile(`[^\s<>,;:"()\[\]]+@[^\s<>,;:"()\[\]]+`)

func salvageAddresses(v string, defects *defectList) []rules.Address {
	out := []rules.Address{}
	for _, piece := range strings.Split(v, ",") {
		if len(out) == maxAddresses {
			break
		}
		loc := addrSpec.FindStringIndex(piece)
		if loc == nil {
			continue
		}
		name := strings.TrimSpace(piece[:loc[0]])
		name = strings.Trim(strings.TrimSuffix(name, "<"), ` "'`)
		out = append(out, newAddress(name, piece[loc[0]:loc[1]], defects))
	}
	return out
}

func newAddress(name, addr string, defects *defectList) rules.Address {
	if strings.Contains(name, "=?") {
		name = decodeWords(name, defects)
	}
	addr = strings.ToLower(cleanLine(addr))
	a := rules.Address{Name: truncateUTF8(cleanLine(name), maxHeaderValueBytes), Address: truncateUTF8(addr, maxHeaderValueBytes)}
	if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
		a.Domain = a.Address[i+1:]
	}
	return a
}

func firstAddress(list []rules.Address) rules.Address {
	if len(list) == 0 {
		return rules.Address{}
	}
	return list[0]
}

// bestEffortHeader makes a raw header value valid UTF-8.
func bestEffortHeader(v string, defects *defectList) string {
	b := []byte(v)
	if hasEightBit(b) && !validUTF8(b) {
		defects.add("8-bit bytes in a header; decoded as windows-1252")
	}
	return bestEffort(b)
}

// msgIDs returns up to max message ids "<…>" of a header value; a value
// without angle brackets counts as one id.
func msgIDs(v string, max int) []string {
	v = cleanLine(bestEffort([]byte(v)))
	if v == "" {
		return nil
	}
	var ids []string
	for len(ids) < max {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := v[i : i+j+1]; id != "<>" {
			ids = append(ids, id)
		}
		v = v[i+j+1:]
	}
	if ids == nil && !strings.ContainsAny(v, "<> ") {
		ids = []string{v}
	}
	return ids
}

// textSink gathers the inline text of one subtree.
type textSink struct {
	parts    []string
	hasPlain bool // a text/plain part with text is among parts
	discard  bool // text parts are skipped unread
}

// walker walks the MIME tree with go-message's entity readers.
type walker struct {
	opts      DecodeOptions
	mail      *Mail
	defects   *defectList
	parts     int
	stopped   bool
	truncated bool
	scratch   bytes.Buffer
}

// walk visits one entity; entErr is go-message's non-fatal error for it.
func (w *walker) walk(e *message.Entity, entErr error, depth int, sink *textSink) {
	if w.stopped {
		return
	}
	w.parts++
	if w.parts > w.opts.MaxParts {
		w.defects.add(fmt.Sprintf("more than %d MIME parts; rest skipped", w.opts.MaxParts))
		w.stopped = true
		return
	}
	mediaType, params, err := e.Header.ContentType()
	if err != nil {
		w.defects.add("malformed Content-Type " + quoteShort(e.Header.Get("Content-Type")))
		ct := e.Header.Get("Content-Type")
		mediaType = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
		if !strings.Contains(mediaType, "/") {
			mediaType = "text/plain"
		}
		// go-message used none of the parameters: salvage those that shape
		// the content and rebuild the entity with a well-formed header
		// (without the transfer encoding, which go-message already undid).
		params = map[string]string{}
		for _, k := range []string{"charset", "boundary"} {
			if v, ok := paramText(ct, k, w.defects); ok {
				params[k] = v
			}
		}
		formatted := mime.FormatMediaType(mediaType, params)
		if formatted == "" {
			mediaType, params = "text/plain", nil
			formatted = mediaType
		}
		hdr := e.Header.Copy()
		hdr.Del("Content-Transfer-Encoding")
		hdr.Set("Content-Type", formatted)
		if ne, nerr := message.New(hdr, e.Body); ne != nil {
			e, entErr = ne, nerr
		}
	}
	unknownCharset := message.IsUnknownCharset(entErr)
	disp, _, _ := e.Header.ContentDisposition()
	name := attachmentName(&e.Header, w.defects)

	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		if params["boundary"] == "" {
			w.defects.add("multipart without boundary; read as text")
			w.text(e, "text/plain", params, unknownCharset, sink)
			return
		}
		if depth+1 > w.opts.MaxDepth {
			w.defects.add(fmt.Sprintf("MIME nesting deeper than %d; parts skipped", w.opts.MaxDepth))
			return
		}
		w.multipart(e, mediaType, depth, sink)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		w.forwarded(e, name)
	case (mediaType == "text/plain" || mediaType == "text/html") && name == "" && !strings.EqualFold(disp, "attachment"):
		w.text(e, mediaType, params, unknownCharset, sink)
	default:
		w.attachment(e, name, mediaType)
	}
}

func (w *walker) multipart(e *message.Entity, mediaType string, depth int, sink *textSink) {
	mr := e.MultipartReader()
	if mr == nil {
		return
	}
	alternative := mediaType == "multipart/alternative"
	var alts []textSink
	plainFound := false
	for !w.stopped {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if part == nil {
			w.defects.add("broken multipart: " + quoteShort(err.Error()) + "; kept what was read")
			break
		}
		if err != nil {
			entityError(err, w.defects)
		}
		if alternative {
			// Once a plain alternative is in hand the others are not
			// read at all (their attachments are still recorded).
			alt := textSink{discard: sink.discard || plainFound}
			w.walk(part, err, depth+1, &alt)
			plainFound = plainFound || alt.hasPlain
			alts = append(alts, alt)
		} else {
			w.walk(part, err, depth+1, sink)
		}
	}
	if alternative {
		best := -1
		for i, alt := range alts {
			if alt.hasPlain && (best < 0 || !alts[best].hasPlain) {
				best = i
			}
			if best < 0 && len(alt.parts) > 0 {
				best = i
			}
		}
		if best >= 0 {
			sink.parts = append(sink.parts, alts[best].parts...)
			sink.hasPlain = sink.hasPlain || alts[best].hasPlain
		}
	}
}

// text reads an inline text part into the sink.
func (w *walker) text(e *message.Entity, mediaType string, params map[string]string, unknownCharset bool, sink *textSink) {
	if sink.discard {
		return
	}
	limit := int64(w.opts.MaxBodyBytes)
	if mediaType == "text/html" {
		limit *= htmlSourceFactor
	}
	// The scratch buffer is reused across parts; everything below copies
	// out of it before the next part is read.
	w.scratch.Reset()
	if _, err := w.scratch.ReadFrom(io.LimitReader(e.Body, limit+1)); err != nil {
		w.defects.add("text part: " + quoteShort(err.Error()) + "; kept what was decoded")
	}
	b := w.scratch.Bytes()
	if int64(len(b)) > limit {
		b = trimPartialRune(b[:limit])
		w.truncated = true
	}
	s := w.charsetText(params, unknownCharset, b)
	if mediaType == "text/html" {
		s = htmlToText(s)
	} else {
		s = cleanText(s)
	}
	s = strings.Trim(s, "\n")
	if strings.TrimSpace(s) != "" {
		sink.parts = append(sink.parts, s)
		sink.hasPlain = sink.hasPlain || mediaType == "text/plain"
	}
}

// charsetText turns the bytes go-message produced into UTF-8. go-message
// has converted every charset it knows, but passes UTF-8 and US-ASCII (and
// undeclared) through and leaves unknown ones raw.
func (w *walker) charsetText(params map[string]string, unknownCharset bool, b []byte) string {
	label := strings.ToLower(strings.TrimSpace(params["charset"]))
	switch {
	case label == "" || label == "us-ascii" || label == "ascii":
		if validUTF8(b) {
			return string(b)
		}
		w.defects.add("8-bit text without a charset; decoded as windows-1252")
		return bestEffort(b)
	case label == "utf-8" || label == "utf8":
		if !validUTF8(b) {
			w.defects.add("invalid UTF-8 in a text part; replaced")
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	if !unknownCharset {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	s, known := decodeBytes(label, b)
	if !known {
		w.defects.add("unknown charset " + quoteShort(label) + "; decoded best effort")
	}
	return s
}

func (w *walker) attachment(e *message.Entity, name, mediaType string) {
	n, err := io.Copy(io.Discard, io.LimitReader(e.Body, int64(w.opts.MaxBytes)))
	if err != nil {
		w.defects.add("attachment: " + quoteShort(err.Error()) + "; size of what was decoded")
	}
	w.mail.Attachments = append(w.mail.Attachments, rules.Attachment{Name: name, Type: mediaType, Size: int(n)})
}

// forwarded records a message/rfc822 part as an attachment named after its
// subject; its text is not the body and its headers count for nothing.
func (w *walker) forwarded(e *message.Entity, name string) {
	b, err := io.ReadAll(io.LimitReader(e.Body, int64(w.opts.MaxBytes)))
	if err != nil {
		w.defects.add("forwarded message: " + quoteShort(err.Error()) + "; kept what was decoded")
	}
	if name == "" {
		var d defectList // the inner message's own defects are not ours
		inner := scanHeader(b, w.opts.MaxHeaders, &d)
		subject := decodeHeaderValue(inner.Get("Subject"), &d)
		name = "forwarded.eml"
		if subject != "" {
			name = nameFromSubject(subject)
		}
	}
	w.mail.Attachments = append(w.mail.Attachments, rules.Attachment{Name: name, Type: "message/rfc822", Size: len(b)})
}

// body joins the inline text parts and bounds the result.
func (w *walker) body(sink *textSink) string {
	s := strings.Join(sink.parts, "\n\n")
	if len(s) > w.opts.MaxBodyBytes {
		s = truncateUTF8(s, w.opts.MaxBodyBytes)
		w.truncated = true
	}
	if w.truncated {
		w.defects.add(fmt.Sprintf("body longer than %d bytes; truncated", w.opts.MaxBodyBytes))
	}
	return s
}

// trimPartialRune drops an incomplete UTF-8 sequence that a byte limit cut
// off at the end of b, so the rest still validates as UTF-8.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
