// Command connector is Bulkstream's one binary. Its subcommands:
//
//	connector run        the streaming pipeline (--config FILE)
//	connector replay     replay a dead-letter topic through the pipeline (--config FILE --from TOPIC)
//	connector check      check a configuration against Kafka and Salesforce (--config FILE)
//	connector emulator   serve a local Salesforce Bulk API 2.0 emulator
//	connector version    print the version, commit and build date (also --version)
//
// Run "connector help <command>" (or "connector <command> -h") for a
// command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its name, a one-line summary, and its entry
// point, which gets the arguments after the name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is set in init: a command's flags print its summary (see
// parseFlags), so a composite literal here would depend on itself.
var commands []command

func init() { commands = allCommands() }

func allCommands() []command {
	return []command{
		{"demo", "the whole pipeline on an embedded Kafka broker and the emulator, with a summary (no setup)", runDemo},
		{"run", "run the streaming pipeline: Kafka change events → Bulk API 2.0 jobs → results (--config FILE)", runRun},
		{"replay", "send dead-letter records through the pipeline again, filtered (--config FILE --from TOPIC)", runReplay},
		{"check", "check a configuration against Kafka and Salesforce before any data moves: topics, objects, fields (--config FILE)", runCheck},
		{"emulator", "serve a local Salesforce Bulk API 2.0 emulator (in-memory org)", runEmulator},
		{"kafka", "serve a local single-node Kafka broker (kfake) for development and tests", runKafka},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code: 0 on
// success, 2 for a usage error, 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "-h"} // connector help CMD: the command's own help
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "connector %s: %v\n", c.name, err)
			return 2
		}
		fmt.Fprintf(stderr, "connector %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "connector: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: connector <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// usageError is a bad command line; the process exits with code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// summaryOf returns the summary of the command name ("" if none is).
func summaryOf(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

// parseFlags parses args with fs, turning flag errors into usage errors.
// Its usage lists the flags, or says there are none.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	fs.Usage = func() { // -h, or a flag the parser refused
		fmt.Fprintf(stderr, "Usage: connector %s [flags]\n\n%s.\n\n", fs.Name(), summaryOf(fs.Name()))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintln(stderr, "It takes no flags.")
			return
		}
		fmt.Fprintln(stderr, "Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
