package validate

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const chartDir = "../helm/bulkstream"

// kubeVersion is the Kubernetes release the chart is rendered for.
const kubeVersion = "v1.34.0"

// chartValues are the values files CI lints and renders the chart with:
// ci/*-values.yaml in the chart.
func chartValues(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want the chart's ci/*-values.yaml: %v %v", files, err)
	}
	return files
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	vals, err := common.ReadValuesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// TestHelmLint is `helm lint --strict` of the chart with each CI values
// file: warnings fail too.
func TestHelmLint(t *testing.T) {
	for _, file := range chartValues(t) {
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace = "bulkstream"
		lint.KubeVersion, _ = common.ParseKubeVersion(kubeVersion)
		res := lint.Run([]string{chartDir}, readValues(t, file))
		for _, msg := range res.Messages {
			t.Logf("%s: %s", filepath.Base(file), msg)
		}
		if len(res.Errors) > 0 || res.TotalChartsLinted != 1 {
			t.Errorf("helm lint with %s: %d charts linted, errors %v", filepath.Base(file), res.TotalChartsLinted, res.Errors)
		}
	}
}

// renderChart is `helm template RELEASE deploy/helm/bulkstream -n
// bulkstream -f file --set …`, with vals merged over the file's values;
// it returns the rendered objects, hooks included, by their path.
func renderChart(t *testing.T, file string, vals map[string]any) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	values := readValues(t, file)
	for k, v := range vals {
		values[k] = v
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "crm"
	install.Namespace = "bulkstream"
	install.Replace = true
	install.KubeVersion, _ = common.ParseKubeVersion(kubeVersion)
	rel, err := install.RunWithContext(context.Background(), chrt, values)
	if err != nil {
		return nil, err
	}
	r := rel.(*releasev1.Release)
	docs := releaseutil.SplitManifests(r.Manifest)
	for _, h := range r.Hooks {
		docs["hook "+h.Path] = h.Manifest
	}
	return docs, nil
}

// renderManifests renders the chart and decodes every object strictly
// into its type, after checking it against Kubernetes' schema.
func renderManifests(t *testing.T, file string, vals map[string]any) *manifests {
	t.Helper()
	docs, err := renderChart(t, file, vals)
	if err != nil {
		t.Fatalf("helm template with %s: %v", filepath.Base(file), err)
	}
	m := &manifests{}
	for _, doc := range docs {
		apiVersion, _ := m.add(t, filepath.Base(file), []byte(doc))
		if !strings.Contains(apiVersion, "monitoring.coreos.com") {
			checkSchema(t, filepath.Base(file), []byte(doc))
		}
	}
	return m
}

// kubeSchema is the typed schema of Kubernetes' built-in kinds that
// client-go compiles in (generated from the API server's OpenAPI document,
// for server-side apply): no network, no cluster.
var kubeSchema managedfields.TypeConverter = applyconfigurations.NewTypeConverter(scheme.Scheme)

// checkSchema validates one object against Kubernetes' schema, as the API
// server's server-side apply would: every field declared with its type,
// no duplicate keys in keyed lists (containers, env, ports, volumes); and
// its name and labels against the API server's rules for them.
func checkSchema(t *testing.T, source string, doc []byte) {
	t.Helper()
	for _, err := range schemaProblems(doc) {
		t.Errorf("%s: %v", source, err)
	}
}

func schemaProblems(doc []byte) []error {
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		return []error{err}
	}
	var problems []error
	if _, err := kubeSchema.ObjectToTyped(&u); err != nil {
		problems = append(problems, fmt.Errorf("%s %s against the Kubernetes schema: %w", u.GetKind(), u.GetName(), err))
	}
	for _, msg := range validation.IsDNS1123Subdomain(u.GetName()) {
		problems = append(problems, fmt.Errorf("%s name %q: %s", u.GetKind(), u.GetName(), msg))
	}
	for k, v := range u.GetLabels() {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			problems = append(problems, fmt.Errorf("%s label %s=%s: %s", u.GetKind(), k, v, msg))
		}
	}
	return problems
}

// TestSchemaCheckFails: the schema check finds what a strict decode into
// the Go types lets through.
func TestSchemaCheckFails(t *testing.T) {
	for name, doc := range map[string]string{
		"duplicate env": `{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}},
			spec: {containers: [{name: c, image: i, env: [{name: X, value: "1"}, {name: X, value: "2"}]}]}}}}`,
		"unknown field": `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {portz: []}}`,
		"wrong type":    `{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: "http"}]}}`,
		"bad name":      `{apiVersion: v1, kind: ConfigMap, metadata: {name: Bad_Name}}`,
	} {
		if len(schemaProblems([]byte(doc))) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}

// TestHelmTemplate renders the chart with each CI values file and checks
// the objects as deploy/kubernetes's: they agree with each other, the
// config passes the connector's parser, the alerts are those of
// deploy/kubernetes.
func TestHelmTemplate(t *testing.T) {
	kustomize := loadManifests(t)
	for _, file := range chartValues(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m := renderManifests(t, file, nil)
			env := map[string]string{"POD_NAME": "crm-bulkstream-0", "POD_NAMESPACE": "bulkstream"}
			if m.secret != nil {
				for k, v := range secretEnv(m) {
					env[k] = v
				}
			} else {
				// A Secret managed elsewhere: its keys are not known here.
				for _, k := range []string{"SF_CLIENT_ID", "SF_CLIENT_SECRET", "KAFKA_USERNAME", "KAFKA_PASSWORD"} {
					env[k] = "from-the-existing-secret"
				}
			}
			checkAgree(t, m, env)
			template, _ := m.workload(t)
			if template.Annotations["checksum/config"] == "" {
				t.Error("no checksum/config annotation on the pods: a config change would not roll them")
			}
			if m.pdb == nil || m.pdb.Spec.MaxUnavailable == nil || !subset(m.pdb.Spec.Selector.MatchLabels, template.Labels) {
				t.Errorf("PodDisruptionBudget %+v: want one with maxUnavailable, selecting the pods", m.pdb)
			}
			if m.serviceAccount != nil && template.Spec.ServiceAccountName != m.serviceAccount.Name {
				t.Errorf("serviceAccountName %q, but the chart's ServiceAccount is %s", template.Spec.ServiceAccountName, m.serviceAccount.Name)
			}
			if m.serviceMonitor != nil && (m.service == nil || !subset(m.serviceMonitor.Spec.Selector.MatchLabels, m.service.Labels)) {
				t.Error("the ServiceMonitor does not select the Service")
			}
			if m.prometheusRule != nil && !reflect.DeepEqual(m.prometheusRule.Spec, kustomize.prometheusRule.Spec) {
				t.Error("the chart's alerts (files/alerts.yaml) differ from deploy/kubernetes/prometheusrule.yaml's")
			}
		})
	}
}

// TestHelmSecrets: credentials.existingSecret references a Secret managed
// elsewhere and creates none (so the chart never overwrites it);
// credentials.values creates one, and a change of it rolls the pods.
func TestHelmSecrets(t *testing.T) {
	file := filepath.Join(chartDir, "ci", "deployment-values.yaml")
	created := renderManifests(t, file, nil)
	existing := renderManifests(t, file, map[string]any{"credentials": map[string]any{"existingSecret": "from-vault"}})
	if created.secret == nil || existing.secret != nil {
		t.Fatalf("Secret created from values: %v; with existingSecret: %v (want one, then none)", created.secret != nil, existing.secret != nil)
	}
	pod, _ := existing.workload(t)
	if ef := pod.Spec.Containers[0].EnvFrom; len(ef) != 1 || ef[0].SecretRef == nil || ef[0].SecretRef.Name != "from-vault" {
		t.Errorf("envFrom %+v: want the existing Secret from-vault", ef)
	}
	rotated := renderManifests(t, file, map[string]any{"credentials": map[string]any{"values": map[string]any{
		"SF_CLIENT_ID": "ci-client-id", "SF_CLIENT_SECRET": "rotated", "KAFKA_USERNAME": "bulkstream", "KAFKA_PASSWORD": "ci-password"}}})
	before, _ := created.workload(t)
	after, _ := rotated.workload(t)
	if before.Annotations["checksum/credentials"] == after.Annotations["checksum/credentials"] {
		t.Error("a new client secret leaves the pod template unchanged: the pods would keep the old one")
	}
	if _, err := renderChart(t, file, map[string]any{"credentials": map[string]any{}}); err == nil || !strings.Contains(err.Error(), "credentials:") {
		t.Errorf("no credentials at all: %v, want the chart to refuse", err)
	}
}

// TestHelmImage: the pods run image.repository at image.tag, by default
// the chart's appVersion, and a digest wins over the tag.
func TestHelmImage(t *testing.T) {
	file := filepath.Join(chartDir, "ci", "deployment-values.yaml")
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chrt struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chrt); err != nil || chrt.AppVersion == "" {
		t.Fatalf("Chart.yaml: appVersion %q: %v", chrt.AppVersion, err)
	}
	const repo, digest = "registry.example.com/bulkstream/connector", "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	for _, tc := range []struct {
		image map[string]any
		want  string
	}{
		{map[string]any{"repository": repo}, repo + ":" + chrt.AppVersion},
		{map[string]any{"repository": repo, "tag": "v1.2.3"}, repo + ":v1.2.3"},
		{map[string]any{"repository": repo, "tag": "v1.2.3", "digest": digest}, repo + "@" + digest},
	} {
		template, _ := renderManifests(t, file, map[string]any{"image": tc.image}).workload(t)
		if got := template.Spec.Containers[0].Image; got != tc.want {
			t.Errorf("image values %v: the pods run %s, want %s", tc.image, got, tc.want)
		}
	}
}

// TestHelmConfigRollsPods: a change of the connector's config changes the
// pod template (checksum/config), so that the pods restart with it.
func TestHelmConfigRollsPods(t *testing.T) {
	file := filepath.Join(chartDir, "ci", "deployment-values.yaml")
	base := readValues(t, filepath.Join(chartDir, "values.yaml"))
	config := base["config"].(map[string]any)
	config["shutdown_grace"] = "20s"
	before, _ := renderManifests(t, file, nil).workload(t)
	after, _ := renderManifests(t, file, map[string]any{"config": config}).workload(t)
	if before.Annotations["checksum/config"] == after.Annotations["checksum/config"] {
		t.Error("checksum/config is the same after a config change")
	}
}

// TestHelmStatefulSetInstanceIDs: the StatefulSet's pods, each with the
// name Kubernetes gives it (NAME-0, NAME-1, …) in POD_NAME, get distinct
// kafka.instance_ids from the connector's own config loader; a Deployment
// gets none, and refuses one.
func TestHelmStatefulSetInstanceIDs(t *testing.T) {
	file := filepath.Join(chartDir, "ci", "statefulset-values.yaml")
	m := renderManifests(t, file, nil)
	sts := m.statefulSet
	if sts == nil || sts.Spec.Replicas == nil || *sts.Spec.Replicas < 2 {
		t.Fatalf("want a StatefulSet of 2 or more replicas: %+v", sts)
	}
	if m.headless == nil || sts.Spec.ServiceName != m.headless.Name {
		t.Errorf("serviceName %q: want the headless Service", sts.Spec.ServiceName)
	}
	fromPodName := false
	for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
		fromPodName = fromPodName || (e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
	}
	if !fromPodName {
		t.Fatal("POD_NAME is not the pod's metadata.name")
	}
	ids := map[string]bool{}
	for i := range int(*sts.Spec.Replicas) {
		pod := fmt.Sprintf("%s-%d", sts.Name, i)
		cfg := parseConfig(t, m, map[string]string{"POD_NAME": pod, "SF_CLIENT_ID": "x", "SF_CLIENT_SECRET": "x", "KAFKA_USERNAME": "x", "KAFKA_PASSWORD": "x"})
		if cfg.Kafka.InstanceID != pod {
			t.Errorf("pod %s: kafka.instance_id %q, want its name", pod, cfg.Kafka.InstanceID)
		}
		ids[cfg.Kafka.InstanceID] = true
	}
	if len(ids) != int(*sts.Spec.Replicas) {
		t.Errorf("%d replicas, %d distinct instance ids: %v", *sts.Spec.Replicas, len(ids), slices.Sorted(maps.Keys(ids)))
	}

	deployment := renderManifests(t, filepath.Join(chartDir, "ci", "deployment-values.yaml"), nil)
	if cfg := parseConfig(t, deployment, map[string]string{"POD_NAME": "x", "SF_CLIENT_ID": "x", "SF_CLIENT_SECRET": "x", "KAFKA_USERNAME": "x", "KAFKA_PASSWORD": "x"}); cfg.Kafka.InstanceID != "" {
		t.Errorf("a Deployment's kafka.instance_id is %q: its pods' names change on every restart", cfg.Kafka.InstanceID)
	}
	base := readValues(t, filepath.Join(chartDir, "values.yaml"))
	config := base["config"].(map[string]any)
	config["kafka"].(map[string]any)["instance_id"] = "${POD_NAME}"
	if _, err := renderChart(t, filepath.Join(chartDir, "ci", "deployment-values.yaml"), map[string]any{"config": config}); err == nil || !strings.Contains(err.Error(), "kafka.instance_id") {
		t.Errorf("a Deployment with kafka.instance_id: %v, want the chart to refuse", err)
	}
}

// TestHelmValuesSchema: values.schema.json refuses a misspelt key and a
// workload the chart does not know, as the connector refuses unknown
// config keys.
func TestHelmValuesSchema(t *testing.T) {
	file := filepath.Join(chartDir, "ci", "deployment-values.yaml")
	for name, vals := range map[string]map[string]any{
		"misspelt key":     {"replica": 3},
		"unknown workload": {"workload": "DaemonSet"},
		"bad digest":       {"image": map[string]any{"digest": "latest"}},
	} {
		if _, err := renderChart(t, file, vals); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s: %v, want the values schema to refuse it", name, err)
		}
	}
}

// TestHelmTestHook: `helm test` runs connector check in a pod with the
// release's image, config and credentials.
func TestHelmTestHook(t *testing.T) {
	for _, file := range chartValues(t) {
		m := renderManifests(t, file, nil)
		if m.testPod == nil {
			t.Fatalf("%s: no test pod", filepath.Base(file))
		}
		template, _ := m.workload(t)
		check, run := m.testPod.Spec.Containers[0], template.Spec.Containers[0]
		if strings.Join(check.Args, " ") != "check --config /etc/bulkstream/config.yaml" || check.Image != run.Image ||
			!reflect.DeepEqual(check.EnvFrom, run.EnvFrom) || m.testPod.Spec.Volumes[0].ConfigMap == nil || m.testPod.Spec.Volumes[0].ConfigMap.Name != m.configMap.Name {
			t.Errorf("%s: test pod %+v: want connector check with the workload's image, Secret and ConfigMap", filepath.Base(file), check)
		}
	}
}
