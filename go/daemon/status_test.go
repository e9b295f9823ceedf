package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
	"github.com/actiond/actiond/go/statuspage"
)

// httpGet returns the body of url, failing the test on any error or a
// status other than 200.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, %v: %s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// metricValue finds `name{labels} value` (labels as Prometheus writes
// them, sorted) in a text exposition; -1 when absent.
func metricValue(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	var v float64
	fmt.Sscan(m[1], &v)
	return v
}

// waitFor polls cond (which reads the daemon's state over HTTP) until it
// holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStatusPageAndMetricsFollowActions runs a failing action and a long
// one through a real daemon and checks, while the long one runs, what the
// metrics say and what a person sees on the status page in a real
// headless Chromium (when installed): the running action with its
// mnemonic, the failed one with its exit code and a stderr link that
// leads to its stderr. It keeps a screenshot in ACTIOND_ARTIFACTS (or the
// test's temporary directory).
func TestStatusPageAndMetricsFollowActions(t *testing.T) {
	requireRoot(t)
	tool := buildHostileTool(t)
	lis, err := statuspage.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := startDaemon(t, daemon.Config{Root: t.TempDir(), Execution: true, Jobs: 2, Logger: discardLogger(), StatusListener: lis, Version: "status-test"})
	base := "http://" + lis.Addr().String()

	failed := execute(t, conn, actionSpec{files: map[string][]byte{"hostile": tool}, cmd: &repb.Command{Arguments: []string{"./hostile", "no-such-step"}}})
	if failed.GetResult().GetExitCode() == 0 {
		t.Fatalf("the failing action exited 0: %v", failed)
	}

	// The long action, with the request metadata Bazel sends.
	rm, err := proto.Marshal(&repb.RequestMetadata{ActionMnemonic: "StatusProbe", TargetId: "//status:probe"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(context.Background(), "build.bazel.remote.execution.v2.requestmetadata-bin", string(rm)))
	defer cancel()
	root := toolRoot(tool)
	rootBytes, rootDigest := reapitest.Marshal(t, root)
	cmdBytes, cmdDigest := reapitest.Marshal(t, &repb.Command{Arguments: []string{"./hostile", "sleep", "600000"}})
	actionBytes, actionDigest := reapitest.Marshal(t, &repb.Action{CommandDigest: cmdDigest.Proto(), InputRootDigest: rootDigest.Proto(), DoNotCache: true})
	reapitest.Upload(ctx, t, conn, tool, rootBytes, cmdBytes, actionBytes)
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: actionDigest.Proto()})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the long action to run", func() bool {
		var s activity.Snapshot
		return json.Unmarshal([]byte(httpGet(t, base+"/status.json")), &s) == nil && len(s.Active) == 1 && s.Active[0].State == "running"
	})

	m := httpGet(t, base+"/metrics")
	for series, want := range map[string]float64{
		"actiond_actions_running":                                                                          1,
		"actiond_actions_queued":                                                                           0,
		`actiond_actions_total{outcome="nonzero_exit"}`:                                                    1,
		`actiond_actions_total{outcome="success"}`:                                                         0,
		`actiond_action_stage_seconds_count{stage="run"}`:                                                  1,
		`actiond_action_cache_lookups_total{result="miss",source="Execute"}`:                               1,
		`actiond_rpc_handled_total{code="OK",method="/build.bazel.remote.execution.v2.Execution/Execute"}`: 1,
	} {
		if got := metricValue(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{`actiond_cas_transfer_bytes_total{direction="upload"}`, "actiond_cas_bytes", "actiond_cas_blobs"} {
		if got := metricValue(m, series); got <= 0 {
			t.Errorf("%s = %v, want > 0 after uploads", series, got)
		}
	}

	checkPageInChromium(t, base, digest.OfBytes(actionBytes))

	cancel()
	waitFor(t, "the cancelled action to be counted", func() bool {
		m := httpGet(t, base+"/metrics")
		return metricValue(m, `actiond_actions_total{outcome="cancelled"}`) == 1 && metricValue(m, "actiond_actions_running") == 0
	})
}

// checkPageInChromium loads the status page in headless Chromium and
// checks the rendered DOM for what a person would look for; it saves a
// screenshot.
func checkPageInChromium(t *testing.T, base string, running digest.Digest) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("SKIPPED the Chromium part: chromium is not installed (apt-get install chromium; e2e/test_all.sh does)")
		return
	}
	dir := os.Getenv("ACTIOND_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(), "--window-size=1400,700"}, extra...)
	}
	dom, err := exec.Command(chromium, args("--dump-dom", base+"/")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	page := string(dom)
	active := section(page, `id="active"`)
	finished := section(page, `id="finished"`)
	for _, c := range []struct{ where, text, want string }{
		{"running table", active, "StatusProbe"},
		{"running table", active, ">running<"},
		{"running table", active, running.Hash[:12]},
		{"finished table", finished, ">nonzero_exit<"},
		{"finished table", finished, ">stderr<"},
		{"title", page, "<title>actiond: 1 running, 0 queued</title>"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s of the page lacks %q:\n%s", c.where, c.want, c.text)
		}
	}
	link := regexp.MustCompile(`href="(stderr/[0-9a-f]{64}/\d+)"`).FindStringSubmatch(finished)
	if link == nil {
		t.Fatalf("no stderr link in the finished table:\n%s", finished)
	}
	if got := httpGet(t, base+"/"+link[1]); !strings.Contains(got, "no-such-step") {
		t.Errorf("the stderr link shows %q, want the tool's complaint about no-such-step", got)
	}
	shot := filepath.Join(dir, "status-page.png")
	if out, err := exec.Command(chromium, args("--screenshot="+shot, base+"/")...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if fi.Size() < 10<<10 {
		t.Errorf("screenshot %s holds %d bytes, want a picture of the page", shot, fi.Size())
	}
	t.Logf("screenshot of the status page: %s", shot)
}

// section is the part of page from the element carrying marker to the end
// of its table.
func section(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</table>"); j >= 0 {
		return rest[:j]
	}
	return rest
}
