package validate

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulkstream/bulkstream/internal/config"
)

const manifestDir = "../kubernetes"

// manifests are the objects of deploy/kubernetes, each decoded strictly
// into its type.
type manifests struct {
	configMap      *corev1.ConfigMap
	secret         *corev1.Secret
	deployment     *appsv1.Deployment
	statefulSet    *appsv1.StatefulSet
	service        *corev1.Service
	headless       *corev1.Service // a StatefulSet's governing Service
	pdb            *policyv1.PodDisruptionBudget
	serviceAccount *corev1.ServiceAccount
	testPod        *corev1.Pod
	serviceMonitor *monitoringv1.ServiceMonitor
	podMonitor     *monitoringv1.PodMonitor
	prometheusRule *monitoringv1.PrometheusRule
}

// kustomization is the part of a kustomization.yaml the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// decodeStrict decodes one YAML document into v, failing on unknown keys,
// keys given twice and values of the wrong type.
func decodeStrict(t *testing.T, source string, data []byte, v any) {
	t.Helper()
	if strings.Contains("\n"+string(data), "\n---") {
		t.Fatalf("%s: one object per file, please", source)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
}

// add decodes one object strictly into the field of m for its kind, and
// returns its apiVersion and kind.
func (m *manifests) add(t *testing.T, source string, data []byte) (apiVersion, kind string) {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	var target any
	switch head.APIVersion + " " + head.Kind {
	case "v1 ConfigMap":
		target = fresh(&m.configMap)
	case "v1 Secret":
		target = fresh(&m.secret)
	case "apps/v1 Deployment":
		target = fresh(&m.deployment)
	case "apps/v1 StatefulSet":
		target = fresh(&m.statefulSet)
	case "v1 Service":
		svc := &corev1.Service{}
		if decodeStrict(t, source, data, svc); svc.Spec.ClusterIP == corev1.ClusterIPNone {
			m.headless = svc
		} else {
			m.service = svc
		}
		return head.APIVersion, head.Kind
	case "v1 Pod": // the chart's `helm test` hook
		target = fresh(&m.testPod)
	case "v1 ServiceAccount":
		target = fresh(&m.serviceAccount)
	case "policy/v1 PodDisruptionBudget":
		target = fresh(&m.pdb)
	case "monitoring.coreos.com/v1 PodMonitor":
		target = fresh(&m.podMonitor)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		target = fresh(&m.serviceMonitor)
	case "monitoring.coreos.com/v1 PrometheusRule":
		target = fresh(&m.prometheusRule)
	default:
		t.Fatalf("%s: no type for apiVersion %q kind %q", source, head.APIVersion, head.Kind)
	}
	decodeStrict(t, source, data, target)
	return head.APIVersion, head.Kind
}

// fresh sets *field to a new, empty T and returns it, for add to decode into.
func fresh[T any](field **T) *T {
	*field = new(T)
	return *field
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	m := &manifests{}
	var listed []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(file) == "kustomization.yaml" {
			var k kustomization
			decodeStrict(t, file, data, &k)
			listed = k.Resources
			continue
		}
		if apiVersion, _ := m.add(t, file, data); !strings.Contains(apiVersion, "monitoring.coreos.com") {
			checkSchema(t, file, data)
		}
	}
	var want []string
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" {
			want = append(want, name)
		}
	}
	if slices.Sort(listed); !slices.Equal(listed, want) {
		t.Errorf("kustomization.yaml lists %v; the directory has %v", listed, want)
	}
	for name, v := range map[string]bool{"ConfigMap": m.configMap != nil, "Secret": m.secret != nil, "Deployment": m.deployment != nil,
		"Service": m.service != nil, "PodMonitor": m.podMonitor != nil, "PrometheusRule": m.prometheusRule != nil, "PodDisruptionBudget": m.pdb != nil} {
		if !v {
			t.Fatalf("no %s in %s", name, manifestDir)
		}
	}
	return m
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func TestManifestsAgree(t *testing.T) {
	m := loadManifests(t)
	checkAgree(t, m, secretEnv(m))
}

// workload returns the pod template and the selector of the Deployment or
// the StatefulSet.
func (m *manifests) workload(t *testing.T) (*corev1.PodTemplateSpec, *metav1.LabelSelector) {
	t.Helper()
	switch {
	case m.deployment != nil && m.statefulSet == nil:
		return &m.deployment.Spec.Template, m.deployment.Spec.Selector
	case m.statefulSet != nil && m.deployment == nil:
		return &m.statefulSet.Spec.Template, m.statefulSet.Spec.Selector
	}
	t.Fatal("want one Deployment or one StatefulSet")
	return nil, nil
}

// checkAgree checks that the manifests of m fit each other and the
// connector's configuration, parsed with env as its environment. The
// Service and the monitors are optional (the chart can leave them out).
func checkAgree(t *testing.T, m *manifests, env map[string]string) {
	t.Helper()
	template, selector := m.workload(t)
	pod := template.Labels
	if selector == nil || !subset(selector.MatchLabels, pod) {
		t.Errorf("workload selector %v does not select its pods %v", selector, pod)
	}
	if m.service != nil && !subset(m.service.Spec.Selector, pod) {
		t.Errorf("service selector %v does not select the pods %v", m.service.Spec.Selector, pod)
	}
	if m.pdb != nil && (m.pdb.Spec.Selector == nil || !subset(m.pdb.Spec.Selector.MatchLabels, pod)) {
		t.Errorf("PodDisruptionBudget selector %v does not select the pods %v", m.pdb.Spec.Selector, pod)
	}
	if m.podMonitor != nil && !subset(m.podMonitor.Spec.Selector.MatchLabels, pod) {
		t.Errorf("pod monitor selector %v does not select the pods %v", m.podMonitor.Spec.Selector.MatchLabels, pod)
	}
	if len(template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the connector alone", len(template.Spec.Containers))
	}
	c := template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if m.podMonitor != nil {
		for _, ep := range m.podMonitor.Spec.PodMetricsEndpoints {
			if ep.Port == nil || ports[*ep.Port] == 0 || ep.Path != "/metrics" {
				t.Errorf("pod monitor endpoint %v: want a container port name (%v) and /metrics", ep.Port, slices.Collect(maps.Keys(ports)))
			}
		}
	}
	if m.service != nil {
		for _, sp := range m.service.Spec.Ports {
			if ports[sp.TargetPort.String()] == 0 {
				t.Errorf("service port %s targets %s, not a container port", sp.Name, sp.TargetPort.String())
			}
		}
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || ports[p.HTTPGet.Port.String()] == 0 {
			t.Errorf("%s probe %+v: want GET %s on a container port", name, p, want)
		}
	}

	// A rolling update replaces one pod at a time and adds none: a surplus
	// member of the group would only make it rebalance.
	if d := m.deployment; d != nil {
		if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxSurge == nil || ru.MaxSurge.String() != "0" || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "1" {
			t.Errorf("Deployment strategy %+v: want RollingUpdate with maxSurge 0 and maxUnavailable 1", d.Spec.Strategy)
		}
	}
	if s := m.statefulSet; s != nil {
		if ru := s.Spec.UpdateStrategy.RollingUpdate; s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType ||
			ru != nil && (ru.MaxUnavailable != nil && ru.MaxUnavailable.String() != "1" || ru.Partition != nil && *ru.Partition != 0) {
			t.Errorf("StatefulSet updateStrategy %+v: want RollingUpdate, one pod at a time, of every pod", s.Spec.UpdateStrategy)
		}
	}

	// The pod runs as non-root on a read-only root file system.
	sc, csc := template.Spec.SecurityContext, c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want runAsNonRoot and a non-zero runAsUser", sc)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v: want a read-only root and no privilege escalation", csc)
	}
	if user := dockerfileUser(t); sc != nil && sc.RunAsUser != nil && fmt.Sprint(*sc.RunAsUser) != user {
		t.Errorf("runAsUser %d, but the image's USER is %s", *sc.RunAsUser, user)
	}

	// The config comes from the ConfigMap, the credentials from the Secret.
	args := strings.Join(c.Args, " ")
	configPath, ok := strings.CutPrefix(args, "run --config ")
	if !ok {
		t.Fatalf("container args %q: want run --config FILE", args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	var configVolume *corev1.Volume
	for i, v := range template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name {
			configVolume = &template.Spec.Volumes[i]
		}
	}
	if configVolume == nil || path.Join(mounts[configVolume.Name].MountPath, path.Base(configPath)) != configPath {
		t.Errorf("--config %s is not the ConfigMap %s mounted", configPath, m.configMap.Name)
	}
	if _, ok := m.configMap.Data[path.Base(configPath)]; !ok {
		t.Errorf("ConfigMap %s has no key %s", m.configMap.Name, path.Base(configPath))
	}
	if m.secret != nil {
		fromSecret := false
		for _, ef := range c.EnvFrom {
			fromSecret = fromSecret || (ef.SecretRef != nil && ef.SecretRef.Name == m.secret.Name)
		}
		if !fromSecret {
			t.Errorf("the container does not take its environment from the Secret %s", m.secret.Name)
		}
	}

	cfg := parseConfig(t, m, env)
	host, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("http.listen %s: probes and Prometheus cannot reach a loopback address", cfg.HTTP.Listen)
	}
	if fmt.Sprint(ports["http-metrics"]) != port {
		t.Errorf("http.listen %s, but the container port http-metrics is %d", cfg.HTTP.Listen, ports["http-metrics"])
	}
	writable := false
	for _, vm := range c.VolumeMounts {
		writable = writable || (!vm.ReadOnly && strings.HasPrefix(cfg.Batch.SpillDir+"/", strings.TrimSuffix(vm.MountPath, "/")+"/"))
	}
	if !writable {
		t.Errorf("batch.spill_dir %s is on the read-only root file system; mount a volume there", cfg.Batch.SpillDir)
	}
	if g := template.Spec.TerminationGracePeriodSeconds; g == nil || float64(*g) <= cfg.ShutdownGrace.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v does not exceed shutdown_grace %s: the kubelet would kill jobs in flight", g, cfg.ShutdownGrace)
	}
}

// secretEnv is the environment the Secret of m gives the connector.
func secretEnv(m *manifests) map[string]string {
	env := map[string]string{}
	for k, v := range m.secret.StringData {
		env[k] = v
	}
	for k, v := range m.secret.Data {
		env[k] = string(v)
	}
	return env
}

// parseConfig runs the ConfigMap's config.yaml through Bulkstream's own
// config.Parse, with env as the environment: a ${VAR} that env does not
// provide is an error.
func parseConfig(t *testing.T, m *manifests, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("configmap.yaml:config.yaml", []byte(m.configMap.Data["config.yaml"]), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	return cfg
}
