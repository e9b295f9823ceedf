package doctor

import (
	"context"
	"fmt"
	"os"
)

// guestKernel finds the guest kernel as serve-vm would: --kernel, else the
// one embedded in the binary.
func guestKernel(ctx context.Context, opts Options) (Check, string) {
	c := Check{Name: "guest kernel", Impact: vmOnly(Blocks)}
	kernel, from := opts.Kernel, "--kernel"
	if kernel == "" && opts.KernelFor != nil {
		var err error
		if kernel, err = opts.KernelFor(ctx); err != nil {
			c.State, c.Detail = Missing, fmt.Sprintf("the embedded kernel: %v", err)
			c.Fix = "pass --kernel FILE"
			return c, ""
		}
		from = "embedded in this binary"
	}
	if kernel == "" {
		c.State, c.Detail = Missing, "none embedded in this binary and no --kernel"
		c.Fix = "pass --kernel FILE (kernel/build.sh builds one), or use the standalone binary, which carries one"
		return c, ""
	}
	if _, err := os.Stat(kernel); err != nil {
		c.State, c.Detail, c.Fix = Missing, err.Error(), "pass --kernel with an existing file"
		return c, ""
	}
	c.Detail = kernel + " (" + from + ")"
	return c, kernel
}
