package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// runKafka is `connector kafka`: a single-node Kafka broker for local
// development and tests (franz-go's kfake: produce, consume, groups,
// transactions, compaction), until SIGINT or SIGTERM. With --data-dir it
// keeps its log across restarts; without, it is in memory.
func runKafka(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9092", "address to listen on (host:port; port 0 picks a free one)")
	topics := fs.String("topics", "", "topics to create at start, comma-separated")
	partitions := fs.Int("partitions", 4, "partitions of the topics created at start")
	dataDir := fs.String("data-dir", "", "directory to persist the log in (default: memory only)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	opts := []kfake.Opt{kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }), kfake.NumBrokers(1)}
	if *topics != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), strings.Split(*topics, ",")...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start the broker: %w", err)
	}
	defer cluster.Close()
	fmt.Fprintf(stdout, "Kafka broker (kfake) on %s\n", cluster.ListenAddrs()[0])
	<-ctx.Done()
	return nil
}
