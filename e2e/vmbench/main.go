// Command vmbench measures one running actiond for e2e/bench_vm.sh and
// prints Markdown table rows.
//
//	vmbench channel -addr HOST:PORT -tool FILE -label L [-blob-mib 256] [-execs 30]
//	    ByteStream.Write and Read throughput of one random blob, then the
//	    latency of Execute for a trivial action (FILE run with argument
//	    "true", a salt per run so that every one executes).
//	vmbench stages -label L LOG
//	    p50 and p95 of the per-action stage times in a daemon log: the
//	    "action done" records of linux_actiond serve (JSON), or those of the
//	    guest that serve-vm logs as the "line" of its "guest" records.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("vmbench: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: vmbench channel|stages ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	label := fs.String("label", "", "first column of the row")
	switch os.Args[1] {
	case "channel":
		addr := fs.String("addr", "", "daemon address host:port")
		tool := fs.String("tool", "", "static program run as the trivial action (go/sandbox/testdata/probe)")
		blobMiB := fs.Int("blob-mib", 256, "size of the ByteStream blob in MiB")
		execs := fs.Int("execs", 30, "number of trivial Executes")
		_ = fs.Parse(os.Args[2:])
		row, err := channelRow(*addr, *tool, *blobMiB, *execs)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("| %s | %s |\n", *label, row)
	case "stages":
		_ = fs.Parse(os.Args[2:])
		if fs.NArg() != 1 {
			log.Fatal("usage: vmbench stages -label L LOG")
		}
		row, err := stagesRow(fs.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("| %s | %s |\n", *label, row)
	default:
		log.Fatalf("unknown command %q: want channel or stages", os.Args[1])
	}
}
