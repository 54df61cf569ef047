package queue

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/triage-dev/triage/ticket"
)

// FuzzRTUpload: whatever an attachment's decoded name or type, the
// multipart request to RT carries exactly the JSON part and that one file,
// byte for byte, and no name can add a header line or a part.
func FuzzRTUpload(f *testing.F) {
	for _, s := range []string{"report.pdf", `Größe "x".bin`, "a\r\nContent-Type: text/html\r\n\r\nx", `\"; name="JSON`, "", "--boundary", "\x00\x7f\u2028"} {
		f.Add(s, "application/pdf", []byte("data"))
	}
	f.Fuzz(func(t *testing.T, name, typ string, data []byte) {
		js, err := json.Marshal(rtMessage{Content: "x", ContentType: "text/plain"})
		if err != nil {
			t.Fatal(err)
		}
		got := fileForm(js, "Attachments", []ticket.File{{Attachment: ticket.Attachment{Name: name, Type: typ}, Data: data}})
		_, params, err := mime.ParseMediaType(got.contentType)
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(bytes.NewReader(got.data), params["boundary"])
		var forms []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part: %v", err)
			}
			b, _ := io.ReadAll(p)
			forms = append(forms, p.FormName())
			if p.FormName() == "Attachments" {
				if !bytes.Equal(b, data) {
					t.Fatalf("file content changed")
				}
				if strings.ContainsAny(p.FileName(), "\r\n") {
					t.Fatalf("file name %q spans lines", p.FileName())
				}
			}
		}
		if strings.Join(forms, ",") != "JSON,Attachments" {
			t.Fatalf("parts %v", forms)
		}
	})
}

// FuzzRTSubjectRef: RT's subject tag yields digits or nothing.
func FuzzRTSubjectRef(f *testing.F) {
	for _, s := range []string{"Re: [rt.example #12] x", "[rt.example #]", "[rt.example  #0099999999999999]", "[rt.exampleX #1]"} {
		f.Add(s)
	}
	rc := &rtClient{subjectTag: rtSubjectTag("rt.example")}
	f.Fuzz(func(t *testing.T, subject string) {
		ref := rc.SubjectRef(subject)
		if ref != "" && (strings.Trim(ref, "0123456789") != "" || len(ref) > 12) {
			t.Fatalf("ref %q from %q", ref, subject)
		}
	})
}
