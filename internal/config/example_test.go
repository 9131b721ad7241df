package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestExampleShowsEveryKey holds config.example.yaml to its promise of
// showing every key: each YAML key of Config, by its dotted path (a list's
// items share the list's path), must be in the example, set or commented
// out. A commented-out key is a line "# key: ..." (or "# - key: ...")
// whose indentation, with the "# " taken away, places it. Remove a key from
// the example and this fails.
func TestExampleShowsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := structKeys(reflect.TypeFor[Config](), "")
	shown := exampleKeys(string(data), want)
	for _, p := range want {
		if !shown[p] {
			t.Errorf("config.example.yaml does not show %s", p)
		}
	}
}

// exampleKeys returns the dotted paths of the keys that start lines of an
// example file, set or commented out. A commented-out line counts only if
// its path is one of known, so that prose such as "# operation: object and
// operation are required" is not taken for a key.
func exampleKeys(text string, known []string) map[string]bool {
	line := regexp.MustCompile(`^( *)(?:# ?( *))?(- )?([a-z_]+):(\s.*)?$`)
	type open struct {
		indent int
		key    string
	}
	var stack []open
	shown := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		commented := strings.HasPrefix(strings.TrimLeft(l, " "), "#")
		indent := len(m[1]) + len(m[2]) + len(m[3])
		parents := stack
		for len(parents) > 0 && parents[len(parents)-1].indent >= indent {
			parents = parents[:len(parents)-1]
		}
		path := m[4]
		if len(parents) > 0 {
			path = parents[len(parents)-1].key + "." + m[4]
		}
		if commented && !slices.Contains(known, path) {
			continue
		}
		shown[path] = true
		// A commented-out key opens a mapping only if it has no value
		// ("# oauth:  # ..."), so that prose does not move the keys that follow.
		if value := strings.TrimSpace(m[5]); !commented || value == "" || strings.HasPrefix(value, "#") {
			stack = append(parents, open{indent, path})
		}
	}
	return shown
}

// structKeys returns the dotted paths of the YAML keys of struct t and of
// the structs it holds, directly or in lists. A map's keys are data.
func structKeys(t reflect.Type, prefix string) []string {
	var ps []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		p := prefix + yamlKey(f)
		ps = append(ps, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		// A type that reads itself from YAML (Reserve) is one value.
		_, custom := reflect.PointerTo(ft).MethodByName("UnmarshalYAML")
		if ft.Kind() == reflect.Struct && !custom {
			ps = append(ps, structKeys(ft, p+".")...)
		}
	}
	return ps
}
