// Package validate checks the files of deploy/ without a cluster and
// without the network, in its own module so that Helm, the Kubernetes,
// Prometheus Operator and PromQL packages it needs stay out of
// Bulkstream's module:
//
//   - the Helm chart (deploy/helm/bulkstream) passes `helm lint --strict`
//     and renders with `helm template` for each of its ci/*-values.yaml,
//     through the helm.sh/helm/v4 packages; its values schema refuses
//     unknown values; a StatefulSet's pods get distinct kafka.instance_ids;
//     a config or credentials change rolls the pods; an existing Secret is
//     referenced, never created; the image is the tag, by default the
//     appVersion, or the digest over it;
//   - every Kubernetes object, of the chart and of deploy/kubernetes,
//     decodes strictly (no unknown or repeated keys, right types) into the
//     k8s.io/api or Prometheus Operator type of its kind, the built-in ones
//     pass Kubernetes' schema as client-go compiles it in (field types,
//     duplicate keys of keyed lists) and the API server's rules for names
//     and labels, and the objects agree with each other (selectors, ports,
//     names, mounts; a rolling update takes one pod at a time and adds
//     none);
//   - the ConfigMap's config.yaml passes Bulkstream's own config.Parse, with
//     every ${VAR} it uses provided by the Secret, and fits the workload
//     (listen address, spill directory, grace period);
//   - every PromQL expression of the alert rules and the Grafana dashboard
//     parses and names only metrics and labels that internal/metrics
//     registers; every alert keeps namespace and job in its aggregations
//     and links to a runbook heading of the README, whose BulkstreamPaused
//     names every reason of bulkstream_paused; every dashboard query
//     is scoped by the namespace and job variables;
//   - the Dockerfile builds a static, stamped binary on the project's Go
//     version, with deploy/image's files, and runs it as the user the
//     Deployment expects.
//
// Run it from the repository root with: go -C deploy/validate test ./...
// (deploy/ci.sh runs it after building and checking the image).
package validate
