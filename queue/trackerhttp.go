package queue

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/triage-dev/triage/ticket"
)

// maxTrackerResponse bounds a tracker API response read into memory.
const maxTrackerResponse = 16 << 20

// newHTTPClient is the HTTP client of the sinks that call an API: a
// transport of its own (the default keeps 2 idle connections per host, so
// concurrent deliveries to one tracker would dial for almost every ticket)
// and no redirects (a redirect would resend the body, and secret headers,
// to wherever the peer points: report it so the url gets fixed).
func newHTTPClient(timeout time.Duration) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// responseError reads the start of a failed response's body and
// classifies it: 408, 429 and 5xx are worth retrying (with the peer's
// Retry-After), every other status is a refusal that retrying cannot mend.
// what says which call failed; the message carries the peer's own words.
func responseError(resp *http.Response, what string) *Error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoggedResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedResponse))
	e := fmt.Errorf("%s answered %s: %s", what, resp.Status, sanitizeHeaderText(string(snippet), maxLoggedResponse))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return &Error{Temporary: true, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: e}
	default:
		return &Error{Err: e}
	}
}

// trackerAPI calls a tracker's JSON API: a base URL, the Authorization
// header, bounded responses, errors classified by responseError.
type trackerAPI struct {
	base   string      // API root without trailing slash, e.g. https://rt.example.com/REST/2.0
	auth   string      // Authorization header value; never logged
	header http.Header // added to every request (Jira's XSRF and experimental-API opt-ins); may be nil
	client *http.Client
}

// close lets the idle connections go: the Close of a tracker's sink.
func (a *trackerAPI) close() error {
	a.client.CloseIdleConnections()
	return nil
}

// apiStatusError is a non-2xx answer: the status for callers that treat
// one specially (404), inside the classified *Error.
type apiStatusError struct {
	Code int
	err  *Error
}

func (e *apiStatusError) Error() string { return e.err.Error() }
func (e *apiStatusError) Unwrap() error { return e.err }

// statusOf is the HTTP status of a failed call, 0 when it got none.
func statusOf(err error) int {
	var se *apiStatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// call sends body (JSON-encoded unless nil or already []byte with
// contentType set) to method path?query and decodes a 2xx answer into out
// (unless nil), its nesting bounded first. A non-2xx answer is an
// *apiStatusError wrapping a classified *Error; a network failure is a
// temporary *Error.
func (a *trackerAPI) call(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = bytes.NewReader(b.data), b.contentType
	default:
		enc, err := json.Marshal(body)
		if err != nil {
			return permanent("encode request: %w", err)
		}
		rd, contentType = bytes.NewReader(enc), "application/json"
	}
	u := a.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return permanent("build request: %w", originOnlyErr(err))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range a.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "triage")
	if a.auth != "" {
		req.Header.Set("Authorization", a.auth)
	}
	what := method + " " + strings.SplitN(path, "?", 2)[0]
	keep := int64(0)
	if out != nil {
		keep = maxTrackerResponse + 1
	}
	b, err := roundTrip(a.client, req, what, keep)
	if err != nil || out == nil {
		return err
	}
	if len(b) > maxTrackerResponse {
		return permanent("%s: answer larger than %d bytes", what, maxTrackerResponse)
	}
	// Not JSON at all (a proxy's HTML page): retrying cannot mend it.
	if err := json.Unmarshal(b, new(json.RawMessage)); err != nil {
		return permanent("%s: answer is not the JSON expected: %w", what, err)
	}
	if err := decodeBounded(b, out); err != nil {
		// Temporary: the call may well have worked (a ticket created),
		// and the lookup before the next create finds it.
		return temporary("%s: %w", what, err)
	}
	return nil
}

// roundTrip sends req and returns the first keep octets of a 2xx answer
// (keep 0: none), reading on so that the connection can be reused. A
// non-2xx answer is an *apiStatusError wrapping a classified *Error; a
// network failure is a temporary *Error. what names the call in errors,
// which name the URL's origin only: its path or query may hold a token.
func roundTrip(client *http.Client, req *http.Request, what string, keep int64) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, temporary("%s: %w", what, originOnlyErr(err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &apiStatusError{Code: resp.StatusCode, err: responseError(resp, what)}
	}
	var kept []byte
	if keep > 0 {
		if kept, err = io.ReadAll(io.LimitReader(resp.Body, keep)); err != nil {
			return nil, temporary("%s: read answer: %w", what, err)
		}
	}
	// As much as responseError reads: the snippet is only needed for an error.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLoggedResponse+maxDrainedResponse))
	return kept, nil
}

// rawBody is a request body sent as is.
type rawBody struct {
	data        []byte
	contentType string
}

// fileForm is a multipart/form-data body: a part named JSON holding js
// unless js is nil (RT's), then one part named field per file.
func fileForm(js []byte, field string, files []ticket.File) rawBody {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	// CreatePart writes to a bytes.Buffer: it cannot fail.
	if js != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="JSON"`)
		h.Set("Content-Type", "application/json")
		part, _ := w.CreatePart(h)
		_, _ = part.Write(js)
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+formFileName(f.Name)+`"`)
		h.Set("Content-Type", cmp.Or(sanitizeHeaderText(f.Type, 200), "application/octet-stream"))
		part, _ := w.CreatePart(h)
		_, _ = part.Write(f.Data)
	}
	_ = w.Close()
	return rawBody{data: body.Bytes(), contentType: w.FormDataContentType()}
}

// formFileName makes a decoded file name safe inside a quoted form-data
// parameter: UTF-8 as is (RT reads it so), line breaks and control
// characters gone, and a double quote written as a single one: RT's
// form parser keeps the backslash of an escaped quote in the name, and
// no other spelling of a quote reaches it (the suite's attachments.eml).
// For the same reason a backslash, which other parsers read as an escape
// (one before the closing quote loses the part its name, FuzzRTUpload),
// becomes _; the classifier has already cut a name at / and \ anyway.
func formFileName(name string) string {
	name = strings.NewReplacer(`"`, "'", `\`, "_").Replace(sanitizeHeaderText(name, 255))
	return cmp.Or(name, "attachment")
}
