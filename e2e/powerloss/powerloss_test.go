//go:build linux

// Package powerloss_test cuts the power under the guest daemon's CAS disk
// and checks what the daemon serves afterwards.
//
// The guest runs the same CAS and daemon as serve-vm, on an ext4 disk that
// QEMU reaches through go/nbd: a disk whose write cache loses, at the cut,
// a random choice of the blocks written since the last flush (or keeps an
// older version of them). Each cycle boots the guest on the one image the
// earlier cycles left, checks it, uploads blobs and action results through
// the forwarded gRPC port, and cuts the power at a random acknowledgement,
// uploads still in flight; a last boot checks the last cut. What must
// hold after every cut:
//   - no blob is served with bytes other than its own;
//   - every blob acknowledged before an UpdateActionResult that returned
//     (in any cycle) is there, since UpdateActionResult is durable before
//     it returns and makes everything acknowledged before it durable too;
//   - every action result whose UpdateActionResult returned is there, and
//     every action result served names only blobs that are there and whole.
package powerloss_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/google/uuid"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/nbd"
	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/qemu"
	"github.com/actiond/actiond/go/vm/vmtest"
)

const (
	// cycles is how many power cuts the test makes.
	cycles = 6
	// imageMiB is the CAS disk's size.
	imageMiB = 128
	// seedEnv repeats a run's random choices (blob contents, the moment of
	// each cut, the blocks it keeps); the moment also depends on timing.
	seedEnv = "ACTIOND_POWERLOSS_SEED"
)

func TestPowerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the guest seven times")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs as root, like the other tests that boot the guest")
	}
	kernel := vmtest.Kernel(t)
	initramfs := vmtest.Initramfs(t, "../..")
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(seedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
	}
	t.Logf("seed %d (%s=%d repeats the random choices)", seed, seedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	img := filepath.Join(dir, "cas.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, imageMiB<<20); err != nil {
		t.Fatal(err)
	}
	h := newHistory()
	for cycle := 0; cycle <= cycles; cycle++ {
		start := time.Now()
		g := boot(t, kernel, initramfs, img, filepath.Join(dir, fmt.Sprintf("c%d", cycle)), cycle == 0)
		t.Logf("cycle %d: the guest booted in %v", cycle, time.Since(start).Round(time.Millisecond))
		if cycle > 0 {
			h.check(t, g, cycle)
		}
		if cycle == cycles {
			g.kill()
			if err := g.disk.Close(); err != nil {
				t.Error(err)
			}
			break
		}
		h.load(t, g, rng, cycle)
		if t.Failed() {
			t.Fatalf("stopping after cycle %d; the guest console's last lines:\n%s", cycle, g.tail())
		}
	}
}

// guest is one boot of the guest daemon with its disk behind an NBD cache.
type guest struct {
	m       *qemu.Machine
	disk    *nbd.Server
	console *vm.Console
	sess    vm.Session
	cc      *grpc.ClientConn
	cancel  context.CancelFunc
}

// boot serves img from a fresh cache in dir and boots the guest on it
// until it answers through the forwarded port.
func boot(t *testing.T, kernel, initramfs, img, dir string, format bool) *guest {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk, err := nbd.Listen(filepath.Join(dir, "nbd.sock"), img)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	g := &guest{disk: disk, console: vm.NewConsole(quiet, "guest", 60)}
	cfg := vm.Config{
		Kernel:          kernel,
		Initramfs:       initramfs,
		CASImage:        img,
		CASImageSizeMiB: imageMiB,
		MemoryMiB:       512,
		CPUs:            1,
		Arch:            vm.X86_64,
		StartTimeout:    5 * time.Minute,
		Console:         g.console,
	}
	g.m = qemu.New(cfg, qemu.Options{
		Accel: qemu.TCG,
		Cmdline: vm.Cmdline{
			Console:   vm.SerialConsole(vm.X86_64),
			Channel:   vm.VirtioSerialChannel(vm.ChannelPortName),
			FormatCAS: format,
		}.String(),
		ChannelSocket: filepath.Join(dir, "channel.sock"),
		Logger:        quiet,
		CASDrive:      disk.URL(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	t.Cleanup(func() {
		g.kill()
		g.disk.Close()
	})
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A guest that dies while booting ends the wait at once.
	bootCtx, bootDone := context.WithTimeout(ctx, cfg.StartTimeout)
	defer bootDone()
	go func() {
		_ = g.m.Wait(bootCtx)
		bootDone()
	}()
	conn, err := g.m.Channel(bootCtx)
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if g.sess, err = channel.NewHost(conn); err != nil {
		t.Fatalf("channel session: %v", err)
	}
	if err := vm.WaitReady(bootCtx, g.sess.Dial); err != nil {
		t.Fatalf("the guest did not answer (%v); its console's last lines:\n%s", err, g.tail())
	}
	// The port serve-vm forwards, on loopback.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.sess.Forward(ctx, lis) }()
	g.cc, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// kill kills QEMU: after a PowerCut, nothing it does reaches the image.
func (g *guest) kill() {
	if g.cc != nil {
		g.cc.Close()
	}
	g.m.Kill()
	if g.sess != nil {
		g.sess.Close()
	}
	g.cancel()
}

func (g *guest) tail() string { return vm.FormatTail("the guest console", g.console.Tail()) }

// history is what every cycle uploaded, and what the daemon promised.
type history struct {
	blobs    map[digest.Digest][]byte // every blob ever sent
	acked    map[digest.Digest]bool   // acknowledged
	required map[digest.Digest]bool   // acknowledged before an UpdateActionResult that returned
	results  map[digest.Digest]*entry // every action result ever sent
}

type entry struct {
	res      *repb.ActionResult
	returned bool // UpdateActionResult returned it
}

func newHistory() *history {
	return &history{
		blobs:    map[digest.Digest][]byte{},
		acked:    map[digest.Digest]bool{},
		required: map[digest.Digest]bool{},
		results:  map[digest.Digest]*entry{},
	}
}

// upload is one call: a ByteStream Write of one blob or a BatchUpdateBlobs.
type upload struct {
	batch bool
	blobs [][]byte
}

// round makes n uploads of new random blobs, of sizes from a few bytes to
// about 1.5 MiB, a third of them batched in twos and threes.
func round(rng *rand.Rand, n int) []upload {
	size := func() int {
		switch r := rng.IntN(10); {
		case r < 4:
			return 1 + rng.IntN(2048)
		case r < 8:
			return 2048 + rng.IntN(62<<10)
		case r < 9:
			return 64<<10 + rng.IntN(448<<10)
		default:
			return 1<<20 + rng.IntN(512<<10)
		}
	}
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var us []upload
	for range n {
		if rng.IntN(3) == 0 {
			u := upload{batch: true}
			for range 2 + rng.IntN(2) {
				u.blobs = append(u.blobs, blob(min(size(), 256<<10)))
			}
			us = append(us, u)
		} else {
			us = append(us, upload{blobs: [][]byte{blob(size())}})
		}
	}
	return us
}

// load runs one cycle's work on g: round A, an action result naming some of
// A, round B, an action result naming some of B, round C; and cuts the
// power when the k-th call (k chosen by rng, never before the first action
// result returned) is acknowledged, with the others in flight.
func (h *history) load(t *testing.T, g *guest, rng *rand.Rand, cycle int) {
	rounds := [][]upload{round(rng, 8), round(rng, 8), round(rng, 6)}
	calls := len(rounds[0]) + 1 + len(rounds[1]) + 1 + len(rounds[2])
	k := len(rounds[0]) + 1 + rng.IntN(calls-len(rounds[0]))
	cutRNG := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))

	var (
		mu      sync.Mutex
		done    int
		cutOnce sync.Once
		cutCh   = make(chan struct{})
		cutAt   string
	)
	// ack counts a returned call and cuts the power at the k-th.
	ack := func(what string) {
		mu.Lock()
		done++
		n := done
		mu.Unlock()
		if n == k {
			cutOnce.Do(func() { cutAt = what; close(cutCh) })
		}
	}
	cutDone := make(chan nbd.CutStats, 1)
	go func() {
		<-cutCh
		st, err := g.disk.PowerCut(cutRNG)
		if err != nil {
			t.Errorf("power cut: %v", err)
		}
		g.kill()
		cutDone <- st
	}()
	isCut := func() bool {
		select {
		case <-cutCh:
			return true
		default:
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cas := repb.NewContentAddressableStorageClient(g.cc)
	bs := bspb.NewByteStreamClient(g.cc)
	ac := repb.NewActionCacheClient(g.cc)

	uploads := func(us []upload, name string) {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					u := us[i]
					mu.Lock()
					for _, b := range u.blobs {
						h.blobs[digest.OfBytes(b)] = b
					}
					mu.Unlock()
					err := send(ctx, cas, bs, u)
					if err != nil {
						if !isCut() {
							t.Errorf("cycle %d: upload %s[%d] before the cut: %v", cycle, name, i, err)
						}
						continue
					}
					mu.Lock()
					for _, b := range u.blobs {
						h.acked[digest.OfBytes(b)] = true
					}
					mu.Unlock()
					ack(fmt.Sprintf("%s[%d]", name, i))
				}
			}()
		}
		for i := range us {
			if isCut() {
				break
			}
			next <- i
		}
		close(next)
		wg.Wait()
	}
	returned := 0
	update := func(from []upload, name string) {
		if isCut() {
			return
		}
		var files []*repb.OutputFile
		for i, u := range from {
			if rng.IntN(2) == 0 {
				files = append(files, &repb.OutputFile{Path: fmt.Sprintf("out/%s%d", name, i), Digest: digest.OfBytes(u.blobs[0]).Proto()})
			}
		}
		res := &repb.ActionResult{OutputFiles: files, StdoutDigest: digest.OfBytes(from[0].blobs[len(from[0].blobs)-1]).Proto(), ExitCode: 0}
		action := digest.OfBytes(fmt.Appendf(nil, "action %d %s %d", cycle, name, rng.Uint64()))
		mu.Lock()
		e := &entry{res: res}
		h.results[action] = e
		before := make([]digest.Digest, 0, len(h.acked))
		for d := range h.acked {
			before = append(before, d)
		}
		mu.Unlock()
		_, err := ac.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{
			ActionDigest:   action.Proto(),
			ActionResult:   res,
			DigestFunction: repb.DigestFunction_SHA256,
		})
		if err != nil {
			if !isCut() {
				t.Errorf("cycle %d: UpdateActionResult %s before the cut: %v", cycle, name, err)
			}
			return
		}
		mu.Lock()
		e.returned = true
		for _, d := range before {
			h.required[d] = true
		}
		mu.Unlock()
		returned++
		ack("UpdateActionResult " + name)
	}
	uploads(rounds[0], "A")
	update(rounds[0], "A")
	uploads(rounds[1], "B")
	update(rounds[1], "B")
	uploads(rounds[2], "C")
	// Only a failed call keeps the count from reaching k.
	cutOnce.Do(func() { cutAt = "no call: fewer were"; close(cutCh) })
	st := <-cutDone
	ds := g.disk.Stats()
	t.Logf("cycle %d: cut at call %d of %d (%s acknowledged), %d action results returned; the disk served %d writes (%d FUA, %d MiB), %d flushes, %d trims; cut: %v",
		cycle, k, calls, cutAt, returned, ds.Writes, ds.FUAWrites, ds.WrittenBytes>>20, ds.Flushes, ds.Trims+ds.WriteZeroes, st)
	if err := g.disk.Err(); err != nil {
		t.Errorf("cycle %d: the NBD server: %v", cycle, err)
	}
	g.disk.Close()
}

// send makes one upload call.
func send(ctx context.Context, cas repb.ContentAddressableStorageClient, bs bspb.ByteStreamClient, u upload) error {
	if u.batch {
		req := &repb.BatchUpdateBlobsRequest{DigestFunction: repb.DigestFunction_SHA256}
		for _, b := range u.blobs {
			req.Requests = append(req.Requests, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
		}
		resp, err := cas.BatchUpdateBlobs(ctx, req)
		if err != nil {
			return err
		}
		for _, r := range resp.Responses {
			if c := codes.Code(r.GetStatus().GetCode()); c != codes.OK {
				return fmt.Errorf("blob %s: %v %s", r.GetDigest().GetHash(), c, r.GetStatus().GetMessage())
			}
		}
		return nil
	}
	b := u.blobs[0]
	d := digest.OfBytes(b)
	w, err := bs.Write(ctx)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("uploads/%s/blobs/%s/%d", uuid.NewString(), d.Hash, d.Size)
	const chunk = 64 << 10
	for off := 0; ; off += chunk {
		end := min(off+chunk, len(b))
		req := &bspb.WriteRequest{WriteOffset: int64(off), Data: b[off:end], FinishWrite: end == len(b)}
		if off == 0 {
			req.ResourceName = name
		}
		if err := w.Send(req); err != nil {
			break // the error comes with CloseAndRecv
		}
		if end == len(b) {
			break
		}
	}
	resp, err := w.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.CommittedSize != d.Size {
		return fmt.Errorf("committed %d bytes of %d", resp.CommittedSize, d.Size)
	}
	return nil
}

// check reads back everything ever sent to the guest after a cut.
func (h *history) check(t *testing.T, g *guest, cycle int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cas := repb.NewContentAddressableStorageClient(g.cc)
	bs := bspb.NewByteStreamClient(g.cc)
	ac := repb.NewActionCacheClient(g.cc)

	all := make([]digest.Digest, 0, len(h.blobs))
	for d := range h.blobs {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b digest.Digest) int { return strings.Compare(a.Hash, b.Hash) })
	req := &repb.FindMissingBlobsRequest{DigestFunction: repb.DigestFunction_SHA256}
	for _, d := range all {
		req.BlobDigests = append(req.BlobDigests, d.Proto())
	}
	resp, err := cas.FindMissingBlobs(ctx, req)
	if err != nil {
		t.Fatalf("cycle %d: FindMissingBlobs: %v; %s", cycle, err, g.tail())
	}
	missing := map[digest.Digest]bool{}
	for _, pd := range resp.MissingBlobDigests {
		d, err := digest.FromProto(pd)
		if err != nil {
			t.Fatal(err)
		}
		missing[d] = true
	}
	whole := map[digest.Digest]bool{}
	var present, lostAcked, lostUnacked int
	for _, d := range all {
		if !missing[d] {
			got, err := read(ctx, bs, d)
			switch {
			case status.Code(err) == codes.NotFound:
				missing[d] = true
			case err != nil:
				t.Errorf("cycle %d: reading %s: %v", cycle, d, err)
				continue
			case string(got) != string(h.blobs[d]):
				t.Errorf("cycle %d: blob %s is served with %d wrong bytes (acknowledged: %v)", cycle, d, len(got), h.acked[d])
				continue
			default:
				whole[d] = true
				present++
				continue
			}
		}
		switch {
		case h.required[d]:
			t.Errorf("cycle %d: blob %s, acknowledged before an UpdateActionResult returned, is missing", cycle, d)
		case h.acked[d]:
			// Allowed (it was not yet durable), and no longer stored: a
			// later UpdateActionResult cannot make it durable again.
			delete(h.acked, d)
			lostAcked++
		default:
			lostUnacked++
		}
	}
	var found, notFound int
	for a, e := range h.results {
		got, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: a.Proto(), DigestFunction: repb.DigestFunction_SHA256})
		if status.Code(err) == codes.NotFound {
			notFound++
			if e.returned {
				t.Errorf("cycle %d: the action result %s, whose UpdateActionResult returned, is missing", cycle, a)
			}
			continue
		}
		if err != nil {
			t.Errorf("cycle %d: GetActionResult %s: %v", cycle, a, err)
			continue
		}
		found++
		refs := []*repb.Digest{got.StdoutDigest}
		if len(got.OutputFiles) != len(e.res.OutputFiles) || got.GetStdoutDigest().GetHash() != e.res.GetStdoutDigest().GetHash() {
			t.Errorf("cycle %d: action result %s is not the one sent:\n got %v\nwant %v", cycle, a, got, e.res)
		}
		for _, f := range got.OutputFiles {
			refs = append(refs, f.Digest)
		}
		for _, pd := range refs {
			if d, err := digest.FromProto(pd); err != nil || !whole[d] {
				t.Errorf("cycle %d: action result %s names blob %s/%d, which is not there whole", cycle, a, pd.GetHash(), pd.GetSizeBytes())
			}
		}
	}
	t.Logf("cycle %d check: %d of %d blobs whole (%d required), lost %d acknowledged and %d unacknowledged; %d of %d action results found (%d required)",
		cycle, present, len(all), len(h.required), lostAcked, lostUnacked, found, found+notFound, countReturned(h.results))
}

func countReturned(rs map[digest.Digest]*entry) int {
	n := 0
	for _, e := range rs {
		if e.returned {
			n++
		}
	}
	return n
}

// read reads a blob whole with ByteStream Read.
func read(ctx context.Context, bs bspb.ByteStreamClient, d digest.Digest) ([]byte, error) {
	r, err := bs.Read(ctx, &bspb.ReadRequest{ResourceName: fmt.Sprintf("blobs/%s/%d", d.Hash, d.Size)})
	if err != nil {
		return nil, err
	}
	var b []byte
	for {
		resp, err := r.Recv()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		b = append(b, resp.Data...)
	}
}
