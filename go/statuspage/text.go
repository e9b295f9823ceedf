package statuspage

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/progress"
)

// WriteText renders snap for a terminal: the same facts as the page, with
// at most lastFinished finished actions.
func WriteText(w io.Writer, snap activity.Snapshot, lastFinished int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "actiond %s, %s, up %s, %d job slots\n", snap.Version, snap.Mode, formatDuration(snap.Uptime()), snap.Summary.Jobs)
	fmt.Fprintf(&b, "CAS: %s of %s (%.0f%%), %d blobs, %d evicted\n",
		progress.FormatBytes(snap.CAS.Bytes), progress.FormatBytes(snap.CAS.MaxBytes), percent(snap.CAS.Bytes, snap.CAS.MaxBytes), snap.CAS.Blobs, snap.CAS.Evictions)
	if runtimes := snap.Summary.RuntimeProperties(); len(runtimes) > 0 {
		fmt.Fprintf(&b, "Runtimes: %s\n", strings.Join(runtimes, ", "))
	} else {
		b.WriteString("Runtimes: none (actions get only their inputs)\n")
	}
	if len(snap.Outcomes) > 0 {
		var parts []string
		for _, o := range sortedKeys(snap.Outcomes) {
			parts = append(parts, fmt.Sprintf("%s %d", o, snap.Outcomes[o]))
		}
		fmt.Fprintf(&b, "Finished: %s\n", strings.Join(parts, ", "))
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(&b, "\nRunning and queued: %d\n", len(snap.Active))
	if len(snap.Active) > 0 {
		fmt.Fprintln(tw, "STATE\tACTION\tPROGRAM\tELAPSED\tDIGEST")
		for _, a := range snap.Active {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.State, program(a), a.Argv0, formatDuration(a.Elapsed(snap.Now)), shortDigest(a.ActionDigest))
		}
		tw.Flush()
	}
	n := min(lastFinished, len(snap.Finished))
	fmt.Fprintf(&b, "\nLast finished: %d of %d kept\n", n, len(snap.Finished))
	if n > 0 {
		fmt.Fprintln(tw, "DONE\tOUTCOME\tEXIT\tACTION\tTOTAL\tQUEUE\tINPUT\tSETUP\tRUN\tOUTPUT\tSTDERR")
		for _, a := range snap.Finished[:n] {
			exit := ""
			if a.ExitCode >= 0 {
				exit = fmt.Sprint(a.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				a.Finished.Local().Format("15:04:05"), a.Outcome, exit, program(a), formatDuration(a.Elapsed(snap.Now)),
				formatMillis(a.Stages.Queue), formatMillis(a.Stages.Input), formatMillis(a.Stages.Setup),
				formatMillis(a.Stages.Run), formatMillis(a.Stages.Output), shortDigest(a.Stderr))
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}
