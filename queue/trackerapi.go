package queue

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/invopop/jsonschema"
	"golang.org/x/net/http/httpguts"

	"github.com/triage-dev/triage/internal/netaddr"
)

// maxAPIJSONDepth bounds the nesting of a tracker's JSON answer: the
// tracker is a peer, and encoding/json would follow 10000 levels.
const maxAPIJSONDepth = 64

// errAPIResponse marks an answer that breaks the bounds or lacks what the
// documentation promises.
var errAPIResponse = errors.New("tracker answer unusable")

// openTrackerAPI checks the Authorization value and returns the API
// client for base+root. header, when not nil, is added to every request.
// base passed validateTrackerURL: New and NewAuditReader validate a queue
// before they open it.
func openTrackerAPI(base, root, auth string, timeout time.Duration, header http.Header) (*trackerAPI, error) {
	if !httpguts.ValidHeaderFieldValue(auth) {
		return nil, errors.New("token contains characters a header cannot")
	}
	return &trackerAPI{base: strings.TrimRight(base, "/") + root, auth: auth, header: header, client: newHTTPClient(timeout)}, nil
}

// validateTrackerURL adds the problem of a tracker's base URL as users
// type it, if any: http or https, no credentials in it (secrets names the
// keys they belong in), the token only over https or to a loopback
// address.
func validateTrackerURL(typ, raw, secrets string, add func(string, ...any)) {
	if raw == "" {
		add("%s needs url", typ)
		return
	}
	u, err := parseWebhookURL(raw)
	if err != nil {
		add("%v", err)
		return
	}
	switch {
	case u.User != nil:
		add("url holds credentials: use %s", secrets)
	case u.Scheme == "http" && !netaddr.IsLoopbackHost(u.Hostname()):
		add("url sends the token over plain http to %s: use https (http only to a loopback address)", u.Hostname())
	}
}

// basicAuth is the Authorization value of HTTP basic authentication.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// decodeBounded decodes the JSON in b into out after checking its nesting.
func decodeBounded(b []byte, out any) error {
	if err := checkJSONDepth(b, maxAPIJSONDepth); err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %w", errAPIResponse, err)
	}
	return nil
}

// checkJSONDepth refuses JSON nested deeper than max, before anything is
// decoded.
func checkJSONDepth(b []byte, max int) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errAPIResponse, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > max {
				return fmt.Errorf("%w: JSON nested deeper than %d", errAPIResponse, max)
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// apiToken is a tracker API token from the environment or a file.
type apiToken struct {
	TokenEnv  string `yaml:"token_env,omitempty" json:"token_env,omitempty" jsonschema_description:"Environment variable holding the API token (the bare token)."`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty" jsonschema_description:"File holding the API token (the bare token)."`
}

func (t apiToken) validate(add func(string, ...any)) {
	switch {
	case t.TokenEnv != "" && t.TokenFile != "":
		add("set token_env or token_file, not both")
	case t.TokenEnv == "" && t.TokenFile == "":
		add("token_env or token_file is required")
	}
}

func (t apiToken) read(baseDir string) (string, error) {
	v, err := readSecret(t.TokenEnv, t.TokenFile, baseDir)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return v, nil
}

// openAPI reads the token and opens the tracker's API at base+root,
// authorized by what auth makes of the token.
func (t apiToken) openAPI(q sinkSpec, base, root string, auth func(token string) string, header http.Header) (*trackerAPI, error) {
	token, err := t.read(q.baseDir)
	if err != nil {
		return nil, err
	}
	return openTrackerAPI(base, root, auth(token), q.timeout, header)
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (apiToken) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AllOf = append(s.AllOf, notBoth("token_env", "token_file"))
}

// renderField renders the settings template of key over the decision;
// the result is one line (a group, a request type, a field value). A
// template that fails fails the same way for every retry: permanent.
func renderField(key string, t *template.Template, data templateData) (string, error) {
	b, err := execTemplate(t, data)
	if err != nil {
		return "", permanent("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// renderFields renders the name → template settings of key into out.
func renderFields(key string, ts map[string]*template.Template, data templateData, out map[string]any) error {
	for name, t := range ts {
		v, err := renderField(key+"."+name, t, data)
		if err != nil {
			return err
		}
		out[name] = v
	}
	return nil
}

// parseFieldTemplates parses name → template settings; problems go to add.
func parseFieldTemplates(key string, m map[string]string, add func(string, ...any)) map[string]*template.Template {
	out := make(map[string]*template.Template, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t, err := parseTemplate(key+"."+name, m[name])
		if err != nil {
			add("%s.%s: %v", key, name, err)
			continue
		}
		out[name] = t
	}
	return out
}

// fieldTemplates is parseFieldTemplates for open, its problems one error.
func fieldTemplates(key string, m map[string]string) (map[string]*template.Template, error) {
	var problems []string
	out := parseFieldTemplates(key, m, func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) })
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// priorityOf maps a tracker's priority name back to triage's: the most
// urgent triage priority that maps to it, "" when none does.
func priorityOf(names map[string]string, trackerName string) string {
	best := ""
	for p, n := range names {
		if n == trackerName && rank(p) > 0 && (best == "" || rank(p) < rank(best)) {
			best = p
		}
	}
	return best
}
