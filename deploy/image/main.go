// Command image builds Bulkstream's container image without a Docker
// engine, with go-containerregistry: the static connector binary, the CA
// certificates and a non-root user on an empty base (see rootFS), written
// as an OCI image layout and as a tarball that `crane push`, `skopeo copy
// oci:…` or `docker load` take. Everything in the image (file times, the
// config's dates) comes from the -created time, so the same binary and
// time give the same digest; deploy/ci.sh stamps the binary and uses the
// commit's time, so one commit gives one digest.
//
//	go -C deploy/image run . build -binary connector -version v1.2.3 -revision $(git rev-parse HEAD) \
//	    -created 2026-12-07T06:00:00Z -oci out/oci -tarball out/image.tar
//	go -C deploy/image run . check -oci out/oci -tarball out/image.tar -revision … -extract out/rootfs
//	go -C deploy/image run . rootfs -binary connector -dir /out/rootfs   # what deploy/Dockerfile copies
//
// It lives in its own module so that go-containerregistry stays out of
// Bulkstream's go.mod.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: image build|check|rootfs [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = runBuild(os.Args[2:])
	case "check":
		err = runCheck(os.Args[2:])
	case "rootfs":
		err = runRootFS(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "image %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// meta is what the image says about itself.
type meta struct {
	version, revision, source string
	created                   time.Time
	arch                      string
}

// labels are the OCI annotations of the image, set both as config labels
// (what `docker inspect` and registries' UIs show) and as manifest
// annotations (what OCI tools read).
func (m meta) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "bulkstream",
		"org.opencontainers.image.description": "Kafka change events into Salesforce Bulk API 2.0 jobs, with a result for every event",
		"org.opencontainers.image.version":     m.version,
		"org.opencontainers.image.revision":    m.revision,
		"org.opencontainers.image.source":      m.source,
		"org.opencontainers.image.created":     m.created.UTC().Format(time.RFC3339),
	}
}

// buildImage makes the image of binary: one layer (rootFS), run as
// uid:uid, entry point the connector with `run --config
// /etc/bulkstream/config.yaml` as default arguments (where the Kubernetes
// manifests mount the config).
func buildImage(binary []byte, m meta) (v1.Image, error) {
	var tarBytes bytes.Buffer
	if err := writeLayer(&tarBytes, rootFS(binary), m.created); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: m.created}, CreatedBy: "bulkstream deploy/image: connector, CA certificates, user " + userName,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: m.created}
	cf.OS, cf.Architecture = "linux", m.arch
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{binaryPath},
		Cmd:          []string{"run", "--config", "/etc/bulkstream/config.yaml"},
		Env:          []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		WorkingDir:   "/home/" + userName,
		ExposedPorts: map[string]struct{}{"9464/tcp": {}},
		Labels:       m.labels(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, m.labels()).(v1.Image), nil
}

func runBuild(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	binaryFile := fs.String("binary", "", "the static connector binary (CGO_ENABLED=0)")
	var m meta
	fs.StringVar(&m.version, "version", "devel", "the version, for the org.opencontainers.image.version label")
	fs.StringVar(&m.revision, "revision", "unknown", "the VCS revision, for the org.opencontainers.image.revision label")
	fs.StringVar(&m.source, "source", "https://github.com/bulkstream/bulkstream", "the source repository, for the org.opencontainers.image.source label")
	fs.StringVar(&m.arch, "arch", runtime.GOARCH, "the binary's GOARCH")
	created := fs.String("created", "", "the image's time, RFC 3339 (use the commit's time: the digest depends on it)")
	tag := fs.String("tag", "bulkstream/connector:devel", "the reference the tarball and the layout's ref.name carry")
	ociDir := fs.String("oci", "", "write an OCI image layout to this directory (replaced)")
	tarFile := fs.String("tarball", "", "write an image tarball (docker load, crane push) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binaryFile == "" || *created == "" {
		return errors.New("-binary and -created are required")
	}
	t, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		return fmt.Errorf("-created: %w", err)
	}
	m.created = t.UTC()
	binary, err := os.ReadFile(*binaryFile)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(binary, []byte("\x7fELF")) {
		return fmt.Errorf("%s is not a Linux (ELF) binary", *binaryFile)
	}
	img, err := buildImage(binary, m)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag: %w", err)
	}
	if *ociDir != "" {
		if err := os.RemoveAll(*ociDir); err != nil {
			return err
		}
		p, err := layout.Write(*ociDir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})); err != nil {
			return err
		}
	}
	if *tarFile != "" {
		if err := tarball.WriteToFile(*tarFile, ref, img); err != nil {
			return err
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// runCheck reads the image back from an OCI layout and checks what the
// issue asks of it: it holds the binary, it runs as a non-root user, its
// labels name the revision. With -extract it writes the image's root file
// system to a directory, where deploy/ci.sh runs the connector.
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	ociDir := fs.String("oci", "", "the OCI image layout to check")
	tarFile := fs.String("tarball", "", "also check that this image tarball holds the same image")
	revision := fs.String("revision", "", "the revision the labels must name")
	extract := fs.String("extract", "", "extract the root file system to this directory (replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	idx, err := layout.ImageIndexFromPath(*ociDir)
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("%s holds %d manifests, want 1", *ociDir, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	var problems []string
	user, _, _ := strings.Cut(cf.Config.User, ":")
	if user == "" || user == "0" || user == "root" {
		problems = append(problems, fmt.Sprintf("config User %q: want a non-root user", cf.Config.User))
	}
	if got := cf.Config.Labels["org.opencontainers.image.revision"]; got != *revision {
		problems = append(problems, fmt.Sprintf("label org.opencontainers.image.revision %q, want %q", got, *revision))
	}
	if len(cf.Config.Entrypoint) == 0 || cf.Config.Entrypoint[0] != binaryPath {
		problems = append(problems, fmt.Sprintf("entrypoint %q, want %s", cf.Config.Entrypoint, binaryPath))
	}
	if *extract != "" {
		// Replaced, so that no file of an earlier extraction passes for the image's.
		if err := os.RemoveAll(*extract); err != nil {
			return err
		}
	}
	entries := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		entries["/"+strings.TrimSuffix(h.Name, "/")] = h
		if *extract != "" {
			if err := extractEntry(*extract, h, tr); err != nil {
				return err
			}
		}
	}
	if h := entries[binaryPath]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		problems = append(problems, "no executable "+binaryPath)
	}
	for _, want := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/tmp"} {
		if entries[want] == nil {
			problems = append(problems, "no "+want)
		}
	}
	if *tarFile != "" {
		if err := sameImage(img, *tarFile); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Printf("%s: user %s, %d files, revision %s\n", im.Manifests[0].Digest, cf.Config.User, len(entries), *revision)
	return nil
}

// extractEntry writes one entry of the image's file system under dir.
func extractEntry(dir string, h *tar.Header, r io.Reader) error {
	p := filepath.Join(dir, filepath.FromSlash(h.Name))
	if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
		return fmt.Errorf("entry %q leaves the root", h.Name)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode))
	case tar.TypeReg:
		f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode&0o777))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return fmt.Errorf("entry %q: type %c not expected in this image", h.Name, h.Typeflag)
}

func runRootFS(args []string) error {
	fs := flag.NewFlagSet("rootfs", flag.ContinueOnError)
	binaryFile := fs.String("binary", "", "the static connector binary")
	dir := fs.String("dir", "", "the directory to write the root file system to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	binary, err := os.ReadFile(*binaryFile)
	if err != nil {
		return err
	}
	return writeDir(*dir, rootFS(binary))
}

// sameImage checks that the tarball at file (what `crane push` and `docker
// load` read) holds img: the same config and the same layers. Its manifest
// is the tarball format's own, so the manifest digests are not compared.
func sameImage(img v1.Image, file string) error {
	other, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		return fmt.Errorf("tarball %s: %w", file, err)
	}
	want, err := contents(img)
	if err != nil {
		return err
	}
	got, err := contents(other)
	if err != nil {
		return fmt.Errorf("tarball %s: %w", file, err)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("tarball %s: config and layers %v, the layout's %v", file, got, want)
	}
	return nil
}

// contents returns the digests of img's config and layers, in order.
func contents(img v1.Image) ([]v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	hs := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		hs = append(hs, l.Digest)
	}
	return hs, nil
}
