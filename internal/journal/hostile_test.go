package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compactEntry returns the value of an open entry of partition 0 of topic
// t whose offsets are the compact form prefix with raw.
func compactEntry(prefix string, raw []byte) []byte {
	return []byte(`{"jobId":"7508c0000000001AAA","topic":"t","partition":0,"state":"open","offsets":"` + prefix + b64.EncodeToString(raw) + `"}`)
}

// hostile are compact sets that claim much in few bytes: every offset
// there is in a two-byte run; 10,000,001 offsets in a bitmap of 1.25 MB;
// a bitmap of 750 kB (a megabyte of base64, a journal topic's default
// max.message.bytes) of every other offset, 3,000,000 ranges, which the
// encoder writes for a slice of every other record. The first two are
// refused, the third read; readBytes bounds the memory each takes to
// read, about 16 bytes a range and a few times the record.
var hostile = []struct {
	name      string
	value     []byte
	refused   bool
	readBytes uint64
}{
	{"runs_of_every_offset", compactEntry(runsPrefix, binary.AppendUvarint([]byte{0}, math.MaxInt64-1)), true, 64 << 10},
	{"bits_of_too_many", compactEntry(bitsPrefix, append([]byte{0}, append(bytes.Repeat([]byte{0xff}, maxCompactOffsets/8), 1)...)), true, 8 << 20},
	{"bits_of_every_other", compactEntry(bitsPrefix, append([]byte{0}, bytes.Repeat([]byte{0x55}, 750_000)...)), false, 3_000_000*16 + 8<<20},
}

// A compact set that claims more than a slice can hold is refused before
// its ranges take memory, and one that is large but well formed takes
// about 16 bytes a range: before, 3,000,000 ranges took 273 MB to read, as
// their slice grew, and a two-byte run was every offset there is.
func TestHostileCompactOffsetsCostLittle(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			var e Entry
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := json.Unmarshal(h.value, &e)
			runtime.ReadMemStats(&after)
			if refused := err != nil; refused != h.refused {
				t.Fatalf("%d bytes read as %d ranges, error %v; want refused %v", len(h.value), len(e.Offsets), err, h.refused)
			}
			if took := after.TotalAlloc - before.TotalAlloc; took > h.readBytes {
				t.Errorf("%d bytes took %d bytes to read (%d ranges), want at most %d", len(h.value), took, len(e.Offsets), h.readBytes)
			}
		})
	}
}

// Empty compact sets are never written (an empty set is written []), and
// are malformed: no runs, a bitmap of none, a bitmap of no set bit.
func TestEmptyCompactSetsAreMalformed(t *testing.T) {
	for _, offsets := range []string{`"runs:"`, `"bits:"`, `"bits:AA"`, `"bits:AAAA"`} {
		var e Entry
		if err := json.Unmarshal([]byte(`{"jobId":"J","topic":"t","state":"open","offsets":`+offsets+`}`), &e); err == nil {
			t.Errorf("offsets %s read as %v", offsets, e.Offsets)
		}
	}
	if v := string((&Entry{JobID: "J", Topic: "t", State: Closed, Offsets: [][2]int64{}}).Record("j").Value); !strings.Contains(v, `"offsets":[]`) {
		t.Errorf("an empty set is written %s", v)
	}
}

// A set of more offsets than a compact form takes is written as pairs,
// which read back as they were.
func TestSetsOfTooManyOffsetsAreWrittenAsPairs(t *testing.T) {
	var many [][2]int64
	for i := range int64(400) {
		many = append(many, [2]int64{i * 30_000, i*30_000 + 25_000}) // 10,000,400 offsets
	}
	_, v := roundTrip(t, Entry{Offsets: many})
	if !strings.Contains(v, `"offsets":[[0,25000],`) {
		t.Errorf("a set of 10,000,400 offsets is written %.80s…", v)
	}
}

// Read decodes the offsets of the entries of the partitions asked for
// only, and passes over, with a warning, one of them it cannot read: a
// hostile entry of another partition costs nothing and says nothing.
func TestReadPassesOverHostileEntriesWithAWarning(t *testing.T) {
	ctx := context.Background()
	const topic = "bulkstream.journal"
	seeds, cl := journalBroker(t, topic, []kfake.Opt{kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4000000"})},
		kgo.ProducerBatchMaxBytes(4_000_000), kgo.FetchMaxBytes(16<<20))
	good := Entry{JobID: "7508c0000000001AAA", Topic: "t", Partition: 0, State: Open, Offsets: [][2]int64{{0, 9}}}
	var records []*kgo.Record
	for _, h := range hostile {
		for _, p := range []string{"0", "1"} {
			v := bytes.Replace(h.value, []byte(`"partition":0`), []byte(`"partition":`+p), 1)
			records = append(records, &kgo.Record{Topic: topic, Key: []byte(h.name + "/t/" + p), Value: v})
		}
	}
	records = append(records, good.Record(topic))
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	entries, err := Read(ctx, seeds, topic, map[string][]int32{"t": {0}}, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || len(entries[0].Offsets) != 3_000_000 || len(entries[1].Offsets) != 1 {
		t.Fatalf("Read gave %d entries, want every other offset's and the good one", len(entries))
	}
	for _, h := range hostile {
		if warned := strings.Contains(log.String(), "key="+h.name+"/t/0 "); warned != h.refused {
			t.Errorf("entry %s of partition 0: warned %v, want %v", h.name, warned, h.refused)
		}
		if strings.Contains(log.String(), h.name+"/t/1") {
			t.Errorf("entry %s of partition 1, not asked for, was read", h.name)
		}
	}
}

// A set of pairs of more than MaxRanges ranges is refused before it is
// decoded, as a compact set of too many offsets is, and its entry is
// passed over (Read passes over any entry that does not unmarshal, see
// TestReadPassesOverHostileEntriesWithAWarning). Before, the pairs form
// had no bound: its ranges took 16 bytes each, and a resume holds them all.
func TestTooManyPairsAreRefused(t *testing.T) {
	pairs := func(n int) []byte {
		return []byte(`{"jobId":"7508c0000000001AAA","topic":"t","partition":0,"state":"closed","offsets":[` +
			strings.Repeat("[0,0],", n-1) + `[0,0]]}`)
	}
	value := pairs(MaxRanges + 1) // 60 MB
	var e Entry
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := json.Unmarshal(value, &e)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatalf("%d pairs read as %d ranges", MaxRanges+1, len(e.Offsets))
	}
	if took := after.TotalAlloc - before.TotalAlloc; took > 1<<20 {
		t.Errorf("%d pairs took %d bytes to refuse, want at most 1 MiB", MaxRanges+1, took)
	}
}
