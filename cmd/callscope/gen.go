package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/callscope/callscope/internal/gen"
)

func runGen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "", "catalogue scenario to write")
	out := fs.String("w", "", "output file")
	list := fs.Bool("list", false, "list the catalogue")
	load := fs.Int("load-calls", 0, "write a load scenario with this many overlapping calls instead")
	secs := fs.Int("call-seconds", 60, "call length of the load scenario")
	seed := fs.Int64("seed", 1, "seed of the load scenario")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *list {
		for _, s := range gen.Catalogue() {
			fmt.Fprintln(stdout, s.Name)
		}
		return nil
	}
	var sc gen.Scenario
	switch {
	case *load > 0:
		sc = gen.Load(*load, *secs, *seed)
	case *name != "":
		found := false
		for _, s := range gen.Catalogue() {
			if s.Name == *name {
				sc, found = s, true
			}
		}
		if !found {
			return fmt.Errorf("gen: no scenario %q (gen -list)", *name)
		}
	default:
		fmt.Fprintln(stderr, "callscope gen: -scenario NAME or -load-calls N, and -w FILE")
		return errUsage
	}
	if *out == "" {
		return errUsage
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	truth, err := sc.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %d packets, %d calls\n", *out, truth.Packets, len(truth.Calls))
	return nil
}
