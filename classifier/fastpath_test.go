package classifier

// The decoder's fast paths must give exactly what the general code they
// bypass gives: each is checked here against that code on generated
// input, and fuzzed.

import (
	"math/rand"
	"mime"
	"net/mail"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/triage-dev/triage/ticket"
	"golang.org/x/text/unicode/norm"
)

// TestNFCBelowCombiningMarks: text of runes below U+0300 is NFC, which
// isCleanText relies on to skip the normalization check: each such rune
// is NFC by itself, a starter (nothing to reorder) and combines with
// nothing before it, so no sequence of them changes under NFC.
func TestNFCBelowCombiningMarks(t *testing.T) {
	for r := rune(0); r < 0x300; r++ {
		s := string(r)
		p := norm.NFC.PropertiesString(s)
		if !norm.NFC.IsNormalString(s) || p.CCC() != 0 || !p.BoundaryBefore() {
			t.Fatalf("U+%04X: normal %v, ccc %d, boundary before %v", r, norm.NFC.IsNormalString(s), p.CCC(), p.BoundaryBefore())
		}
	}
	// A spot check of the reasoning: a combining mark does combine.
	if norm.NFC.IsNormalString("e\u0301") {
		t.Fatal("e + U+0301 reported NFC")
	}
}

// randomFrom joins n random pieces.
func randomFrom(r *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(pieces[r.Intn(len(pieces))])
	}
	return b.String()
}

// checkJoinedPieces runs check on 50,000 strings of 1 to maxPieces random
// pieces, the same ones every run.
func checkJoinedPieces(t *testing.T, pieces []string, maxPieces int, check func(*testing.T, string)) {
	r := rand.New(rand.NewSource(1))
	for range 50000 {
		check(t, randomFrom(r, pieces, 1+r.Intn(maxPieces)))
	}
}

// fuzzFromPieces fuzzes check, seeded with each piece.
func fuzzFromPieces(f *testing.F, pieces []string, check func(*testing.T, string)) {
	for _, p := range pieces {
		f.Add(p)
	}
	f.Fuzz(check)
}

var addressPieces = []string{
	"=?iso-8859-1?q?J=F6rg?=", "=?x-unknown?q?J=F6rg?=", "=?utf-8?b?SsO2cmc=?=", "=?utf-8?q?bad=?=", "=?", "?=",
	"tom", "Tom", "Baker", "tom.baker", "t", "ex", "example.com", "EXAMPLE.COM", "@", "@", "<", ">", "<", ">",
	",", ", ", " ", "  ", "\t", `"`, `"Tom Baker"`, `""`, ".", "..", "-", "_", "+", "=", "?", "!", "#",
	"ü", "Jörg", "日本", "(", ")", ":", ";", "[", "]", `\`, "=?utf-8?q?J=C3=B6rg?=", "\x7f", "\x01",
	"Tom Baker <tom@example.com>", "tom@example.com", `"Baker, Tom" <tom@example.com>`, "<tom@example.com>",
}

// referenceParseAddresses is parseAddresses with net/mail alone.
func referenceParseAddresses(v string, defects *defectList) []ticket.Address {
	if strings.TrimSpace(v) == "" {
		return []ticket.Address{}
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
	out := make([]ticket.Address, 0, len(list))
	for _, a := range list {
		if len(out) == maxAddresses {
			defects.add("too many addresses; extra ignored")
			break
		}
		out = append(out, newAddress(a.Name, a.Address, defects))
	}
	return out
}

// checkAddressList compares parseAddresses, fast path and all, with
// net/mail on v: addresses and defects.
func checkAddressList(t *testing.T, v string) {
	t.Helper()
	var d decoder
	var got, want defectList
	gotList := d.parseAddresses(v, &got, nil)
	wantList := referenceParseAddresses(v, &want)
	if !reflect.DeepEqual(gotList, wantList) || !reflect.DeepEqual(got.list, want.list) {
		t.Fatalf("%q: got %q %q; net/mail %q %q", v, gotList, got.list, wantList, want.list)
	}
}

func TestFastAddressListMatchesNetMail(t *testing.T) {
	fixed := []string{
		"tom@example.com", "Tom Baker <tom@example.com>", `"Tom Baker" <tom@example.com>`,
		`"Baker, Tom" <tom@example.com>, ann@example.com`, "<tom@example.com>", " tom@example.com , ann@example.com ",
		"Tom  J. Baker <tom@example.com>", `Tom "T" Baker <tom@example.com>`, `"" <tom@example.com>`,
		"Jörg Müller <joerg@example.com>", "tom@ example.com", "< tom@example.com>", ",tom@example.com",
		"tom@example.com,,ann@example.com,", "tom.@example.com", ".tom@example.com <tom@example.com>",
	}
	for _, v := range fixed {
		checkAddressList(t, v)
		if _, ok := fastAddressList(v, nil, new(wordDecoder)); !ok && v == fixed[0] {
			t.Fatalf("%q not on the fast path", v)
		}
	}
	checkJoinedPieces(t, addressPieces, 8, checkAddressList)
}

func FuzzFastAddressList(f *testing.F) { fuzzFromPieces(f, addressPieces, checkAddressList) }

var mediaTypePieces = []string{
	"text", "/", "plain", "html", "multipart", "mixed", "TEXT", "Plain", ";", "; ", " ", "\t", "=", `"`,
	"charset", "CHARSET", "utf-8", "UTF-8", "boundary", `"b1"`, `"a b"`, `""`, "name", "filename", "*", "*0",
	"*0*", "'", "%41", "attachment", "inline", "=?utf-8?q?x?=", `\`, "\r\n", "é", "(", ")", ",", "?",
	"text/plain; charset=utf-8", `multipart/alternative; boundary="=_b"`, "attachment; filename=a.txt",
}

// checkMediaType compares parseContentType and isAttachment with what
// go-message's header gives for v.
func checkMediaType(t *testing.T, v string) {
	t.Helper()
	var h message.Header
	h.Set("Content-Type", v)
	h.Set("Content-Disposition", v)
	wantType, wantParams, wantErr := h.ContentType()
	gotType, gotParams, gotErr := parseContentType(v, nil)
	if gotType != wantType || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: type %q, %v; go-message %q, %v", v, gotType, gotErr, wantType, wantErr)
	}
	if len(gotParams) != len(wantParams) {
		t.Fatalf("%q: params %q; go-message %q", v, gotParams, wantParams)
	}
	for _, p := range gotParams {
		if w, ok := wantParams[p.key]; !ok || w != p.value {
			t.Fatalf("%q: params %q; go-message %q", v, gotParams, wantParams)
		}
	}
	disp, _, _ := h.ContentDisposition()
	if got, want := isAttachment(v), strings.EqualFold(disp, "attachment"); got != want {
		t.Fatalf("%q: attachment %v; go-message %v", v, got, want)
	}
}

func TestFastMediaTypeMatchesGoMessage(t *testing.T) {
	checkMediaType(t, "")
	checkJoinedPieces(t, mediaTypePieces, 8, checkMediaType)
}

func FuzzFastMediaType(f *testing.F) { fuzzFromPieces(f, mediaTypePieces, checkMediaType) }

// referenceParseDate is parseDateFormats without its shortcuts.
func referenceParseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(rfc5322Date, s); err == nil {
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

var datePieces = []string{
	"Thu, ", "thu, ", "26 ", "6 ", "Nov ", "NOV ", "nov ", "2026 ", "26 ", "12:00:03 ", "12:00 ", "+0100", "-0000",
	" (CET)", " (", ")", "(", `\`, "CET", "UTC", "GMT", "T", "2026-11-27", " ", "05:58", "Z", "+01:00",
	"Thu, 26 Nov 2026 12:00:03 +0100", "Thu, 26 Nov 2026 12:00:03 +0100 (CET)", "Monday, ", "January ",
}

func checkParseDate(t *testing.T, s string) {
	t.Helper()
	s = cleanLine(bestEffortString(s)) // as decode calls it
	got, gotOK := parseDateFormats(s)
	want, wantOK := referenceParseDate(s)
	if gotOK != wantOK || !got.Equal(want) || got.Location().String() != want.Location().String() {
		t.Fatalf("%q: %v %v; reference %v %v", s, got, gotOK, want, wantOK)
	}
	_, off1 := got.Zone()
	_, off2 := want.Zone()
	if off1 != off2 {
		t.Fatalf("%q: offset %d; reference %d", s, off1, off2)
	}
}

func TestParseDateShortcuts(t *testing.T) {
	checkJoinedPieces(t, datePieces, 7, checkParseDate)
}

func FuzzParseDate(f *testing.F) { fuzzFromPieces(f, datePieces, checkParseDate) }

// TestFastPathsTaken: the example mail's common shapes do not fall back.
func TestFastPathsTaken(t *testing.T) {
	wd := new(wordDecoder)
	wd.reset()
	if _, ok := fastAddressList(`"Tom Baker" <tom.baker@example.com>, =?utf-8?Q?J=C3=B6rg?= <j@example.com>`, nil, wd); !ok {
		t.Error("address list not on the fast path")
	}
	if _, _, ok := fastMediaType(`text/plain; charset="utf-8"; format=flowed`, nil); !ok {
		t.Error("media type not on the fast path")
	}
	if !isPlainLine("Forgot my password - cannot log in to Windows") {
		t.Error("subject not plain")
	}
}
