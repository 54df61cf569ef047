package rt

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/triage-dev/triage/internal/testkit"
)

// Where Debian's request-tracker5 puts RT.
const (
	rtLib         = "/usr/share/request-tracker5/lib"
	rtServerBin   = "/usr/share/request-tracker5/libexec/rt-server"
	rtSetupBin    = "/usr/sbin/rt-setup-database-5"
	rtName        = "triage-test"
	tokenEnv      = "TRIAGE_RT_TOKEN"
	imapPassEnv   = "TRIAGE_RT_IMAP_PASSWORD"
	doneKeyword   = "$Triaged"
	rtReadyLimit  = 90 * time.Second
	rtRootAuthHdr = "Basic cm9vdDpwYXNzd29yZA==" // root:password, RT's initial root login
)

// rtQueues are provisioned; the suite's config maps triage queues to them
// and "engineering" to a queue RT does not have (a refusal).
var (
	rtQueues = []string{"General", "Systems", "Security"}
	rtFields = []string{"TriageID", "Tier", "Rules", "Runbook", "AuditID"}
)

// triageBin is the `triage` binary built once for this test binary.
var triageBin string

func TestMain(m *testing.M) {
	code := testkit.RunWithTriage(m, testkit.RaceEnabled, &triageBin)
	shared.stop()
	os.Exit(code)
}

// errNoRT: the Debian packages are not installed.
var errNoRT = errors.New("Request Tracker 5 is not installed (make deps installs request-tracker5 rt5-db-sqlite rt5-standalone)")

// rtServer is a private RT 5 on a loopback port with SQLite in a temp dir,
// provisioned with queues, custom fields and a bot user with a token.
type rtServer struct {
	dir, site, url string
	port           int
	token          string
	client         *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// sharedRT is one RT for the whole test binary: setting one up costs
// about 15 s.
type sharedRT struct {
	once sync.Once
	srv  *rtServer
	err  error
}

var shared sharedRT

func (s *sharedRT) stop() {
	if s.srv != nil {
		s.srv.Stop()
		_ = os.RemoveAll(s.srv.dir)
	}
}

// startRT returns the shared RT, starting it on first use. Without RT the
// test is skipped, or fails under CI=true.
func startRT(t *testing.T) *rtServer {
	t.Helper()
	shared.once.Do(func() {
		start := time.Now()
		shared.srv, shared.err = newRTServer()
		t.Logf("RT set up in %v", time.Since(start).Round(time.Millisecond))
	})
	if errors.Is(shared.err, errNoRT) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required under CI=true)", shared.err)
		}
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	shared.srv.ensureRunning(t)
	return shared.srv
}

func newRTServer() (*rtServer, error) {
	for _, p := range []string{rtLib, rtServerBin, rtSetupBin} {
		if _, err := os.Stat(p); err != nil {
			return nil, errNoRT
		}
	}
	dir, err := os.MkdirTemp("", "rt5-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &rtServer{dir: dir, site: filepath.Join(dir, "RT_SiteConfig.pm"), port: port,
		url: "http://127.0.0.1:" + strconv.Itoa(port), client: &http.Client{Timeout: 30 * time.Second}}
	site := fmt.Sprintf(`Set($rtname, '%s');
Set($Organization, 'triage.test');
Set($Timezone, 'UTC');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '%s');
Set($WebDomain, '127.0.0.1');
Set($WebPort, %d);
Set($WebPath, '');
Set($WebBaseURL, '%s');
Set($LogToSTDERR, 'warning');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($MailCommand, 'testfile');
Set($CorrespondAddress, 'rt@triage.test');
Set($CommentAddress, 'rt-comment@triage.test');
Set($RestrictReferrer, 0);
Set(%%GnuPG, Enable => 0);
Set(%%SMIME, Enable => 0);
1;
`, rtName, filepath.Join(dir, "rt.db"), port, s.url)
	if err := os.WriteFile(s.site, []byte(site), 0o600); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "site.d"), 0o700); err != nil {
		return nil, err
	}
	if out, err := s.perl(rtSetupBin, "--action", "init", "--skip-create", "--dba", "", "--dba-password", "").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rt-setup-database: %v\n%s", err, out)
	}
	args := append([]string{"-I" + rtLib, filepath.Join("testdata", "provision.pl")}, rtQueues...)
	args = append(append(args, "--"), rtFields...)
	cmd := s.perl("perl", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("provision: %v\n%s", err, stderr.String())
	}
	s.token = strings.TrimSpace(string(out))
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// perl runs an RT program with the server's site config and no other.
func (s *rtServer) perl(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "RT_SITE_CONFIG="+s.site, "RT_SITE_CONFIG_DIR="+filepath.Join(s.dir, "site.d"))
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs rt-server and waits until REST 2 answers.
func (s *rtServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := os.OpenFile(filepath.Join(s.dir, "rt-server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := s.perl(rtServerBin, "--port", strconv.Itoa(s.port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // rt-server forks: stop the group
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("rt-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited, s.log = cmd, exited, log
	deadline := time.Now().Add(rtReadyLimit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("rt-server exited at start; see %s", log.Name())
		default:
		}
		var info map[string]any
		if err := s.get(context.Background(), "/rt", &info); err == nil {
			// The first search compiles what every later one uses.
			return s.get(context.Background(), "/tickets?query="+url.QueryEscape("id = 0"), &info)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("RT did not answer within %v", rtReadyLimit)
}

// Stop kills rt-server's process group and waits for it.
func (s *rtServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.log.Close()
	s.cmd = nil
}

func (s *rtServer) ensureRunning(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if !running {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
}

// get reads a REST 2 resource as the bot.
func (s *rtServer) get(ctx context.Context, path string, out any) error {
	return s.do(ctx, http.MethodGet, path, "token "+s.token, nil, out)
}

func (s *rtServer) do(ctx context.Context, method, path, auth string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+"/REST/2.0"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// asRoot changes a ticket as RT's root (a person, not triage's bot).
func (s *rtServer) asRoot(t *testing.T, id string, upd map[string]any) {
	t.Helper()
	if err := s.do(ctxT(t, 30*time.Second), http.MethodPut, "/ticket/"+id, rtRootAuthHdr, upd, nil); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// rtTicket is what the suite reads of a ticket.
type rtTicket struct {
	ID           string                `json:"id"`
	Subject      string                `json:"Subject"`
	Priority     string                `json:"Priority"`
	Due          string                `json:"Due"`
	Queue        struct{ ID string }   `json:"Queue"`
	Requestor    []struct{ ID string } `json:"Requestor"`
	Cc           []struct{ ID string } `json:"Cc"`
	CustomFields []struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"CustomFields"`
	queueName string
}

func (tk *rtTicket) field(name string) string {
	for _, f := range tk.CustomFields {
		if f.Name == name && len(f.Values) > 0 {
			return f.Values[0]
		}
	}
	return ""
}

// search returns the ids of the tickets a TicketSQL query finds.
func (s *rtServer) search(t *testing.T, query string) []string {
	t.Helper()
	var ids []string
	for page := 1; page < 1000; page++ {
		var res struct {
			Items []struct{ ID string } `json:"items"`
			Pages float64               `json:"pages"`
		}
		q := url.Values{"query": {query}, "per_page": {"100"}, "page": {strconv.Itoa(page)}, "orderby": {"id"}}
		if err := s.get(ctxT(t, 60*time.Second), "/tickets?"+q.Encode(), &res); err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			ids = append(ids, it.ID)
		}
		if float64(page) >= res.Pages {
			break
		}
	}
	return ids
}

// byTriageID returns the tickets carrying triage id id.
func (s *rtServer) byTriageID(t *testing.T, id string) []string {
	return s.search(t, "CF.{TriageID} = '"+id+"'")
}

func (s *rtServer) ticket(t *testing.T, id string) *rtTicket {
	t.Helper()
	var tk rtTicket
	if err := s.get(ctxT(t, 30*time.Second), "/ticket/"+id, &tk); err != nil {
		t.Fatal(err)
	}
	var q struct{ Name string }
	if err := s.get(ctxT(t, 30*time.Second), "/queue/"+tk.Queue.ID, &q); err != nil {
		t.Fatal(err)
	}
	tk.queueName = q.Name
	return &tk
}

// user returns an RT user's real name.
func (s *rtServer) realName(t *testing.T, email string) string {
	t.Helper()
	var u struct{ RealName string }
	if err := s.get(ctxT(t, 30*time.Second), "/user/"+url.PathEscape(email), &u); err != nil {
		t.Fatal(err)
	}
	return u.RealName
}

// rtFile is one named attachment of a ticket, by content hash.
type rtFile struct {
	Name, SHA string
}

// files returns the named attachments of a ticket with their SHA-256.
func (s *rtServer) files(t *testing.T, id string) []rtFile {
	t.Helper()
	var res struct {
		Items []struct {
			ID       string `json:"id"`
			Filename string `json:"Filename"`
		} `json:"items"`
	}
	if err := s.get(ctxT(t, 30*time.Second), "/ticket/"+id+"/attachments?fields=Filename&per_page=100", &res); err != nil {
		t.Fatal(err)
	}
	var out []rtFile
	for _, it := range res.Items {
		if it.Filename == "" {
			continue
		}
		var a struct{ Content string }
		if err := s.get(ctxT(t, 30*time.Second), "/attachment/"+it.ID, &a); err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			t.Fatalf("attachment %s: %v", it.ID, err)
		}
		out = append(out, rtFile{Name: it.Filename, SHA: sha(b)})
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// transactions counts a ticket's transactions of a type (Correspond, …).
func (s *rtServer) transactions(t *testing.T, id, typ string) int {
	t.Helper()
	var res struct {
		Items []struct{ Type string } `json:"items"`
	}
	if err := s.get(ctxT(t, 30*time.Second), "/ticket/"+id+"/history?fields=Type&per_page=100", &res); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range res.Items {
		if it.Type == typ {
			n++
		}
	}
	return n
}
