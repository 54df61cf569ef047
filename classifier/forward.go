package classifier

import (
	"slices"
	"strings"
	"time"

	"github.com/triage-dev/triage/internal/clip"
	"github.com/triage-dev/triage/ticket"
)

// Bounds on forwarded-message detection.
const (
	maxForwarded       = 20 // records kept, attached and inline together
	maxForwardLines    = 12 // header lines read after a forward marker
	maxForwardLabelLen = 40 // bytes before the colon of a header line
)

// forwardedOf reads the record of an attached message from its header.
func forwardedOf(h *headerBlock, defects *defectList) ticket.Forwarded {
	f := ticket.Forwarded{
		From:      firstAddress(parseAddresses(h.Get("From"), defects)),
		Subject:   clip.UTF8(decodeHeaderValue(h.Get("Subject"), defects), maxHeaderValueBytes),
		MessageID: clip.UTF8(cleanLine(bestEffortString(h.Get("Message-Id"))), maxHeaderValueBytes),
	}
	f.Date = forwardDate(bestEffortString(h.Get("Date")))
	return f
}

// forwardDate is a date in RFC 3339 when it parses, else as written.
func forwardDate(v string) string {
	v = strings.TrimSpace(cleanLine(v))
	if t, ok := parseDate(v); ok {
		return t.Format(time.RFC3339)
	}
	return clip.UTF8(v, 200)
}

// The lines mail clients put above a forwarded message quoted in the
// body, lower-cased, in the languages of the desk's mail: Thunderbird and
// Gmail ("-------- Forwarded Message --------"), Outlook ("-----Original
// Message-----", or a rule of underscores), Apple Mail ("Begin forwarded
// message:").
var forwardMarkers = []string{
	"forwarded message", "original message", "weitergeleitete nachricht", "ursprüngliche nachricht",
	"message transféré", "message d'origine", "message original", "mensaje reenviado", "mensaje original",
	"messaggio inoltrato", "messaggio originale", "doorgestuurd bericht", "oorspronkelijk bericht",
	"mensagem encaminhada", "mensagem original", "転送メッセージ", "元のメッセージ", "转发的邮件", "原始邮件",
}

var forwardIntros = []string{
	"begin forwarded message", "anfang der weitergeleiteten nachricht", "début du message réexpédié",
	"début du message transféré", "inicio del mensaje reenviado", "inizio messaggio inoltrato",
	"begin doorgestuurd bericht",
}

// forwardLabels maps the labels of a forwarded header block to the field
// they give ("" for To, Cc and the like, which belong to the block but are
// not kept).
var forwardLabels = map[string]string{
	"from": "from", "von": "from", "de": "from", "da": "from", "van": "from", "från": "from", "od": "from",
	"差出人": "from", "发件人": "from", "寄件者": "from", "보낸 사람": "from",
	"subject": "subject", "betreff": "subject", "objet": "subject", "sujet": "subject", "asunto": "subject",
	"oggetto": "subject", "onderwerp": "subject", "ämne": "subject", "Ämne": "subject", "assunto": "subject",
	"件名": "subject", "主题": "subject", "主旨": "subject", "제목": "subject",
	"date": "date", "sent": "date", "datum": "date", "gesendet": "date", "envoyé": "date", "fecha": "date",
	"enviado": "date", "enviado el": "date", "inviato": "date", "verzonden": "date", "skickat": "date",
	"data": "date", "日時": "date", "送信日時": "date", "发送时间": "date", "日期": "date", "보낸 날짜": "date",
	"to": "", "an": "", "à": "", "À": "", "a": "", "para": "", "aan": "", "till": "", "do": "", "cc": "", "kopie": "",
	"宛先": "", "收件人": "", "抄送": "", "받는 사람": "", "reply-to": "", "antwort an": "", "répondre à": "",
}

// inlineForwards finds the forwarded messages quoted in a text body: a
// header block (From, Subject, Date… in any language above) after a
// marker line, or an Outlook block "From: … Sent: …" on its own. At most
// max records; each line is looked at a bounded number of times.
func inlineForwards(body string, max int) []ticket.Forwarded {
	var out []ticket.Forwarded
	lines := lineIter{rest: body}
	for len(out) < max {
		line, ok := lines.next()
		if !ok {
			break
		}
		t := trimQuote(line)
		if t == "" {
			continue
		}
		switch field, _, _ := forwardLabel(t); {
		case isForwardMarker(t):
			if f, ok := forwardBlock(&lines, ""); ok {
				out = append(out, f)
			}
		case field == "from":
			// Outlook's block without a marker: From followed by a date
			// line within the block.
			probe := lines
			if f, ok := forwardBlock(&probe, t); ok && f.Date != "" {
				lines = probe
				out = append(out, f)
			}
		}
	}
	return out
}

// forwardBlock reads a forwarded header block from lines; first is its
// first line when already consumed. ok needs a From or a Subject.
func forwardBlock(lines *lineIter, first string) (ticket.Forwarded, bool) {
	var f ticket.Forwarded
	found, blanks := false, 0
	for n := 0; n < maxForwardLines; n++ {
		t := first
		if first == "" {
			line, ok := lines.next()
			if !ok {
				break
			}
			t = trimQuote(line)
		}
		first = ""
		if t == "" {
			if found || blanks > 1 {
				break
			}
			blanks++
			continue
		}
		field, value, known := forwardLabel(t)
		if !known {
			if found {
				break
			}
			continue
		}
		found = true
		switch field {
		case "from":
			if f.From.Address == "" {
				f.From = forwardAddress(value)
			}
		case "subject":
			if f.Subject == "" {
				f.Subject = clip.UTF8(value, maxHeaderValueBytes)
			}
		case "date":
			if f.Date == "" {
				f.Date = forwardDate(value)
			}
		}
	}
	f.Inline = true
	return f, f.From.Address != "" || f.From.Name != "" || f.Subject != ""
}

// forwardAddress reads "Ann <ann@example.com>" or Outlook's
// "Ann [mailto:ann@example.com]".
func forwardAddress(v string) ticket.Address {
	v = strings.NewReplacer("[mailto:", "<", "[MAILTO:", "<", "]", ">").Replace(v)
	var ignored defectList // the quoted text's flaws are not the mail's
	if a := firstAddress(parseAddresses(v, &ignored)); a.Address != "" {
		return a
	}
	return ticket.Address{Name: clip.UTF8(strings.TrimSpace(v), maxHeaderValueBytes)}
}

// isForwardMarker: a marker line ("---- Forwarded message ----", a rule of
// underscores, "Begin forwarded message:").
func isForwardMarker(t string) bool {
	switch t[0] {
	case '-':
		return slices.Contains(forwardMarkers, strings.ToLower(strings.Trim(t, "- ")))
	case '_':
		return len(t) >= 20 && strings.Trim(t, "_") == ""
	}
	if len(t) > 60 || !strings.HasSuffix(strings.TrimRight(t, " "), ":") {
		return false
	}
	return slices.Contains(forwardIntros, strings.ToLower(strings.TrimRight(t, " :")))
}

// maxLabelBytes bounds a label looked up in forwardLabels (the longest is
// 13 bytes); the lookup lower-cases it in a fixed buffer, as every line of
// every body goes through here.
const maxLabelBytes = 24

// forwardLabel reads a "Label: value" line (also "Label :" and the
// full-width colon): the field its label gives and the value, known false
// when the label is not one of forwardLabels.
func forwardLabel(t string) (field, value string, known bool) {
	head := t[:min(len(t), maxForwardLabelLen+len("："))]
	i, width := strings.IndexByte(head, ':'), 1
	if j := strings.Index(head, "："); j >= 0 && (i < 0 || j < i) {
		i, width = j, len("：")
	}
	if i <= 0 || i > maxForwardLabelLen {
		return "", "", false
	}
	label := strings.Trim(strings.TrimRight(t[:i], "\u00a0 \t"), " \t*") // Outlook's bold labels in text
	if label == "" || len(label) > maxLabelBytes {
		return "", "", false
	}
	var buf [maxLabelBytes]byte
	n := copy(buf[:], label)
	for k := range n {
		if c := buf[k]; 'A' <= c && c <= 'Z' {
			buf[k] = c + 'a' - 'A'
		}
	}
	field, known = forwardLabels[string(buf[:n])]
	return field, strings.TrimSpace(t[i+width:]), known
}

// trimQuote drops reply quoting ("> ") and surrounding space.
func trimQuote(line string) string {
	return strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "> "))
}

// lineIter yields the lines of a text without allocating.
type lineIter struct{ rest string }

func (l *lineIter) next() (string, bool) {
	if l.rest == "" {
		return "", false
	}
	line, rest, _ := strings.Cut(l.rest, "\n")
	l.rest = rest
	return line, true
}
