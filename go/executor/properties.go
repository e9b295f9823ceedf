package executor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/sandbox"
)

// properties are the exec properties an action asked for.
type properties struct {
	libc string // "" when none was asked for ("none" is folded into "")
	// runtime names a rootfs runtime, the action's whole / (propRuntime);
	// "" when none was asked for.
	runtime      string
	requiresBash bool
	// mutatesInputs gives the action a copy-on-write view of its inputs
	// that it may change in place (propMutatesInputs).
	mutatesInputs bool
	limits        sandbox.Limits
}

// Property names. Each limit has aliases, the spellings in use with other
// remote executors, so that a client's existing exec_properties work as they
// are.
const (
	propLibc = "libc"
	// propRuntime selects a rootfs runtime (a toolchain tree with its own
	// libc and shell) as the action's /.
	propRuntime      = "runtime"
	propRequiresBash = "requires-bash"
	// propMutatesInputs lets an action delete, rename, chmod and replace its
	// inputs. Without it inputs are read-only to the action in every mode.
	propMutatesInputs = "mutates_inputs"
)

var (
	memoryProps = []string{"limits.memory.bytes", "memory", "memory_bytes", "resources:memory:bytes"}
	cpuProps    = []string{"limits.cpu.cores", "cpu", "cores", "resources:cpu:cores"}
	pidsProps   = []string{"limits.pids.max", "pids.max", "pids"}
)

// platformOf returns the platform to honour: the Action's, falling back to
// the Command's (REAPI 2.2 moved it to Action; Bazel 4.2.3 sends both, older
// clients only the Command's).
func platformOf(action *repb.Action, cmd *repb.Command) *repb.Platform {
	if len(action.GetPlatform().GetProperties()) > 0 {
		return action.GetPlatform()
	}
	return cmd.GetPlatform()
}

// parseProperties validates p. The spec says an unknown name SHOULD be
// rejected, so it is (INVALID_ARGUMENT naming it and the accepted names),
// except the names in allowed, which are accepted and ignored. The order of
// properties is not checked: sorting only matters for the client's own
// digest, and rejecting an unsorted list would help nobody. A name we
// interpret may appear only once, since two values would be ambiguous.
func parseProperties(p *repb.Platform, allowed map[string]bool) (properties, error) {
	var props properties
	seen := map[string]string{}
	for _, prop := range p.GetProperties() {
		name, value := prop.GetName(), prop.GetValue()
		if allowed[name] {
			continue
		}
		if !slices.Contains(knownProperties(), name) {
			return properties{}, rpcstatus.Newf(codes.InvalidArgument, "unknown exec property %q; accepted names: %s", name, strings.Join(acceptedProperties(allowed), ", "))
		}
		if prev, ok := seen[name]; ok {
			return properties{}, rpcstatus.Newf(codes.InvalidArgument, "exec property %q is given twice (%q and %q)", name, prev, value)
		}
		seen[name] = value
		var err error
		switch {
		case name == propLibc:
			if value != "none" {
				props.libc = value
			}
		case name == propRuntime:
			props.runtime = value
		case name == propRequiresBash:
			// Any value means yes: the property is a flag, and Bazel users
			// write both requires-bash="" and requires-bash="1".
			props.requiresBash = true
		case name == propMutatesInputs:
			props.mutatesInputs, err = parseSwitch(name, value)
		case slices.Contains(memoryProps, name):
			err = setLimit(&props.limits.MemoryBytes, name, value, parseBytes, seen, memoryProps)
		case slices.Contains(cpuProps, name):
			err = setLimit(&props.limits.CPUMillis, name, value, parseCores, seen, cpuProps)
		case slices.Contains(pidsProps, name):
			err = setLimit(&props.limits.Pids, name, value, parseCount, seen, pidsProps)
		}
		if err != nil {
			return properties{}, err
		}
	}
	if props.runtime != "" && props.libc != "" {
		// Two libcs in one /: the rootfs's programs would load the one
		// they were built against from its /lib, and the other could only
		// be mounted over it, breaking them.
		return properties{}, rpcstatus.Newf(codes.InvalidArgument, "exec properties %s=%q and %s=%q exclude each other: a rootfs runtime brings its own libc", propRuntime, props.runtime, propLibc, props.libc)
	}
	return props, nil
}

// setLimit parses value into *dst, refusing a second alias of the same limit.
func setLimit(dst *int64, name, value string, parse func(string) (int64, error), seen map[string]string, aliases []string) error {
	for _, alias := range aliases {
		if prev, ok := seen[alias]; ok && alias != name {
			return rpcstatus.Newf(codes.InvalidArgument, "exec properties %q=%q and %q=%q set the same limit", alias, prev, name, value)
		}
	}
	n, err := parse(value)
	if err != nil {
		return rpcstatus.Newf(codes.InvalidArgument, "exec property %q=%q: %v", name, value, err)
	}
	*dst = n
	return nil
}

func knownProperties() []string {
	names := []string{propLibc, propRuntime, propRequiresBash, propMutatesInputs}
	names = append(names, memoryProps...)
	names = append(names, cpuProps...)
	return append(names, pidsProps...)
}

func acceptedProperties(allowed map[string]bool) []string {
	names := knownProperties()
	for name := range allowed {
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// parseBytes reads a positive byte count with an optional K, M, G or T
// suffix, also spelled Ki/KiB/KB; every spelling is a power of 1024 (512M and
// 512MB are both 512 MiB).
// parseSwitch reads an on/off property: 1, true, yes, on; or 0, false, no,
// off and the empty string. Anything else is INVALID_ARGUMENT rather than
// a guess.
func parseSwitch(name, value string) (bool, error) {
	switch strings.ToLower(value) {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	}
	return false, rpcstatus.Newf(codes.InvalidArgument, "exec property %q=%q: want 1, true, yes or on, or 0, false, no, off or empty", name, value)
}

func parseBytes(s string) (int64, error) {
	num, unit := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = s[:i], s[i:]
	}
	shift := 0
	switch u := strings.ToUpper(unit); strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I") {
	case "":
		if u != "" {
			return 0, fmt.Errorf("unknown unit %q; want K, M, G or T", unit)
		}
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("unknown unit %q; want K, M, G or T", unit)
	}
	n, err := parsePositive(num)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("too large")
	}
	return n << shift, nil
}

// parseCores reads a CPU count as whole or fractional cores ("2", "0.5") or
// millicores ("500m") and returns millicores.
func parseCores(s string) (int64, error) {
	if m, ok := strings.CutSuffix(s, "m"); ok {
		return parsePositive(m)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number of cores")
	}
	millis := math.Round(f * 1000)
	if millis < 1 {
		return 0, fmt.Errorf("must be at least 0.001 cores")
	}
	if millis > 1e12 {
		return 0, fmt.Errorf("too large")
	}
	return int64(millis), nil
}

func parseCount(s string) (int64, error) { return parsePositive(s) }

func parsePositive(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a positive integer")
	}
	if n <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return n, nil
}
