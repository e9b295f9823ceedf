//go:build linux

package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/actiond/actiond/go/sandbox"
)

// reportPercentiles adds p50 and p90 of the per-run durations to b's output.
func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*9/10].Microseconds())/1000, "p90-ms")
}

// BenchmarkRun measures whole sandboxed runs of a program that does
// nothing, back to back; compare with BenchmarkPlainExec for the sandbox
// overhead. Run with: go test -run '^$' -bench . -benchtime 200x
func BenchmarkRun(b *testing.B) {
	benchmarkRun(b, sandbox.Options{}, 0)
}

// BenchmarkRunSpaced leaves 20 ms between runs (not timed), as when actions
// arrive one at a time: the latency one action sees once the pre-started
// inits are ready.
func BenchmarkRunSpaced(b *testing.B) {
	benchmarkRun(b, sandbox.Options{}, 20*time.Millisecond)
}

// BenchmarkRunNoPrestart starts an init per action.
func BenchmarkRunNoPrestart(b *testing.B) {
	benchmarkRun(b, sandbox.Options{Prestart: -1}, 0)
}

func benchmarkRun(b *testing.B, opts sandbox.Options, gap time.Duration) {
	requireRoot(b)
	requireProbe(b)
	r := newRunner(b, opts)
	spec := probeSpec(b, "true")
	runSpaced(b, r, spec, gap)
}

// runSpaced runs spec b.N times, gap apart (not timed), and reports the
// percentiles of whole runs plus the p50 of the sandbox's own stages.
func runSpaced(b *testing.B, r *sandbox.Runner, spec sandbox.Spec, gap time.Duration) {
	var setup, config, mounts, spawn, run, teardown []time.Duration
	d := make([]time.Duration, 0, b.N)
	for b.Loop() {
		if gap > 0 {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
		}
		start := time.Now()
		res, err := r.Run(context.Background(), spec)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run = %+v, %v", res, err)
		}
		d = append(d, time.Since(start))
		setup = append(setup, res.Timings.Setup)
		config = append(config, res.Timings.SetupConfig)
		mounts = append(mounts, res.Timings.SetupMounts)
		spawn = append(spawn, res.Timings.Spawn)
		run = append(run, res.Timings.Run)
		teardown = append(teardown, res.Timings.Teardown)
	}
	reportPercentiles(b, d)
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"setup", setup}, {"config", config}, {"mounts", mounts}, {"spawn", spawn}, {"run", run}, {"teardown", teardown}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, m.name+"-p50-ms")
	}
}

// BenchmarkRunHostLibs runs the host's dynamically linked /bin/true with
// /usr, /lib and /lib64 bound read-only, the shape of a real action.
func BenchmarkRunHostLibs(b *testing.B) {
	requireRoot(b)
	r := newRunner(b, sandbox.Options{})
	dir := b.TempDir()
	spec := sandbox.Spec{
		Args:   []string{"/usr/bin/true"},
		Stdout: filepath.Join(dir, "stdout"),
		Stderr: filepath.Join(dir, "stderr"),
	}
	for _, p := range []string{"/usr", "/lib", "/lib64"} {
		if _, err := os.Stat(p); err == nil {
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: p, Target: p, ReadOnly: true})
		}
	}
	d := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		res, err := r.Run(context.Background(), spec)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run = %+v, %v", res, err)
		}
		d = append(d, time.Since(start))
	}
	reportPercentiles(b, d)
}

// BenchmarkPlainExec is the baseline: fork, exec and wait for the same
// program without a sandbox. spawn-p50-ms (until the exec succeeded) is to
// compare with the sandbox's Timings.Spawn.
func BenchmarkPlainExec(b *testing.B) {
	requireProbe(b)
	d := make([]time.Duration, 0, b.N)
	spawn := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		p, err := os.StartProcess(probePath, []string{"probe", "true"}, &os.ProcAttr{})
		spawn = append(spawn, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if st, err := p.Wait(); err != nil || !st.Success() {
			b.Fatalf("probe true: %v, %v", st, err)
		}
		d = append(d, time.Since(start))
	}
	reportPercentiles(b, d)
	slices.Sort(spawn)
	b.ReportMetric(float64(spawn[len(spawn)/2].Microseconds())/1000, "spawn-p50-ms")
}

// BenchmarkRunActionShape runs the no-op probe with the mounts of a typical
// remote action: the execroot as an overlay, 16 read-only binds of cached
// input subtrees and 5 runtime binds, one action at a time (20 ms apart), so
// setup-p50-ms is the sandbox's own cost for that many mounts.
func BenchmarkRunActionShape(b *testing.B) {
	requireRoot(b)
	requireProbe(b)
	r := newRunner(b, sandbox.Options{})
	spec := probeSpec(b, "true")
	base := b.TempDir()
	mk := func(p string) string {
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		return p
	}
	lower := mk(filepath.Join(base, "lower"))
	for i := range 16 {
		mk(filepath.Join(lower, "src", string(rune('a'+i))))
	}
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Overlay, Target: "/execroot",
		Lower: []string{lower}, Upper: mk(filepath.Join(base, "upper")), Work: mk(filepath.Join(base, "work"))})
	for i := range 16 {
		name := string(rune('a' + i))
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, ReadOnly: true,
			Source: mk(filepath.Join(base, "cache", name)), Target: "/execroot/src/" + name})
	}
	for _, t := range []string{"/lib", "/lib64", "/usr/lib", "/bin", "/usr/bin"} {
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, ReadOnly: true,
			Source: mk(filepath.Join(base, "rt", t)), Target: t})
	}
	runSpaced(b, r, spec, 20*time.Millisecond)
}
