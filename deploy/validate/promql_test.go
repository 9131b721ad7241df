package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/bulkstream/bulkstream/internal/metrics"
)

// catalogue is every metric internal/metrics registers (metrics.New and
// metrics.RegisterBuild): name → labels, and whether it is a histogram.
type catalogue map[string]metricInfo

type metricInfo struct {
	labels    []string
	histogram bool
}

// collecting is a prometheus.Registerer that keeps the collectors.
type collecting struct{ cs []prometheus.Collector }

func (r *collecting) Register(c prometheus.Collector) error { r.cs = append(r.cs, c); return nil }
func (r *collecting) MustRegister(cs ...prometheus.Collector) {
	r.cs = append(r.cs, cs...)
}
func (r *collecting) Unregister(prometheus.Collector) bool { return false }

var descPattern = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

func metricCatalogue(t *testing.T) catalogue {
	t.Helper()
	reg := &collecting{}
	metrics.New(reg)
	metrics.RegisterBuild(reg, metrics.Build{})
	cat := catalogue{}
	for _, c := range reg.cs {
		ch := make(chan *prometheus.Desc, 4)
		go func() { c.Describe(ch); close(ch) }()
		_, histogram := c.(prometheus.Histogram)
		if _, ok := c.(*prometheus.HistogramVec); ok {
			histogram = true
		}
		for d := range ch {
			m := descPattern.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			var ls []string
			for l := range strings.SplitSeq(m[2], ",") {
				if l = strings.TrimSpace(l); l != "" {
					ls = append(ls, l)
				}
			}
			cat[m[1]] = metricInfo{labels: ls, histogram: histogram}
		}
	}
	if len(cat) < 10 {
		t.Fatalf("only %d metrics found in internal/metrics", len(cat))
	}
	return cat
}

// targetLabels are the labels Prometheus adds to every series it scrapes
// from a pod (the Prometheus Operator's monitors set them all), which
// alerts and dashboards use to tell deployments and replicas apart.
var targetLabels = []string{"namespace", "job", "instance", "pod"}

// scrapeMetrics are the series Prometheus makes for every target itself.
var scrapeMetrics = map[string]bool{"up": true}

// check parses expr and checks that each selector names a metric of the
// catalogue and matches only on its labels.
func (cat catalogue) check(expr string) error {
	return eachSelector(expr, func(vs *parser.VectorSelector) (problems []string) {
		name := vs.Name
		info, known := cat[name]
		if scrapeMetrics[name] {
			info, known = metricInfo{}, true
		}
		if !known {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && cat[base].histogram {
					info, known = cat[base], true
					if suffix == "_bucket" {
						info.labels = append(slices.Clone(info.labels), "le")
					}
				}
			}
		}
		if !known {
			return []string{fmt.Sprintf("%s is not a metric of internal/metrics", name)}
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName && !slices.Contains(info.labels, m.Name) && !slices.Contains(targetLabels, m.Name) {
				problems = append(problems, fmt.Sprintf("%s has no label %s (it has %v)", name, m.Name, info.labels))
			}
		}
		return problems
	})
}

// eachSelector parses expr and returns the problems check finds in each of
// its vector selectors, joined into one error, or nil without any.
func eachSelector(expr string, check func(*parser.VectorSelector) []string) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return err
	}
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			problems = append(problems, check(vs)...)
		}
		return nil
	})
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// alertTemplateVars are the variables Prometheus defines before it expands
// an annotation.
const alertTemplateVars = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}"

// alertTemplateFuncs are the template functions of Prometheus's alert
// annotations the rules use, stubbed so that text/template can parse them.
var alertTemplateFuncs = template.FuncMap{
	"humanize": fmt.Sprint, "humanizePercentage": fmt.Sprint, "humanizeDuration": fmt.Sprint,
}

// runbookBase is where the alerts' runbook_url point: a heading of the
// README.
const runbookBase = "https://github.com/bulkstream/bulkstream/blob/main/README.md#"

// markdownAnchors are the anchors GitHub gives the headings of a markdown
// file: lower case, spaces to dashes, other punctuation dropped.
func markdownAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile("[^a-z0-9 _-]")
	for line := range strings.SplitSeq(string(data), "\n") {
		if heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(heading)), ""), " ", "-")] = true
		}
	}
	return anchors
}

// scopedByDeployment checks that every aggregation of expr keeps the
// namespace and the job, so that an alert fires for one deployment of the
// connector and not for the sum of all of them.
func scopedByDeployment(expr string) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return err
	}
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if a, ok := n.(*parser.AggregateExpr); ok && (a.Without || !slices.Contains(a.Grouping, "namespace") || !slices.Contains(a.Grouping, "job")) {
			problems = append(problems, fmt.Sprintf("%s: want by (namespace, job, …)", a))
		}
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// TestRunbookPauseReasons: the runbook of BulkstreamPaused says what to do
// for every reason bulkstream_paused can report (salesforce_credentials has
// an alert of its own), so that a reason added to internal/metrics needs
// its runbook.
func TestRunbookPauseReasons(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := func(heading string) string {
		_, after, ok := strings.Cut(string(data), "\n#### "+heading+"\n")
		if !ok {
			t.Fatalf("README.md has no heading #### %s", heading)
		}
		text, _, _ := strings.Cut(after, "\n#")
		return text
	}
	paused := section("BulkstreamPaused")
	for _, reason := range metrics.PauseReasons {
		if reason == "salesforce_credentials" {
			continue // BulkstreamPaused leaves it to BulkstreamCredentialsRefused
		}
		if !strings.Contains(paused, "`"+reason+"`") {
			t.Errorf("the runbook of BulkstreamPaused does not name the reason `%s`", reason)
		}
	}
}

func TestAlertRules(t *testing.T) {
	cat := metricCatalogue(t)
	readmeAnchors := markdownAnchors(t, "../../README.md")
	rule := loadManifests(t).prometheusRule
	seen := map[string]bool{}
	n := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("rule %q: want a unique alert name", r.Alert)
			}
			seen[r.Alert] = true
			if err := cat.check(r.Expr.String()); err != nil {
				t.Errorf("%s: expr %q: %v", r.Alert, r.Expr.String(), err)
			}
			if err := scopedByDeployment(r.Expr.String()); err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
			if anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase); !ok || !readmeAnchors[anchor] {
				t.Errorf("%s: runbook_url %q: want %s and a heading of README.md", r.Alert, r.Annotations["runbook_url"], runbookBase)
			}
			if r.For != nil {
				if _, err := model.ParseDuration(string(*r.For)); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, *r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, key := range []string{"summary", "description"} {
				text := r.Annotations[key]
				if text == "" {
					t.Errorf("%s: no %s", r.Alert, key)
				}
				if _, err := template.New(key).Funcs(alertTemplateFuncs).Parse(alertTemplateVars + text); err != nil {
					t.Errorf("%s: %s: %v", r.Alert, key, err)
				}
			}
		}
	}
	// The issue asks for these: paused, failure rate, lag, limit reserve.
	for _, want := range []string{"BulkstreamPaused", "BulkstreamStalled", "BulkstreamFailureRateHigh", "BulkstreamLagHigh", "BulkstreamAPILimitReserveReached"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
	t.Logf("%d alert rules checked", n)
}

// dashboard is the part of a Grafana dashboard the check reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVariables are replaced before an expression is parsed, as Grafana
// does before it sends the query.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h")

// scopedByVariables checks that every selector of expr matches the
// dashboard's namespace and job variables, so that a panel shows the
// deployment chosen and not the sum of all of them.
func scopedByVariables(expr string) error {
	return eachSelector(expr, func(vs *parser.VectorSelector) (problems []string) {
		for _, want := range []string{`namespace=~"$namespace"`, `job=~"$job"`} {
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.String() == want }) {
				problems = append(problems, fmt.Sprintf("%s: no %s", vs, want))
			}
		}
		return problems
	})
}

// TestSelectorChecks: the checks of alert and panel expressions refuse an
// unknown metric, a label the metric does not have and a selector without
// the dashboard's variables, so that TestAlertRules and
// TestGrafanaDashboard can fail.
func TestSelectorChecks(t *testing.T) {
	cat := metricCatalogue(t)
	for expr, want := range map[string]string{
		`rate(bulkstream_no_such_total[5m])`:                           "not a metric of internal/metrics",
		`up{job="x", no_such_label="y"}`:                               "has no label no_such_label",
		`histogram_quantile(0.9, rate(bulkstream_no_such_bucket[5m]))`: "not a metric",
	} {
		if err := cat.check(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check(%s) = %v, want %q", expr, err, want)
		}
	}
	if err := cat.check(`up{namespace="a", job="b", pod="c"}`); err != nil {
		t.Errorf("up with target labels: %v", err)
	}
	if err := scopedByVariables(`up{namespace=~"$namespace"} + up{namespace=~"$namespace", job=~"$job"}`); err == nil || !strings.Contains(err.Error(), `no job=~"$job"`) || strings.Count(err.Error(), "no ") != 1 {
		t.Errorf("a selector without $job: %v", err)
	}
	if err := scopedByVariables(`sum(up{namespace=~"$namespace", job=~"$job"})`); err != nil {
		t.Errorf("a scoped selector: %v", err)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	cat := metricCatalogue(t)
	data, err := os.ReadFile("../grafana/bulkstream.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("bulkstream.json: %v", err)
	}
	var variables []string
	for _, v := range d.Templating.List {
		variables = append(variables, v.Name)
	}
	if d.UID == "" || d.Title == "" || !slices.Equal(variables, []string{"datasource", "namespace", "job"}) {
		t.Errorf("dashboard uid %q title %q variables %v: want a uid, a title and the variables datasource, namespace, job", d.UID, d.Title, variables)
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.Title == "" || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: want a unique id, a title, and a place in the 24-column grid (%+v)", p.ID, p.Title, p.GridPos)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want the ${datasource} variable and at least one query", p.Title)
		}
		for _, q := range p.Targets {
			if err := cat.check(grafanaVariables.Replace(q.Expr)); err != nil {
				t.Errorf("panel %q: %q: %v", p.Title, q.Expr, err)
			}
			if err := scopedByVariables(grafanaVariables.Replace(q.Expr)); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
			for name := range cat {
				if strings.Contains(q.Expr, name) {
					used[name] = true
				}
			}
		}
	}
	// Every metric is on the dashboard somewhere.
	for name := range cat {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
