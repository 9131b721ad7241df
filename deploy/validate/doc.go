// Package validate checks the files of deploy/ without a cluster and
// without the network, in its own module so that the Kubernetes, Prometheus
// Operator and PromQL packages it needs stay out of Bulkstream's module:
//
//   - every Kubernetes manifest decodes strictly (no unknown or repeated
//     keys, right types) into the k8s.io/api or Prometheus Operator type of
//     its kind, and the manifests agree with each other (selectors, ports,
//     names, mounts);
//   - the ConfigMap's config.yaml passes Bulkstream's own config.Parse, with
//     every ${VAR} it uses provided by the Secret, and fits the Deployment
//     (listen address, spill directory, grace period);
//   - every PromQL expression of the alert rules and the Grafana dashboard
//     parses and names only metrics and labels that internal/metrics
//     registers;
//   - the Dockerfile builds a static binary on the project's Go version and
//     runs it as the user the Deployment expects.
//
// Run it from the repository root with: go -C deploy/validate test ./...
package validate
