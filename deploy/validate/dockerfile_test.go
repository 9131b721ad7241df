package validate

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stage is one FROM of a Dockerfile and its instructions.
type stage struct {
	from  string
	lines []string
}

func dockerfileStages(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if from, ok := strings.CutPrefix(line, "FROM "); ok {
			stages = append(stages, stage{from: from})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before any FROM", line)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(stages))
	}
	return stages
}

// dockerfileUser returns the USER of the final stage.
func dockerfileUser(t *testing.T) string {
	t.Helper()
	stages := dockerfileStages(t)
	user := ""
	for _, l := range stages[len(stages)-1].lines {
		if u, ok := strings.CutPrefix(l, "USER "); ok {
			user, _, _ = strings.Cut(u, ":")
		}
	}
	return user
}

func TestDockerfile(t *testing.T) {
	stages := dockerfileStages(t)
	build, final := stages[0], stages[len(stages)-1]

	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil || !strings.HasPrefix(build.from, "golang:"+string(goVersion[1])+" ") {
		t.Errorf("build stage FROM %s: want golang:%s, the Go of go.mod", build.from, goVersion[1])
	}
	static := false
	for _, l := range build.lines {
		static = static || (strings.HasPrefix(l, "RUN ") && strings.Contains(l, "CGO_ENABLED=0") && strings.Contains(l, "./cmd/connector"))
	}
	if !static {
		t.Error("the build stage does not build ./cmd/connector with CGO_ENABLED=0 (a static binary)")
	}
	// The stamps cmd/connector/version.go reads, as deploy/ci.sh sets them.
	buildLines := strings.Join(build.lines, "\n")
	for _, stamp := range []string{"-X main.version=", "-X main.commit=", "-X main.date="} {
		if !strings.Contains(buildLines, stamp) {
			t.Errorf("the build stage does not stamp %s (connector version would print devel or unknown)", stamp)
		}
	}
	// The files come from deploy/image, as in the image deploy/ci.sh builds.
	if !strings.Contains(buildLines, "go -C deploy/image run . rootfs") || !slices.Contains(final.lines, "COPY --from=build /out/rootfs /") {
		t.Error("the image's files are not deploy/image's rootfs: the Dockerfile and deploy/ci.sh would build different images")
	}
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", final.from)
	}
	if u := dockerfileUser(t); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q: want a non-root user", u)
	}
}
