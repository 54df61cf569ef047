package classifier

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gmtextproto "github.com/emersion/go-message/textproto"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/rules"
	"github.com/triage-dev/triage/ticket"
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

	// KeepContent fills Mail.Content: the HTML source and every
	// attachment's bytes, for sinks that file the mail in a tracker.
	KeepContent bool
}

func (o DecodeOptions) withDefaults() DecodeOptions {
	o.MaxBytes = positiveOr(o.MaxBytes, defaultMaxBytes)
	o.MaxDepth = positiveOr(o.MaxDepth, defaultMaxDepth)
	o.MaxParts = positiveOr(o.MaxParts, defaultMaxParts)
	o.MaxBodyBytes = positiveOr(o.MaxBodyBytes, defaultMaxBodyBytes)
	o.MaxHeaders = positiveOr(o.MaxHeaders, defaultMaxHeaders)
	return o
}

// positiveOr is v when it is positive, else def.
func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Mail is a decoded message: everything the rules and the Ticket need.
// All strings are valid UTF-8; single-line fields hold no line breaks.
type Mail struct {
	ID          string // stable ticket id (TicketID)
	Subject     string
	From        ticket.Address
	ReplyTo     ticket.Address
	To          []ticket.Address
	Cc          []ticket.Address
	Recipients  []string          // To then Cc addresses
	Headers     map[string]string // canonical name → first value, decoded
	Attachments []ticket.Attachment
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
	Signed      bool   // S/MIME or PGP/MIME signature present (not verified)
	Signer      string // the S/MIME signer certificate's address
	Encrypted   bool   // S/MIME enveloped data or PGP/MIME encrypted
	BounceInfo  *ticket.BounceInfo
	Invite      *ticket.Invite
	Forwarded   []ticket.Forwarded // attached, then inline in the body
	Defects     []string           // what had to be repaired or skipped
	// Content holds the HTML body and the attachments' bytes, only when
	// DecodeOptions.KeepContent asked for them.
	Content *ticket.Content

	Raw []byte // the input Decode was given (not copied)
}

// defaultSubjectRef is the ticket pattern used when a rule set gives none.
var defaultSubjectRef = regexp.MustCompile(`\[#(\d+)\]`)

// defectList collects distinct defects, bounded.
type defectList struct {
	list []string
}

func (d *defectList) add(s string) {
	if d == nil || len(d.list) >= maxDefects || slices.Contains(d.list, s) {
		return
	}
	d.list = append(d.list, s)
}

// Decode parses a raw message. Broken mail degrades: readable parts are
// kept and each repair is recorded in Mail.Defects. Only input without any
// header field returns ErrUnparseable, and input over MaxBytes ErrTooLarge.
func Decode(raw []byte, opts DecodeOptions) (*Mail, error) {
	var d decoder
	return d.decode(raw, opts)
}

// DecodeContent decodes raw with the default bounds (but for its size: the
// daemon has already admitted it) and returns its Content (HTML body,
// attachments' bytes), for sinks that file the mail in a tracker; the
// names and order are those of the ticket's attachments.
func DecodeContent(raw []byte) (*ticket.Content, error) {
	m, err := Decode(raw, DecodeOptions{KeepContent: true, MaxBytes: len(raw)})
	if err != nil {
		return nil, err
	}
	return m.Content, nil
}

// decoder holds the buffers of one decoding that the next can reuse; a
// Classifier keeps one, so a worker decodes without growing them anew.
// Nothing a Mail holds points into them.
type decoder struct {
	fields  []rawField
	scratch bytes.Buffer     // text part bytes, copied out before the next part
	key     []byte           // the ticket id key
	body    bytes.Reader     // the top-level body
	limited io.LimitedReader // bounds the part being read
}

// limit bounds r to n bytes with the decoder's LimitedReader.
func (d *decoder) limit(r io.Reader, n int64) io.Reader {
	d.limited = io.LimitedReader{R: r, N: n}
	return &d.limited
}

// maxKeptScratch bounds the text buffer a decoder keeps between messages.
const maxKeptScratch = 256 << 10

func (d *decoder) decode(raw []byte, opts DecodeOptions) (*Mail, error) {
	opts = opts.withDefaults()
	if len(raw) > opts.MaxBytes {
		return nil, fmt.Errorf("decode: %d bytes over the %d byte limit: %w", len(raw), opts.MaxBytes, ErrTooLarge)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("decode: empty input: %w", ErrUnparseable)
	}
	defects := &defectList{} // its list goes to the Mail
	h := scanHeader(raw, opts.MaxHeaders, defects, d.fields)
	d.fields = h.Fields
	defer func() {
		// Drop the references into this message's header until the next.
		clear(d.fields)
		d.body.Reset(nil)
		d.limited = io.LimitedReader{}
		if d.scratch.Cap() > maxKeptScratch {
			d.scratch = bytes.Buffer{}
		}
	}()
	if len(h.Fields) == 0 {
		return nil, fmt.Errorf("decode: no header field found: %w", ErrUnparseable)
	}

	m := &Mail{
		Size:    len(raw),
		Raw:     raw,
		Headers: make(map[string]string, len(h.Fields)),
	}
	m.ID, d.key = ticketID(&h, raw, d.key)
	for _, f := range h.Fields {
		if _, ok := m.Headers[f.Key]; ok {
			continue
		}
		m.Headers[f.Key] = clip.UTF8(decodeHeaderValue(f.Value, defects), maxHeaderValueBytes)
	}
	m.Subject = m.Headers["Subject"]
	m.From = firstAddress(parseAddresses(h.Get("From"), defects))
	m.ReplyTo = firstAddress(parseAddresses(h.Get("Reply-To"), defects))
	m.To = parseAddresses(h.join("To", ", "), defects)
	m.Cc = parseAddresses(h.join("Cc", ", "), defects)
	for _, list := range [...][]ticket.Address{m.To, m.Cc} {
		for _, a := range list {
			m.Recipients = append(m.Recipients, a.Address)
		}
	}
	m.MessageID = cleanLine(bestEffortString(h.Get("Message-Id")))
	if ids := msgIDs(h.Get("In-Reply-To"), 1); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = nonNil(msgIDs(h.join("References", " "), maxReferences))
	if v := h.Get("Date"); v == "" {
		defects.add("missing Date header")
	} else if t, ok := parseDate(cleanLine(bestEffortString(v))); ok {
		m.Date = t
	} else {
		defects.add("unparseable Date header " + quoteShort(v))
	}

	w := walker{opts: opts, mail: m, defects: defects, d: d}
	if opts.KeepContent {
		m.Content = &ticket.Content{Attachments: []ticket.File{}}
	}
	var sink textSink
	top, err := topEntity(&h, &d.body, defects)
	w.walk(top, err, 0, &sink)
	if len(sink.parts) == 0 && w.tnefBody != "" {
		sink.parts = append(sink.parts, w.tnefBody)
	}
	m.Body = w.body(&sink)
	m.Attachments = nonNil(m.Attachments)
	w.resolveInline()
	m.Forwarded = append(m.Forwarded, inlineForwards(m.Body, maxForwarded-len(m.Forwarded))...)

	detect(m, &h)
	m.TicketRef = ticketRef(m, opts.Threading)
	m.Defects = defects.list
	return m, nil
}

// dateLayouts are Date forms of broken mailers and scripts that
// net/mail.ParseDate refuses (it knows RFC 5322 forms only), tried after
// it.
var dateLayouts = []string{
	time.RFC3339,
	"Monday, 2 January 2006 15:04:05 -0700",
	time.ANSIC,
	time.UnixDate,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

// parseDate reads a Date value with net/mail, else dateLayouts. A zone
// written as a name ("EST", "CET") counts with its offset (zoneOffsets):
// Go's parser knows no name but the local zone's and would read every
// other as UTC, shifting the hour that business-hours rules see.
func parseDate(s string) (time.Time, bool) {
	t, err := mail.ParseDate(withoutWeekday(s))
	for _, layout := range dateLayouts {
		if err == nil {
			break
		}
		t, err = time.Parse(layout, s)
	}
	if err != nil {
		return time.Time{}, false
	}
	if name, off := t.Zone(); off == 0 {
		if want, known := zoneOffsets[name]; known && want != 0 {
			y, mo, d := t.Date()
			h, mi, sec := t.Clock()
			t = time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), time.FixedZone(name, want))
		}
	}
	return t, true
}

// withoutWeekday drops a leading "Mon, ": net/mail.ParseDate tries its
// layouts without a day of week first, and most mail has one, so each Date
// would first fail 24 layouts, each failure an allocated error. The day
// name says nothing the date does not.
func withoutWeekday(s string) string {
	t := strings.TrimLeft(s, " \t")
	if len(t) < 5 || t[3] != ',' {
		return s
	}
	switch t[:3] {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return strings.TrimLeft(t[4:], " \t")
	}
	return s
}

// zoneOffsets are the zone names seen in Date fields, in seconds east of
// UTC: RFC 5322's obsolete zones (section 4.3) and unambiguous common ones.
// Ambiguous names (IST, BST) are left out and read as UTC; CST is RFC
// 5322's US Central, not China.
var zoneOffsets = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "WET": 0,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
	"AKST": -9 * 3600, "AKDT": -8 * 3600, "HST": -10 * 3600,
	"WEST": 3600, "CET": 3600, "MET": 3600, "CEST": 2 * 3600, "MEST": 2 * 3600,
	"EET": 2 * 3600, "EEST": 3 * 3600, "MSK": 3 * 3600,
	"HKT": 8 * 3600, "SGT": 8 * 3600, "AWST": 8 * 3600, "JST": 9 * 3600, "KST": 9 * 3600,
	"ACST": 9*3600 + 1800, "ACDT": 10*3600 + 1800, "AEST": 10 * 3600, "AEDT": 11 * 3600,
	"NZST": 12 * 3600, "NZDT": 13 * 3600,
}

// topEntity builds the entity of the top level from the leniently scanned
// header; only the fields that shape the body matter. The error is
// message.New's.
func topEntity(h *headerBlock, body *bytes.Reader, defects *defectList) (*message.Entity, error) {
	var mh message.Header
	for _, k := range [...]string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition"} {
		if v := bestEffortString(h.Get(k)); v != "" {
			mh.Set(k, v)
		}
	}
	if !mh.Has("Content-Type") && h.Has("Mime-Version") {
		defects.add("missing Content-Type; assumed text/plain")
	}
	capParams(&mh, defects)
	body.Reset(h.Body)
	return newEntity(mh, body, defects)
}

// newEntity is message.New, recording an unknown transfer encoding. An
// unknown charset is not recorded here: the walker decodes such text
// itself, recording its own defect.
func newEntity(h message.Header, body io.Reader, defects *defectList) (*message.Entity, error) {
	conv := h
	if mediaType, params, ok := textAttachment(h); ok {
		// go-message converts a text part's charset to UTF-8; a file
		// handed on must stay the bytes that were sent.
		delete(params, "charset")
		conv = h.Copy()
		conv.SetContentType(mediaType, params)
	}
	e, err := message.New(conv, body)
	e.Header = h
	if message.IsUnknownEncoding(err) {
		defects.add("unknown Content-Transfer-Encoding; content used raw")
	}
	return e, err
}

// Bounds on the header of one MIME part, against hostile mail.
// go-message reads a part's header whole (only the message size bounds
// it), and mime.ParseMediaType is linear in its input, but a Content-Type
// of 120,000 parameters in 1.2 MB of folded lines would still be parsed
// into a map of 120,000 decoded values for every part that carries it.
// So a part header is read up to maxPartHeaderBytes (the fields past it
// are dropped), and a Content-Type or Content-Disposition up to its
// maxParams-th parameter (the rest is cut off) before anything parses
// them; either cut is a defect. The top-level header block has its own
// bound, maxHeaderBlockBytes, and the same parameter bound.
const (
	maxPartHeaderBytes = 64 << 10
	maxParams          = 100
)

// capPartHeader applies the part header bounds to h.
func capPartHeader(h *message.Header, defects *defectList) {
	size, over := 0, false
	for f := h.Fields(); f.Next(); {
		size += len(f.Key()) + len(f.Value())
		if size > maxPartHeaderBytes {
			f.Del()
			over = true
		}
	}
	if over {
		defects.add(fmt.Sprintf("MIME part header over %d bytes; fields past it ignored", maxPartHeaderBytes))
	}
	capParams(h, defects)
}

// capParams cuts the Content-Type and Content-Disposition of h before
// their parameters past the first maxParams.
func capParams(h *message.Header, defects *defectList) {
	for _, k := range [...]string{"Content-Type", "Content-Disposition"} {
		if v := h.Get(k); v != "" {
			if end := paramsEnd(v); end < len(v) {
				h.Set(k, v[:end])
				defects.add(fmt.Sprintf("more than %d parameters in %s; rest ignored", maxParams, k))
			}
		}
	}
}

// parseAddresses parses an address list with net/mail; a list it rejects
// is salvaged address by address. It never returns nil.
//
// net/mail decodes each encoded word of a display name on its own, which
// garbles a character a mailer split across two words
// (TestDisplayNameSplitCharacter). So it is kept from seeing encoded
// words: every "=?" gets wordMark inside, a non-character no header
// carries (one that does loses it to U+FFFD first), and the name it
// returns goes to decodeWords, the decoder of every other header.
func parseAddresses(v string, defects *defectList) []ticket.Address {
	if strings.TrimSpace(v) == "" {
		return []ticket.Address{}
	}
	v = bestEffortHeader(v, defects)
	hidden := strings.ReplaceAll(strings.ReplaceAll(v, wordMark, "\uFFFD"), "=?", "="+wordMark+"?")
	list, err := mail.ParseAddressList(hidden)
	if err != nil {
		defects.add("malformed address list " + quoteShort(v))
		return salvageAddresses(v, defects)
	}
	out := make([]ticket.Address, 0, min(len(list), maxAddresses))
	for i, a := range list {
		if i == maxAddresses {
			defects.add("too many addresses; extra ignored")
			break
		}
		out = append(out, newAddress(strings.ReplaceAll(a.Name, wordMark, ""), strings.ReplaceAll(a.Address, wordMark, ""), defects))
	}
	return out
}

// wordMark hides encoded words from net/mail (parseAddresses).
const wordMark = "\uFFFF"

// addrSpec finds an addr-spec in text that does not parse as a list.
var addrSpec = regexp.MustCompile(`[^\s<>,;:"()\[\]]+@[^\s<>,;:"()\[\]]+`)

func salvageAddresses(v string, defects *defectList) []ticket.Address {
	out := []ticket.Address{}
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

func newAddress(name, addr string, defects *defectList) ticket.Address {
	name = decodeWords(name, defects)
	addr = strings.ToLower(cleanLine(addr))
	a := ticket.Address{Name: clip.UTF8(cleanLine(name), maxHeaderValueBytes), Address: clip.UTF8(addr, maxHeaderValueBytes)}
	if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
		a.Domain = a.Address[i+1:]
	}
	return a
}

func firstAddress(list []ticket.Address) ticket.Address {
	if len(list) == 0 {
		return ticket.Address{}
	}
	return list[0]
}

// bestEffortHeader makes a raw header value valid UTF-8.
func bestEffortHeader(v string, defects *defectList) string {
	if utf8.ValidString(v) {
		return v
	}
	defects.add("8-bit bytes in a header; decoded as windows-1252")
	return bestEffort([]byte(v))
}

// msgIDs returns up to max message ids "<…>" of a header value; a value
// without angle brackets counts as one id.
func msgIDs(v string, max int) []string {
	v = cleanLine(bestEffortString(v))
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

// walker walks the MIME tree with go-message's multipart reader.
type walker struct {
	opts      DecodeOptions
	mail      *Mail
	defects   *defectList
	parts     int
	stopped   bool
	truncated bool
	d         *decoder // buffers

	container string          // media type of the enclosing multipart
	cids      map[string]bool // content ids the HTML read refers to (cid:)
	tnefBody  string          // body found in a winmail.dat, for mail without another
	calendars int             // calendar parts seen
}

// walk visits one entity; err is what message.New reported for it.
func (w *walker) walk(e *message.Entity, err error, depth int, sink *textSink) {
	if w.stopped {
		return
	}
	w.parts++
	if w.parts > w.opts.MaxParts {
		w.defects.add(fmt.Sprintf("more than %d MIME parts; rest skipped", w.opts.MaxParts))
		w.stopped = true
		return
	}
	mediaType, params, ctErr := e.Header.ContentType()
	if ctErr != nil {
		e, mediaType, params, err = w.salvage(e)
	}
	disposition, _, _ := e.Header.ContentDisposition()
	name := attachmentName(e.Header.Get("Content-Disposition"), e.Header.Get("Content-Type"), w.defects)

	report := w.container == "multipart/report"
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		if params["boundary"] == "" {
			w.defects.add("multipart without boundary; read as text")
			w.text(e.Body, "text/plain", params, message.IsUnknownCharset(err), sink)
			return
		}
		if depth+1 > w.opts.MaxDepth {
			w.defects.add(fmt.Sprintf("MIME nesting deeper than %d; parts skipped", w.opts.MaxDepth))
			return
		}
		switch mediaType {
		case "multipart/encrypted":
			// Unreadable without the key: no body, and its two parts
			// (version and ciphertext) are not attachments.
			w.mail.Encrypted = true
			return
		case "multipart/signed":
			w.mail.Signed = true
		}
		w.multipart(e.Body, mediaType, params["boundary"], depth, sink)
	case report && isReportPart(mediaType):
		w.reportPart(e.Body, mediaType)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		w.forwarded(e.Body, name)
	case isCMS(mediaType, name):
		w.cms(e, params, name, mediaType, depth, sink)
	case isTNEF(mediaType, name):
		w.tnef(e.Body, name, mediaType)
	case mediaType == "text/calendar" || mediaType == "application/ics":
		w.calendar(e.Body, name, mediaType, params)
	case isBodyText(mediaType, name, disposition):
		w.text(e.Body, mediaType, params, message.IsUnknownCharset(err), sink)
	default:
		w.attachment(e.Body, name, mediaType)
		w.markInline(e.Header, disposition)
	}
}

// isBodyText tells a text part the walker reads as the body from one it
// files as an attachment.
func isBodyText(mediaType, name, disposition string) bool {
	return (mediaType == "text/plain" || mediaType == "text/html") && name == "" && !strings.EqualFold(disposition, "attachment")
}

// textAttachment reports a text part with a charset that walk files as an
// attachment (calendars aside, which are parsed as text), with its parsed
// Content-Type.
func textAttachment(h message.Header) (mediaType string, params map[string]string, ok bool) {
	mediaType, params, err := h.ContentType()
	if err != nil || !strings.HasPrefix(mediaType, "text/") || params["charset"] == "" || mediaType == "text/calendar" {
		return "", nil, false
	}
	disposition, _, _ := h.ContentDisposition()
	var ignored defectList // walk records the name's defects
	return mediaType, params, !isBodyText(mediaType, attachmentName(h.Get("Content-Disposition"), h.Get("Content-Type"), &ignored), disposition)
}

// salvage makes an entity of one whose Content-Type does not parse: the
// media type and the parameters that shape the content are salvaged, and
// the entity is rebuilt with a well-formed header (without the transfer
// encoding, which is already undone). It returns what walk reads of the
// new entity.
func (w *walker) salvage(e *message.Entity) (*message.Entity, string, map[string]string, error) {
	ct := e.Header.Get("Content-Type")
	w.defects.add("malformed Content-Type " + quoteShort(ct))
	mediaType := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	if !strings.Contains(mediaType, "/") {
		mediaType = "text/plain"
	}
	params := map[string]string{}
	for _, k := range []string{"charset", "boundary", "format", "delsp"} {
		if v, ok := paramText(ct, k, w.defects); ok {
			params[k] = v
		}
	}
	formatted := cmp.Or(mime.FormatMediaType(mediaType, params), "text/plain")
	var h message.Header
	h.Set("Content-Type", formatted)
	if cd := e.Header.Get("Content-Disposition"); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	e, err := newEntity(h, e.Body, w.defects)
	mediaType, params, _ = e.Header.ContentType()
	return e, mediaType, params, err
}

func (w *walker) multipart(body io.Reader, mediaType, boundary string, depth int, sink *textSink) {
	outer := w.container
	w.container = mediaType
	defer func() { w.container = outer }()
	mr := gmtextproto.NewMultipartReader(body, boundary)
	alternative := mediaType == "multipart/alternative"
	var alts []textSink
	plainFound := false
	for !w.stopped {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.defects.add("broken multipart: " + quoteShort(err.Error()) + "; kept what was read")
			break
		}
		h := message.Header{Header: p.Header}
		capPartHeader(&h, w.defects)
		part, err := newEntity(h, p, w.defects)
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
func (w *walker) text(body io.Reader, mediaType string, params map[string]string, unknownCharset bool, sink *textSink) {
	keepHTML := mediaType == "text/html" && w.mail.Content != nil && w.mail.Content.HTML == ""
	if sink.discard && !keepHTML {
		return
	}
	limit := int64(w.opts.MaxBodyBytes)
	if mediaType == "text/html" {
		limit *= htmlSourceFactor
	}
	// The scratch buffer is reused across parts and messages; everything
	// below copies out of it before the next part is read.
	scratch := &w.d.scratch
	scratch.Reset()
	// Room for the whole part at once (it cannot be longer than the
	// message's body, decoded base64 aside): growing by doubling while
	// reading a 4 MiB HTML part allocated 16 MiB.
	scratch.Grow(int(min(limit+1, w.d.body.Size())) + bytes.MinRead)
	if _, err := scratch.ReadFrom(w.d.limit(body, limit+1)); err != nil {
		w.defects.add("text part: " + quoteShort(err.Error()) + "; kept what was decoded")
	}
	b := scratch.Bytes()
	if int64(len(b)) > limit {
		b = trimPartialRune(b[:limit])
		w.truncated = w.truncated || !sink.discard
	}
	s := w.charsetText(params["charset"], unknownCharset, b)
	if keepHTML {
		w.mail.Content.HTML = s
		if sink.discard {
			return
		}
	}
	if mediaType == "text/html" {
		w.cids = collectCIDs(s, w.cids)
		s = htmlToText(s)
	} else {
		s = cleanText(s)
		if strings.EqualFold(params["format"], "flowed") {
			s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
		}
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
func (w *walker) charsetText(charset string, unknownCharset bool, b []byte) string {
	label := strings.ToLower(strings.TrimSpace(charset))
	switch {
	case label == "" || label == "us-ascii" || label == "ascii":
		if utf8.Valid(b) {
			return string(b)
		}
		w.defects.add("8-bit text without a charset; decoded as windows-1252")
		return bestEffort(b)
	case label == "utf-8" || label == "utf8":
		if !utf8.Valid(b) {
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

func (w *walker) attachment(body io.Reader, name, mediaType string) {
	var dst io.Writer = io.Discard
	var data bytes.Buffer
	if w.mail.Content != nil {
		dst = &data
	}
	n, err := io.Copy(dst, w.d.limit(body, int64(w.opts.MaxBytes)))
	if err != nil {
		w.defects.add("attachment: " + quoteShort(err.Error()) + "; size of what was decoded")
	}
	w.addFile(ticket.Attachment{Name: name, Type: mediaType, Size: int(n)}, data.Bytes())
}

// addFile records an attachment, and its bytes when the content is kept:
// every file the walker finds goes through here, so the two lists stay
// index for index the same.
func (w *walker) addFile(a ticket.Attachment, data []byte) {
	w.mail.Attachments = append(w.mail.Attachments, a)
	if w.mail.Content != nil {
		w.mail.Content.Attachments = append(w.mail.Content.Attachments, ticket.File{Attachment: a, Data: data})
	}
}

// setAttachment replaces attachment i, in both lists.
func (w *walker) setAttachment(i int, a ticket.Attachment) {
	w.mail.Attachments[i] = a
	if w.mail.Content != nil {
		w.mail.Content.Attachments[i].Attachment = a
	}
}

// forwarded records a message/rfc822 part as an attachment named after its
// subject and as a forwarded message; its text is not the body and its
// headers count for nothing else.
func (w *walker) forwarded(body io.Reader, name string) {
	b := w.read(body, int64(w.opts.MaxBytes), "forwarded message")
	var d defectList // the inner message's own defects are not ours
	inner := scanHeader(b, w.opts.MaxHeaders, &d, nil)
	fwd := forwardedOf(&inner, &d)
	if len(w.mail.Forwarded) < maxForwarded {
		w.mail.Forwarded = append(w.mail.Forwarded, fwd)
	}
	if name == "" {
		name = "forwarded.eml"
		if fwd.Subject != "" {
			name = nameFromSubject(fwd.Subject)
		}
	}
	w.addFile(ticket.Attachment{Name: name, Type: "message/rfc822", Size: len(b)}, b)
}

// body joins the inline text parts and bounds the result.
func (w *walker) body(sink *textSink) string {
	s := strings.Join(sink.parts, "\n\n")
	if len(s) > w.opts.MaxBodyBytes {
		s = clip.UTF8(s, w.opts.MaxBodyBytes)
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
