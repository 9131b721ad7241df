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
	service        *corev1.Service
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
func decodeStrict(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains("\n"+string(data), "\n---") {
		t.Fatalf("%s: one object per file, please", file)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
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
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		data, _ := os.ReadFile(file)
		if err := yaml.Unmarshal(data, &head); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var target any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			target = m.configMap
		case "v1 Secret":
			m.secret = &corev1.Secret{}
			target = m.secret
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			target = m.deployment
		case "v1 Service":
			m.service = &corev1.Service{}
			target = m.service
		case "monitoring.coreos.com/v1 PodMonitor":
			m.podMonitor = &monitoringv1.PodMonitor{}
			target = m.podMonitor
		case "monitoring.coreos.com/v1 PrometheusRule":
			m.prometheusRule = &monitoringv1.PrometheusRule{}
			target = m.prometheusRule
		case "kustomize.config.k8s.io/v1beta1 Kustomization":
			var k kustomization
			decodeStrict(t, file, &k)
			listed = k.Resources
			continue
		default:
			t.Fatalf("%s: no type for apiVersion %q kind %q", file, head.APIVersion, head.Kind)
		}
		decodeStrict(t, file, target)
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
		"Service": m.service != nil, "PodMonitor": m.podMonitor != nil, "PrometheusRule": m.prometheusRule != nil} {
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
	d := m.deployment
	pod := d.Spec.Template.Labels
	if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, pod) {
		t.Errorf("deployment selector %v does not select its pods %v", d.Spec.Selector, pod)
	}
	if !subset(m.service.Spec.Selector, pod) {
		t.Errorf("service selector %v does not select the pods %v", m.service.Spec.Selector, pod)
	}
	if !subset(m.podMonitor.Spec.Selector.MatchLabels, pod) {
		t.Errorf("pod monitor selector %v does not select the pods %v", m.podMonitor.Spec.Selector.MatchLabels, pod)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the connector alone", len(d.Spec.Template.Spec.Containers))
	}
	c := d.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, ep := range m.podMonitor.Spec.PodMetricsEndpoints {
		if ep.Port == nil || ports[*ep.Port] == 0 || ep.Path != "/metrics" {
			t.Errorf("pod monitor endpoint %v: want a container port name (%v) and /metrics", ep.Port, slices.Collect(maps.Keys(ports)))
		}
	}
	for _, sp := range m.service.Spec.Ports {
		if ports[sp.TargetPort.String()] == 0 {
			t.Errorf("service port %s targets %s, not a container port", sp.Name, sp.TargetPort.String())
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

	// The pod runs as non-root on a read-only root file system.
	sc, csc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
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
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name {
			configVolume = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if configVolume == nil || path.Join(mounts[configVolume.Name].MountPath, path.Base(configPath)) != configPath {
		t.Errorf("--config %s is not the ConfigMap %s mounted", configPath, m.configMap.Name)
	}
	if _, ok := m.configMap.Data[path.Base(configPath)]; !ok {
		t.Errorf("ConfigMap %s has no key %s", m.configMap.Name, path.Base(configPath))
	}
	fromSecret := false
	for _, ef := range c.EnvFrom {
		fromSecret = fromSecret || (ef.SecretRef != nil && ef.SecretRef.Name == m.secret.Name)
	}
	if !fromSecret {
		t.Errorf("the container does not take its environment from the Secret %s", m.secret.Name)
	}

	cfg := parseConfig(t, m)
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
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || float64(*g) <= cfg.ShutdownGrace.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %v does not exceed shutdown_grace %s: the kubelet would kill jobs in flight", g, cfg.ShutdownGrace)
	}
}

// parseConfig runs the ConfigMap's config.yaml through Bulkstream's own
// config.Parse, with an environment of the Secret's keys: a ${VAR} that
// the Secret does not provide is an error.
func parseConfig(t *testing.T, m *manifests) *config.Config {
	t.Helper()
	env := map[string]string{}
	for k, v := range m.secret.StringData {
		env[k] = v
	}
	for k, v := range m.secret.Data {
		env[k] = string(v)
	}
	cfg, err := config.Parse("configmap.yaml:config.yaml", []byte(m.configMap.Data["config.yaml"]), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	return cfg
}
