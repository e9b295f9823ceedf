package vm

import (
	"flag"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/statuspage"
)

// ServeFlags are the serve-vm flags every host shares (linux_actiond's
// and darwin_actiond's); each binary adds its hypervisor's own.
type ServeFlags struct {
	Listen          string
	Root            string
	Kernel          string
	Initramfs       string
	RuntimeImage    string
	CASImage        string
	CASImageSizeMiB int64
	MemoryMiB       int
	CPUs            int
	Jobs            int
	StartTimeoutMS  int
	// MetricsListen is the loopback address of the guest's status page
	// and metrics, served by the host; empty means off.
	MetricsListen string
	// TLS is how the host listener speaks to clients; the guest never
	// sees it.
	TLS listener.TLSFlags
}

// Register defines the flags on fs; defaultRoot is the --root default (""
// makes --root required).
func (f *ServeFlags) Register(fs *flag.FlagSet, defaultRoot string) {
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:8980", "`address` to serve gRPC on (host:port); any but loopback needs the TLS flags")
	f.TLS.Register(fs)
	fs.StringVar(&f.Root, "root", defaultRoot, "state `directory`: vm/ holds the lock, the channel socket and by default the CAS image")
	fs.StringVar(&f.Kernel, "kernel", "", "guest kernel `file`: an x86_64 bzImage or an arm64 Image (kernel/build.sh)")
	fs.StringVar(&f.Initramfs, "initramfs", "", "guest initramfs `file` (vm/build_initramfs.sh)")
	fs.StringVar(&f.RuntimeImage, "runtime-image", "", "runtime SquashFS `image` attached read-only to the guest")
	fs.StringVar(&f.CASImage, "cas-image", "", "CAS disk image `file`, created sparse when missing and never rewritten by the host (default ROOT/vm/cas.img)")
	fs.Int64Var(&f.CASImageSizeMiB, "cas-image-size-mib", 65536, "`size` in MiB of a CAS image created now (sparse: it takes disk space only as the guest fills it)")
	fs.IntVar(&f.MemoryMiB, "memory-mib", 2048, "guest memory in `MiB`")
	fs.IntVar(&f.CPUs, "cpus", runtime.NumCPU(), "guest `CPUs`")
	fs.IntVar(&f.Jobs, "jobs", 0, "how many actions the guest runs at once (0: one per guest CPU)")
	fs.IntVar(&f.StartTimeoutMS, "start-timeout-ms", 60000, "how long the guest may take from boot to answering, in `milliseconds`")
	fs.StringVar(&f.MetricsListen, "metrics-listen", "", "loopback `address` (host:port, e.g. 127.0.0.1:9090) for the guest's status page at / and Prometheus metrics at /metrics; off when empty")
}

// StatusListen is ServeConfig.StatusListen for --metrics-listen: nil when
// it is off.
func (f *ServeFlags) StatusListen() func() (net.Listener, error) {
	if f.MetricsListen == "" {
		return nil
	}
	return func() (net.Listener, error) { return statuspage.Listen(f.MetricsListen) }
}

// Listener returns the function that opens the client listener with
// --tls-cert and its fellows, once Config accepted them, and how clients
// reach it over TLS (nil for plain gRPC), for the start-up summary.
func (f *ServeFlags) Listener() (func() (net.Listener, error), *activity.SummaryTLS, error) {
	cfg, err := f.TLS.Config()
	if err != nil {
		return nil, nil, err
	}
	return func() (net.Listener, error) { return listener.Listen(f.Listen, cfg) }, activity.NewSummaryTLS(cfg, f.TLS.Cert), nil
}

// Config checks the flags and returns the VM's Config for arch, validated.
func (f *ServeFlags) Config(arch Arch) (Config, error) {
	if f.Root == "" {
		return Config{}, fmt.Errorf("--root is required (no home or XDG_CACHE_HOME to default to)")
	}
	if err := f.TLS.Validate(f.Listen); err != nil {
		return Config{}, err
	}
	if f.MetricsListen != "" {
		if err := statuspage.CheckAddr(f.MetricsListen); err != nil {
			return Config{}, err
		}
	}
	casImage := f.CASImage
	if casImage == "" {
		casImage = DefaultCASImage(f.Root)
	}
	cfg := Config{
		Kernel:          f.Kernel,
		Initramfs:       f.Initramfs,
		CASImage:        casImage,
		CASImageSizeMiB: f.CASImageSizeMiB,
		RuntimeImage:    f.RuntimeImage,
		MemoryMiB:       f.MemoryMiB,
		CPUs:            f.CPUs,
		Jobs:            f.Jobs,
		Arch:            arch,
		StartTimeout:    time.Duration(f.StartTimeoutMS) * time.Millisecond,
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
