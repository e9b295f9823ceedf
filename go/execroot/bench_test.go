package execroot_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
)

// benchTree is shaped like a Bazel input root: sources in src/pkgNN,
// a toolchain in external/, generated inputs in bazel-out/.../bin/pkgNN,
// plus a top-level file (extra) to make distinct roots that share subtrees.
// scale 1 has 400 files in 16 directories; scale 25 has 10,000.
func benchTree(scale int, extra string) []ent {
	var ents []ent
	add := func(dir string, n int) {
		for i := range n {
			ents = append(ents, ent{path: fmt.Sprintf("%s/file%04d.h", dir, i), content: fmt.Sprintf("// %s %d\n", dir, i)})
		}
	}
	for p := range 5 {
		add(fmt.Sprintf("src/pkg%d", p), 40*scale)
	}
	add("external/tc/bin", 40*scale)
	add("external/tc/include", 80*scale)
	add("bazel-out/k8-fastbuild/bin/pkg0", 40*scale)
	add("bazel-out/k8-fastbuild/bin/pkg1", 40*scale)
	return append(ents, ent{path: "BUILD", content: extra})
}

// benchCmd writes its output where Bazel would: under bazel-out.
var benchCmd = &repb.Command{OutputFiles: []string{"bazel-out/k8-fastbuild/bin/pkg0/out.o", "bazel-out/k8-fastbuild/bin/pkg0/out.d"}}

func benchPrepare(b *testing.B, bl *execroot.Builder, root digest.Digest) {
	r, err := bl.Prepare(context.Background(), root, benchCmd, execroot.PrepareOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPrepare measures Prepare+Close of one action. Cases:
// Cold: a fresh Builder (nothing cached; every file linked).
// NewRootSharedDirs: a root not seen before whose subtrees are in the
// directory cache (a different action over the same sources).
// Warm: the same input root again.
func BenchmarkPrepare(b *testing.B) {
	for _, size := range []struct {
		name  string
		scale int
	}{{"400files", 1}, {"10000files", 25}} {
		s := newStore(b)
		root := putTree(b, s, benchTree(size.scale, "base"))
		b.Run(size.name+"/Cold", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				bl := newBuilder(b, s, nil)
				b.StartTimer()
				benchPrepare(b, bl, root)
			}
		})
		b.Run(size.name+"/NewRootSharedDirs", func(b *testing.B) {
			bl := newBuilder(b, s, func(o *execroot.Options) { o.MaxCacheEntries = 1 << 20 })
			benchPrepare(b, bl, root)
			roots := make([]digest.Digest, b.N)
			for i := range roots {
				roots[i] = putTree(b, s, benchTree(size.scale, fmt.Sprint(i)))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchPrepare(b, bl, roots[i])
			}
		})
		b.Run(size.name+"/Warm", func(b *testing.B) {
			bl := newBuilder(b, s, nil)
			benchPrepare(b, bl, root)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchPrepare(b, bl, root)
			}
		})
		b.Run(size.name+"/ColdNoBinds", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				bl := newBuilder(b, s, func(o *execroot.Options) { o.BindThreshold = 1 << 30 })
				b.StartTimer()
				benchPrepare(b, bl, root)
			}
		})
	}
}

// BenchmarkPrepareWarmPaced is Warm with 20 ms between actions (excluded
// from the timing), as when actions actually run: the background goroutines
// then keep action directories ready and remove used ones in between.
func BenchmarkPrepareWarmPaced(b *testing.B) {
	for _, size := range []struct {
		name  string
		scale int
	}{{"400files", 1}, {"10000files", 25}} {
		b.Run(size.name, func(b *testing.B) {
			s := newStore(b)
			root := putTree(b, s, benchTree(size.scale, "base"))
			bl := newBuilder(b, s, nil)
			benchPrepare(b, bl, root)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				time.Sleep(20 * time.Millisecond)
				b.StartTimer()
				benchPrepare(b, bl, root)
			}
		})
	}
}

// BenchmarkActionOverhead runs the execroot part of a warm action, paced
// 5 ms apart: Prepare, the "action" writes the two outputs of benchCmd (a
// compile: out.o and out.d) into the upper dir, CollectOutputs moves them
// into the CAS, Close. It reports the p50 of each step.
func BenchmarkActionOverhead(b *testing.B) {
	s := newStore(b)
	root := putTree(b, s, benchTree(1, "base"))
	bl := newBuilder(b, s, nil)
	benchPrepare(b, bl, root)
	var prep, coll, cl []time.Duration
	for i := 0; i < b.N; i++ {
		time.Sleep(5 * time.Millisecond)
		t0 := time.Now()
		r, err := bl.Prepare(context.Background(), root, benchCmd, execroot.PrepareOptions{})
		if err != nil {
			b.Fatal(err)
		}
		prep = append(prep, time.Since(t0))
		up := upperOf(r)
		writeFile(b, up+"/bazel-out/k8-fastbuild/bin/pkg0/out.o", fmt.Sprintf("object %d", i), 0o644)
		writeFile(b, up+"/bazel-out/k8-fastbuild/bin/pkg0/out.d", fmt.Sprintf("deps %d", i), 0o644)
		t1 := time.Now()
		if err := r.CollectOutputs(context.Background(), benchCmd, &repb.ActionResult{}); err != nil {
			b.Fatal(err)
		}
		coll = append(coll, time.Since(t1))
		t2 := time.Now()
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		cl = append(cl, time.Since(t2))
	}
	for name, ds := range map[string][]time.Duration{"prepare": prep, "collect": coll, "close": cl} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), name+"-p50-us")
	}
}
